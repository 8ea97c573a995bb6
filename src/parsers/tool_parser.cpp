// The tool-parser base (finished and streamed outputs from a format's reading), the JSON call
// readers the formats share, and the registry by vLLM's names.
#include "parsers/tool_parser.h"

#include <cmath>
#include <functional>
#include <map>
#include <random>

#include "core/error.h"
#include "parsers/text_util.h"
#include "parsers/tool_formats.h"

namespace vllm::parsers {

std::string random_tool_call_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "chatcmpl-tool-";
  for (int i = 0; i < 32; ++i) id += kHex[rng() % 16];
  return id;
}

std::string ToolParser::make_id(size_t /*index*/, const Call& call) const {
  return call.id.empty() ? random_tool_call_id() : call.id;
}

std::string ToolParser::parameter_type(std::string_view function, std::string_view parameter) const {
  if (!tools_.is_array()) return "string";
  for (const Json& tool : tools_) {
    if (!tool.is_object() || !tool.contains("function") || !tool["function"].is_object()) continue;
    const Json& fn = tool["function"];
    if (!fn.contains("name") || !fn["name"].is_string() || fn["name"].get<std::string>() != function) continue;
    if (!fn.contains("parameters") || !fn["parameters"].is_object()) return "string";
    const Json& params = fn["parameters"];
    if (!params.contains("properties") || !params["properties"].is_object()) return "string";
    auto it = params["properties"].find(std::string(parameter));
    if (it == params["properties"].end() || !it->is_object() || !it->contains("type")) return "string";
    if ((*it)["type"].is_string()) return (*it)["type"].get<std::string>();
    return "string";
  }
  return "string";
}

ExtractedToolCalls ToolParser::extract_tool_calls(std::string_view output) {
  ExtractedToolCalls result;
  Parse parse_result;
  try {
    parse_result = parse(output, true);
  } catch (const std::exception&) {  // a malformed output is content, never an error
    parse_result.ok = false;
  }
  if (!parse_result.ok || parse_result.calls.empty()) {
    result.content = std::string(output);
    return result;
  }
  result.tools_called = true;
  for (size_t i = 0; i < parse_result.calls.size(); ++i) {
    ToolCall call;
    call.id = make_id(i, parse_result.calls[i]);
    call.function.name = parse_result.calls[i].name;
    call.function.arguments = parse_result.calls[i].arguments;
    result.tool_calls.push_back(std::move(call));
  }
  if (!parse_result.content.empty()) result.content = parse_result.content;
  return result;
}

std::optional<DeltaMessage> ToolParser::advance(std::string_view text, bool final) {
  Parse now;
  try {
    now = parse(text, final);
  } catch (const std::exception&) {
    now.ok = false;
  }
  DeltaMessage delta;
  if (!now.ok || calls_failed_) {
    // Malformed calls: a stream that started none sends the rest of the text as content (what
    // the finished output gives), now and from then on; one that started calls cannot take
    // them back.
    if (!sent_arguments_.empty()) return std::nullopt;
    calls_failed_ = true;
    if (text.size() > sent_content_) delta.content = std::string(text.substr(sent_content_));
    sent_content_ = text.size();
    return delta.empty() ? std::nullopt : std::optional<DeltaMessage>(delta);
  }
  if (now.content.size() > sent_content_) {
    delta.content = now.content.substr(sent_content_);
    sent_content_ = now.content.size();
  }
  for (size_t i = 0; i < now.calls.size(); ++i) {
    const Call& call = now.calls[i];
    if (i >= sent_arguments_.size()) {  // a new call: index, id, type and name first
      DeltaToolCall first;
      first.index = static_cast<int>(i);
      first.id = make_id(i, call);
      first.name = call.name;
      first.arguments = "";
      delta.tool_calls.push_back(std::move(first));
      sent_arguments_.push_back(0);
    }
    if (call.arguments.size() > sent_arguments_[i]) {
      DeltaToolCall more;
      more.index = static_cast<int>(i);
      more.arguments = call.arguments.substr(sent_arguments_[i]);
      // Fold into the first delta when it went out in this same step.
      if (!delta.tool_calls.empty() && delta.tool_calls.back().index == more.index &&
          delta.tool_calls.back().arguments == "")
        delta.tool_calls.back().arguments = *more.arguments;
      else
        delta.tool_calls.push_back(std::move(more));
      sent_arguments_[i] = call.arguments.size();
    }
  }
  if (delta.empty()) return std::nullopt;
  return delta;
}

std::optional<DeltaMessage> ToolParser::extract_tool_calls_streaming(std::string_view /*previous_text*/,
                                                                     std::string_view current_text,
                                                                     std::string_view /*delta_text*/) {
  return advance(current_text, false);
}

std::optional<DeltaMessage> ToolParser::finish_streaming(std::string_view current_text) {
  return advance(current_text, true);
}

namespace detail {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

size_t skip_space(std::string_view text, size_t pos) {
  while (pos < text.size() && is_space(text[pos])) ++pos;
  return pos;
}

}  // namespace

JsonCallScan scan_json_call(std::string_view text) {
  JsonCallScan scan;
  size_t pos = skip_space(text, 0);
  if (pos >= text.size()) return scan;
  if (text[pos] != '{') {
    scan.error = true;
    return scan;
  }
  pos = skip_space(text, pos + 1);
  bool first = true;
  while (true) {
    pos = skip_space(text, pos);
    if (pos >= text.size()) return scan;
    if (text[pos] == '}' && first) {
      scan.complete = true;
      scan.end = pos + 1;
      return scan;
    }
    JsonScan key_scan = scan_json(text.substr(pos));
    if (key_scan.error || (pos < text.size() && text[pos] != '"')) {
      scan.error = true;
      return scan;
    }
    if (!key_scan.complete) return scan;
    Json key = Json::parse(key_scan.dumped, nullptr, false);
    pos = skip_space(text, pos + key_scan.end);
    if (pos >= text.size()) return scan;
    if (text[pos] != ':') {
      scan.error = true;
      return scan;
    }
    ++pos;
    JsonScan value = scan_json(text.substr(pos));
    if (value.error) {
      scan.error = true;
      return scan;
    }
    std::string name = key.is_string() ? key.get<std::string>() : "";
    if ((name == "arguments" || name == "parameters") && !scan.has_arguments) {
      scan.has_arguments = true;
      scan.arguments = value;
    }
    if (!value.complete) return scan;
    if (name == "name") {
      Json parsed = Json::parse(value.dumped, nullptr, false);
      if (!parsed.is_string()) {
        scan.error = true;
        return scan;
      }
      scan.name = parsed.get<std::string>();
    }
    pos = skip_space(text, pos + value.end);
    if (pos >= text.size()) return scan;
    if (text[pos] == ',') {
      ++pos;
      first = false;
      continue;
    }
    if (text[pos] == '}') {
      scan.complete = true;
      scan.end = pos + 1;
      if (!scan.name) scan.error = true;  // a call needs its name
      return scan;
    }
    scan.error = true;
    return scan;
  }
}

JsonCallListScan scan_json_call_list(std::string_view text) {
  JsonCallListScan list;
  size_t pos = skip_space(text, 0);
  if (pos >= text.size()) return list;
  if (text[pos] != '[') {
    list.error = true;
    return list;
  }
  pos = skip_space(text, pos + 1);
  if (pos < text.size() && text[pos] == ']') {
    list.complete = true;
    list.end = pos + 1;
    return list;
  }
  while (true) {
    JsonCallScan call = scan_json_call(text.substr(pos));
    list.calls.push_back(call);
    if (call.error) {
      list.error = true;
      return list;
    }
    if (!call.complete) return list;
    pos = skip_space(text, pos + call.end);
    if (pos >= text.size()) return list;
    if (text[pos] == ',') {
      pos = skip_space(text, pos + 1);
      continue;
    }
    if (text[pos] == ']') {
      list.complete = true;
      list.end = pos + 1;
      return list;
    }
    list.error = true;
    return list;
  }
}

Json convert_parameter(const std::string& value, const std::string& raw_type) {
  std::string type;
  for (char c : raw_type) type += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string lower;
  for (char c : value) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "null") return nullptr;
  auto starts = [&](std::string_view prefix) { return starts_with(type, prefix); };
  if (type == "string" || type == "str" || type == "text" || type == "varchar" || type == "char" || type == "enum")
    return value;
  if (starts("int") || starts("uint") || starts("long") || starts("short") || starts("unsigned")) {
    Json parsed;
    if (parse_json_exact(value, parsed) && parsed.is_number_integer()) return parsed;
    return value;
  }
  if (starts("num") || starts("float")) {
    Json parsed;
    if (parse_json_exact(value, parsed) && parsed.is_number()) {
      double v = parsed.get<double>();
      // vLLM keeps a whole number as an int ("5.0" -> 5).
      if (std::floor(v) == v && std::fabs(v) < 9e15) return static_cast<int64_t>(v);
      return v;
    }
    return value;
  }
  if (type == "boolean" || type == "bool" || type == "binary") return lower == "true";
  Json parsed;
  if (parse_json_exact(value, parsed)) return parsed;
  if (parse_python_literal(value, parsed)) return parsed;
  return value;
}

}  // namespace detail

// --- Registry -----------------------------------------------------------------------------------

namespace {

using ToolFactory = std::function<std::unique_ptr<ToolParser>(Json)>;

const std::map<std::string, ToolFactory, std::less<>>& registry() {
  static const std::map<std::string, ToolFactory, std::less<>> parsers = {
      {"hermes", detail::make_hermes},
      {"llama3_json", detail::make_llama3_json},
      {"llama4_json", detail::make_llama3_json},
      {"llama4_pythonic", detail::make_llama4_pythonic},
      {"pythonic", detail::make_pythonic},
      {"mistral", detail::make_mistral},
      {"qwen3_coder", detail::make_qwen3_coder},
      {"qwen3_xml", detail::make_qwen3_coder},
      {"deepseek_v3", detail::make_deepseek_v3},
      {"deepseek_v31", detail::make_deepseek_v31},
      {"kimi_k2", detail::make_kimi_k2},
      {"glm45", detail::make_glm45},
      {"granite", detail::make_granite},
      {"internlm", detail::make_internlm},
      {"jamba", detail::make_jamba},
      {"xlam", detail::make_xlam},
      {"phi4_mini_json", detail::make_phi4_mini_json},
      {"openai", detail::make_openai},
  };
  return parsers;
}

}  // namespace

std::vector<std::string> tool_parser_names() {
  std::vector<std::string> names;
  for (const auto& [name, _] : registry()) names.push_back(name);
  return names;
}

void check_tool_parser_name(std::string_view name) {
  if (registry().count(name)) return;
  std::string known;
  for (const std::string& n : tool_parser_names()) known += (known.empty() ? "" : ",") + n;
  fail(ErrorKind::InvalidArgument, "invalid tool call parser: ", name, " (chose from { ", known, " })");
}

std::unique_ptr<ToolParser> make_tool_parser(std::string_view name, Json tools) {
  check_tool_parser_name(name);
  return registry().find(name)->second(std::move(tools));
}

}  // namespace vllm::parsers
