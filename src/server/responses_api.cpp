// POST /v1/responses translated onto chat, and its output as Response items (vLLM's
// serving_responses.py with responses/utils.py: construct_input_messages,
// build_response_output_items; simple_streaming_events.py for the event sequence).
#include "server/responses_api.h"

#include "core/error.h"
#include "server/chat_tools.h"
#include "server/request_fields.h"
#include "text/tokenizer/tokenizer.h"

namespace vllm::server {

using namespace detail;

// --- The store ----------------------------------------------------------------------------------

void ResponseStore::put(const std::string& id, Entry entry) {
  std::lock_guard lock(mutex_);
  if (entries_.insert_or_assign(id, std::move(entry)).second) order_.push_back(id);
  while (order_.size() > capacity_) {
    entries_.erase(order_.front());
    order_.pop_front();
  }
}

std::optional<ResponseStore::Entry> ResponseStore::get(const std::string& id) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

namespace {

[[noreturn]] void response_not_found(const std::string& id, const std::string& param = "") {
  throw ApiError(404, str("Response with id '", id, "' not found."), param);
}

// --- Input items -> chat messages ---------------------------------------------------------------

std::string item_type(const Json& item) {
  auto type = read_string(item, "type");
  return type ? *type : "message";
}

// A message's content: a string, or input_text / output_text parts (chat text parts; one part
// becomes a plain string, as vLLM's chat path reads it).
Json message_content(const Json& content) {
  if (content.is_string()) return content;
  if (!content.is_array()) bad_request(str("a message's 'content' must be a string or a list of parts, got ", content.type_name()), "input");
  Json parts = Json::array();
  for (const Json& part : content) {
    if (!part.is_object()) bad_request("each content part must be an object", "input");
    std::string type = item_type(part);
    if (type != "input_text" && type != "output_text" && type != "text")
      bad_request(str("content part type '", type, "' is not supported by vllm-cpp yet (input_text, output_text)"), "input");
    auto text = read_string(part, "text");
    if (!text) bad_request(str("a '", type, "' part needs a string 'text'"), "input");
    parts.push_back({{"type", "text"}, {"text", *text}});
  }
  if (parts.size() == 1) return parts[0]["text"];
  return parts;
}

Json* last_assistant(Json& messages) {
  if (messages.empty() || messages.back().value("role", "") != "assistant") return nullptr;
  return &messages.back();
}

// One input (or earlier output) item as chat messages: a message, a function_call (the tool
// call of an assistant message, merged into the one before it), a function_call_output (a tool
// message) or a reasoning item (the assistant message's reasoning).
void append_item(const Json& item, Json& messages) {
  if (!item.is_object()) bad_request(str("each input item must be an object, got ", item.type_name()), "input");
  std::string type = item_type(item);
  if (type == "message") {
    auto role = read_string(item, "role");
    if (!role || (*role != "user" && *role != "assistant" && *role != "system" && *role != "developer"))
      bad_request("a message item needs a 'role' of user, assistant, system or developer", "input");
    const Json* content = field(item, "content");
    Json text = content ? message_content(*content) : Json("");
    // The developer role is the system role of chat templates.
    messages.push_back({{"role", *role == "developer" ? "system" : *role}, {"content", std::move(text)}});
  } else if (type == "function_call") {
    auto call_id = read_string(item, "call_id");
    auto name = read_string(item, "name");
    auto arguments = read_string(item, "arguments");
    if (!call_id || !name || !arguments)
      bad_request("a function_call item needs string 'call_id', 'name' and 'arguments'", "input");
    Json call = {{"id", *call_id}, {"type", "function"}, {"function", {{"name", *name}, {"arguments", *arguments}}}};
    if (Json* assistant = last_assistant(messages)) {
      if (!assistant->contains("tool_calls")) (*assistant)["tool_calls"] = Json::array();
      (*assistant)["tool_calls"].push_back(std::move(call));
    } else {
      messages.push_back({{"role", "assistant"}, {"content", nullptr}, {"tool_calls", Json::array({std::move(call)})}});
    }
  } else if (type == "function_call_output") {
    auto call_id = read_string(item, "call_id");
    const Json* output = field(item, "output");
    if (!call_id || !output) bad_request("a function_call_output item needs 'call_id' and 'output'", "input");
    messages.push_back({{"role", "tool"}, {"tool_call_id", *call_id}, {"content", message_content(*output)}});
  } else if (type == "reasoning") {
    std::string reasoning;
    for (const char* key : {"content", "summary"}) {
      const Json* parts = field(item, key);
      if (reasoning.empty() && parts && parts->is_array() && !parts->empty() && (*parts)[0].is_object())
        reasoning = (*parts)[0].value("text", "");
    }
    if (Json* assistant = last_assistant(messages); assistant && !assistant->contains("reasoning"))
      (*assistant)["reasoning"] = reasoning;
    else
      messages.push_back({{"role", "assistant"}, {"content", nullptr}, {"reasoning", reasoning}});
  } else {
    bad_request(str("input item type '", type,
                    "' is not supported by vllm-cpp yet (message, function_call, function_call_output, reasoning)"),
                "input");
  }
}

// Flat function tools ({"type": "function", "name", "parameters"}) as chat tools.
Json chat_tools(const Json& tools) {
  if (!tools.is_array()) bad_request(str("'tools' must be a list, got ", tools.type_name()), "tools");
  Json out = Json::array();
  for (const Json& tool : tools) {
    if (!tool.is_object()) bad_request("each tool must be an object", "tools");
    std::string type = item_type(tool);
    if (type != "function")
      bad_request(str("tool type '", type, "' is not supported by vllm-cpp yet (function tools only)"), "tools");
    auto name = read_string(tool, "name");
    if (!name) bad_request("a function tool needs a string 'name'", "tools");
    Json function = {{"name", *name}};
    if (const Json* description = field(tool, "description")) function["description"] = *description;
    if (const Json* parameters = field(tool, "parameters")) function["parameters"] = *parameters;
    out.push_back({{"type", "function"}, {"function", std::move(function)}});
  }
  return out;
}

Json chat_tool_choice(const Json& choice) {
  if (choice.is_string()) return choice;
  if (choice.is_object() && item_type(choice) == "function") {
    auto name = read_string(choice, "name");
    if (!name) bad_request("a function 'tool_choice' needs a string 'name'", "tool_choice");
    return {{"type", "function"}, {"function", {{"name", *name}}}};
  }
  bad_request(str("'tool_choice' must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"name\"}, got ",
                  choice.dump().substr(0, 200)),
              "tool_choice");
}

// text.format: text (nothing), json_object, or json_schema {name, schema, strict}.
void read_text_format(const Json& text, Json& chat) {
  if (!text.is_object()) bad_request("'text' must be an object", "text");
  const Json* format = field(text, "format");
  if (!format) return;
  if (!format->is_object()) bad_request("'text.format' must be an object", "text");
  std::string type = item_type(*format);
  if (type == "text") return;
  if (type == "json_object") {
    chat["response_format"] = {{"type", "json_object"}};
  } else if (type == "json_schema") {
    const Json* schema = field(*format, "schema");
    if (!schema) bad_request("'text.format' of type json_schema needs 'schema'", "text");
    Json json_schema = {{"name", format->value("name", "response")}, {"schema", *schema}};
    if (const Json* strict = field(*format, "strict")) json_schema["strict"] = *strict;
    chat["response_format"] = {{"type", "json_schema"}, {"json_schema", std::move(json_schema)}};
  } else {
    bad_request(str("'text.format.type' must be text, json_object or json_schema, got \"", type, "\""), "text");
  }
}

}  // namespace

Json responses_to_chat(const Json& body, const ServingModel& model) {
  require_object(body);
  if (read_bool(body, "background", false))
    bad_request("background responses are not supported by vllm-cpp yet", "background");
  if (field(body, "conversation")) bad_request("'conversation' is not supported; use 'previous_response_id'", "conversation");
  Json messages = Json::array();
  if (auto instructions = read_string(body, "instructions"); instructions && !instructions->empty())
    messages.push_back({{"role", "system"}, {"content", *instructions}});
  if (auto previous = read_string(body, "previous_response_id")) {
    auto entry = model.responses->get(*previous);
    if (!entry) response_not_found(*previous, "previous_response_id");
    // The earlier conversation without its instructions (they do not carry over), then its output
    // (reasoning left out, as vLLM does).
    for (const Json& message : entry->messages)
      if (message.value("role", "") != "system") messages.push_back(message);
    for (const Json& item : entry->response["output"])
      if (item_type(item) != "reasoning") append_item(item, messages);
  }
  const Json* input = field(body, "input");
  if (!input) bad_request("'input' is required", "input");
  if (input->is_string()) {
    messages.push_back({{"role", "user"}, {"content", *input}});
  } else if (input->is_array()) {
    for (const Json& item : *input) append_item(item, messages);
  } else {
    bad_request(str("'input' must be a string or a list of input items, got ", input->type_name()), "input");
  }

  Json chat = {{"messages", std::move(messages)}};
  // Sampling and vLLM's extra fields carry over under their chat names.
  for (const char* key : {"model", "stream", "temperature", "top_p", "top_k", "min_p", "seed", "stop",
                          "presence_penalty", "frequency_penalty", "repetition_penalty", "ignore_eos",
                          "skip_special_tokens", "include_stop_str_in_output", "priority", "parallel_tool_calls",
                          "chat_template_kwargs", "logit_bias"})
    if (const Json* value = field(body, key)) chat[key] = *value;
  if (const Json* max_output_tokens = field(body, "max_output_tokens")) chat["max_completion_tokens"] = *max_output_tokens;
  if (const Json* tools = field(body, "tools")) chat["tools"] = chat_tools(*tools);
  if (const Json* choice = field(body, "tool_choice")) chat["tool_choice"] = chat_tool_choice(*choice);
  if (const Json* text = field(body, "text")) read_text_format(*text, chat);
  if (const Json* reasoning = field(body, "reasoning")) {
    if (!reasoning->is_object()) bad_request("'reasoning' must be an object", "reasoning");
    if (const Json* effort = field(*reasoning, "effort")) chat["reasoning_effort"] = *effort;
  }
  return chat;
}

PreparedRequest prepare_responses(const Json& body, const ServingModel& model) {
  if (!model.info.pooling_tasks.empty()) bad_request("The model does not support Responses API");
  Json chat = responses_to_chat(body, model);
  PreparedRequest request = prepare_chat(chat, model);
  request.endpoint = Endpoint::Responses;
  request.id = request_id(body, "resp_");
  request.engine_requests.front().request_id = request.id;
  request.store = read_bool(body, "store", true);
  request.source = body;
  request.messages = std::move(chat["messages"]);
  return request;
}

// --- Response objects ---------------------------------------------------------------------------

namespace {

Json echoed(const Json& source, const char* key, Json fallback) {
  const Json* value = field(source, key);
  return value ? *value : fallback;
}

Json output_text_part(const std::string& text) {
  return {{"type", "output_text"}, {"text", text}, {"annotations", Json::array()}, {"logprobs", Json::array()}};
}

Json message_item(const std::string& id, const std::string& text, const char* status) {
  Json content = status == std::string("completed") ? Json::array({output_text_part(text)}) : Json::array();
  return {{"id", id}, {"type", "message"}, {"role", "assistant"}, {"status", status}, {"content", std::move(content)}};
}

Json reasoning_item(const std::string& id, const std::string& text, const char* status) {
  Json content = status == std::string("completed")
                     ? Json::array({{{"type", "reasoning_text"}, {"text", text}}})
                     : Json::array();
  return {{"id", id},           {"type", "reasoning"}, {"summary", Json::array()},
          {"content", content}, {"encrypted_content", nullptr}, {"status", status}};
}

Json function_call_item(const std::string& id, const std::string& call_id, const std::string& name,
                        const std::string& arguments, const char* status) {
  return {{"id", id},       {"type", "function_call"}, {"call_id", call_id},
          {"name", name},   {"arguments", arguments},  {"status", status}};
}

int64_t count_tokens(const ServingModel& model, const std::string& text) {
  return model.tokenizer && !text.empty() ? static_cast<int64_t>(model.tokenizer->encode(text, false).size()) : 0;
}

// The Response object: the request's own fields repeated, with vLLM's defaults where absent.
Json response_object(const PreparedRequest& request, const char* status, Json output, Json usage,
                     bool incomplete) {
  const Json& source = request.source;
  Json tool_choice = echoed(source, "tool_choice", request.tools.tools.empty() ? "none" : "auto");
  return {{"id", request.id},
          {"object", "response"},
          {"created_at", request.created},
          {"status", status},
          {"background", false},
          {"error", nullptr},
          {"incomplete_details", incomplete ? Json{{"reason", "max_output_tokens"}} : Json(nullptr)},
          {"instructions", echoed(source, "instructions", nullptr)},
          {"max_output_tokens", echoed(source, "max_output_tokens", nullptr)},
          {"max_tool_calls", nullptr},
          {"metadata", echoed(source, "metadata", nullptr)},
          {"model", request.model},
          {"output", std::move(output)},
          {"parallel_tool_calls", request.tools.parallel_tool_calls},
          {"previous_response_id", echoed(source, "previous_response_id", nullptr)},
          {"prompt", nullptr},
          {"reasoning", echoed(source, "reasoning", nullptr)},
          {"service_tier", "auto"},
          {"store", request.store},
          {"temperature", echoed(source, "temperature", 1.0)},
          {"text", echoed(source, "text", Json{{"format", {{"type", "text"}}}})},
          {"tool_choice", std::move(tool_choice)},
          {"tools", echoed(source, "tools", Json::array())},
          {"top_logprobs", echoed(source, "top_logprobs", 0)},
          {"top_p", echoed(source, "top_p", 1.0)},
          {"truncation", "disabled"},
          {"usage", std::move(usage)},
          {"user", echoed(source, "user", nullptr)}};
}

Json response_usage(int64_t input_tokens, int64_t cached_tokens, int64_t output_tokens, int64_t reasoning_tokens) {
  return {{"input_tokens", input_tokens},
          {"input_tokens_details", {{"cached_tokens", cached_tokens}}},
          {"output_tokens", output_tokens},
          {"output_tokens_details", {{"reasoning_tokens", reasoning_tokens}}},
          {"total_tokens", input_tokens + output_tokens}};
}

void store_response(const PreparedRequest& request, const Json& response, const ServingModel& model) {
  if (request.store && model.responses) model.responses->put(request.id, {response, request.messages});
}

}  // namespace

Json responses_response(const PreparedRequest& request, const std::vector<RequestOutput>& outputs,
                        const ServingModel& model) {
  VLLM_ASSERT(outputs.size() == 1 && !outputs.front().outputs.empty(), "a Responses request has one output");
  const RequestOutput& result = outputs.front();
  const CompletionOutput& output = result.outputs.front();
  ParsedChatOutput parsed = parse_chat_output(request.tools, model, output.text);
  Json items = Json::array();
  std::string reasoning = parsed.reasoning_content.value_or("");
  if (!reasoning.empty()) items.push_back(reasoning_item(random_id("rs_"), reasoning, "completed"));
  if (parsed.content && !parsed.content->empty())
    items.push_back(message_item(random_id("msg_"), *parsed.content, "completed"));
  for (const parsers::ToolCall& call : parsed.tool_calls)
    items.push_back(function_call_item(random_id("fc_"), call.id, call.function.name, call.function.arguments, "completed"));
  bool incomplete = output.finish_reason == "length";
  Json response = response_object(
      request, incomplete ? "incomplete" : "completed", std::move(items),
      response_usage(static_cast<int64_t>(result.prompt_token_ids.size()), result.metrics.num_cached_tokens,
                     static_cast<int64_t>(output.token_ids.size()), count_tokens(model, reasoning)),
      incomplete);
  store_response(request, response, model);
  return response;
}

Json retrieve_response(const std::string& id, const ServingModel& model) {
  auto entry = model.responses->get(id);
  if (!entry) response_not_found(id);
  return entry->response;
}

// Only a background response can be cancelled (vLLM's message), and every stored response here
// has finished.
Json cancel_response(const std::string& id, const ServingModel& model) {
  auto entry = model.responses->get(id);
  if (!entry) response_not_found(id);
  throw ApiError(400, "Cannot cancel a synchronous response.");
}

// --- Streaming ----------------------------------------------------------------------------------

namespace {

class ResponsesEventStream : public EventStream {
 public:
  ResponsesEventStream(const PreparedRequest& request, const ServingModel& model)
      : request_(request), model_(model), reader_(request.tools, model) {}

  std::string on_output(size_t, const RequestOutput& result) override {
    std::string events;
    if (!started_) {
      started_ = true;
      Json response = in_progress_response();
      events += event("response.created", {{"response", response}});
      events += event("response.in_progress", {{"response", response}});
    }
    if (result.outputs.empty()) return events;
    const CompletionOutput& output = result.outputs.front();
    input_tokens_ = static_cast<int64_t>(result.prompt_token_ids.size());
    cached_tokens_ = result.metrics.num_cached_tokens;
    output_tokens_ = static_cast<int64_t>(output.token_ids.size());
    if (!output.finish_reason.empty()) finish_reason_ = output.finish_reason;
    parsers::DeltaMessage delta = reader_.next(output);
    if (delta.reasoning_content && !delta.reasoning_content->empty()) {
      events += open(Kind::Reasoning);
      open_->text += *delta.reasoning_content;
      reasoning_ += *delta.reasoning_content;
      events += event("response.reasoning_text.delta", part_fields(Json{{"delta", *delta.reasoning_content}}));
    }
    if (delta.content && !delta.content->empty()) {
      events += open(Kind::Message);
      open_->text += *delta.content;
      events += event("response.output_text.delta",
                      part_fields(Json{{"delta", *delta.content}, {"logprobs", Json::array()}}));
    }
    for (const parsers::DeltaToolCall& call : delta.tool_calls) {
      if (call.id || call.name) {
        events += open(Kind::FunctionCall, call.index, call.id.value_or(parsers::random_tool_call_id()),
                       call.name.value_or(""));
      }
      if (call.arguments && !call.arguments->empty() && open_ && open_->kind == Kind::FunctionCall &&
          open_->tool_index == call.index) {
        open_->text += *call.arguments;
        events += event("response.function_call_arguments.delta",
                        {{"item_id", open_->id}, {"output_index", open_->output_index}, {"delta", *call.arguments}});
      }
    }
    return events;
  }

  std::string finish() override {
    std::string events = close();
    bool incomplete = finish_reason_ == "length";
    Json response = response_object(request_, incomplete ? "incomplete" : "completed", items_,
                                    response_usage(input_tokens_, cached_tokens_, output_tokens_,
                                                   count_tokens(model_, reasoning_)),
                                    incomplete);
    store_response(request_, response, model_);
    events += event("response.completed", {{"response", std::move(response)}});
    return events;
  }

 private:
  enum class Kind { Reasoning, Message, FunctionCall };
  struct OpenItem {
    Kind kind;
    std::string id;
    int64_t output_index = 0;
    std::string text;  // reasoning, message text or the call's arguments so far
    int tool_index = 0;
    std::string call_id, name;
  };

  Json in_progress_response() const {
    return response_object(request_, "in_progress", Json::array(), nullptr, false);
  }

  // `event: TYPE` + `data: {"type": TYPE, ..., "sequence_number": N}`.
  std::string event(const char* type, const Json& fields) {
    Json payload = {{"type", type}};
    for (auto it = fields.begin(); it != fields.end(); ++it) payload[it.key()] = it.value();
    payload["sequence_number"] = sequence_number_++;
    return str("event: ", type, "\ndata: ", dump_json(payload), "\n\n");
  }

  Json part_fields(Json fields) const {
    Json out = {{"item_id", open_->id}, {"output_index", open_->output_index}, {"content_index", 0}};
    for (auto it = fields.begin(); it != fields.end(); ++it) out[it.key()] = it.value();
    return out;
  }

  // Starts an item of `kind` unless that item is the open one (closing the open one first).
  std::string open(Kind kind, int tool_index = 0, std::string call_id = "", std::string name = "") {
    bool same = open_ && open_->kind == kind && (kind != Kind::FunctionCall || open_->tool_index == tool_index);
    if (same) return "";
    std::string events = close();
    OpenItem item{kind, "", static_cast<int64_t>(items_.size()), "", tool_index, std::move(call_id), std::move(name)};
    Json added;
    switch (kind) {
      case Kind::Reasoning:
        item.id = random_id("rs_");
        added = reasoning_item(item.id, "", "in_progress");
        break;
      case Kind::Message:
        item.id = random_id("msg_");
        added = message_item(item.id, "", "in_progress");
        break;
      case Kind::FunctionCall:
        item.id = random_id("fc_");
        added = function_call_item(item.id, item.call_id, item.name, "", "in_progress");
        break;
    }
    open_ = std::move(item);
    events += event("response.output_item.added", {{"output_index", open_->output_index}, {"item", std::move(added)}});
    if (kind == Kind::Message)
      events += event("response.content_part.added", part_fields(Json{{"part", output_text_part("")}}));
    if (kind == Kind::Reasoning)
      events += event("response.content_part.added",
                      part_fields(Json{{"part", {{"type", "reasoning_text"}, {"text", ""}}}}));
    return events;
  }

  // The open item's closing events; the item joins the output.
  std::string close() {
    if (!open_) return "";
    std::string events;
    OpenItem& item = *open_;
    Json done;
    switch (item.kind) {
      case Kind::Reasoning:
        events += event("response.reasoning_text.done", part_fields(Json{{"text", item.text}}));
        events += event("response.content_part.done",
                        part_fields(Json{{"part", {{"type", "reasoning_text"}, {"text", item.text}}}}));
        done = reasoning_item(item.id, item.text, "completed");
        break;
      case Kind::Message:
        events += event("response.output_text.done", part_fields(Json{{"text", item.text}, {"logprobs", Json::array()}}));
        events += event("response.content_part.done", part_fields(Json{{"part", output_text_part(item.text)}}));
        done = message_item(item.id, item.text, "completed");
        break;
      case Kind::FunctionCall:
        events += event("response.function_call_arguments.done",
                        {{"item_id", item.id}, {"output_index", item.output_index}, {"name", item.name},
                         {"arguments", item.text}});
        done = function_call_item(item.id, item.call_id, item.name, item.text, "completed");
        break;
    }
    events += event("response.output_item.done", {{"output_index", item.output_index}, {"item", done}});
    items_.push_back(std::move(done));
    open_.reset();
    return events;
  }

  const PreparedRequest& request_;
  const ServingModel& model_;
  ChatDeltaReader reader_;
  bool started_ = false;
  int64_t sequence_number_ = 0;
  std::optional<OpenItem> open_;
  Json items_ = Json::array();  // finished output items
  std::string reasoning_;
  std::string finish_reason_;
  int64_t input_tokens_ = 0, cached_tokens_ = 0, output_tokens_ = 0;
};

}  // namespace

std::unique_ptr<EventStream> make_responses_stream(const PreparedRequest& request, const ServingModel& model) {
  return std::make_unique<ResponsesEventStream>(request, model);
}

}  // namespace vllm::server
