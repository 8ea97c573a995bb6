// Small text helpers the parsers share: markers cut short at the end of a streamed text.
#pragma once

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <string_view>

namespace vllm::parsers {

// Bytes at the end of `text` that begin some marker but not yet all of it (a streamed output may
// stop inside "<tool_call>"): a stream holds them back until the next text decides.
inline size_t partial_marker_suffix(std::string_view text, std::initializer_list<std::string_view> markers) {
  size_t longest = 0;
  for (std::string_view marker : markers) {
    size_t max_len = std::min(marker.size() - 1, text.size());
    for (size_t len = max_len; len > longest; --len) {
      if (text.substr(text.size() - len) == marker.substr(0, len)) {
        longest = len;
        break;
      }
    }
  }
  return longest;
}

inline bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

inline std::string_view trim(std::string_view text) {
  size_t b = 0, e = text.size();
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (b < e && space(text[b])) ++b;
  while (e > b && space(text[e - 1])) --e;
  return text.substr(b, e - b);
}

}  // namespace vllm::parsers
