// Internal to src/parsers: pieces the tool-call formats share, and each format file's factory.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "parsers/json_text.h"
#include "parsers/tool_parser.h"

namespace vllm::parsers::detail {

// A call written as a JSON object {"name": "...", "arguments" | "parameters": {...}} at the start
// of `text` (whitespace first allowed), read as far as the text goes.
struct JsonCallScan {
  std::optional<std::string> name;  // once the name's string is complete
  bool has_arguments = false;
  JsonScan arguments;               // json.dumps form of the arguments (a prefix until complete)
  bool complete = false;            // the object closed (at `end`)
  bool error = false;
  size_t end = 0;
};
JsonCallScan scan_json_call(std::string_view text);

// A JSON array of such objects, "[{...}, {...}]", read as far as the text goes.
struct JsonCallListScan {
  std::vector<JsonCallScan> calls;
  bool complete = false;
  bool error = false;
  size_t end = 0;
};
JsonCallListScan scan_json_call_list(std::string_view text);

// A parameter's text as a JSON value by its schema type (vLLM's qwen3_coder
// _convert_param_value / glm45's rules).
Json convert_parameter(const std::string& value, const std::string& type);

// Python literal syntax (ast.literal_eval of strings, numbers, True/False/None, lists, tuples,
// dicts) read as JSON; false when the text is not a literal.
bool parse_python_literal(std::string_view text, Json& value);

std::unique_ptr<ToolParser> make_hermes(Json tools);
std::unique_ptr<ToolParser> make_llama3_json(Json tools);
std::unique_ptr<ToolParser> make_mistral(Json tools);
std::unique_ptr<ToolParser> make_granite(Json tools);
std::unique_ptr<ToolParser> make_jamba(Json tools);
std::unique_ptr<ToolParser> make_internlm(Json tools);
std::unique_ptr<ToolParser> make_phi4_mini_json(Json tools);
std::unique_ptr<ToolParser> make_xlam(Json tools);
std::unique_ptr<ToolParser> make_deepseek_v3(Json tools);
std::unique_ptr<ToolParser> make_deepseek_v31(Json tools);
std::unique_ptr<ToolParser> make_kimi_k2(Json tools);
std::unique_ptr<ToolParser> make_qwen3_coder(Json tools);
std::unique_ptr<ToolParser> make_glm45(Json tools);
std::unique_ptr<ToolParser> make_pythonic(Json tools);
std::unique_ptr<ToolParser> make_llama4_pythonic(Json tools);
std::unique_ptr<ToolParser> make_openai(Json tools);

}  // namespace vllm::parsers::detail
