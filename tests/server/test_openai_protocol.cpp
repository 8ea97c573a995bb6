// The OpenAI protocol without HTTP: request validation, prompts, chat rendering, response and
// chunk shapes, logprobs formats, metrics text.
#include <gtest/gtest.h>

#include "core/error.h"
#include "fake_engine.h"
#include "server/metrics.h"
#include "server/openai_protocol.h"
#include "server_test_util.h"

namespace vllm::server {
namespace {

using testing::FakeEngine;

class ProtocolTest : public ::testing::Test {
 protected:
  FakeEngine engine{FakeEngine::Options{.max_model_len = 64}};
  ServingModel model = testing::serving_model(engine);

  // The ApiError a body gets (status 0 when it is accepted).
  ApiError error_of(const Json& body, Endpoint endpoint = Endpoint::Completion) {
    try {
      endpoint == Endpoint::Chat ? prepare_chat(body, model) : prepare_completion(body, model);
    } catch (const std::exception& error) {
      return to_api_error(error);
    }
    return ApiError(0, "accepted");
  }
};

// A finished output with tokens `ids` (text " t<id>" each) and logprobs when `top` >= 0.
CompletionOutput output_of(std::vector<int32_t> ids, int index = 0, int top = -1) {
  CompletionOutput output;
  output.index = index;
  output.token_ids = ids;
  for (int32_t id : ids) output.text += FakeEngine::token_text(id);
  if (top >= 0) {
    output.logprobs.emplace();
    for (int32_t id : ids) {
      TokenLogprobs position{{id, -0.5f, 1, FakeEngine::token_text(id)}};
      for (int r = 2; r <= top; ++r) position.push_back({id + r, -1.0f * r, r, FakeEngine::token_text(id + r)});
      output.logprobs->push_back(position);
    }
  }
  output.finish_reason = "length";
  return output;
}

TEST_F(ProtocolTest, CompletionPromptForms) {
  auto text = prepare_completion({{"prompt", "hello world"}, {"max_tokens", 4}}, model);
  ASSERT_EQ(text.engine_requests.size(), 1u);
  EXPECT_EQ(text.engine_requests[0].prompt_token_ids, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(text.engine_requests[0].prompt, "hello world");
  EXPECT_EQ(text.engine_requests[0].params.max_tokens, 4);
  EXPECT_EQ(text.id.rfind("cmpl-", 0), 0u);
  EXPECT_EQ(text.model, "fake-model");

  auto texts = prepare_completion({{"prompt", {"hello", "the cat sat"}}}, model);
  ASSERT_EQ(texts.engine_requests.size(), 2u);
  EXPECT_EQ(texts.engine_requests[1].prompt_token_ids, (std::vector<int32_t>{3, 4, 5}));
  EXPECT_EQ(texts.engine_requests[0].request_id, texts.id + "-0");
  EXPECT_EQ(texts.engine_requests[1].request_id, texts.id + "-1");

  auto ids = prepare_completion({{"prompt", {5, 6, 7}}}, model);
  EXPECT_EQ(ids.engine_requests[0].prompt_token_ids, (std::vector<int32_t>{5, 6, 7}));
  EXPECT_EQ(ids.engine_requests[0].prompt, "");

  auto lists = prepare_completion({{"prompt", {{1, 2}, {3}}}, {"model", "fake-model"}}, model);
  ASSERT_EQ(lists.engine_requests.size(), 2u);
  EXPECT_EQ(lists.engine_requests[1].prompt_token_ids, (std::vector<int32_t>{3}));
}

TEST_F(ProtocolTest, CompletionErrors) {
  EXPECT_EQ(error_of({{"prompt", 5}}).status(), 400);
  EXPECT_EQ(error_of({{"prompt", 5}}).param(), "prompt");
  EXPECT_EQ(error_of(Json::object()).status(), 400);
  EXPECT_EQ(error_of(Json::array()).status(), 400);
  EXPECT_EQ(error_of({{"prompt", Json::array()}}).status(), 400);
  EXPECT_EQ(error_of({{"prompt", {1, "a"}}}).status(), 400);
  EXPECT_EQ(error_of({{"prompt", {1, 5000}}}).status(), 400);  // out of vocabulary
  EXPECT_NE(std::string(error_of({{"prompt", {1, 5000}}}).what()).find("5000"), std::string::npos);
  EXPECT_EQ(error_of({{"prompt", "hi"}, {"model", "gpt-4"}}).status(), 404);
  EXPECT_STREQ(error_of({{"prompt", "hi"}, {"model", "gpt-4"}}).what(), "The model `gpt-4` does not exist.");
  EXPECT_EQ(error_of({{"prompt", "hi"}, {"model", 3}}).status(), 400);
  EXPECT_EQ(error_of({{"prompt", "hi"}, {"max_tokens", "many"}}).status(), 400);
  EXPECT_NE(std::string(error_of({{"prompt", "hi"}, {"max_tokens", "many"}}).what()).find("max_tokens"),
            std::string::npos);
  // Issue 26: best_of > n is refused as vLLM V1 refuses it; best_of == n is plain n.
  EXPECT_STREQ(error_of({{"prompt", "hi"}, {"n", 1}, {"best_of", 3}}).what(), "vLLM V1 does not yet support best_of.");
  EXPECT_EQ(error_of({{"prompt", "hi"}, {"n", 2}, {"best_of", 2}}).status(), 0);
  // Issue 26: suffix is refused as vLLM refuses it.
  EXPECT_STREQ(error_of({{"prompt", "hi"}, {"suffix", "end"}}).what(), "suffix is not currently supported");
  // Issue 26: integers past int64 are "out of range" errors quoting the value, not wrapped.
  auto huge = [&](const char* field, const char* literal) {
    Json body = Json::parse(str("{\"prompt\": \"hi\", \"", field, "\": ", literal, "}"));
    return std::string(error_of(body).what());
  };
  EXPECT_NE(huge("max_tokens", "9223372036854775808").find("'max_tokens' is out of range, got 9223372036854775808"),
            std::string::npos) << huge("max_tokens", "9223372036854775808");
  EXPECT_NE(huge("seed", "1180591620717411303424").find("'seed' is out of range, got 1180591620717411303424"),
            std::string::npos) << huge("seed", "1180591620717411303424");
  EXPECT_EQ(error_of({{"prompt", "hi"}, {"temperature", -1}}).status(), 400);
  EXPECT_EQ(error_of({{"prompt", "hi"}, {"n", 0}}).status(), 400);
  EXPECT_EQ(error_of({{"prompt", "hi"}, {"echo", "yes"}}).status(), 400);
  EXPECT_EQ(error_of({{"prompt", "hi"}, {"logprobs", -3}}).status(), 400);
  EXPECT_EQ(error_of({{"prompt", "hi"}, {"logprobs", 50}}).status(), 400);  // over --max-logprobs
  EXPECT_EQ(error_of({{"prompt", "hi"}, {"stream_options", {{"include_usage", true}}}}).status(), 400);
  EXPECT_EQ(error_of({{"prompt", "hi"}, {"stream", true}, {"prompt_logprobs", 1}}).status(), 400);
  EXPECT_EQ(error_of({{"prompt", "hi"}, {"response_format", {{"type", "bogus"}}}}).status(), 400);
  EXPECT_EQ(error_of({{"prompt", "hi"}, {"response_format", {{"type", "text"}}}}).status(), 0);
  // Two structured-output constraints at once: vLLM's message.
  ApiError two = error_of({{"prompt", "hi"}, {"guided_json", {{"type", "object"}}}, {"guided_regex", "a+"}});
  EXPECT_EQ(two.status(), 400);
  EXPECT_NE(std::string(two.what()).find("You can only use one kind of structured outputs constraint"), std::string::npos)
      << two.what();
}

// The structured-output fields reach the engine request's SamplingParams (the engine compiles them).
TEST_F(ProtocolTest, StructuredOutputFieldsReachTheEngineRequest) {
  auto json_object = prepare_completion({{"prompt", "hi"}, {"response_format", {{"type", "json_object"}}}}, model);
  ASSERT_TRUE(json_object.engine_requests[0].params.structured_outputs.has_value());
  EXPECT_EQ(json_object.engine_requests[0].params.structured_outputs->kind, structured::StructuredOutputSpec::Kind::JsonObject);
  auto regex = prepare_completion({{"prompt", "hi"}, {"structured_outputs", {{"regex", "[ab]+"}}}}, model);
  ASSERT_TRUE(regex.engine_requests[0].params.structured_outputs.has_value());
  EXPECT_EQ(regex.engine_requests[0].params.structured_outputs->kind, structured::StructuredOutputSpec::Kind::Regex);
  EXPECT_EQ(regex.engine_requests[0].params.structured_outputs->text, "[ab]+");
  const Json tag = Json::parse(R"({"type": "structural_tag", "triggers": ["<f="],
      "structures": [{"begin": "<f=a>", "schema": {"type": "integer"}, "end": "</f>"}]})");
  auto structural = prepare_completion({{"prompt", "hi"}, {"response_format", tag}}, model);
  ASSERT_TRUE(structural.engine_requests[0].params.structured_outputs.has_value());
  EXPECT_EQ(structural.engine_requests[0].params.structured_outputs->kind,
            structured::StructuredOutputSpec::Kind::StructuralTag);
  EXPECT_EQ(nlohmann::json::parse(structural.engine_requests[0].params.structured_outputs->text),
            nlohmann::json::parse(tag.dump()));
  auto plain = prepare_completion({{"prompt", "hi"}}, model);
  EXPECT_FALSE(plain.engine_requests[0].params.structured_outputs.has_value());
}

TEST_F(ProtocolTest, ContextLengthErrorsCarryTheNumbers) {
  std::vector<int32_t> long_prompt(70, 1);
  ApiError too_long = error_of({{"prompt", long_prompt}});
  EXPECT_EQ(too_long.status(), 400);
  EXPECT_STREQ(too_long.what(),
               "This model's maximum context length is 64 tokens. However, your request has 70 input tokens. "
               "Please reduce the length of the input messages.");
  ApiError too_many = error_of({{"prompt", std::vector<int32_t>(60, 1)}, {"max_tokens", 10}});
  EXPECT_EQ(too_many.status(), 400);
  EXPECT_NE(std::string(too_many.what()).find("(10 > 64 - 60)"), std::string::npos) << too_many.what();
  // truncate_prompt_tokens keeps the last tokens.
  auto truncated = prepare_completion({{"prompt", std::vector<int32_t>{1, 2, 3, 4}}, {"truncate_prompt_tokens", 2}}, model);
  EXPECT_EQ(truncated.engine_requests[0].prompt_token_ids, (std::vector<int32_t>{3, 4}));
}

TEST_F(ProtocolTest, SkipTokenizerInitNeedsTokenIds) {
  ServingModel bare = testing::serving_model(engine, /*with_tokenizer=*/false);
  EXPECT_NO_THROW(prepare_completion({{"prompt", {1, 2}}}, bare));
  try {
    prepare_completion({{"prompt", "hello"}}, bare);
    FAIL() << "a text prompt needs a tokenizer";
  } catch (const ApiError& error) {
    EXPECT_EQ(error.status(), 400);
    EXPECT_NE(std::string(error.what()).find("--skip-tokenizer-init"), std::string::npos);
  }
}

TEST_F(ProtocolTest, ChatRequest) {
  Json body = {{"messages", {{{"role", "user"}, {"content", "hello world"}}}},
               {"logprobs", true},
               {"top_logprobs", 3},
               {"stream", true},
               {"stream_options", {{"include_usage", true}}}};
  auto request = prepare_chat(body, model);
  ASSERT_EQ(request.engine_requests.size(), 1u);
  EXPECT_EQ(request.engine_requests[0].prompt, "user: hello world\nassistant:");
  EXPECT_EQ(request.engine_requests[0].prompt_token_ids, (std::vector<int32_t>{6, 1, 2, 7}));
  EXPECT_EQ(request.engine_requests[0].params.logprobs, 3);
  EXPECT_EQ(request.engine_requests[0].params.max_tokens, 60);  // the rest of the context (64 - 4)
  EXPECT_TRUE(request.engine_requests[0].params.is_set("max_tokens"));
  EXPECT_EQ(request.logprobs, 3);
  EXPECT_TRUE(request.stream);
  EXPECT_TRUE(request.include_usage);
  EXPECT_EQ(request.role, "assistant");
  EXPECT_EQ(request.id.rfind("chatcmpl-", 0), 0u);

  auto limited = prepare_chat({{"messages", body["messages"]}, {"max_completion_tokens", 5}}, model);
  EXPECT_EQ(limited.engine_requests[0].params.max_tokens, 5);
  // generation_config's max_new_tokens caps every request, as vLLM's get_max_tokens.
  model.default_max_tokens = 3;
  EXPECT_EQ(prepare_chat({{"messages", body["messages"]}}, model).engine_requests[0].params.max_tokens, 3);
  EXPECT_EQ(prepare_completion({{"prompt", "hi"}, {"max_tokens", 9}}, model).engine_requests[0].params.max_tokens, 3);
  model.default_max_tokens.reset();
  EXPECT_EQ(prepare_completion({{"prompt", "hi"}}, model).engine_requests[0].params.max_tokens, 16);
  EXPECT_EQ(prepare_completion({{"prompt", "hi"}, {"max_tokens", nullptr}}, model).engine_requests[0].params.max_tokens, 63);
  EXPECT_FALSE(limited.logprobs.has_value());

  // continue_final_message: no generation prompt, the answer continues the last message's role.
  Json cont = {{"messages", {{{"role", "user"}, {"content", "hi"}}, {{"role", "assistant"}, {"content", "the"}}}},
               {"add_generation_prompt", false},
               {"continue_final_message", true},
               {"echo", true}};
  auto continued = prepare_chat(cont, model);
  EXPECT_EQ(continued.role, "assistant");
  EXPECT_EQ(continued.echo_text, "the");
}

TEST_F(ProtocolTest, ChatErrors) {
  Json messages = {{{"role", "user"}, {"content", "hi"}}};
  EXPECT_EQ(error_of({{"messages", "hi"}}, Endpoint::Chat).status(), 400);
  // Issue 26: a named tool_choice must name one of the tools (vLLM's check_tool_usage).
  Json tools = {{{"type", "function"}, {"function", {{"name", "get_weather"}, {"parameters", Json::object()}}}}};
  Json named = {{"type", "function"}, {"function", {{"name", "delete_files"}}}};
  EXPECT_STREQ(error_of({{"messages", messages}, {"tools", tools}, {"tool_choice", named}}, Endpoint::Chat).what(),
               "The tool specified in `tool_choice` does not match any of the specified `tools`");
  EXPECT_STREQ(error_of({{"messages", messages}, {"tool_choice", named}}, Endpoint::Chat).what(),
               "When using `tool_choice`, `tools` must be set.");
  named["function"]["name"] = "get_weather";
  EXPECT_EQ(error_of({{"messages", messages}, {"tools", tools}, {"tool_choice", named}}, Endpoint::Chat).status(), 0);
  EXPECT_EQ(error_of(Json::object(), Endpoint::Chat).status(), 400);
  EXPECT_EQ(error_of({{"messages", {{{"content", "no role"}}}}}, Endpoint::Chat).status(), 400);
  EXPECT_EQ(error_of({{"messages", messages}, {"top_logprobs", 2}}, Endpoint::Chat).status(), 400);
  EXPECT_STREQ(error_of({{"messages", messages}, {"top_logprobs", 2}}, Endpoint::Chat).what(),
               "when using `top_logprobs`, `logprobs` must be set to true.");
  EXPECT_EQ(error_of({{"messages", messages}, {"logprobs", 2}}, Endpoint::Chat).status(), 400);
  EXPECT_EQ(error_of({{"messages", messages}, {"continue_final_message", true}}, Endpoint::Chat).status(), 400);
  EXPECT_EQ(error_of({{"messages", Json::array()}, {"continue_final_message", true}, {"add_generation_prompt", false}},
                     Endpoint::Chat)
                .status(),
            400);
  EXPECT_EQ(error_of({{"messages", messages}, {"model", "other"}}, Endpoint::Chat).status(), 404);
  EXPECT_EQ(error_of({{"messages", messages}, {"chat_template_kwargs", 3}}, Endpoint::Chat).status(), 400);
  ServingModel no_template = model;
  no_template.chat_template = nullptr;
  try {
    prepare_chat({{"messages", messages}}, no_template);
    FAIL();
  } catch (const ApiError& error) {
    EXPECT_EQ(error.status(), 400);
    EXPECT_NE(std::string(error.what()).find("chat template"), std::string::npos);
  }
}

TEST_F(ProtocolTest, ErrorBodyShape) {
  Json body = error_body("bad", 404, "model");
  EXPECT_EQ(body.dump(), R"({"error":{"message":"bad","type":"NotFoundError","param":"model","code":404}})");
  EXPECT_EQ(to_api_error(Error(ErrorKind::InvalidArgument, "x")).status(), 400);
  EXPECT_EQ(to_api_error(Error(ErrorKind::OutOfMemory, "x")).status(), 503);
  EXPECT_EQ(to_api_error(std::runtime_error("x")).status(), 500);
}

TEST_F(ProtocolTest, CompletionResponseShape) {
  auto request = prepare_completion({{"prompt", {{1, 2}, {3}}}, {"n", 2}, {"return_token_ids", true}}, model);
  std::vector<RequestOutput> outputs(2);
  for (int k = 0; k < 2; ++k) {
    outputs[k].prompt_token_ids = request.engine_requests[k].prompt_token_ids;
    outputs[k].outputs = {output_of({10, 11}, 0), output_of({12}, 1)};
    outputs[k].finished = true;
  }
  outputs[1].outputs[1].finish_reason = "stop";
  outputs[1].outputs[1].stop_reason = std::string("\n");
  Json response = completion_response(request, outputs, model);
  EXPECT_EQ(response["object"], "text_completion");
  EXPECT_EQ(response["id"], request.id);
  ASSERT_EQ(response["choices"].size(), 4u);
  EXPECT_EQ(response["choices"][3]["index"], 3);
  EXPECT_EQ(response["choices"][0]["text"], " t10 t11");
  EXPECT_EQ(response["choices"][0]["logprobs"], nullptr);
  EXPECT_EQ(response["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(response["choices"][0]["stop_reason"], nullptr);
  EXPECT_EQ(response["choices"][3]["stop_reason"], "\n");
  EXPECT_EQ(response["choices"][2]["token_ids"], Json({10, 11}));
  EXPECT_EQ(response["choices"][2]["prompt_token_ids"], Json({3}));
  EXPECT_EQ(response["usage"]["prompt_tokens"], 3);
  EXPECT_EQ(response["usage"]["completion_tokens"], 6);
  EXPECT_EQ(response["usage"]["total_tokens"], 9);
}

TEST_F(ProtocolTest, CompletionLogprobsAndEcho) {
  auto request = prepare_completion({{"prompt", "hello world"}, {"logprobs", 1}, {"echo", true}}, model);
  EXPECT_EQ(request.engine_requests[0].params.prompt_logprobs, 1);  // echo + logprobs
  RequestOutput output;
  output.prompt = "hello world";
  output.prompt_token_ids = {1, 2};
  output.prompt_logprobs.emplace();
  output.prompt_logprobs->push_back(std::nullopt);
  output.prompt_logprobs->push_back(TokenLogprobs{{2, -1.5f, 3, "world"}, {4, -0.5f, 1, "cat"}});
  output.outputs = {output_of({7}, 0, 2)};
  output.finished = true;
  Json response = completion_response(request, {output}, model);
  const Json& choice = response["choices"][0];
  EXPECT_EQ(choice["text"], "hello world t7");
  const Json& logprobs = choice["logprobs"];
  EXPECT_EQ(logprobs["tokens"], Json({"hello", "world", " t7"}));
  EXPECT_EQ(logprobs["token_logprobs"], Json({nullptr, -1.5, -0.5}));
  EXPECT_EQ(logprobs["text_offset"], Json({0, 5, 10}));
  EXPECT_EQ(logprobs["top_logprobs"][0], nullptr);
  EXPECT_EQ(logprobs["top_logprobs"][1].size(), 2u);  // the chosen token plus the top 1
  EXPECT_EQ(logprobs["top_logprobs"][2][" t9"], -2.0);
  // prompt_logprobs as vLLM returns them: null first, then {token id: {logprob, rank, decoded_token}}.
  EXPECT_EQ(choice["prompt_logprobs"][0], nullptr);
  EXPECT_EQ(choice["prompt_logprobs"][1]["2"]["rank"], 3);
  EXPECT_EQ(choice["prompt_logprobs"][1]["4"]["decoded_token"], "cat");

  auto as_ids = prepare_completion({{"prompt", {1}}, {"logprobs", 0}, {"return_tokens_as_token_ids", true}}, model);
  RequestOutput plain;
  plain.prompt_token_ids = {1};
  plain.outputs = {output_of({7, 8}, 0, 1)};
  Json ids_response = completion_response(as_ids, {plain}, model);
  EXPECT_EQ(ids_response["choices"][0]["logprobs"]["tokens"], Json({"token_id:7", "token_id:8"}));
  EXPECT_EQ(ids_response["choices"][0]["logprobs"]["text_offset"], Json({0, 10}));
}

TEST_F(ProtocolTest, ChatResponseWithLogprobs) {
  Json messages = {{{"role", "user"}, {"content", "hi"}}};
  auto request = prepare_chat({{"messages", messages}, {"logprobs", true}, {"top_logprobs", 2}, {"n", 2}}, model);
  RequestOutput output;
  output.prompt_token_ids = request.engine_requests[0].prompt_token_ids;
  output.outputs = {output_of({20, 21}, 0, 3), output_of({22}, 1, 3)};
  output.finished = true;
  Json response = chat_response(request, {output}, model);
  EXPECT_EQ(response["object"], "chat.completion");
  ASSERT_EQ(response["choices"].size(), 2u);
  const Json& message = response["choices"][0]["message"];
  EXPECT_EQ(message["role"], "assistant");
  EXPECT_EQ(message["content"], " t20 t21");
  EXPECT_EQ(message["tool_calls"], Json::array());
  const Json& content = response["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 2u);
  EXPECT_EQ(content[0]["token"], " t20");
  EXPECT_EQ(content[0]["logprob"], -0.5);
  EXPECT_EQ(content[0]["bytes"], Json({32, 116, 50, 48}));
  EXPECT_EQ(content[0]["top_logprobs"].size(), 2u);
  EXPECT_EQ(response["choices"][1]["index"], 1);
  EXPECT_EQ(response["usage"]["completion_tokens"], 3);
  EXPECT_EQ(response["usage"]["prompt_tokens"], 3);
  EXPECT_EQ(response["prompt_logprobs"], nullptr);
}

// Feeds cumulative outputs growing one token at a time.
std::vector<Json> stream_all(StreamConverter& converter, size_t k, const RequestOutput& final_output) {
  std::vector<Json> chunks;
  size_t steps = 0;
  for (const auto& o : final_output.outputs) steps = std::max(steps, o.token_ids.size());
  for (size_t step = 1; step <= steps; ++step) {
    RequestOutput partial = final_output;
    partial.finished = step == steps;
    for (auto& o : partial.outputs) {
      size_t n = std::min(step, o.token_ids.size());
      o.token_ids.resize(n);
      o.text.clear();
      for (int32_t id : o.token_ids) o.text += FakeEngine::token_text(id);
      if (o.logprobs) o.logprobs->resize(n);
      if (!partial.finished && n < final_output.outputs[o.index].token_ids.size()) o.finish_reason.clear();
    }
    for (Json& chunk : converter.on_output(k, partial)) chunks.push_back(std::move(chunk));
  }
  return chunks;
}

TEST_F(ProtocolTest, ChatStreamChunks) {
  Json messages = {{{"role", "user"}, {"content", "hi"}}};
  auto request = prepare_chat(
      {{"messages", messages}, {"stream", true}, {"n", 2}, {"stream_options", {{"include_usage", true}}}}, model);
  StreamConverter converter(request, model);
  RequestOutput output;
  output.prompt_token_ids = request.engine_requests[0].prompt_token_ids;
  output.outputs = {output_of({1, 2, 3}, 0), output_of({4, 5}, 1)};
  auto chunks = stream_all(converter, 0, output);
  ASSERT_FALSE(chunks.empty());
  EXPECT_EQ(chunks[0]["object"], "chat.completion.chunk");
  EXPECT_EQ(chunks[0]["choices"][0]["delta"], Json({{"role", "assistant"}, {"content", ""}}));
  std::string text[2];
  int roles = 0, finishes = 0;
  for (const Json& chunk : chunks) {
    ASSERT_EQ(chunk["choices"].size(), 1u);
    const Json& choice = chunk["choices"][0];
    if (choice["delta"].contains("role")) ++roles;
    text[choice["index"].get<int>()] += choice["delta"]["content"].get<std::string>();
    if (!choice["finish_reason"].is_null()) {
      ++finishes;
      EXPECT_TRUE(choice.contains("stop_reason"));
    }
    EXPECT_FALSE(chunk.contains("usage"));
  }
  EXPECT_EQ(roles, 2);
  EXPECT_EQ(finishes, 2);
  EXPECT_EQ(text[0], " t1 t2 t3");
  EXPECT_EQ(text[1], " t4 t5");
  auto usage = converter.usage_chunk();
  ASSERT_TRUE(usage);
  EXPECT_EQ((*usage)["choices"], Json::array());
  EXPECT_EQ((*usage)["usage"]["completion_tokens"], 5);
  EXPECT_EQ(sse_event(Json{{"a", 1}}), "data: {\"a\":1}\n\n");
}

TEST_F(ProtocolTest, CompletionStreamChunksAcrossPrompts) {
  auto request = prepare_completion(
      {{"prompt", {{1}, {2}}}, {"stream", true}, {"logprobs", 1}, {"echo", true}, {"return_token_ids", true}}, model);
  StreamConverter converter(request, model);
  EXPECT_FALSE(converter.usage_chunk());
  std::string text[2];
  for (size_t k = 0; k < 2; ++k) {
    RequestOutput output;
    output.prompt_token_ids = request.engine_requests[k].prompt_token_ids;
    output.outputs = {output_of({30 + (int)k, 40}, 0, 1)};
    auto chunks = stream_all(converter, k, output);
    ASSERT_EQ(chunks.size(), 2u);
    EXPECT_EQ(chunks[0]["choices"][0]["prompt_token_ids"], Json({(int)k + 1}));
    EXPECT_EQ(chunks[0]["choices"][0]["logprobs"]["tokens"].size(), 2u);  // echoed prompt + first token
    EXPECT_EQ(chunks[1]["choices"][0]["logprobs"]["tokens"].size(), 1u);
    EXPECT_EQ(chunks[1]["choices"][0]["token_ids"], Json({40}));
    for (const Json& chunk : chunks) {
      EXPECT_EQ(chunk["object"], "text_completion");
      text[chunk["choices"][0]["index"].get<int>()] += chunk["choices"][0]["text"].get<std::string>();
    }
  }
  EXPECT_EQ(text[0], "hello t30 t40");  // echo decodes the prompt ids
  EXPECT_EQ(text[1], "world t31 t40");
}

TEST_F(ProtocolTest, TokenizeAndDetokenize) {
  Json tokens = tokenize_response({{"prompt", "the cat"}}, model);
  EXPECT_EQ(tokens["tokens"], Json({3, 4}));
  EXPECT_EQ(tokens["count"], 2);
  EXPECT_EQ(tokens["max_model_len"], 64);
  Json strs = tokenize_response({{"prompt", "the cat"}, {"return_token_strs", true}}, model);
  EXPECT_EQ(strs["token_strs"], Json({"the", "cat"}));
  Json chat = tokenize_response({{"messages", {{{"role", "user"}, {"content", "hi"}}}}}, model);
  EXPECT_EQ(chat["tokens"], Json({6, 9, 7}));
  Json text = detokenize_response({{"tokens", {3, 4}}}, model);
  EXPECT_NE(text["prompt"].get<std::string>().find("cat"), std::string::npos);
  EXPECT_THROW(detokenize_response({{"tokens", "x"}}, model), ApiError);
  EXPECT_THROW(tokenize_response({{"prompt", 3}}, model), ApiError);
}

TEST_F(ProtocolTest, ModelsList) {
  Json models = models_response(model);
  EXPECT_EQ(models["object"], "list");
  ASSERT_EQ(models["data"].size(), 1u);
  EXPECT_EQ(models["data"][0]["id"], "fake-model");
  EXPECT_EQ(models["data"][0]["object"], "model");
  EXPECT_EQ(models["data"][0]["owned_by"], "vllm");
  EXPECT_EQ(models["data"][0]["root"], "/models/fake");
  EXPECT_EQ(models["data"][0]["max_model_len"], 64);
}

TEST(Metrics, PrometheusTextWithVllmNames) {
  EngineStats stats;
  stats.num_requests_running = 2;
  stats.prompt_tokens_total = 10;
  stats.kv_cache_usage = 0.5;
  stats.e2e_request_latency_seconds.bounds = {0.5, 1.0};
  stats.e2e_request_latency_seconds.observe(0.2);
  stats.e2e_request_latency_seconds.observe(0.7);
  stats.e2e_request_latency_seconds.observe(3.0);
  std::string text = render_metrics(stats, ServerMetrics{}, "my-model");
  const std::string labels = "{engine=\"0\",model_name=\"my-model\"}";
  for (const std::string& line : std::vector<std::string>{"# TYPE vllm:num_requests_running gauge", "vllm:num_requests_running" + labels + " 2.0",
        "vllm:num_requests_waiting" + labels + " 0.0", "vllm:kv_cache_usage_perc" + labels + " 0.5",
        "# TYPE vllm:prompt_tokens_total counter", "vllm:prompt_tokens_total" + labels + " 10.0",
        "vllm:generation_tokens_total" + labels, "vllm:prefix_cache_queries_total" + labels,
        "vllm:prefix_cache_hits_total" + labels, "# TYPE vllm:time_to_first_token_seconds histogram",
        "vllm:inter_token_latency_seconds_count" + labels,
        "vllm:e2e_request_latency_seconds_bucket{le=\"0.5\",engine=\"0\",model_name=\"my-model\"} 1.0",
        "vllm:e2e_request_latency_seconds_bucket{le=\"1.0\",engine=\"0\",model_name=\"my-model\"} 2.0",
        "vllm:e2e_request_latency_seconds_bucket{le=\"+Inf\",engine=\"0\",model_name=\"my-model\"} 3.0",
        "vllm:e2e_request_latency_seconds_count" + labels + " 3.0",
        "vllm:request_success_total{finished_reason=\"stop\",engine=\"0\",model_name=\"my-model\"} 0.0"})
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
}

}  // namespace
}  // namespace vllm::server
