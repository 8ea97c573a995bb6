// Tool calling and reasoning in /v1/chat/completions over the protocol functions the HTTP server
// calls: vLLM's request checks, message.tool_calls / reasoning_content / finish_reason
// "tool_calls", and streamed delta.tool_calls / delta.reasoning_content that add up to them.
#include <gtest/gtest.h>

#include <map>

#include "fake_engine.h"
#include "server/openai_protocol.h"
#include "server_test_util.h"

namespace vllm::server {
namespace {

using testing::FakeEngine;

const Json kTools = Json::parse(R"([{"type": "function", "function": {"name": "get_weather",
  "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])");
const Json kMessages = Json::parse(R"([{"role": "user", "content": "hello"}])");

class ToolCallingTest : public ::testing::Test {
 protected:
  FakeEngine engine{FakeEngine::Options{.max_model_len = 64}};
  ServingModel model = testing::serving_model(engine);

  void SetUp() override {
    model.enable_auto_tool_choice = true;
    model.tool_call_parser = "hermes";
    model.reasoning_parser = "qwen3";
  }

  ApiError error_of(const Json& body) {
    try {
      prepare_chat(body, model);
    } catch (const std::exception& error) {
      return to_api_error(error);
    }
    return ApiError(0, "accepted");
  }

  static RequestOutput finished(const PreparedRequest& request, const std::string& text) {
    RequestOutput output;
    output.prompt_token_ids = request.engine_requests[0].prompt_token_ids;
    output.finished = true;
    CompletionOutput choice;
    choice.text = text;
    for (size_t i = 0; i < text.size(); ++i) choice.token_ids.push_back(1);
    choice.finish_reason = "stop";
    output.outputs = {choice};
    return output;
  }

  // The output streamed one byte per step; the chunks that come back.
  std::vector<Json> stream(const PreparedRequest& request, const std::string& text) {
    StreamConverter converter(request, model);
    RequestOutput full = finished(request, text);
    std::vector<Json> chunks;
    for (size_t n = 1; n <= text.size(); ++n) {
      RequestOutput partial = full;
      partial.finished = n == text.size();
      partial.outputs[0].text = text.substr(0, n);
      partial.outputs[0].token_ids.resize(n);
      if (!partial.finished) partial.outputs[0].finish_reason.clear();
      for (Json& chunk : converter.on_output(0, partial)) chunks.push_back(std::move(chunk));
    }
    return chunks;
  }
};

const std::string kOutput =
    "<think>\nThe user wants weather.\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
    "{\"city\": \"Paris\"}}\n</tool_call>";

TEST_F(ToolCallingTest, RequestChecksFollowVllm) {
  EXPECT_EQ(error_of({{"messages", kMessages}, {"tools", kTools}}).status(), 0);
  EXPECT_EQ(error_of({{"messages", kMessages}, {"tools", kTools}, {"tool_choice", "auto"}}).status(), 0);
  ApiError no_tools = error_of({{"messages", kMessages}, {"tool_choice", "required"}});
  EXPECT_EQ(no_tools.status(), 400);
  EXPECT_STREQ(no_tools.what(), "When using `tool_choice`, `tools` must be set.");
  Json named = {{"type", "function"}, {"function", {{"name", "nope"}}}};
  EXPECT_EQ(error_of({{"messages", kMessages}, {"tools", kTools}, {"tool_choice", named}}).status(), 400);
  EXPECT_EQ(error_of({{"messages", kMessages}, {"tools", kTools}, {"tool_choice", "sometimes"}}).status(), 400);
  EXPECT_EQ(error_of({{"messages", kMessages}, {"tools", "x"}}).status(), 400);

  model.enable_auto_tool_choice = false;
  ApiError auto_off = error_of({{"messages", kMessages}, {"tools", kTools}});
  EXPECT_EQ(auto_off.status(), 400);
  EXPECT_STREQ(auto_off.what(), "\"auto\" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set");
  EXPECT_EQ(error_of({{"messages", kMessages}, {"tools", kTools}, {"tool_choice", "none"}}).status(), 0);
}

TEST_F(ToolCallingTest, HermesKeepsSpecialTokens) {
  auto request = prepare_chat({{"messages", kMessages}, {"tools", kTools}}, model);
  EXPECT_FALSE(request.engine_requests[0].params.skip_special_tokens);
  auto plain = prepare_chat({{"messages", kMessages}}, model);
  EXPECT_TRUE(plain.engine_requests[0].params.skip_special_tokens);
}

TEST_F(ToolCallingTest, ResponseHasToolCallsAndReasoning) {
  auto request = prepare_chat({{"messages", kMessages}, {"tools", kTools}}, model);
  Json response = chat_response(request, {finished(request, kOutput)}, model);
  const Json& choice = response["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  const Json& message = choice["message"];
  EXPECT_EQ(message["reasoning_content"], "\nThe user wants weather.\n");
  EXPECT_EQ(message["content"], "\n\n");
  ASSERT_EQ(message["tool_calls"].size(), 1u);
  EXPECT_EQ(message["tool_calls"][0]["type"], "function");
  EXPECT_EQ(message["tool_calls"][0]["id"].get<std::string>().rfind("chatcmpl-tool-", 0), 0u);
  EXPECT_EQ(message["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(message["tool_calls"][0]["function"]["arguments"], R"({"city": "Paris"})");

  // tool_choice none: the text is content (reasoning still split), no calls.
  auto none = prepare_chat({{"messages", kMessages}, {"tools", kTools}, {"tool_choice", "none"}}, model);
  Json plain = chat_response(none, {finished(none, kOutput)}, model);
  EXPECT_EQ(plain["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(plain["choices"][0]["message"]["tool_calls"].empty());
  EXPECT_NE(plain["choices"][0]["message"]["content"].get<std::string>().find("<tool_call>"), std::string::npos);

  // No parsers configured: the answer is the text, as before.
  model.reasoning_parser.clear();
  auto bare = prepare_chat({{"messages", kMessages}}, model);
  Json text = chat_response(bare, {finished(bare, "hi there")}, model);
  EXPECT_EQ(text["choices"][0]["message"]["content"], "hi there");
  EXPECT_EQ(text["choices"][0]["message"]["reasoning_content"], nullptr);
}

TEST_F(ToolCallingTest, StreamedDeltasAddUpToTheResponse) {
  auto request = prepare_chat({{"messages", kMessages}, {"tools", kTools}, {"stream", true}}, model);
  auto chunks = stream(request, kOutput);
  std::string reasoning, content, name, arguments, id;
  int first_deltas = 0;
  Json last_finish = nullptr;
  for (const Json& chunk : chunks) {
    const Json& choice = chunk["choices"][0];
    const Json& delta = choice["delta"];
    if (delta.contains("reasoning_content")) reasoning += delta["reasoning_content"].get<std::string>();
    if (delta.contains("content")) content += delta["content"].get<std::string>();
    if (delta.contains("tool_calls")) {
      for (const Json& call : delta["tool_calls"]) {
        EXPECT_EQ(call["index"], 0);
        if (call.contains("id")) {
          ++first_deltas;
          id = call["id"];
          EXPECT_EQ(call["type"], "function");
          name = call["function"]["name"];
        }
        if (call["function"].contains("arguments")) arguments += call["function"]["arguments"].get<std::string>();
      }
    }
    if (!choice["finish_reason"].is_null()) last_finish = choice["finish_reason"];
  }
  EXPECT_EQ(reasoning, "\nThe user wants weather.\n");
  EXPECT_EQ(content, "\n\n");
  EXPECT_EQ(first_deltas, 1);
  EXPECT_EQ(name, "get_weather");
  EXPECT_EQ(arguments, R"({"city": "Paris"})");
  EXPECT_EQ(last_finish, "tool_calls");
}

TEST_F(ToolCallingTest, NamedAndRequiredAreHeldToTheToolsSchema) {
  Json named = {{"type", "function"}, {"function", {{"name", "get_weather"}}}};
  model.reasoning_parser.clear();
  auto request = prepare_chat({{"messages", kMessages}, {"tools", kTools}, {"tool_choice", named},
                               {"response_format", {{"type", "json_object"}}}}, model);
  // The named function's parameters replace the request's own response_format.
  const auto& spec = request.engine_requests[0].params.structured_outputs;
  ASSERT_TRUE(spec.has_value());
  EXPECT_EQ(spec->kind, structured::StructuredOutputSpec::Kind::JsonSchema);
  EXPECT_EQ(Json::parse(spec->text), kTools[0]["function"]["parameters"]);
  Json response = chat_response(request, {finished(request, R"({"city":"Rome"})")}, model);
  const Json& message = response["choices"][0]["message"];
  ASSERT_EQ(message["tool_calls"].size(), 1u);
  EXPECT_EQ(message["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(message["tool_calls"][0]["function"]["arguments"], R"({"city": "Rome"})");
  EXPECT_EQ(message["content"], nullptr);
  EXPECT_EQ(response["choices"][0]["finish_reason"], "stop");

  auto required = prepare_chat({{"messages", kMessages}, {"tools", kTools}, {"tool_choice", "required"}}, model);
  const auto& list = required.engine_requests[0].params.structured_outputs;
  ASSERT_TRUE(list.has_value());
  Json list_schema = Json::parse(list->text);
  EXPECT_EQ(list_schema["type"], "array");
  EXPECT_EQ(list_schema["minItems"], 1);
  EXPECT_FALSE(list_schema.contains("maxItems"));
  const Json& alternative = list_schema["items"]["anyOf"][0];
  EXPECT_EQ(alternative["properties"]["name"]["enum"], Json::array({"get_weather"}));
  EXPECT_EQ(alternative["properties"]["parameters"], kTools[0]["function"]["parameters"]);
  EXPECT_EQ(alternative["required"], Json::array({"name", "parameters"}));
  auto single = prepare_chat({{"messages", kMessages}, {"tools", kTools}, {"tool_choice", "required"},
                              {"parallel_tool_calls", false}}, model);
  EXPECT_EQ(Json::parse(single.engine_requests[0].params.structured_outputs->text)["maxItems"], 1);
  auto none = prepare_chat({{"messages", kMessages}, {"tools", kTools}, {"tool_choice", "none"}}, model);
  EXPECT_FALSE(none.engine_requests[0].params.structured_outputs.has_value());
  Json answer = chat_response(
      required, {finished(required, R"([{"name": "get_weather", "parameters": {"city": "Oslo"}}])")}, model);
  EXPECT_EQ(answer["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_EQ(answer["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"], R"({"city": "Oslo"})");
  // Not the list (an output cut off by max_tokens): the text stays content.
  Json text = chat_response(required, {finished(required, "I won't call it.")}, model);
  EXPECT_EQ(text["choices"][0]["message"]["content"], "I won't call it.");
  EXPECT_TRUE(text["choices"][0]["message"]["tool_calls"].empty());

  auto streamed = prepare_chat(
      {{"messages", kMessages}, {"tools", kTools}, {"tool_choice", "required"}, {"stream", true}}, model);
  auto chunks = stream(streamed, R"([{"name": "get_weather", "parameters": {"city": "Oslo"}}])");
  std::string arguments;
  for (const Json& chunk : chunks)
    if (chunk["choices"][0]["delta"].contains("tool_calls"))
      arguments += chunk["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].get<std::string>();
  EXPECT_EQ(arguments, R"({"city": "Oslo"})");
}

// Forced calls stream as the constrained JSON grows (vLLM's behaviour): the call is announced
// once (id, name, "" arguments) as soon as its name is known, then its arguments arrive in
// pieces before the output ends; the pieces join into the parameters as written.
TEST_F(ToolCallingTest, ForcedCallsStreamTheirArgumentsAsTheyGrow) {
  model.reasoning_parser.clear();
  struct Seen {
    std::map<int, std::string> names, ids, arguments;
    std::map<int, int> argument_chunks;
    size_t first_arguments_chunk = std::string::npos, chunks = 0;
    std::string finish_reason;
  };
  auto collect = [&](const std::vector<Json>& chunks) {
    Seen seen;
    seen.chunks = chunks.size();
    for (size_t c = 0; c < chunks.size(); ++c) {
      const Json& choice = chunks[c]["choices"][0];
      if (!choice["finish_reason"].is_null()) seen.finish_reason = choice["finish_reason"];
      if (!choice["delta"].contains("tool_calls")) continue;
      for (const Json& call : choice["delta"]["tool_calls"]) {
        const int index = call["index"];
        if (call.contains("id")) {
          EXPECT_FALSE(seen.ids.count(index)) << "call " << index << " announced twice";
          seen.ids[index] = call["id"];
          seen.names[index] = call["function"]["name"];
          EXPECT_EQ(call["type"], "function");
        } else {
          EXPECT_FALSE(call["function"].contains("name"));
        }
        if (call["function"].contains("arguments")) {
          const std::string piece = call["function"]["arguments"];
          seen.arguments[index] += piece;
          if (!piece.empty()) {
            ++seen.argument_chunks[index];
            seen.first_arguments_chunk = std::min(seen.first_arguments_chunk, c);
          }
        }
      }
    }
    return seen;
  };

  Json named = {{"type", "function"}, {"function", {{"name", "get_weather"}}}};
  auto one = prepare_chat({{"messages", kMessages}, {"tools", kTools}, {"tool_choice", named}, {"stream", true}}, model);
  Seen a = collect(stream(one, R"({"city": "Rome", "days": [1, 2]})"));
  EXPECT_EQ(a.names[0], "get_weather");
  EXPECT_EQ(a.arguments[0], R"({"city": "Rome", "days": [1, 2]})");
  EXPECT_GT(a.argument_chunks[0], 10);  // one character a chunk here
  EXPECT_LT(a.first_arguments_chunk, 2u);
  EXPECT_EQ(a.finish_reason, "stop");  // vLLM: a named call finishes with "stop"

  auto two = prepare_chat({{"messages", kMessages}, {"tools", kTools}, {"tool_choice", "required"}, {"stream", true}}, model);
  const std::string list =
      R"([ {"name": "get_weather", "parameters": {"city": "Oslo", "note": "a \"quoted\" }, [x]"}} ,)"
      R"( {"parameters": 7, "name": "get_weather"}, {"name": "get_weather", "parameters": [1, {"a": null}] } ])";
  Seen b = collect(stream(two, list));
  ASSERT_EQ(b.names.size(), 3u);
  EXPECT_EQ(b.arguments[0], R"({"city": "Oslo", "note": "a \"quoted\" }, [x]"})");
  EXPECT_EQ(b.arguments[1], "7");  // parameters before the name: sent once the name is known
  EXPECT_EQ(b.arguments[2], R"([1, {"a": null}])");
  EXPECT_NE(b.ids[0], b.ids[1]);
  EXPECT_GT(b.argument_chunks[0], 10);
  EXPECT_LT(b.first_arguments_chunk, list.find("Oslo"));  // before the first call's arguments end
  EXPECT_EQ(b.finish_reason, "tool_calls");

  auto single = prepare_chat({{"messages", kMessages}, {"tools", kTools}, {"tool_choice", "required"},
                              {"parallel_tool_calls", false}, {"stream", true}}, model);
  Seen c = collect(stream(single, list));
  EXPECT_EQ(c.names.size(), 1u);
}

TEST_F(ToolCallingTest, ReasoningOnlyStream) {
  model.tool_call_parser.clear();
  model.enable_auto_tool_choice = false;
  model.reasoning_parser = "deepseek_r1";
  auto request = prepare_chat({{"messages", kMessages}, {"stream", true}}, model);
  std::string reasoning, content;
  for (const Json& chunk : stream(request, "Count: 1, 2.</think>Two.")) {
    const Json& delta = chunk["choices"][0]["delta"];
    if (delta.contains("reasoning_content")) reasoning += delta["reasoning_content"].get<std::string>();
    if (delta.contains("content")) content += delta["content"].get<std::string>();
  }
  EXPECT_EQ(reasoning, "Count: 1, 2.");
  EXPECT_EQ(content, "Two.");
}

TEST_F(ToolCallingTest, ReasoningParserStartsTheConstraintAfterItsEndMarker) {
  Json body = {{"messages", kMessages}, {"response_format", {{"type", "json_object"}}}};
  EXPECT_EQ(prepare_chat(body, model).engine_requests[0].params.structured_outputs_after, "</think>");
  Json completion = {{"prompt", "hi"}, {"structured_outputs", {{"regex", "a+"}}}};
  EXPECT_EQ(prepare_completion(completion, model).engine_requests[0].params.structured_outputs_after, "</think>");
  model.reasoning_parser = "mistral";
  EXPECT_EQ(prepare_chat(body, model).engine_requests[0].params.structured_outputs_after, "[/THINK]");
  Json plain = {{"messages", kMessages}};
  EXPECT_EQ(prepare_chat(plain, model).engine_requests[0].params.structured_outputs_after, "");
  model.reasoning_parser.clear();
  EXPECT_EQ(prepare_chat(body, model).engine_requests[0].params.structured_outputs_after, "");
}

}  // namespace
}  // namespace vllm::server
