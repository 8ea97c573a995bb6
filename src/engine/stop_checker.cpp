#include "engine/stop_checker.h"

#include <algorithm>

namespace vllm {

std::optional<StopStringMatch> find_stop_string(std::string_view text, size_t new_text_length,
                                                std::span<const std::string> stop,
                                                bool include_stop_str_in_output) {
  if (new_text_length == 0 || stop.empty()) return std::nullopt;
  new_text_length = std::min(new_text_length, text.size());
  size_t best_index = std::string_view::npos;
  const std::string* best = nullptr;
  for (const std::string& s : stop) {
    if (s.empty()) continue;
    // A match must end inside the new text: start no earlier than new start - (|s| - 1).
    size_t new_start = text.size() - new_text_length;
    size_t from = new_start >= s.size() - 1 ? new_start - (s.size() - 1) : 0;
    size_t index = text.find(s, from);
    if (index != std::string_view::npos && index < best_index) {
      best_index = index;
      best = &s;
    }
  }
  if (!best) return std::nullopt;
  size_t keep = include_stop_str_in_output ? std::min(text.size(), best_index + best->size())
                                           : best_index;
  return StopStringMatch{*best, keep};
}

StopChecker::StopChecker(const SamplingParams& params)
    : stop_(params.stop),
      include_stop_str_in_output_(params.include_stop_str_in_output),
      holdback_(static_cast<size_t>(std::max(0, params.output_text_buffer_length()))) {}

std::optional<StopStringMatch> StopChecker::append(std::string_view new_text) {
  if (stopped_) return std::nullopt;
  text_.append(new_text);
  auto match = find_stop_string(text_, new_text.size(), stop_, include_stop_str_in_output_);
  if (match) {
    text_.resize(match->text_length);
    stopped_ = true;
  }
  return match;
}

std::string_view StopChecker::streamable_text(bool finished) const {
  if (finished || stopped_ || holdback_ == 0) return text_;
  if (text_.size() <= holdback_) return {};
  size_t end = text_.size() - holdback_;
  // Do not cut a multi-byte character: back up over continuation bytes (10xxxxxx).
  while (end > 0 && (static_cast<unsigned char>(text_[end]) & 0xC0) == 0x80) --end;
  return std::string_view(text_).substr(0, end);
}

}  // namespace vllm
