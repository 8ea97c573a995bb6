// Tool calling and reasoning in chat answers: vLLM's serving_chat.py paths for tool_choice none /
// auto / required / named and --reasoning-parser, over src/parsers.
#include "server/chat_tools.h"

#include <algorithm>
#include <cctype>

#include "core/error.h"
#include "parsers/json_text.h"
#include "server/request_fields.h"

namespace vllm::server {

namespace detail {

ChatToolPlan read_tool_plan(const Json& body, const ServingModel& model) {
  ChatToolPlan plan;
  const Json* tools = field(body, "tools");
  if (tools) {
    if (!tools->is_array()) bad_request(str("'tools' must be a list, got ", tools->type_name()), "tools");
    for (const Json& tool : *tools)
      if (!tool.is_object() || !tool.contains("function") || !tool["function"].is_object() ||
          !tool["function"].contains("name") || !tool["function"]["name"].is_string())
        bad_request("each tool must be {\"type\": \"function\", \"function\": {\"name\": ...}}", "tools");
    plan.tools = *tools;
  }
  bool has_tools = tools && !tools->empty();
  plan.parallel_tool_calls = read_bool(body, "parallel_tool_calls", true);
  const Json* choice = field(body, "tool_choice");
  if (!choice) {
    plan.choice = has_tools ? "auto" : "none";  // vLLM's default
  } else if (choice->is_string()) {
    plan.choice = choice->get<std::string>();
    if (plan.choice != "none" && plan.choice != "auto" && plan.choice != "required")
      bad_request(str("'tool_choice' must be \"none\", \"auto\", \"required\" or a named function, got \"",
                      plan.choice, "\""),
                  "tool_choice");
  } else if (choice->is_object()) {
    const Json* function = field(*choice, "function");
    if (!function || !function->is_object() || !function->contains("name") || !(*function)["name"].is_string())
      bad_request("a named 'tool_choice' must be {\"type\": \"function\", \"function\": {\"name\": ...}}",
                  "tool_choice");
    plan.choice = "function";
    plan.named_function = (*function)["name"].get<std::string>();
  } else {
    bad_request(str("'tool_choice' must be a string or an object, got ", choice->type_name()), "tool_choice");
  }
  if (plan.choice != "none" && !has_tools) bad_request("When using `tool_choice`, `tools` must be set.", "tool_choice");
  if (plan.choice == "function") {
    bool found = false;
    for (const Json& tool : *tools) found |= tool["function"]["name"] == plan.named_function;
    if (!found)
      bad_request("The tool specified in `tool_choice` does not match any of the specified `tools`", "tool_choice");
  }
  if (plan.choice == "auto" && !(model.enable_auto_tool_choice && !model.tool_call_parser.empty()))
    bad_request("\"auto\" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set");
  return plan;
}

namespace {

Json parameters_schema(const Json& function) {
  if (function.contains("parameters") && function["parameters"].is_object() && !function["parameters"].empty())
    return function["parameters"];
  return Json{{"type", "object"}, {"properties", Json::object()}};
}

}  // namespace

std::optional<std::string> tool_choice_schema(const ChatToolPlan& plan) {
  if (plan.choice == "function") {
    for (const Json& tool : plan.tools)
      if (tool["function"]["name"] == plan.named_function) return parameters_schema(tool["function"]).dump();
    return std::nullopt;  // read_tool_plan has refused a name not in tools
  }
  if (plan.choice != "required") return std::nullopt;
  Json alternatives = Json::array();
  for (const Json& tool : plan.tools) {
    const Json& function = tool["function"];
    alternatives.push_back({{"type", "object"},
                            {"properties",
                             {{"name", {{"type", "string"}, {"enum", Json::array({function["name"]})}}},
                              {"parameters", parameters_schema(function)}}},
                            {"required", Json::array({"name", "parameters"})}});
  }
  Json schema = {{"type", "array"}, {"minItems", 1}, {"items", {{"anyOf", std::move(alternatives)}}}};
  if (!plan.parallel_tool_calls) schema["maxItems"] = 1;
  return schema.dump();
}

void start_constraint_after_reasoning(SamplingParams& params, const ServingModel& model) {
  if (params.structured_outputs && !model.reasoning_parser.empty())
    params.structured_outputs_after = std::string(parsers::make_reasoning_parser(model.reasoning_parser)->reasoning_end());
}

namespace {

bool auto_tools(const ChatToolPlan& plan, const ServingModel& model) {
  return plan.choice == "auto" && model.enable_auto_tool_choice && !model.tool_call_parser.empty();
}

// required: a JSON list of {"name", "parameters"} (vLLM's schema for it); named: the arguments
// object. nullopt when the text is not that (an output cut off by max_tokens).
std::optional<std::vector<parsers::ToolCall>> read_json_tool_calls(const ChatToolPlan& plan, std::string_view text) {
  parsers::Json value;
  if (!parsers::parse_json_exact(text, value)) return std::nullopt;
  std::vector<parsers::ToolCall> calls;
  if (plan.choice == "function") {
    parsers::ToolCall call;
    call.id = parsers::random_tool_call_id();
    call.function.name = plan.named_function;
    call.function.arguments = parsers::python_json_dumps(value);
    calls.push_back(std::move(call));
    return calls;
  }
  if (!value.is_array() || value.empty()) return std::nullopt;
  for (const auto& item : value) {
    if (!item.is_object() || !item.contains("name") || !item["name"].is_string()) return std::nullopt;
    parsers::ToolCall call;
    call.id = parsers::random_tool_call_id();
    call.function.name = item["name"].get<std::string>();
    const auto arguments = item.contains("parameters") ? item["parameters"]
                           : item.contains("arguments") ? item["arguments"]
                                                        : parsers::Json::object();
    call.function.arguments = parsers::python_json_dumps(arguments);
    calls.push_back(std::move(call));
  }
  return calls;
}

}  // namespace

bool parsing_needs_special_tokens(const ChatToolPlan& plan, const ServingModel& model) {
  if (!model.reasoning_parser.empty() && parsers::make_reasoning_parser(model.reasoning_parser)->needs_special_tokens())
    return true;
  return auto_tools(plan, model) && parsers::make_tool_parser(model.tool_call_parser)->needs_special_tokens();
}

bool parses_chat_output(const ChatToolPlan& plan, const ServingModel& model) {
  return !model.reasoning_parser.empty() || plan.parse_tool_calls();
}

ParsedChatOutput parse_chat_output(const ChatToolPlan& plan, const ServingModel& model, std::string_view text) {
  ParsedChatOutput parsed;
  parsed.content = std::string(text);
  if (!model.reasoning_parser.empty()) {
    parsers::ReasoningResult reasoning = parsers::make_reasoning_parser(model.reasoning_parser)->extract_reasoning(text);
    parsed.reasoning_content = std::move(reasoning.reasoning_content);
    parsed.content = std::move(reasoning.content);
  }
  if (auto_tools(plan, model)) {
    auto parser = parsers::make_tool_parser(model.tool_call_parser, plan.tools);
    if (parser->reads_whole_output() || parsed.content) {
      parsers::ExtractedToolCalls extracted =
          parser->extract_tool_calls(parser->reads_whole_output() ? text : std::string_view(*parsed.content));
      if (extracted.tools_called) {
        parsed.tools_called = true;
        parsed.tool_calls = std::move(extracted.tool_calls);
        parsed.content = std::move(extracted.content);
      }
    }
  } else if (plan.choice == "required" || plan.choice == "function") {
    // The output was held to tool_choice_schema; a cut-off (max_tokens) output stays content.
    if (auto calls = read_json_tool_calls(plan, parsed.content.value_or(""))) {
      parsed.tools_called = true;
      parsed.tool_calls = std::move(*calls);
      parsed.content.reset();
    }
  }
  if (!plan.parallel_tool_calls && parsed.tool_calls.size() > 1) parsed.tool_calls.resize(1);
  return parsed;
}

Json tool_calls_json(const std::vector<parsers::ToolCall>& calls) {
  Json list = Json::array();
  for (const parsers::ToolCall& call : calls)
    list.push_back({{"id", call.id},
                    {"type", call.type},
                    {"function", {{"name", call.function.name}, {"arguments", call.function.arguments}}}});
  return list;
}

Json delta_tool_calls_json(const std::vector<parsers::DeltaToolCall>& calls) {
  Json list = Json::array();
  for (const parsers::DeltaToolCall& call : calls) {
    Json item = {{"index", call.index}};
    if (call.id) {
      item["id"] = *call.id;
      item["type"] = "function";
    }
    Json function = Json::object();
    if (call.name) function["name"] = *call.name;
    if (call.arguments) function["arguments"] = *call.arguments;
    item["function"] = std::move(function);
    list.push_back(std::move(item));
  }
  return list;
}

}  // namespace detail

namespace {

// What a required tool_choice's output (a JSON list of {"name", "parameters"}) holds so far:
// per element, its name once the string is complete and where its parameters' text starts and,
// once complete, ends. A plain scan: the grammar already holds the text to the schema.
struct RequiredElement {
  std::optional<std::string> name;
  size_t params_begin = std::string_view::npos, params_end = std::string_view::npos;
};

std::vector<RequiredElement> scan_required_calls(std::string_view text) {
  std::vector<RequiredElement> elements;
  int depth = 0;
  bool in_string = false, escape = false, expecting_key = false, awaiting_value = false, in_params = false;
  size_t string_start = 0;
  std::string key;
  auto end_scalar_params = [&](size_t end) {
    if (in_params && elements.back().params_end == std::string_view::npos) {
      while (end > elements.back().params_begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
      elements.back().params_end = end;
    }
    in_params = false;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escape) {
        escape = false;
      } else if (c == '\\') {
        escape = true;
      } else if (c == '"') {
        in_string = false;
        if (depth != 2) continue;
        std::string value;
        try {
          value = nlohmann::json::parse(text.substr(string_start, i + 1 - string_start)).get<std::string>();
        } catch (const nlohmann::json::exception&) {
          continue;
        }
        if (expecting_key) {
          key = std::move(value);
          expecting_key = false;
        } else if (key == "name") {
          elements.back().name = std::move(value);
        } else if (in_params) {
          elements.back().params_end = i + 1;
          in_params = false;
        }
      }
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    if (awaiting_value) {  // the first character of a value at depth 2
      awaiting_value = false;
      if (key == "parameters" || key == "arguments") {
        in_params = true;
        elements.back().params_begin = i;
      }
    }
    switch (c) {
      case '"':
        in_string = true;
        string_start = i;
        break;
      case '{':
      case '[':
        if (depth == 1 && c == '{') elements.emplace_back();
        ++depth;
        expecting_key = depth == 2 && c == '{';
        break;
      case '}':
      case ']':
        if (depth == 2) end_scalar_params(i);
        --depth;
        if (depth == 2 && in_params) {
          elements.back().params_end = i + 1;
          in_params = false;
        }
        break;
      case ':':
        if (depth == 2) awaiting_value = true;
        break;
      case ',':
        if (depth == 2) {
          end_scalar_params(i);
          expecting_key = true;
        }
        break;
      default:
        break;
    }
  }
  return elements;
}

}  // namespace

std::vector<parsers::DeltaToolCall> ForcedToolCallStream::next(std::string_view text) {
  std::vector<parsers::DeltaToolCall> deltas;
  // The arguments text of call `index` so far; announces the call the first time.
  auto send = [&](size_t index, const std::string& name, std::string_view arguments) {
    parsers::DeltaToolCall delta;
    delta.index = static_cast<int>(index);
    if (index == calls_.size()) {
      calls_.emplace_back();
      delta.id = parsers::random_tool_call_id();
      delta.name = name;
    }
    Call& call = calls_[index];
    if (arguments.size() > call.sent || delta.id) delta.arguments = std::string(arguments.substr(std::min(call.sent, arguments.size())));
    call.sent = std::max(call.sent, arguments.size());
    if (delta.id || delta.arguments) deltas.push_back(std::move(delta));
  };
  if (plan_.choice == "function") {
    const size_t start = text.find_first_not_of(" \t\r\n");
    send(0, plan_.named_function, start == std::string_view::npos ? std::string_view() : text.substr(start));
    return deltas;
  }
  std::vector<RequiredElement> elements = scan_required_calls(text);
  for (size_t i = 0; i < elements.size() && i <= calls_.size(); ++i) {
    if (!elements[i].name) break;  // calls go out in order, each once its name is known
    if (!plan_.parallel_tool_calls && i > 0) break;
    const RequiredElement& e = elements[i];
    std::string_view arguments;
    if (e.params_begin != std::string_view::npos)
      arguments = text.substr(e.params_begin, std::min(e.params_end, text.size()) - e.params_begin);
    send(i, *e.name, arguments);
  }
  return deltas;
}

ChatStreamParser::ChatStreamParser(const ChatToolPlan& plan, const ServingModel& model) : plan_(plan) {
  if (!model.reasoning_parser.empty()) reasoning_ = parsers::make_reasoning_parser(model.reasoning_parser);
  if (plan.choice == "auto" && model.enable_auto_tool_choice && !model.tool_call_parser.empty()) {
    tools_ = parsers::make_tool_parser(model.tool_call_parser, plan.tools);
    auto_tools_ = true;
  } else if (plan.choice == "required" || plan.choice == "function") {
    forced_ = std::make_unique<ForcedToolCallStream>(plan);
  }
}

bool ChatStreamParser::tools_called() const {
  return tools_ ? tools_->streamed_tool_calls() > 0 : forced_ && forced_->called();
}

parsers::DeltaMessage ChatStreamParser::on_text(std::string_view text, bool finished) {
  parsers::DeltaMessage out;
  std::string content_delta;
  if (reasoning_) {
    auto delta = finished ? reasoning_->finish_streaming(text) : reasoning_->extract_reasoning_streaming("", text, "");
    if (delta) {
      out.reasoning_content = std::move(delta->reasoning_content);
      content_delta = delta->content.value_or("");
    }
  } else if (text.size() > content_.size()) {
    content_delta = std::string(text.substr(content_.size()));
  }
  content_ += content_delta;

  if (tools_) {
    std::string_view input = tools_->reads_whole_output() ? text : std::string_view(content_);
    auto delta = finished ? tools_->finish_streaming(input) : tools_->extract_tool_calls_streaming("", input, "");
    if (delta) {
      out.content = std::move(delta->content);
      for (auto& call : delta->tool_calls)
        if (plan_.parallel_tool_calls || call.index == 0) out.tool_calls.push_back(std::move(call));
    }
  } else if (forced_) {
    out.tool_calls = forced_->next(content_);
  } else if (!content_delta.empty()) {
    out.content = std::move(content_delta);
  }
  return out;
}

ChatDeltaReader::ChatDeltaReader(const ChatToolPlan& plan, const ServingModel& model) {
  if (detail::parses_chat_output(plan, model)) parser_ = std::make_unique<ChatStreamParser>(plan, model);
}

parsers::DeltaMessage ChatDeltaReader::next(const CompletionOutput& output) {
  bool finished = !output.finish_reason.empty();
  if (parser_) return parser_->on_text(output.text, finished);
  parsers::DeltaMessage delta;
  if (output.text.size() > text_bytes_) delta.content = output.text.substr(text_bytes_);
  text_bytes_ = std::max(text_bytes_, output.text.size());
  return delta;
}

}  // namespace vllm::server
