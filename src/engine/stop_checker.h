// Stop strings over incrementally detokenized text (vLLM's check_stop_strings in
// vllm/v1/engine/detokenizer.py). A stop string may span several tokens, so each new piece of
// text is searched together with the tail of the previous text (up to the stop string's length
// minus one), never the whole text again.
//
// Text is UTF-8 and lengths are in bytes (vLLM counts code points; byte search finds the same
// matches since UTF-8 is self-synchronizing).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/sampling_params.h"

namespace vllm {

struct StopStringMatch {
  std::string stop;    // the stop string found: the request's stop_reason
  size_t text_length;  // the output text keeps its first text_length bytes
};

// Searches `text` (the whole output so far, whose last new_text_length bytes were just added)
// for the earliest occurrence of any stop string that ends in the new bytes. The output is cut
// before the stop string, or after it with include_stop_str_in_output. When two stop strings
// start at the same place, the first in `stop` wins. (vLLM returns the first stop string of the
// list that occurs; taking the earliest occurrence differs only when two stop strings complete
// in the same step, and then cuts at the first one, as a user expects.)
std::optional<StopStringMatch> find_stop_string(std::string_view text, size_t new_text_length,
                                                std::span<const std::string> stop,
                                                bool include_stop_str_in_output);

// Per-request state: the output text and whether a stop string ended it.
class StopChecker {
 public:
  explicit StopChecker(const SamplingParams& params);

  // Appends newly detokenized text. On a match the text is truncated as the request asked and
  // the match is returned (the request is then finished with FINISHED_STOPPED); later calls
  // return nullopt and append nothing.
  std::optional<StopStringMatch> append(std::string_view new_text);

  const std::string& text() const { return text_; }
  bool stopped() const { return stopped_; }

  // The part of text() that can be streamed now: all of it when finished or stopped, else all
  // but the last output_text_buffer_length bytes (a stop string may be starting there), cut
  // back to a UTF-8 character boundary.
  std::string_view streamable_text(bool finished) const;

 private:
  std::vector<std::string> stop_;
  bool include_stop_str_in_output_;
  size_t holdback_;
  std::string text_;
  bool stopped_ = false;
};

}  // namespace vllm
