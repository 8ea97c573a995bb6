// POST /v1/messages translated onto chat, and its output as Anthropic content blocks (vLLM's
// vllm/entrypoints/anthropic/serving.py: _convert_anthropic_to_openai_request,
// messages_full_converter, message_stream_converter, count_tokens).
#include "server/anthropic_api.h"

#include "core/error.h"
#include "parsers/json_text.h"
#include "server/chat_tools.h"
#include "server/request_fields.h"

namespace vllm::server {

using namespace detail;

namespace {

std::string block_type(const Json& block) {
  auto type = read_string(block, "type");
  if (!type) bad_request("each content block needs a string 'type'", "messages");
  return *type;
}

// A tool_result's content (a string or text blocks) as the tool message's text.
std::string tool_result_text(const Json& block) {
  const Json* content = field(block, "content");
  if (!content) return "";
  if (content->is_string()) return content->get<std::string>();
  if (!content->is_array()) bad_request("a tool_result's 'content' must be a string or a list of blocks", "messages");
  std::string text;
  for (const Json& part : *content) {
    if (!part.is_object() || block_type(part) != "text")
      bad_request("tool_result content blocks other than text are not supported by vllm-cpp yet", "messages");
    if (!text.empty()) text += "\n";
    text += part.value("text", "");
  }
  return text;
}

// A message's blocks: text parts and tool_use calls stay on the message, tool_result blocks
// become tool messages ahead of it, thinking becomes its reasoning (vLLM's _convert_block).
void append_message(const std::string& role, const Json& content, Json& messages) {
  Json message = {{"role", role}};
  if (content.is_string()) {
    message["content"] = content;
    messages.push_back(std::move(message));
    return;
  }
  if (!content.is_array()) bad_request("a message's 'content' must be a string or a list of blocks", "messages");
  Json parts = Json::array(), tool_calls = Json::array();
  std::string reasoning;
  for (const Json& block : content) {
    if (!block.is_object()) bad_request("each content block must be an object", "messages");
    std::string type = block_type(block);
    if (type == "text") {
      auto text = read_string(block, "text");
      if (!text) bad_request("a text block needs a string 'text'", "messages");
      if (!text->empty()) parts.push_back({{"type", "text"}, {"text", *text}});
    } else if (type == "tool_use") {
      auto id = read_string(block, "id");
      auto name = read_string(block, "name");
      if (!id || !name) bad_request("a tool_use block needs string 'id' and 'name'", "messages");
      const Json* input = field(block, "input");
      std::string arguments = parsers::python_json_dumps(input ? parsers::Json(*input) : parsers::Json::object());
      tool_calls.push_back({{"id", *id}, {"type", "function"}, {"function", {{"name", *name}, {"arguments", arguments}}}});
    } else if (type == "tool_result") {
      auto id = read_string(block, "tool_use_id");
      if (!id) bad_request("a tool_result block needs a string 'tool_use_id'", "messages");
      if (role == "user") messages.push_back({{"role", "tool"}, {"tool_call_id", *id}, {"content", tool_result_text(block)}});
      else parts.push_back({{"type", "text"}, {"text", "Tool result: " + tool_result_text(block)}});
    } else if (type == "thinking") {
      reasoning += block.value("thinking", "");
    } else if (type != "redacted_thinking") {
      bad_request(str("content block type '", type,
                      "' is not supported by vllm-cpp yet (text, tool_use, tool_result, thinking)"),
                  "messages");
    }
  }
  if (!reasoning.empty()) message["reasoning"] = reasoning;
  if (!tool_calls.empty()) message["tool_calls"] = std::move(tool_calls);
  if (parts.size() == 1) message["content"] = parts[0]["text"];
  else if (!parts.empty()) message["content"] = std::move(parts);
  // A user turn of tool results alone adds only its tool messages.
  if (message.contains("content") || role != "user") messages.push_back(std::move(message));
}

void append_system(const Json& system, std::string& text) {
  if (system.is_string()) {
    text += system.get<std::string>();
    return;
  }
  if (!system.is_array()) bad_request("'system' must be a string or a list of text blocks", "system");
  for (const Json& block : system) {
    if (!block.is_object() || block_type(block) != "text") bad_request("'system' blocks must be text blocks", "system");
    text += block.value("text", "");
  }
}

Json chat_tools(const Json& tools) {
  if (!tools.is_array()) bad_request(str("'tools' must be a list, got ", tools.type_name()), "tools");
  Json out = Json::array();
  for (const Json& tool : tools) {
    if (!tool.is_object()) bad_request("each tool must be an object", "tools");
    auto name = read_string(tool, "name");
    if (!name) bad_request("each tool needs a string 'name'", "tools");
    Json function = {{"name", *name}};
    if (const Json* description = field(tool, "description")) function["description"] = *description;
    if (const Json* schema = field(tool, "input_schema")) function["parameters"] = *schema;
    out.push_back({{"type", "function"}, {"function", std::move(function)}});
  }
  return out;
}

// auto, any (chat's required), tool (a named function), none; disable_parallel_tool_use.
void read_tool_choice(const Json& choice, Json& chat) {
  if (!choice.is_object()) bad_request("'tool_choice' must be an object with a 'type'", "tool_choice");
  auto type = read_string(choice, "type");
  if (type == "auto" || type == "none") {
    chat["tool_choice"] = *type;
  } else if (type == "any") {
    chat["tool_choice"] = "required";
  } else if (type == "tool") {
    auto name = read_string(choice, "name");
    if (!name) bad_request("a 'tool' tool_choice needs a string 'name'", "tool_choice");
    chat["tool_choice"] = {{"type", "function"}, {"function", {{"name", *name}}}};
  } else {
    bad_request("'tool_choice.type' must be auto, any, tool or none", "tool_choice");
  }
  if (read_bool(choice, "disable_parallel_tool_use", false)) chat["parallel_tool_calls"] = false;
}

}  // namespace

Json messages_to_chat(const Json& body, bool count_only) {
  require_object(body);
  Json messages = Json::array();
  std::string system;
  if (const Json* value = field(body, "system")) append_system(*value, system);
  const Json* input = field(body, "messages");
  if (!input) bad_request("messages: Field required", "messages");
  if (!input->is_array()) bad_request("'messages' must be a list", "messages");
  for (const Json& message : *input) {
    auto role = message.is_object() ? read_string(message, "role") : std::nullopt;
    if (!role || (*role != "user" && *role != "assistant" && *role != "system"))
      bad_request("each message needs a 'role' of user or assistant", "messages");
    const Json* content = field(message, "content");
    if (!content) bad_request("each message needs 'content'", "messages");
    if (*role == "system") append_system(*content, system);  // vLLM folds these into the system prompt
  }
  if (!system.empty()) messages.push_back({{"role", "system"}, {"content", system}});
  for (const Json& message : *input)
    if (message["role"] != "system") append_message(message["role"].get<std::string>(), message["content"], messages);

  Json chat = {{"messages", std::move(messages)}};
  for (const char* key : {"model", "chat_template_kwargs"})
    if (const Json* value = field(body, key)) chat[key] = *value;
  if (const Json* tools = field(body, "tools")) {
    chat["tools"] = chat_tools(*tools);
    chat["tool_choice"] = "auto";  // vLLM's default when tools are given
  }
  if (const Json* choice = field(body, "tool_choice")) read_tool_choice(*choice, chat);
  if (count_only) return chat;

  auto max_tokens = read_int(body, "max_tokens");
  if (!max_tokens) bad_request("max_tokens: Field required", "max_tokens");
  if (*max_tokens < 1) bad_request(str("max_tokens: must be at least 1, got ", *max_tokens), "max_tokens");
  chat["max_tokens"] = *max_tokens;
  for (const char* key : {"stream", "temperature", "top_p", "top_k"})
    if (const Json* value = field(body, key)) chat[key] = *value;
  if (const Json* stop = field(body, "stop_sequences")) {
    if (!stop->is_array()) bad_request("'stop_sequences' must be a list of strings", "stop_sequences");
    chat["stop"] = *stop;
  }
  return chat;
}

PreparedRequest prepare_messages(const Json& body, const ServingModel& model) {
  if (!model.info.pooling_tasks.empty()) bad_request("The model does not support Messages API");
  Json chat = messages_to_chat(body);
  PreparedRequest request = prepare_chat(chat, model);
  request.endpoint = Endpoint::Messages;
  request.id = random_id("msg_");
  request.engine_requests.front().request_id = request.id;
  request.source = body;
  request.messages = std::move(chat["messages"]);
  return request;
}

Json count_tokens_response(const Json& body, const ServingModel& model) {
  check_model(body, model);
  int64_t tokens = static_cast<int64_t>(render_chat_prompt(messages_to_chat(body, true), model).tokens.size());
  return {{"input_tokens", tokens}, {"context_management", {{"original_input_tokens", tokens}}}};
}

Json anthropic_error_body(const ApiError& error) {
  const char* type = "api_error";
  switch (error.status()) {
    case 400: type = "invalid_request_error"; break;
    case 401: type = "authentication_error"; break;
    case 403: type = "permission_error"; break;
    case 404: type = "not_found_error"; break;
    case 413: type = "request_too_large"; break;
    case 429: type = "rate_limit_error"; break;
    case 503: type = "overloaded_error"; break;
    default: break;
  }
  return {{"type", "error"}, {"error", {{"type", type}, {"message", error.what()}}}};
}

// --- Responses ----------------------------------------------------------------------------------

namespace {

// Anthropic's stop_reason and stop_sequence for a finished output.
std::pair<Json, Json> stop_reason(const CompletionOutput& output, bool tools_called) {
  if (tools_called) return {"tool_use", nullptr};
  if (output.finish_reason == "length") return {"max_tokens", nullptr};
  if (auto* sequence = std::get_if<std::string>(&output.stop_reason)) return {"stop_sequence", *sequence};
  return {"end_turn", nullptr};
}

Json tool_input(const std::string& arguments) {
  try {
    return Json::parse(arguments);
  } catch (const Json::parse_error&) {
    return Json::object();  // a call cut off by max_tokens
  }
}

Json usage_json(int64_t input_tokens, int64_t output_tokens) {
  return {{"input_tokens", input_tokens}, {"output_tokens", output_tokens}};
}

}  // namespace

Json messages_response(const PreparedRequest& request, const std::vector<RequestOutput>& outputs,
                       const ServingModel& model) {
  VLLM_ASSERT(outputs.size() == 1 && !outputs.front().outputs.empty(), "a Messages request has one output");
  const RequestOutput& result = outputs.front();
  const CompletionOutput& output = result.outputs.front();
  ParsedChatOutput parsed = parse_chat_output(request.tools, model, output.text);
  Json content = Json::array();
  if (parsed.reasoning_content && !parsed.reasoning_content->empty())
    content.push_back({{"type", "thinking"}, {"thinking", *parsed.reasoning_content}, {"signature", random_id("")}});
  if (parsed.content && !parsed.content->empty()) content.push_back({{"type", "text"}, {"text", *parsed.content}});
  for (const parsers::ToolCall& call : parsed.tool_calls)
    content.push_back({{"type", "tool_use"}, {"id", call.id}, {"name", call.function.name},
                       {"input", tool_input(call.function.arguments)}});
  auto [reason, sequence] = stop_reason(output, parsed.tools_called);
  return {{"id", request.id},
          {"type", "message"},
          {"role", "assistant"},
          {"content", std::move(content)},
          {"model", request.model},
          {"stop_reason", reason},
          {"stop_sequence", sequence},
          {"usage", usage_json(static_cast<int64_t>(result.prompt_token_ids.size()),
                               static_cast<int64_t>(output.token_ids.size()))}};
}

namespace {

class MessagesEventStream : public EventStream {
 public:
  MessagesEventStream(const PreparedRequest& request, const ServingModel& model)
      : request_(request), reader_(request.tools, model) {}

  std::string on_output(size_t, const RequestOutput& result) override {
    std::string events;
    input_tokens_ = static_cast<int64_t>(result.prompt_token_ids.size());
    if (!started_) {
      started_ = true;
      Json message = {{"id", request_.id},        {"type", "message"},      {"role", "assistant"},
                      {"content", Json::array()}, {"model", request_.model}, {"stop_reason", nullptr},
                      {"stop_sequence", nullptr}, {"usage", usage_json(input_tokens_, 0)}};
      events += event("message_start", {{"message", std::move(message)}});
    }
    if (result.outputs.empty()) return events;
    const CompletionOutput& output = result.outputs.front();
    output_tokens_ = static_cast<int64_t>(output.token_ids.size());
    parsers::DeltaMessage delta = reader_.next(output);
    if (delta.reasoning_content && !delta.reasoning_content->empty()) {
      events += open("thinking", {{"type", "thinking"}, {"thinking", ""}});
      events += block_delta({{"type", "thinking_delta"}, {"thinking", *delta.reasoning_content}});
    }
    if (delta.content && !delta.content->empty()) {
      events += open("text", {{"type", "text"}, {"text", ""}});
      events += block_delta({{"type", "text_delta"}, {"text", *delta.content}});
    }
    for (const parsers::DeltaToolCall& call : delta.tool_calls) {
      if (call.id || call.name) {
        std::string id = call.id.value_or(parsers::random_tool_call_id());
        events += open("tool_use", {{"type", "tool_use"}, {"id", id}, {"name", call.name.value_or("")},
                                    {"input", Json::object()}},
                       call.index);
      }
      if (call.arguments && !call.arguments->empty() && open_type_ == "tool_use" && open_tool_index_ == call.index)
        events += block_delta({{"type", "input_json_delta"}, {"partial_json", *call.arguments}});
    }
    if (!output.finish_reason.empty()) {
      auto [reason, sequence] = stop_reason(output, reader_.tools_called());
      stop_reason_ = reason;
      stop_sequence_ = sequence;
    }
    return events;
  }

  std::string finish() override {
    std::string events = close();
    events += event("message_delta", {{"delta", {{"stop_reason", stop_reason_}, {"stop_sequence", stop_sequence_}}},
                                      {"usage", usage_json(input_tokens_, output_tokens_)}});
    events += event("message_stop", Json::object());
    return events;
  }

 private:
  static std::string event(const char* type, const Json& fields) {
    Json payload = {{"type", type}};
    for (auto it = fields.begin(); it != fields.end(); ++it) payload[it.key()] = it.value();
    return str("event: ", type, "\ndata: ", dump_json(payload), "\n\n");
  }

  std::string block_delta(Json delta) {
    return event("content_block_delta", {{"index", index_}, {"delta", std::move(delta)}});
  }

  // Starts a block of `type` unless it is the open one (closing the open one first).
  std::string open(const std::string& type, Json block, int tool_index = 0) {
    if (open_type_ == type && (type != "tool_use" || open_tool_index_ == tool_index)) return "";
    std::string events = close();
    open_type_ = type;
    open_tool_index_ = tool_index;
    events += event("content_block_start", {{"index", index_}, {"content_block", std::move(block)}});
    return events;
  }

  std::string close() {
    if (open_type_.empty()) return "";
    std::string events;
    if (open_type_ == "thinking") events += block_delta({{"type", "signature_delta"}, {"signature", random_id("")}});
    events += event("content_block_stop", {{"index", index_}});
    open_type_.clear();
    ++index_;
    return events;
  }

  const PreparedRequest& request_;
  ChatDeltaReader reader_;
  bool started_ = false;
  std::string open_type_;  // "" when no block is open
  int open_tool_index_ = 0;
  int64_t index_ = 0;      // the open (or next) block's index
  Json stop_reason_ = "end_turn", stop_sequence_ = nullptr;
  int64_t input_tokens_ = 0, output_tokens_ = 0;
};

}  // namespace

std::unique_ptr<EventStream> make_messages_stream(const PreparedRequest& request, const ServingModel& model) {
  return std::make_unique<MessagesEventStream>(request, model);
}

}  // namespace vllm::server
