// JSON helpers shared by the loader: reading a JSON file with one-line errors naming it, and
// describing a value in an error message.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace vllm {

// Parses `path`; NotFound when missing, InvalidArgument naming the file, line and column when
// malformed. Python's json.dump writes the non-standard Infinity, -Infinity and NaN (Mamba-2's
// time_step_limit [0.0, Infinity]): outside strings they read as +-DBL_MAX (infinite as a
// float) and null.
nlohmann::json read_json_file(const std::filesystem::path& path);

// "parse error at line 3, column 5: syntax error ..." (nlohmann's text without its
// "[json.exception.parse_error.101]" prefix).
std::string json_error_text(const nlohmann::json::exception& error);

// The value as compact JSON, cut to 60 characters: `"32"`, `[1,2]`, `null` (a string shows its
// quotes, so the text also says the type).
std::string json_value_text(const nlohmann::json& value);
std::string json_value_text(const nlohmann::ordered_json& value);

}  // namespace vllm
