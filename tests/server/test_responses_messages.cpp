// The Responses API (/v1/responses) and Anthropic's Messages API (/v1/messages) over the
// protocol functions and, at the end, over HTTP against the FakeEngine: request translation onto
// chat, response objects, the typed streaming events, the response store, error shapes.
#include <gtest/gtest.h>

#include "fake_engine.h"
#include "server/anthropic_api.h"
#include "server/http_client.h"
#include "server/http_server.h"
#include "server/responses_api.h"
#include "server_test_util.h"

namespace vllm::server {
namespace {

using testing::FakeEngine;

struct Event {
  std::string name;  // the `event:` line
  Json data;
};

// The named events of a text/event-stream.
std::vector<Event> parse_events(const std::string& text) {
  std::vector<Event> events;
  SseReader reader;
  reader.feed(text, [&](std::string_view data) {
    events.push_back({reader.event_name(), Json::parse(data)});
    return true;
  });
  return events;
}

class ApiTranslationTest : public ::testing::Test {
 protected:
  FakeEngine engine{FakeEngine::Options{.max_model_len = 64}};
  ServingModel model = testing::serving_model(engine);

  template <typename Prepare>
  ApiError error_of(Prepare prepare) {
    try {
      prepare();
    } catch (const std::exception& error) {
      return to_api_error(error);
    }
    return ApiError(0, "accepted");
  }

  // A finished output of `text` (one token per byte).
  static RequestOutput finished(const PreparedRequest& request, const std::string& text,
                                const std::string& finish_reason = "stop") {
    RequestOutput output;
    output.prompt_token_ids = request.engine_requests[0].prompt_token_ids;
    output.finished = true;
    CompletionOutput choice;
    choice.text = text;
    choice.token_ids.assign(text.size(), 1);
    choice.finish_reason = finish_reason;
    output.outputs = {choice};
    return output;
  }

  // The output streamed one byte per step through the request's EventStream.
  std::vector<Event> stream(const PreparedRequest& request, const std::string& text) {
    auto events = make_event_stream(request, model);
    RequestOutput full = finished(request, text);
    std::string sse;
    for (size_t n = 1; n <= text.size(); ++n) {
      RequestOutput partial = full;
      partial.finished = n == text.size();
      partial.outputs[0].text = text.substr(0, n);
      partial.outputs[0].token_ids.resize(n);
      if (!partial.finished) partial.outputs[0].finish_reason.clear();
      sse += events->on_output(0, partial);
    }
    sse += events->finish();
    return parse_events(sse);
  }

  static std::vector<std::string> names(const std::vector<Event>& events) {
    std::vector<std::string> out;
    for (const Event& event : events) out.push_back(event.name);
    return out;
  }
};

const Json kWeatherTool = Json::parse(R"({"type": "function", "name": "get_weather", "description": "Weather",
  "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}})");

// --- Responses: translation -----------------------------------------------------------------------

TEST_F(ApiTranslationTest, ResponsesInputBecomesChatMessages) {
  Json chat = responses_to_chat({{"input", "hello"}, {"instructions", "be brief"}, {"max_output_tokens", 5},
                                 {"temperature", 0.5}, {"model", "fake-model"}},
                                model);
  EXPECT_EQ(chat["messages"], Json::parse(R"([{"role": "system", "content": "be brief"},
                                              {"role": "user", "content": "hello"}])"));
  EXPECT_EQ(chat["max_completion_tokens"], 5);
  EXPECT_EQ(chat["temperature"], 0.5);
  EXPECT_EQ(chat["model"], "fake-model");

  Json items = Json::parse(R"([
    {"role": "developer", "content": "rules"},
    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "calling"}]},
    {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\": \"Oz\"}"},
    {"type": "function_call", "call_id": "call_2", "name": "get_weather", "arguments": "{}"},
    {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    {"role": "user", "content": [{"type": "input_text", "text": "a"}, {"type": "input_text", "text": "b"}]}])");
  chat = responses_to_chat({{"input", items}}, model);
  EXPECT_EQ(chat["messages"], Json::parse(R"([
    {"role": "system", "content": "rules"},
    {"role": "user", "content": "hi"},
    {"role": "assistant", "content": "calling", "tool_calls": [
      {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Oz\"}"}},
      {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}])"));
}

TEST_F(ApiTranslationTest, ResponsesToolsAndFormatsBecomeChatFields) {
  Json chat = responses_to_chat(
      {{"input", "hi"},
       {"tools", Json::array({kWeatherTool})},
       {"tool_choice", {{"type", "function"}, {"name", "get_weather"}}},
       {"parallel_tool_calls", false},
       {"text", {{"format", {{"type", "json_schema"}, {"name", "w"}, {"schema", {{"type", "object"}}}, {"strict", true}}}}}},
      model);
  EXPECT_EQ(chat["tools"], Json::parse(R"([{"type": "function", "function": {"name": "get_weather",
    "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
    "required": ["city"]}}}])"));
  EXPECT_EQ(chat["tool_choice"], Json::parse(R"({"type": "function", "function": {"name": "get_weather"}})"));
  EXPECT_EQ(chat["parallel_tool_calls"], false);
  EXPECT_EQ(chat["response_format"], Json::parse(R"({"type": "json_schema",
    "json_schema": {"name": "w", "schema": {"type": "object"}, "strict": true}})"));
  chat = responses_to_chat({{"input", "hi"}, {"text", {{"format", {{"type", "json_object"}}}}}}, model);
  EXPECT_EQ(chat["response_format"], Json::parse(R"({"type": "json_object"})"));
  chat = responses_to_chat({{"input", "hi"}, {"text", {{"format", {{"type", "text"}}}}}}, model);
  EXPECT_FALSE(chat.contains("response_format"));

  // The named tool holds the output to its parameters' schema, through the chat path.
  auto request = prepare_responses({{"input", "hi"}, {"tools", Json::array({kWeatherTool})},
                                    {"tool_choice", {{"type", "function"}, {"name", "get_weather"}}}},
                                   model);
  ASSERT_TRUE(request.engine_requests[0].params.structured_outputs.has_value());
}

TEST_F(ApiTranslationTest, ResponsesBadBodiesAre400And404) {
  auto status = [&](const Json& body) { return error_of([&] { prepare_responses(body, model); }); };
  EXPECT_EQ(status({{"input", "hi"}}).status(), 0);
  ApiError missing = status(Json::object());
  EXPECT_EQ(missing.status(), 400);
  EXPECT_EQ(missing.param(), "input");
  EXPECT_EQ(status({{"input", 3}}).status(), 400);
  EXPECT_EQ(status({{"input", Json::array({{{"type", "item_reference"}, {"id", "x"}}})}}).status(), 400);
  EXPECT_EQ(status({{"input", Json::array({{{"role", "user"}, {"content", Json::array({{{"type", "input_image"}}})}}})}})
                .status(),
            400);
  EXPECT_EQ(status({{"input", "hi"}, {"tools", Json::array({{{"type", "web_search"}}})}}).status(), 400);
  EXPECT_EQ(status({{"input", "hi"}, {"background", true}}).status(), 400);
  EXPECT_EQ(status({{"input", "hi"}, {"text", {{"format", {{"type", "yaml"}}}}}}).status(), 400);
  EXPECT_EQ(status({{"input", "hi"}, {"model", "other"}}).status(), 404);
  ApiError unknown = status({{"input", "hi"}, {"previous_response_id", "resp_nope"}});
  EXPECT_EQ(unknown.status(), 404);
  EXPECT_STREQ(unknown.what(), "Response with id 'resp_nope' not found.");
}

// --- Responses: objects and the store -------------------------------------------------------------

TEST_F(ApiTranslationTest, ResponseObjectHasItemsUsageAndIsStored) {
  auto request = prepare_responses({{"input", "hello world"}, {"instructions", "hi"}, {"metadata", {{"k", "v"}}}}, model);
  EXPECT_EQ(request.id.rfind("resp_", 0), 0u);
  EXPECT_EQ(request.engine_requests[0].request_id, request.id);
  Json response = responses_response(request, {finished(request, "the cat")}, model);
  EXPECT_EQ(response["id"], request.id);
  EXPECT_EQ(response["object"], "response");
  EXPECT_EQ(response["status"], "completed");
  EXPECT_EQ(response["incomplete_details"], nullptr);
  EXPECT_EQ(response["instructions"], "hi");
  EXPECT_EQ(response["metadata"], Json({{"k", "v"}}));
  EXPECT_EQ(response["model"], "fake-model");
  EXPECT_TRUE(response["created_at"].is_number_integer());
  ASSERT_EQ(response["output"].size(), 1u);
  const Json& item = response["output"][0];
  EXPECT_EQ(item["type"], "message");
  EXPECT_EQ(item["role"], "assistant");
  EXPECT_EQ(item["status"], "completed");
  EXPECT_EQ(item["id"].get<std::string>().rfind("msg_", 0), 0u);
  EXPECT_EQ(item["content"][0]["type"], "output_text");
  EXPECT_EQ(item["content"][0]["text"], "the cat");
  // "system: hi\nuser: hello world\nassistant:" is 6 words of the word tokenizer.
  EXPECT_EQ(response["usage"]["input_tokens"], 6);
  EXPECT_EQ(response["usage"]["output_tokens"], 7);
  EXPECT_EQ(response["usage"]["total_tokens"], 13);
  EXPECT_EQ(response["usage"]["input_tokens_details"]["cached_tokens"], 0);
  EXPECT_EQ(response["usage"]["output_tokens_details"]["reasoning_tokens"], 0);
  EXPECT_EQ(retrieve_response(request.id, model), response);

  // The continuation sees the earlier turns and answer, without the earlier instructions.
  Json chat = responses_to_chat({{"input", "sat"}, {"previous_response_id", request.id}}, model);
  EXPECT_EQ(chat["messages"], Json::parse(R"([{"role": "user", "content": "hello world"},
    {"role": "assistant", "content": "the cat"}, {"role": "user", "content": "sat"}])"));

  // max_output_tokens reached: incomplete; store false: not kept.
  auto cut = prepare_responses({{"input", "hello"}, {"store", false}, {"max_output_tokens", 2}}, model);
  Json incomplete = responses_response(cut, {finished(cut, "ab", "length")}, model);
  EXPECT_EQ(incomplete["status"], "incomplete");
  EXPECT_EQ(incomplete["incomplete_details"]["reason"], "max_output_tokens");
  EXPECT_EQ(incomplete["store"], false);
  EXPECT_EQ(error_of([&] { retrieve_response(cut.id, model); }).status(), 404);
  EXPECT_EQ(error_of([&] { cancel_response(request.id, model); }).status(), 400);
}

TEST_F(ApiTranslationTest, ResponseStoreDropsTheOldest) {
  ResponseStore store(2);
  store.put("a", {Json(1), Json::array()});
  store.put("b", {Json(2), Json::array()});
  store.put("c", {Json(3), Json::array()});
  EXPECT_FALSE(store.get("a").has_value());
  EXPECT_EQ(store.get("b")->response, 2);
  EXPECT_EQ(store.get("c")->response, 3);
}

TEST_F(ApiTranslationTest, ResponsesStreamEventsInOrder) {
  auto request = prepare_responses({{"input", "hello"}, {"stream", true}}, model);
  auto events = stream(request, "the cat");
  std::vector<std::string> expected = {"response.created", "response.in_progress", "response.output_item.added",
                                       "response.content_part.added"};
  for (int i = 0; i < 7; ++i) expected.push_back("response.output_text.delta");
  for (const char* name : {"response.output_text.done", "response.content_part.done", "response.output_item.done",
                           "response.completed"})
    expected.push_back(name);
  EXPECT_EQ(names(events), expected);
  std::string joined;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].data["type"], events[i].name);
    EXPECT_EQ(events[i].data["sequence_number"], static_cast<int>(i));
    if (events[i].name == "response.output_text.delta") joined += events[i].data["delta"].get<std::string>();
  }
  EXPECT_EQ(joined, "the cat");
  EXPECT_EQ(events[0].data["response"]["status"], "in_progress");
  std::string item_id = events[2].data["item"]["id"];
  EXPECT_EQ(events[4].data["item_id"], item_id);
  EXPECT_EQ(events[11].data["text"], "the cat");
  const Json& completed = events.back().data["response"];
  EXPECT_EQ(completed["status"], "completed");
  EXPECT_EQ(completed["output"][0]["id"], item_id);
  EXPECT_EQ(completed["output"][0]["content"][0]["text"], "the cat");
  EXPECT_EQ(completed["usage"]["output_tokens"], 7);
  EXPECT_EQ(retrieve_response(request.id, model), completed);
}

TEST_F(ApiTranslationTest, ResponsesReasoningAndToolCallItems) {
  model.enable_auto_tool_choice = true;
  model.tool_call_parser = "hermes";
  model.reasoning_parser = "qwen3";
  const std::string text = "<think>\nweather\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
                           "{\"city\": \"Paris\"}}\n</tool_call>";
  auto request = prepare_responses({{"input", "hello"}, {"tools", Json::array({kWeatherTool})}}, model);
  Json response = responses_response(request, {finished(request, text)}, model);
  const Json& output = response["output"];
  ASSERT_GE(output.size(), 2u);
  EXPECT_EQ(output.front()["type"], "reasoning");
  EXPECT_EQ(output.front()["content"][0]["text"], "\nweather\n");
  EXPECT_GT(response["usage"]["output_tokens_details"]["reasoning_tokens"], 0);
  const Json& call = output.back();
  EXPECT_EQ(call["type"], "function_call");
  EXPECT_EQ(call["name"], "get_weather");
  EXPECT_EQ(call["arguments"], R"({"city": "Paris"})");
  EXPECT_EQ(call["id"].get<std::string>().rfind("fc_", 0), 0u);
  EXPECT_FALSE(call["call_id"].get<std::string>().empty());

  auto streamed = prepare_responses({{"input", "hello"}, {"tools", Json::array({kWeatherTool})}, {"stream", true}}, model);
  auto events = stream(streamed, text);
  std::string reasoning, arguments;
  for (const Event& event : events) {
    if (event.name == "response.reasoning_text.delta") reasoning += event.data["delta"].get<std::string>();
    if (event.name == "response.function_call_arguments.delta") arguments += event.data["delta"].get<std::string>();
  }
  EXPECT_EQ(reasoning, "\nweather\n");
  EXPECT_EQ(arguments, R"({"city": "Paris"})");
  const Json& final_output = events.back().data["response"]["output"];
  EXPECT_EQ(final_output.front()["type"], "reasoning");
  EXPECT_EQ(final_output.back()["type"], "function_call");
  EXPECT_EQ(final_output.back()["arguments"], R"({"city": "Paris"})");
}

// --- Messages ---------------------------------------------------------------------------------

TEST_F(ApiTranslationTest, MessagesBecomeChatMessages) {
  Json body = Json::parse(R"({
    "model": "fake-model", "max_tokens": 10, "system": [{"type": "text", "text": "be brief"}],
    "stop_sequences": ["cat"], "temperature": 0.2, "top_p": 0.9, "top_k": 5,
    "messages": [
      {"role": "user", "content": "weather?"},
      {"role": "assistant", "content": [{"type": "text", "text": "checking"},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oz"}}]},
      {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
        "content": [{"type": "text", "text": "sunny"}]}]},
      {"role": "user", "content": [{"type": "text", "text": "thanks"}]}],
    "tools": [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}],
    "tool_choice": {"type": "any", "disable_parallel_tool_use": true}})");
  Json chat = messages_to_chat(body);
  EXPECT_EQ(chat["messages"], Json::parse(R"([
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "weather?"},
    {"role": "assistant", "tool_calls": [{"id": "toolu_1", "type": "function",
      "function": {"name": "get_weather", "arguments": "{\"city\": \"Oz\"}"}}], "content": "checking"},
    {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
    {"role": "user", "content": "thanks"}])"));
  EXPECT_EQ(chat["max_tokens"], 10);
  EXPECT_EQ(chat["stop"], Json({"cat"}));
  EXPECT_EQ(chat["top_k"], 5);
  EXPECT_EQ(chat["tools"][0]["function"]["parameters"], Json({{"type", "object"}}));
  EXPECT_EQ(chat["tool_choice"], "required");
  EXPECT_EQ(chat["parallel_tool_calls"], false);
  body["tool_choice"] = {{"type", "tool"}, {"name", "get_weather"}};
  EXPECT_EQ(messages_to_chat(body)["tool_choice"]["function"]["name"], "get_weather");
  body.erase("tool_choice");
  EXPECT_EQ(messages_to_chat(body)["tool_choice"], "auto");  // vLLM's default with tools
}

TEST_F(ApiTranslationTest, MessagesBadBodiesAre400) {
  auto status = [&](const Json& body) { return error_of([&] { prepare_messages(body, model); }); };
  Json user = Json::array({{{"role", "user"}, {"content", "hi"}}});
  EXPECT_EQ(status({{"messages", user}, {"max_tokens", 4}}).status(), 0);
  ApiError no_max = status({{"messages", user}});
  EXPECT_EQ(no_max.status(), 400);
  EXPECT_STREQ(no_max.what(), "max_tokens: Field required");
  EXPECT_EQ(status({{"max_tokens", 4}}).status(), 400);
  EXPECT_EQ(status({{"messages", user}, {"max_tokens", 0}}).status(), 400);
  EXPECT_EQ(status({{"messages", Json::array({{{"role", "robot"}, {"content", "hi"}}})}, {"max_tokens", 4}}).status(), 400);
  Json image = Json::array({{{"role", "user"}, {"content", Json::array({{{"type", "image"}}})}}});
  EXPECT_EQ(status({{"messages", image}, {"max_tokens", 4}}).status(), 400);
  EXPECT_EQ(status({{"messages", user}, {"max_tokens", 4}, {"tool_choice", {{"type", "sometimes"}}}}).status(), 400);

  Json body = anthropic_error_body(ApiError(400, "bad"));
  EXPECT_EQ(body, Json::parse(R"({"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}})"));
  EXPECT_EQ(anthropic_error_body(ApiError(401, "x"))["error"]["type"], "authentication_error");
  EXPECT_EQ(anthropic_error_body(ApiError(404, "x"))["error"]["type"], "not_found_error");
  EXPECT_EQ(anthropic_error_body(ApiError(500, "x"))["error"]["type"], "api_error");
}

TEST_F(ApiTranslationTest, MessagesResponseStopReasons) {
  Json body = {{"messages", Json::array({{{"role", "user"}, {"content", "hi"}}})}, {"max_tokens", 8}};
  auto request = prepare_messages(body, model);
  EXPECT_EQ(request.id.rfind("msg_", 0), 0u);
  Json response = messages_response(request, {finished(request, "the cat")}, model);
  EXPECT_EQ(response, Json::parse(str(R"({"id": ")", request.id, R"(", "type": "message", "role": "assistant",
    "content": [{"type": "text", "text": "the cat"}], "model": "fake-model", "stop_reason": "end_turn",
    "stop_sequence": null, "usage": {"input_tokens": 3, "output_tokens": 7}})")));
  EXPECT_EQ(messages_response(request, {finished(request, "ab", "length")}, model)["stop_reason"], "max_tokens");
  RequestOutput stopped = finished(request, "the");
  stopped.outputs[0].stop_reason = std::string("cat");
  Json by_sequence = messages_response(request, {stopped}, model);
  EXPECT_EQ(by_sequence["stop_reason"], "stop_sequence");
  EXPECT_EQ(by_sequence["stop_sequence"], "cat");

  body["tools"] = Json::parse(R"([{"name": "get_weather", "input_schema": {"type": "object"}}])");
  body["tool_choice"] = {{"type", "tool"}, {"name", "get_weather"}};
  auto forced = prepare_messages(body, model);
  Json call = messages_response(forced, {finished(forced, R"({"city": "Oz"})")}, model);
  EXPECT_EQ(call["stop_reason"], "tool_use");
  ASSERT_EQ(call["content"].size(), 1u);
  EXPECT_EQ(call["content"][0]["type"], "tool_use");
  EXPECT_EQ(call["content"][0]["name"], "get_weather");
  EXPECT_EQ(call["content"][0]["input"], Json({{"city", "Oz"}}));
}

TEST_F(ApiTranslationTest, MessagesStreamEventsInOrder) {
  Json body = {{"messages", Json::array({{{"role", "user"}, {"content", "hi"}}})}, {"max_tokens", 8}, {"stream", true}};
  auto request = prepare_messages(body, model);
  auto events = stream(request, "the cat");
  std::vector<std::string> expected = {"message_start", "content_block_start"};
  for (int i = 0; i < 7; ++i) expected.push_back("content_block_delta");
  for (const char* name : {"content_block_stop", "message_delta", "message_stop"}) expected.push_back(name);
  EXPECT_EQ(names(events), expected);
  std::string joined;
  for (const Event& event : events) {
    EXPECT_EQ(event.data["type"], event.name);
    if (event.name == "content_block_delta") {
      EXPECT_EQ(event.data["index"], 0);
      EXPECT_EQ(event.data["delta"]["type"], "text_delta");
      joined += event.data["delta"]["text"].get<std::string>();
    }
  }
  EXPECT_EQ(joined, "the cat");
  EXPECT_EQ(events[0].data["message"]["id"], request.id);
  EXPECT_EQ(events[0].data["message"]["usage"]["input_tokens"], 3);
  EXPECT_EQ(events[1].data["content_block"], Json::parse(R"({"type": "text", "text": ""})"));
  EXPECT_EQ(events[events.size() - 2].data["delta"]["stop_reason"], "end_turn");
  EXPECT_EQ(events[events.size() - 2].data["usage"]["output_tokens"], 7);

  // A forced tool: one tool_use block whose input_json_delta pieces join into the arguments,
  // streamed as the constrained JSON grows.
  body["tools"] = Json::parse(R"([{"name": "get_weather", "input_schema": {"type": "object"}}])");
  body["tool_choice"] = {{"type", "any"}};
  auto forced = prepare_messages(body, model);
  auto tool_events = stream(forced, R"([{"name": "get_weather", "parameters": {"city": "Oz"}}])");
  const std::vector<std::string> tool_names = names(tool_events);
  ASSERT_GE(tool_names.size(), 7u);
  EXPECT_EQ(std::vector<std::string>(tool_names.begin(), tool_names.begin() + 2),
            (std::vector<std::string>{"message_start", "content_block_start"}));
  EXPECT_EQ(std::vector<std::string>(tool_names.end() - 3, tool_names.end()),
            (std::vector<std::string>{"content_block_stop", "message_delta", "message_stop"}));
  EXPECT_EQ(tool_events[1].data["content_block"]["type"], "tool_use");
  EXPECT_EQ(tool_events[1].data["content_block"]["name"], "get_weather");
  std::string partial_json;
  for (size_t e = 2; e + 3 < tool_events.size(); ++e) {
    ASSERT_EQ(tool_names[e], "content_block_delta");
    EXPECT_EQ(tool_events[e].data["delta"]["type"], "input_json_delta");
    partial_json += tool_events[e].data["delta"]["partial_json"].get<std::string>();
  }
  EXPECT_GT(tool_events.size(), 7u) << "the arguments came in one piece";
  EXPECT_EQ(Json::parse(partial_json), Json({{"city", "Oz"}}));
  EXPECT_EQ(tool_events[tool_events.size() - 2].data["delta"]["stop_reason"], "tool_use");
}

TEST_F(ApiTranslationTest, MessagesThinkingBlocks) {
  model.reasoning_parser = "qwen3";
  Json body = {{"messages", Json::array({{{"role", "user"}, {"content", "hi"}}})}, {"max_tokens", 32}};
  const std::string text = "<think>hmm</think>the cat";
  auto request = prepare_messages(body, model);
  Json response = messages_response(request, {finished(request, text)}, model);
  ASSERT_EQ(response["content"].size(), 2u) << response;
  EXPECT_EQ(response["content"][0]["type"], "thinking");
  EXPECT_EQ(response["content"][0]["thinking"], "hmm");
  EXPECT_FALSE(response["content"][0]["signature"].get<std::string>().empty());
  EXPECT_EQ(response["content"][1], Json::parse(R"({"type": "text", "text": "the cat"})"));

  body["stream"] = true;
  auto streamed = prepare_messages(body, model);
  std::string thinking, answer;
  std::vector<std::string> blocks;  // content_block_start types, then "stop" per content_block_stop
  bool signed_thinking = false;
  for (const Event& event : stream(streamed, text)) {
    if (event.name == "content_block_start") blocks.push_back(event.data["content_block"]["type"]);
    if (event.name == "content_block_stop") blocks.push_back("stop");
    if (event.name != "content_block_delta") continue;
    const Json& delta = event.data["delta"];
    if (delta["type"] == "thinking_delta") thinking += delta["thinking"].get<std::string>();
    if (delta["type"] == "text_delta") answer += delta["text"].get<std::string>();
    if (delta["type"] == "signature_delta") signed_thinking = event.data["index"] == 0;
  }
  EXPECT_EQ(blocks, (std::vector<std::string>{"thinking", "stop", "text", "stop"}));
  EXPECT_EQ(thinking, "hmm");
  EXPECT_EQ(answer, "the cat");
  EXPECT_TRUE(signed_thinking);
}

TEST_F(ApiTranslationTest, CountTokensRendersTheChatPrompt) {
  // "system: hello\nuser: hi world\nassistant:" is 6 words.
  Json body = {{"system", "hello"}, {"messages", Json::array({{{"role", "user"}, {"content", "hi world"}}})}};
  EXPECT_EQ(count_tokens_response(body, model),
            Json::parse(R"({"input_tokens": 6, "context_management": {"original_input_tokens": 6}})"));
  EXPECT_EQ(error_of([&] { count_tokens_response({{"system", "x"}}, model); }).status(), 400);
}

// --- Over HTTP ----------------------------------------------------------------------------------

class ApiHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.threads = 2;
    options.api_keys = {"secret"};
    server_ = std::make_unique<HttpServer>(engine_, testing::serving_model(engine_), options);
    port_ = std::to_string(server_->start());
  }
  void TearDown() override {
    server_->shutdown();
    engine_.shutdown();
  }

  HttpResponse fetch(const std::string& method, const std::string& target, const Json& body,
                     std::vector<std::pair<std::string, std::string>> headers = {{"Authorization", "Bearer secret"}}) {
    HttpRequest request;
    request.method = method;
    request.target = target;
    if (!body.is_null()) request.body = body.dump();
    request.headers = std::move(headers);
    request.timeout_s = 20;
    return http_fetch("127.0.0.1", port_, request);
  }

  FakeEngine engine_{FakeEngine::Options{.max_model_len = 64}};
  std::unique_ptr<HttpServer> server_;
  std::string port_;
};

TEST_F(ApiHttpTest, ResponsesRoutes) {
  auto created = fetch("POST", "/v1/responses", {{"input", "hello world"}, {"max_output_tokens", 3}});
  ASSERT_EQ(created.status, 200) << created.body;
  Json response = Json::parse(created.body);
  EXPECT_EQ(response["status"], "incomplete");
  EXPECT_EQ(response["usage"]["output_tokens"], 3);
  std::string id = response["id"];
  auto stored = fetch("GET", "/v1/responses/" + id, nullptr);
  ASSERT_EQ(stored.status, 200);
  EXPECT_EQ(Json::parse(stored.body), response);
  auto missing = fetch("GET", "/v1/responses/resp_missing", nullptr);
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(Json::parse(missing.body)["error"]["type"], "NotFoundError");
  EXPECT_EQ(fetch("POST", "/v1/responses/" + id + "/cancel", nullptr).status, 400);
  EXPECT_EQ(fetch("GET", "/v1/responses/" + id + "/cancel", nullptr).status, 405);
  EXPECT_EQ(fetch("POST", "/v1/responses/" + id + "/other", nullptr).status, 404);
  EXPECT_EQ(fetch("GET", "/v1/responses/" + id, nullptr, {}).status, 401);

  auto bad = fetch("POST", "/v1/responses", {{"input", 5}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(Json::parse(bad.body)["error"]["param"], "input");

  // Streamed: typed events, no [DONE], ending with response.completed.
  auto streamed = fetch("POST", "/v1/responses", {{"input", "hello"}, {"max_output_tokens", 2}, {"stream", true}});
  ASSERT_EQ(streamed.status, 200);
  EXPECT_EQ(streamed.headers["content-type"].rfind("text/event-stream", 0), 0u);
  auto events = parse_events(streamed.body);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().name, "response.created");
  EXPECT_EQ(events.back().name, "response.completed");
  EXPECT_EQ(streamed.body.find("[DONE]"), std::string::npos);
}

TEST_F(ApiHttpTest, MessagesRoutesWithAnthropicErrorsAndApiKey) {
  Json body = {{"messages", Json::array({{{"role", "user"}, {"content", "hello"}}})}, {"max_tokens", 3}};
  auto answered = fetch("POST", "/v1/messages", body, {{"x-api-key", "secret"}, {"anthropic-version", "2023-06-01"}});
  ASSERT_EQ(answered.status, 200) << answered.body;
  Json message = Json::parse(answered.body);
  EXPECT_EQ(message["type"], "message");
  EXPECT_EQ(message["stop_reason"], "max_tokens");
  EXPECT_EQ(message["usage"]["output_tokens"], 3);

  auto unauthorized = fetch("POST", "/v1/messages", body, {{"x-api-key", "wrong"}});
  EXPECT_EQ(unauthorized.status, 401);
  EXPECT_EQ(Json::parse(unauthorized.body)["error"]["type"], "authentication_error");
  Json no_max = body;
  no_max.erase("max_tokens");
  auto bad = fetch("POST", "/v1/messages", no_max);
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(Json::parse(bad.body),
            Json::parse(R"({"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"}})"));
  auto wrong_method = fetch("GET", "/v1/messages", nullptr);
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_EQ(Json::parse(wrong_method.body)["error"]["type"], "api_error");
  auto malformed = fetch("POST", "/v1/messages/count_tokens", nullptr);
  EXPECT_EQ(malformed.status, 400);
  EXPECT_EQ(Json::parse(malformed.body)["type"], "error");

  auto counted = fetch("POST", "/v1/messages/count_tokens", {{"messages", body["messages"]}});
  ASSERT_EQ(counted.status, 200) << counted.body;
  EXPECT_EQ(Json::parse(counted.body)["input_tokens"], 3);  // "user: hello\nassistant:"

  body["stream"] = true;
  auto streamed = fetch("POST", "/v1/messages", body);
  ASSERT_EQ(streamed.status, 200);
  auto events = parse_events(streamed.body);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.front().name, "message_start");
  EXPECT_EQ(events[events.size() - 2].name, "message_delta");
  EXPECT_EQ(events.back().name, "message_stop");
}

}  // namespace
}  // namespace vllm::server
