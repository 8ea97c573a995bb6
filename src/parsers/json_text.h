// JSON as vLLM's parsers write it: Python's json.dumps(value, ensure_ascii=False) (", " and ": "
// separators, non-ASCII kept, floats as repr), and a scanner that writes that form for a JSON
// value whose text may still be cut short, so a streamed tool call's argument fragments are
// prefixes of the final arguments string.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace vllm::parsers {

using Json = nlohmann::ordered_json;

// json.dumps(value, ensure_ascii=False).
std::string python_json_dumps(const Json& value);
// Python's repr of a float (the shortest text that reads back the same: 1.5, 1e-05, 1e+16).
std::string python_float_repr(double value);
// A JSON string literal as json.dumps writes it.
std::string python_json_quote(std::string_view text);

// The JSON value at the start of `text` (leading whitespace skipped).
struct JsonScan {
  std::string dumped;     // json.dumps of the value, or of as much as the text already fixes
  bool complete = false;  // the value ended (at `end`)
  bool error = false;     // the text is not JSON (a value that cannot continue)
  size_t end = 0;         // bytes of `text` the complete value took (whitespace before it included)
};
JsonScan scan_json(std::string_view text);

// A complete JSON value starting `text` (whitespace around it allowed, nothing else after it).
bool parse_json_exact(std::string_view text, Json& value);
// The first complete JSON value at the start of `text` (Python's raw_decode); `end` as JsonScan's.
bool parse_json_prefix(std::string_view text, Json& value, size_t& end);

}  // namespace vllm::parsers
