// Tool-call formats with their own markers: qwen3_coder / qwen3_xml (<function=...>
// <parameter=...>), glm45 (<arg_key>/<arg_value>), deepseek_v3, deepseek_v31, kimi_k2 and openai
// (gpt-oss harmony), after vLLM's parsers of those names.
#include "parsers/harmony.h"
#include "parsers/text_util.h"
#include "parsers/tool_formats.h"

namespace vllm::parsers::detail {

namespace {

// json.dumps of the arguments object so far; without its closing brace while the call is open.
std::string arguments_text(const Json& arguments, bool closed) {
  std::string text = python_json_dumps(arguments.is_null() ? Json::object() : arguments);
  if (!closed) text.pop_back();
  return text;
}

// qwen3_coder and qwen3_xml (Qwen3CoderToolParser, Qwen3XMLToolParser):
//   content<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>
// Parameter values are typed by the tool's schema.
class Qwen3CoderToolParser : public ToolParser {
 public:
  using ToolParser::ToolParser;

 protected:
  static constexpr std::string_view kToolCall = "<tool_call>", kFunction = "<function=", kFunctionEnd = "</function>",
                                    kParameter = "<parameter=", kParameterEnd = "</parameter>";

  Parse parse(std::string_view text, bool final) const override {
    Parse result;
    size_t start = std::min(text.find(kToolCall), text.find(kFunction));
    if (start == std::string_view::npos) {
      result.content = std::string(final ? text : text.substr(0, text.size() - partial_marker_suffix(text, {kToolCall, kFunction})));
      return result;
    }
    result.content = std::string(text.substr(0, start));
    size_t pos = start;
    while (true) {
      size_t function = text.find(kFunction, pos);
      if (function == std::string_view::npos) break;
      size_t name_end = text.find('>', function);
      if (name_end == std::string_view::npos) {
        if (final) result.ok = false;
        break;
      }
      std::string name(trim(text.substr(function + kFunction.size(), name_end - function - kFunction.size())));
      size_t body_begin = name_end + 1;
      size_t function_end = text.find(kFunctionEnd, body_begin);
      bool closed = function_end != std::string_view::npos || final;
      std::string_view body = text.substr(body_begin, function_end == std::string_view::npos ? std::string_view::npos
                                                                                            : function_end - body_begin);
      Json arguments = Json::object();
      size_t p = 0;
      while (true) {
        size_t parameter = body.find(kParameter, p);
        if (parameter == std::string_view::npos) break;
        size_t key_end = body.find('>', parameter);
        if (key_end == std::string_view::npos) break;
        std::string key(trim(body.substr(parameter + kParameter.size(), key_end - parameter - kParameter.size())));
        size_t value_begin = key_end + 1;
        size_t value_end = body.find(kParameterEnd, value_begin);
        size_t next = value_end == std::string_view::npos ? value_end : value_end + kParameterEnd.size();
        if (value_end == std::string_view::npos) {
          // vLLM tolerates a missing </parameter> before the next parameter or </function>.
          size_t next_parameter = body.find(kParameter, value_begin);
          if (next_parameter != std::string_view::npos) value_end = next = next_parameter;
          else if (closed) value_end = next = body.size();
          else break;
        }
        std::string value(body.substr(value_begin, value_end - value_begin));
        if (!value.empty() && value.front() == '\n') value.erase(0, 1);
        if (!value.empty() && value.back() == '\n') value.pop_back();
        arguments[key] = convert_parameter(value, parameter_type(name, key));
        p = next;
      }
      result.calls.push_back({name, arguments_text(arguments, closed), ""});
      if (function_end == std::string_view::npos) break;
      pos = function_end + kFunctionEnd.size();
    }
    if (final && result.calls.empty()) result.ok = false;
    return result;
  }
};

// glm45 (Glm4MoeModelToolParser):
//   content<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\n</tool_call>
class Glm45ToolParser : public ToolParser {
 public:
  using ToolParser::ToolParser;

 protected:
  static constexpr std::string_view kStart = "<tool_call>", kEnd = "</tool_call>", kKey = "<arg_key>",
                                    kKeyEnd = "</arg_key>", kValue = "<arg_value>", kValueEnd = "</arg_value>";

  Parse parse(std::string_view text, bool final) const override {
    Parse result;
    size_t start = text.find(kStart);
    if (start == std::string_view::npos) {
      result.content = std::string(final ? text : text.substr(0, text.size() - partial_marker_suffix(text, {kStart})));
      return result;
    }
    result.content = std::string(text.substr(0, start));
    size_t pos = start;
    while (pos != std::string_view::npos) {
      size_t body_begin = pos + kStart.size();
      size_t end = text.find(kEnd, body_begin);
      bool closed = end != std::string_view::npos;
      if (final && !closed) {
        result.ok = false;
        return result;
      }
      std::string_view body = text.substr(body_begin, closed ? end - body_begin : std::string_view::npos);
      size_t name_end = std::min(body.find('\n'), body.find(kKey));
      if (name_end == std::string_view::npos && !closed) break;  // the name may still grow
      std::string name(trim(body.substr(0, name_end)));
      if (name.empty()) {
        result.ok = !final && !closed;
        return result;
      }
      Json arguments = Json::object();
      size_t p = name_end == std::string_view::npos ? body.size() : name_end;
      while (true) {
        size_t key = body.find(kKey, p);
        if (key == std::string_view::npos) break;
        size_t key_end = body.find(kKeyEnd, key);
        if (key_end == std::string_view::npos) break;
        size_t value = body.find(kValue, key_end);
        if (value == std::string_view::npos) break;
        size_t value_end = body.find(kValueEnd, value);
        if (value_end == std::string_view::npos) break;
        std::string k(trim(body.substr(key + kKey.size(), key_end - key - kKey.size())));
        std::string v(body.substr(value + kValue.size(), value_end - value - kValue.size()));
        std::string type = parameter_type(name, k);
        if (type == "string") {
          arguments[k] = v;
        } else {
          Json parsed;
          std::string stripped(trim(v));
          if (parse_json_exact(stripped, parsed) || parse_python_literal(stripped, parsed)) arguments[k] = parsed;
          else arguments[k] = v;
        }
        p = value_end + kValueEnd.size();
      }
      result.calls.push_back({name, arguments_text(arguments, closed), ""});
      if (!closed) break;
      pos = text.find(kStart, end + kEnd.size());
    }
    return result;
  }
};

// Calls framed by markers with the name, then raw JSON arguments, then an end marker (the
// arguments are sent as the model wrote them, as vLLM's DeepSeek and Kimi parsers do).
struct FramedFormat {
  std::string_view section_begin;  // content ends here
  std::string_view call_begin;
  std::string_view name_end;       // between the name (or id) and the arguments
  std::string_view arguments_end;
};

class FramedToolParser : public ToolParser {
 public:
  FramedToolParser(Json tools, FramedFormat format) : ToolParser(std::move(tools)), format_(format) {}

 protected:
  // The name from the text between call_begin and name_end (and the call's own id, if any).
  virtual std::pair<std::string, std::string> read_name(std::string_view header) const {
    return {std::string(trim(header)), ""};
  }

  Parse parse(std::string_view text, bool final) const override {
    Parse result;
    size_t section = text.find(format_.section_begin);
    if (section == std::string_view::npos) {
      // Some outputs skip the section marker and open a call directly.
      section = text.find(format_.call_begin);
    }
    if (section == std::string_view::npos) {
      result.content = std::string(
          final ? text
                : text.substr(0, text.size() - partial_marker_suffix(text, {format_.section_begin, format_.call_begin})));
      return result;
    }
    result.content = std::string(text.substr(0, section));
    size_t pos = section;
    while (true) {
      size_t call = text.find(format_.call_begin, pos);
      if (call == std::string_view::npos) break;
      size_t header_begin = call + format_.call_begin.size();
      size_t name_end = text.find(format_.name_end, header_begin);
      if (name_end == std::string_view::npos) {
        if (final) result.ok = false;
        break;
      }
      auto [name, id] = read_name(text.substr(header_begin, name_end - header_begin));
      if (name.empty()) {
        result.ok = false;
        break;
      }
      size_t args_begin = name_end + format_.name_end.size();
      size_t args_end = text.find(format_.arguments_end, args_begin);
      if (args_end == std::string_view::npos) {
        if (final) {
          result.ok = false;
          break;
        }
        std::string_view arguments = text.substr(args_begin);
        arguments.remove_suffix(partial_marker_suffix(arguments, {format_.arguments_end}));
        result.calls.push_back({name, std::string(arguments), id});
        break;
      }
      result.calls.push_back({name, std::string(text.substr(args_begin, args_end - args_begin)), id});
      pos = args_end + format_.arguments_end.size();
    }
    if (final && result.calls.empty()) result.ok = false;
    return result;
  }

 private:
  FramedFormat format_;
};

// deepseek_v3 (DeepSeekV3ToolParser):
//   <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{...}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>
class DeepSeekV3ToolParser : public FramedToolParser {
 public:
  explicit DeepSeekV3ToolParser(Json tools)
      : FramedToolParser(std::move(tools), {"<｜tool▁calls▁begin｜>", "<｜tool▁call▁begin｜>", "\n```json\n",
                                            "\n```<｜tool▁call▁end｜>"}) {}

 protected:
  std::pair<std::string, std::string> read_name(std::string_view header) const override {
    // "function<｜tool▁sep｜>get_weather"
    static constexpr std::string_view kSep = "<｜tool▁sep｜>";
    size_t sep = header.find(kSep);
    if (sep == std::string_view::npos) return {"", ""};
    return {std::string(trim(header.substr(sep + kSep.size()))), ""};
  }
};

// kimi_k2 (KimiK2ToolParser): <|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0
// <|tool_call_argument_begin|>{...}<|tool_call_end|><|tool_calls_section_end|>; the call's id is
// "functions.get_weather:0".
class KimiK2ToolParser : public FramedToolParser {
 public:
  explicit KimiK2ToolParser(Json tools)
      : FramedToolParser(std::move(tools), {"<|tool_calls_section_begin|>", "<|tool_call_begin|>",
                                            "<|tool_call_argument_begin|>", "<|tool_call_end|>"}) {}

 protected:
  std::pair<std::string, std::string> read_name(std::string_view header) const override {
    std::string_view id = trim(header);
    std::string_view name = id.substr(0, id.find(':'));
    size_t dot = name.rfind('.');
    if (dot != std::string_view::npos) name = name.substr(dot + 1);
    return {std::string(name), std::string(id)};
  }
};

// openai (OpenAIToolParser, gpt-oss): a harmony message addressed "to=functions.NAME" is a call
// with its body as the arguments; the final channel is the content.
class OpenAIToolParser : public ToolParser {
 public:
  using ToolParser::ToolParser;
  bool needs_special_tokens() const override { return true; }
  bool reads_whole_output() const override { return true; }

 protected:
  static constexpr std::string_view kFunctions = "functions.";

  Parse parse(std::string_view text, bool final) const override {
    Parse result;
    for (const HarmonyMessage& message : parse_harmony(text, final)) {
      if (message.channel == "final" && message.recipient.empty()) {
        result.content += message.body;
      } else if (message.header_complete && starts_with(message.recipient, kFunctions)) {
        result.calls.push_back({message.recipient.substr(kFunctions.size()), message.body, ""});
      }
    }
    return result;
  }
};

}  // namespace

std::unique_ptr<ToolParser> make_qwen3_coder(Json tools) {
  return std::make_unique<Qwen3CoderToolParser>(std::move(tools));
}
std::unique_ptr<ToolParser> make_glm45(Json tools) { return std::make_unique<Glm45ToolParser>(std::move(tools)); }
std::unique_ptr<ToolParser> make_deepseek_v3(Json tools) {
  return std::make_unique<DeepSeekV3ToolParser>(std::move(tools));
}
// deepseek_v31 (DeepSeekV31ToolParser):
//   <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{...}<｜tool▁call▁end｜><｜tool▁calls▁end｜>
std::unique_ptr<ToolParser> make_deepseek_v31(Json tools) {
  return std::make_unique<FramedToolParser>(
      std::move(tools),
      FramedFormat{"<｜tool▁calls▁begin｜>", "<｜tool▁call▁begin｜>", "<｜tool▁sep｜>", "<｜tool▁call▁end｜>"});
}
std::unique_ptr<ToolParser> make_kimi_k2(Json tools) { return std::make_unique<KimiK2ToolParser>(std::move(tools)); }
std::unique_ptr<ToolParser> make_openai(Json tools) { return std::make_unique<OpenAIToolParser>(std::move(tools)); }

}  // namespace vllm::parsers::detail
