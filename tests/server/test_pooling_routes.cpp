// The pooling routes over HTTP against the FakeEngine (tests/server/fake_engine.h pools with
// deterministic values): /v1/embeddings, /pooling, /classify, /score, /rerank with every input
// shape and field, base64, vLLM's errors, routes a model's task does not serve, token-id inputs
// without a tokenizer, run-batch lines, and a pooling request beside a streaming chat.
#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "fake_engine.h"
#include "server/batch_runner.h"
#include "server/http_client.h"
#include "server/http_server.h"
#include "server_test_util.h"

namespace vllm::server {
namespace {

using namespace std::chrono_literals;
using testing::FakeEngine;
using testing::FakeEngineOptions;

// Words -> ids with a BERT-style post-processor: [CLS] = 10, [SEP] = 11; "hello world" is
// [10, 1, 2, 11], the pair ("hello", "the cat") is [10, 1, 11, 3, 4, 11] with type ids 0 0 0 1 1 1.
std::shared_ptr<Tokenizer> bert_like_tokenizer() {
  nlohmann::json vocab = {{"<unk>", 0}, {"hello", 1}, {"world", 2},      {"the", 3},  {"cat", 4},    {"sat", 5},
                          {"user:", 6}, {"assistant:", 7}, {"system:", 8}, {"hi", 9}, {"[CLS]", 10}, {"[SEP]", 11}};
  auto special = [](const char* name, int type_id) {
    return nlohmann::json{{"SpecialToken", {{"id", name}, {"type_id", type_id}}}};
  };
  auto sequence = [](const char* name, int type_id) {
    return nlohmann::json{{"Sequence", {{"id", name}, {"type_id", type_id}}}};
  };
  nlohmann::json post_processor = {
      {"type", "TemplateProcessing"},
      {"single", {special("[CLS]", 0), sequence("A", 0), special("[SEP]", 0)}},
      {"pair", {special("[CLS]", 0), sequence("A", 0), special("[SEP]", 0), sequence("B", 1), special("[SEP]", 1)}},
      {"special_tokens",
       {{"[CLS]", {{"id", "[CLS]"}, {"ids", {10}}, {"tokens", {"[CLS]"}}}},
        {"[SEP]", {{"id", "[SEP]"}, {"ids", {11}}, {"tokens", {"[SEP]"}}}}}}};
  nlohmann::json tokenizer = {{"version", "1.0"},
                              {"added_tokens", nlohmann::json::array()},
                              {"normalizer", nullptr},
                              {"pre_tokenizer", {{"type", "WhitespaceSplit"}}},
                              {"post_processor", post_processor},
                              {"decoder", nullptr},
                              {"model", {{"type", "WordLevel"}, {"vocab", vocab}, {"unk_token", "<unk>"}}}};
  return Tokenizer::from_json_string(tokenizer.dump());
}

FakeEngineOptions pooling_options(std::vector<PoolingTask> tasks) {
  FakeEngineOptions options;
  options.max_model_len = 16;
  options.pooling_tasks = std::move(tasks);
  return options;
}

// What the fake engine returns for these ids.
PoolingOutput expected(PoolingRequestSpec spec, std::vector<int32_t> ids, const FakeEngineOptions& options,
                       std::vector<int32_t> type_ids = {}) {
  EngineRequest request;
  request.pooling = spec;
  request.prompt_token_ids = std::move(ids);
  request.token_type_ids = std::move(type_ids);
  return testing::fake_pooling_output(request, options);
}

PoolingRequestSpec spec_of(PoolingTask task) {
  PoolingRequestSpec spec;
  spec.task = task;
  return spec;
}

std::vector<float> floats(const Json& list) { return list.get<std::vector<float>>(); }

std::vector<float> decode_base64_f32(const std::string& text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
  };
  std::vector<uint8_t> bytes;
  for (size_t i = 0; i + 3 < text.size(); i += 4) {
    uint32_t group = 0;
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      int v = value(text[i + k]);
      if (v < 0) ++pad, v = 0;
      group = group << 6 | uint32_t(v);
    }
    for (int k = 0; k < 3 - pad; ++k) bytes.push_back(uint8_t(group >> (16 - 8 * k)));
  }
  std::vector<float> values(bytes.size() / 4);
  for (size_t i = 0; i < values.size(); ++i) {
    uint32_t bits = uint32_t(bytes[4 * i]) | uint32_t(bytes[4 * i + 1]) << 8 | uint32_t(bytes[4 * i + 2]) << 16 |
                    uint32_t(bytes[4 * i + 3]) << 24;
    values[i] = std::bit_cast<float>(bits);
  }
  return values;
}

class PoolingRoutesTest : public ::testing::Test {
 protected:
  void start(FakeEngineOptions options, bool with_tokenizer = true) {
    options_ = options;
    engine_ = std::make_unique<FakeEngine>(options);
    ServingModel model;
    model.info = engine_->model_info();
    if (with_tokenizer) {
      model.tokenizer = bert_like_tokenizer();
      model.chat_template = testing::simple_chat_template();
    }
    model_ = model;
    server_ = std::make_unique<HttpServer>(*engine_, model, server_options());
    port_ = std::to_string(server_->start());
  }
  static ServerOptions server_options() {
    ServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.threads = 2;
    return options;
  }
  void TearDown() override {
    if (server_) server_->shutdown();
    if (engine_) engine_->shutdown();
  }

  HttpResponse post(const std::string& target, const Json& body, const std::string& port = "") {
    HttpRequest request;
    request.method = "POST";
    request.target = target;
    request.body = body.dump();
    request.timeout_s = 20;
    return http_fetch("127.0.0.1", port.empty() ? port_ : port, request);
  }
  Json ok(const std::string& target, const Json& body) {
    HttpResponse response = post(target, body);
    EXPECT_EQ(response.status, 200) << target << " " << body.dump() << " -> " << response.body;
    return Json::parse(response.body);
  }
  // The error object of a refused request (and the status it came with).
  Json refused(const std::string& target, const Json& body, int status = 400) {
    HttpResponse response = post(target, body);
    EXPECT_EQ(response.status, status) << target << " " << body.dump() << " -> " << response.body;
    Json error = Json::parse(response.body)["error"];
    EXPECT_EQ(error["code"], status);
    return error;
  }
  std::string message(const std::string& target, const Json& body, int status = 400) {
    return refused(target, body, status)["message"].get<std::string>();
  }

  FakeEngineOptions options_;
  ServingModel model_;
  std::unique_ptr<FakeEngine> engine_;
  std::unique_ptr<HttpServer> server_;
  std::string port_;
};

// --- /v1/embeddings -----------------------------------------------------------------------------

TEST_F(PoolingRoutesTest, EmbeddingsOfOneTextHaveVllmsShape) {
  start(pooling_options({PoolingTask::Embed}));
  Json response = ok("/v1/embeddings", {{"model", "fake-model"}, {"input", "hello world"}});
  EXPECT_EQ(response["id"].get<std::string>().rfind("embd-", 0), 0u);
  EXPECT_EQ(response["object"], "list");
  EXPECT_TRUE(response["created"].is_number_integer());
  EXPECT_EQ(response["model"], "fake-model");
  ASSERT_EQ(response["data"].size(), 1u);
  const Json& item = response["data"][0];
  EXPECT_EQ(item["index"], 0);
  EXPECT_EQ(item["object"], "embedding");
  std::vector<float> embedding = floats(item["embedding"]);
  // [CLS] hello world [SEP] = [10, 1, 2, 11]: raw[0] = 1 + (11 + 2 + 3 + 12) % 13 = 3, normalised.
  EXPECT_EQ(embedding, expected(spec_of(PoolingTask::Embed), {10, 1, 2, 11}, options_).data);
  ASSERT_EQ(embedding.size(), 8u);
  double norm = 0;
  for (float v : embedding) norm += double(v) * v;
  EXPECT_NEAR(norm, 1.0, 1e-6);
  EXPECT_EQ(response["usage"], (Json{{"prompt_tokens", 4}, {"total_tokens", 4}, {"completion_tokens", 0},
                                     {"prompt_tokens_details", nullptr}}));
  // Key order as vLLM's EmbeddingResponse.
  std::vector<std::string> keys;
  for (auto& [key, value] : response.items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"id", "object", "created", "model", "data", "usage"}));
  auto sent = engine_->pooling_requests();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].pooling->task, PoolingTask::Embed);
  EXPECT_FALSE(sent[0].pooling->normalize.has_value());
  EXPECT_EQ(sent[0].prompt, "hello world");
  EXPECT_TRUE(sent[0].token_type_ids.empty());
}

TEST_F(PoolingRoutesTest, EmbeddingsTakeEveryInputShape) {
  start(pooling_options({PoolingTask::Embed}));
  auto embed = [&](std::vector<int32_t> ids) { return expected(spec_of(PoolingTask::Embed), ids, options_).data; };
  Json texts = ok("/v1/embeddings", {{"input", {"hello", "the cat"}}});
  ASSERT_EQ(texts["data"].size(), 2u);
  EXPECT_EQ(texts["data"][1]["index"], 1);
  EXPECT_EQ(floats(texts["data"][0]["embedding"]), embed({10, 1, 11}));
  EXPECT_EQ(floats(texts["data"][1]["embedding"]), embed({10, 3, 4, 11}));
  EXPECT_EQ(texts["usage"]["prompt_tokens"], 7);

  Json ids = ok("/v1/embeddings", {{"input", {5, 6, 7}}});
  ASSERT_EQ(ids["data"].size(), 1u);
  EXPECT_EQ(floats(ids["data"][0]["embedding"]), embed({5, 6, 7}));
  EXPECT_EQ(ids["usage"]["prompt_tokens"], 3);

  Json lists = ok("/v1/embeddings", {{"input", {{5, 6}, {7}}}});
  ASSERT_EQ(lists["data"].size(), 2u);
  EXPECT_EQ(floats(lists["data"][1]["embedding"]), embed({7}));
  EXPECT_EQ(lists["usage"]["total_tokens"], 3);
  EXPECT_EQ(engine_->pooling_requests().back().prompt_token_ids, (std::vector<int32_t>{7}));
}

TEST_F(PoolingRoutesTest, EmbeddingsFields) {
  FakeEngineOptions options = pooling_options({PoolingTask::Embed});
  options.is_matryoshka = true;
  options.matryoshka_dimensions = {4, 8};
  start(options);
  // normalize: false gives the raw values; dimensions truncates before normalising.
  Json raw = ok("/v1/embeddings", {{"input", "hello"}, {"normalize", false}});
  PoolingRequestSpec spec = spec_of(PoolingTask::Embed);
  spec.normalize = false;
  EXPECT_EQ(floats(raw["data"][0]["embedding"]), expected(spec, {10, 1, 11}, options_).data);
  EXPECT_EQ(floats(raw["data"][0]["embedding"])[0], 1 + (11 + 2 + 12) % 13);
  Json short_one = ok("/v1/embeddings", {{"input", "hello"}, {"dimensions", 4}, {"user", "someone"}});
  EXPECT_EQ(short_one["data"][0]["embedding"].size(), 4u);
  EXPECT_EQ(engine_->pooling_requests().back().pooling->dimensions, 4);
  // add_special_tokens: false drops [CLS]/[SEP]; truncate_prompt_tokens keeps the last tokens.
  ok("/v1/embeddings", {{"input", "hello world"}, {"add_special_tokens", false}});
  EXPECT_EQ(engine_->pooling_requests().back().prompt_token_ids, (std::vector<int32_t>{1, 2}));
  Json truncated = ok("/v1/embeddings", {{"input", "hello world the cat"}, {"truncate_prompt_tokens", 2}});
  EXPECT_EQ(engine_->pooling_requests().back().prompt_token_ids, (std::vector<int32_t>{4, 11}));
  EXPECT_EQ(truncated["usage"]["prompt_tokens"], 2);
  // request_id and priority reach the engine.
  ok("/v1/embeddings", {{"input", "hello"}, {"request_id", "abc"}, {"priority", 3}});
  EXPECT_EQ(engine_->pooling_requests().back().request_id, "embd-abc-0");
  EXPECT_EQ(engine_->pooling_requests().back().priority, 3);
  // Dimensions outside the model's list.
  EXPECT_EQ(message("/v1/embeddings", {{"input", "hello"}, {"dimensions", 5}}),
            "Model \"fake-model\" only supports [4, 8] matryoshka dimensions, use other output dimensions will lead "
            "to poor results.");
  EXPECT_EQ(message("/v1/embeddings", {{"input", "hello"}, {"dimensions", 0}}), "Dimensions must be greater than 0");
}

TEST_F(PoolingRoutesTest, EmbeddingsBase64RoundTrips) {
  start(pooling_options({PoolingTask::Embed}));
  Json as_floats = ok("/v1/embeddings", {{"input", {"hello world", "the cat sat"}}});
  Json as_base64 = ok("/v1/embeddings", {{"input", {"hello world", "the cat sat"}}, {"encoding_format", "base64"}});
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(as_base64["data"][i]["embedding"].is_string());
    std::string text = as_base64["data"][i]["embedding"].get<std::string>();
    EXPECT_EQ(text.size(), 44u);  // 32 bytes -> 44 base64 characters with padding
    EXPECT_EQ(decode_base64_f32(text), floats(as_floats["data"][i]["embedding"]));
  }
  // Known bytes: 1.0f is 00 00 80 3f little-endian.
  EXPECT_EQ(base64_f32({1.0f}), "AACAPw==");
  EXPECT_EQ(base64_f32({1.0f, -2.0f}), "AACAPwAAAMA=");
  EXPECT_EQ(base64_f32({}), "");
  Json explicit_float = ok("/v1/embeddings", {{"input", "hello"}, {"encoding_format", "float"}});
  EXPECT_TRUE(explicit_float["data"][0]["embedding"].is_array());
}

TEST_F(PoolingRoutesTest, EmbeddingsOfChatMessages) {
  start(pooling_options({PoolingTask::Embed}));
  Json messages = Json::array({{{"role", "user"}, {"content", "hello"}}});
  ok("/v1/embeddings", {{"messages", messages}});
  // "user: hello\n" without the generation prompt and without special tokens (vLLM's defaults).
  EngineRequest sent = engine_->pooling_requests().back();
  EXPECT_EQ(sent.prompt, "user: hello\n");
  EXPECT_EQ(sent.prompt_token_ids, (std::vector<int32_t>{6, 1}));
  ok("/v1/embeddings", {{"messages", messages}, {"add_generation_prompt", true}, {"add_special_tokens", true}});
  EXPECT_EQ(engine_->pooling_requests().back().prompt_token_ids, (std::vector<int32_t>{10, 6, 1, 7, 11}));
  EXPECT_EQ(message("/v1/embeddings", {{"messages", messages}, {"input", "x"}}), "Give either 'input' or 'messages', not both");
  EXPECT_EQ(refused("/v1/embeddings", {{"messages", "hello"}})["param"], "messages");
}

TEST_F(PoolingRoutesTest, EmbeddingsRefuseBadInput) {
  start(pooling_options({PoolingTask::Embed}));
  EXPECT_EQ(message("/v1/embeddings", {{"input", Json::array()}}), "'input' must not be empty");
  EXPECT_NE(message("/v1/embeddings", {{"input", {"hello", 3}}}).find("mixes kinds of prompts"), std::string::npos);
  EXPECT_NE(message("/v1/embeddings", {{"input", {{1, 2}, "hello"}}}).find("mixes kinds of prompts"), std::string::npos);
  EXPECT_NE(message("/v1/embeddings", {{"input", {1, "x"}}}).find("mixes kinds of prompts"), std::string::npos);
  EXPECT_EQ(refused("/v1/embeddings", {{"input", 5}})["param"], "input");
  EXPECT_EQ(refused("/v1/embeddings", {{"input", {true}}})["param"], "input");
  EXPECT_EQ(refused("/v1/embeddings", Json::object())["param"], "input");
  EXPECT_EQ(message("/v1/embeddings", {{"input", "x"}, {"encoding_format", "hex"}}),
            "'encoding_format' must be \"float\" or \"base64\", got \"hex\"");
  EXPECT_EQ(refused("/v1/embeddings", {{"input", "x"}, {"normalize", "yes"}})["param"], "normalize");
  EXPECT_EQ(refused("/v1/embeddings", {{"input", "x"}, {"dimensions", "4"}})["param"], "dimensions");
  EXPECT_EQ(refused("/v1/embeddings", {{"input", "x"}, {"user", 7}})["param"], "user");
  EXPECT_EQ(message("/v1/embeddings", {{"input", "x"}, {"dimensions", 4}}),
            "Model \"fake-model\" does not support matryoshka representation, changing output dimensions will lead "
            "to poor results.");
  EXPECT_EQ(message("/v1/embeddings", {{"input", {1, 2000}}}), "Token id 2000 is out of vocabulary");
  EXPECT_EQ(message("/v1/embeddings", {{"input", std::vector<int>(17, 1)}}),
            "This model's maximum context length is 16 tokens. However, you requested 17 tokens in the input for "
            "embedding generation. Please reduce the length of the input.");
  ok("/v1/embeddings", {{"input", std::vector<int>(16, 1)}});  // exactly max_model_len fits
  EXPECT_EQ(message("/v1/embeddings", {{"input", Json::array({Json::array()})}}), "The decoder prompt cannot be empty");
  EXPECT_EQ(message("/v1/embeddings", {{"input", "x"}, {"truncate_prompt_tokens", 17}}),
            "truncate_prompt_tokens value (17) is greater than max_model_len (16). Please, select a smaller truncation "
            "size.");
  EXPECT_EQ(refused("/v1/embeddings", {{"input", "x"}, {"truncate_prompt_tokens", -2}})["param"], "truncate_prompt_tokens");
  EXPECT_EQ(message("/v1/embeddings", {{"input", "x"}, {"model", "other"}}, 404), "The model `other` does not exist.");
  HttpRequest bad_json;
  bad_json.method = "POST";
  bad_json.target = "/v1/embeddings";
  bad_json.body = "{\"input\": ";
  EXPECT_EQ(http_fetch("127.0.0.1", port_, bad_json).status, 400);
  EXPECT_TRUE(engine_->pooling_requests().size() == 1u);  // only the one that fit reached the engine
  // Still serving.
  EXPECT_EQ(ok("/v1/embeddings", {{"input", "hello"}})["data"].size(), 1u);
}

// --- Routes and tasks ---------------------------------------------------------------------------

TEST_F(PoolingRoutesTest, RoutesAModelDoesNotServeAnswerAsVllm) {
  start(pooling_options({PoolingTask::Embed}));
  EXPECT_EQ(message("/v1/completions", {{"prompt", "hello"}}), "The model does not support Completions API");
  EXPECT_EQ(message("/v1/chat/completions", {{"messages", Json::array({{{"role", "user"}, {"content", "hi"}}})}}),
            "The model does not support Chat Completions API");
  EXPECT_EQ(message("/classify", {{"input", "hello"}}), "The model does not support Classification API");
  Json error = refused("/v1/completions", {{"prompt", "hello"}});
  EXPECT_EQ(error["type"], "BadRequestError");
  // /v1/models is the same as for a generative model.
  HttpRequest models;
  models.target = "/v1/models";
  Json listed = Json::parse(http_fetch("127.0.0.1", port_, models).body);
  EXPECT_EQ(listed["data"][0]["id"], "fake-model");
  EXPECT_EQ(listed["data"][0]["max_model_len"], 16);
  EXPECT_EQ(listed["data"][0]["object"], "model");
}

TEST_F(PoolingRoutesTest, AGenerativeModelRefusesThePoolingRoutes) {
  start(FakeEngineOptions{});
  EXPECT_EQ(message("/v1/embeddings", {{"input", "hello"}}), "The model does not support Embeddings API");
  EXPECT_EQ(message("/pooling", {{"input", "hello"}}), "The model does not support Pooling API");
  EXPECT_EQ(message("/classify", {{"input", "hello"}}), "The model does not support Classification API");
  EXPECT_EQ(message("/score", {{"text_1", "a"}, {"text_2", "b"}}), "The model does not support Score API");
  EXPECT_EQ(message("/v1/score", {{"text_1", "a"}, {"text_2", "b"}}), "The model does not support Score API");
  for (const char* path : {"/rerank", "/v1/rerank", "/v2/rerank"})
    EXPECT_EQ(message(path, {{"query", "a"}, {"documents", {"b"}}}), "The model does not support Rerank (Score) API");
  EXPECT_TRUE(engine_->pooling_requests().empty());
  EXPECT_EQ(ok("/v1/completions", {{"prompt", "hello"}, {"max_tokens", 2}})["choices"].size(), 1u);
  // GET on a pooling route is 405.
  HttpRequest get;
  get.target = "/v1/embeddings";
  EXPECT_EQ(http_fetch("127.0.0.1", port_, get).status, 405);
}

// --- /pooling -----------------------------------------------------------------------------------

TEST_F(PoolingRoutesTest, PoolingReturnsNestedDataPerToken) {
  start(pooling_options({PoolingTask::Encode, PoolingTask::Embed}));
  Json response = ok("/pooling", {{"input", "hello world"}});
  EXPECT_EQ(response["id"].get<std::string>().rfind("pool-", 0), 0u);
  EXPECT_EQ(response["object"], "list");
  const Json& item = response["data"][0];
  EXPECT_EQ(item["object"], "pooling");
  EXPECT_EQ(item["index"], 0);
  ASSERT_EQ(item["data"].size(), 4u);  // [L, D] = [4, 8]
  ASSERT_EQ(item["data"][0].size(), 8u);
  EXPECT_EQ(item["data"][1][0], 1.0);  // token "hello" (1), d = 0
  EXPECT_EQ(item["data"][3][2], 13.0);  // [SEP] (11) + 2
  EXPECT_EQ(response["usage"]["prompt_tokens"], 4);
  EXPECT_EQ(engine_->pooling_requests().back().pooling->task, PoolingTask::Encode);
  // base64 of the flattened rows; task picks another served task.
  Json packed = ok("/pooling", {{"input", {3, 4}}, {"encoding_format", "base64"}});
  EXPECT_EQ(decode_base64_f32(packed["data"][0]["data"].get<std::string>()),
            expected(spec_of(PoolingTask::Encode), {3, 4}, options_).data);
  Json embedded = ok("/pooling", {{"input", {{3, 4}, {5}}}, {"task", "embed"}});
  EXPECT_EQ(floats(embedded["data"][1]["data"]), expected(spec_of(PoolingTask::Embed), {5}, options_).data);
  EXPECT_EQ(message("/pooling", {{"input", "x"}, {"task", "classify"}}),
            "Task classify is not supported, it must be one of the supported tasks: encode, embed");
  Json chat = ok("/pooling", {{"messages", Json::array({{{"role", "user"}, {"content", "hi"}}})}});
  EXPECT_EQ(chat["data"][0]["data"].size(), 2u);  // "user: hi\n" = [6, 9]
}

// --- /classify ----------------------------------------------------------------------------------

TEST_F(PoolingRoutesTest, ClassifyReturnsLabelsAndProbabilities) {
  start(pooling_options({PoolingTask::Classify}));
  Json response = ok("/classify", {{"model", "fake-model"}, {"input", {"hello", "the cat"}}});
  EXPECT_EQ(response["id"].get<std::string>().rfind("classify-", 0), 0u);
  EXPECT_EQ(response["object"], "list");
  ASSERT_EQ(response["data"].size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const Json& item = response["data"][i];
    EXPECT_EQ(item["index"], i);
    EXPECT_EQ(item["num_classes"], 3);
    std::vector<float> probs = floats(item["probs"]);
    double total = 0;
    for (float p : probs) total += p;
    EXPECT_NEAR(total, 1.0, 1e-6);
  }
  // "hello" = [10, 1, 11]: sum 22, logits (22 + c) % 5 = 2, 3, 4 -> "positive".
  EXPECT_EQ(response["data"][0]["label"], "positive");
  EXPECT_EQ(floats(response["data"][0]["probs"]), expected(spec_of(PoolingTask::Classify), {10, 1, 11}, options_).data);
  // [10, 3, 4, 11]: sum 28 -> 3, 4, 0 -> "neutral".
  EXPECT_EQ(response["data"][1]["label"], "neutral");
  EXPECT_EQ(response["usage"]["prompt_tokens"], 7);
  // Token ids, and activation off.
  Json raw = ok("/classify", {{"input", {1, 2}}, {"activation", false}});
  EXPECT_EQ(floats(raw["data"][0]["probs"]), (std::vector<float>{3, 4, 0}));
  EXPECT_EQ(engine_->pooling_requests().back().pooling->activation, std::optional<bool>(false));
  EXPECT_EQ(message("/classify", {{"input", std::vector<int>(20, 1)}}),
            "This model's maximum context length is 16 tokens. However, you requested 20 tokens in the input for "
            "classification. Please reduce the length of the input.");
  EXPECT_EQ(message("/v1/embeddings", {{"input", "x"}}), "The model does not support Embeddings API");
}

TEST_F(PoolingRoutesTest, ClassifyWithoutLabelsNamesClassesAsHuggingFace) {
  FakeEngineOptions options = pooling_options({PoolingTask::Classify});
  options.labels = {};
  start(options);
  Json response = ok("/classify", {{"input", {1}}});
  EXPECT_EQ(response["data"][0]["num_classes"], 1);
  EXPECT_EQ(response["data"][0]["label"], "LABEL_0");
}

// --- /score and /rerank -------------------------------------------------------------------------

double cosine_of(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) dot += double(a[i]) * b[i], na += double(a[i]) * a[i], nb += double(b[i]) * b[i];
  return dot / (std::sqrt(na) * std::sqrt(nb));
}

TEST_F(PoolingRoutesTest, ScoreWithAnEmbeddingModelIsCosine) {
  start(pooling_options({PoolingTask::Embed}));
  auto embed = [&](std::vector<int32_t> ids) { return expected(spec_of(PoolingTask::Embed), ids, options_).data; };
  std::vector<float> hello = embed({10, 1, 11}), cat = embed({10, 3, 4, 11}), sat = embed({10, 5, 11});
  Json one = ok("/score", {{"text_1", "hello"}, {"text_2", "the cat"}});
  EXPECT_EQ(one["id"].get<std::string>().rfind("score-", 0), 0u);
  EXPECT_EQ(one["object"], "list");
  ASSERT_EQ(one["data"].size(), 1u);
  EXPECT_EQ(one["data"][0]["object"], "score");
  EXPECT_EQ(one["data"][0]["index"], 0);
  EXPECT_NEAR(one["data"][0]["score"].get<double>(), cosine_of(hello, cat), 1e-6);
  EXPECT_EQ(one["usage"]["prompt_tokens"], 7);
  Json one_to_many = ok("/v1/score", {{"text_1", {"hello"}}, {"text_2", {"the cat", "sat"}}});
  ASSERT_EQ(one_to_many["data"].size(), 2u);
  EXPECT_NEAR(one_to_many["data"][1]["score"].get<double>(), cosine_of(hello, sat), 1e-6);
  Json pairs = ok("/score", {{"text_1", {"hello", "sat"}}, {"text_2", {"the cat", "sat"}}});
  EXPECT_NEAR(pairs["data"][0]["score"].get<double>(), cosine_of(hello, cat), 1e-6);
  EXPECT_NEAR(pairs["data"][1]["score"].get<double>(), 1.0, 1e-6);
  EXPECT_EQ(message("/score", {{"text_1", {"a", "b"}}, {"text_2", {"a", "b", "c"}}}),
            "Input lengths must be either 1:1, 1:N or N:N (got 2:3)");
  EXPECT_EQ(refused("/score", {{"text_1", "a"}})["param"], "text_2");
  EXPECT_EQ(refused("/score", {{"text_1", 3}, {"text_2", "b"}})["param"], "text_1");
  EXPECT_EQ(refused("/score", {{"text_1", {"a", 3}}, {"text_2", "b"}})["param"], "text_1");
  EXPECT_NE(message("/score", {{"text_1", Json::array()}, {"text_2", "b"}}).find("At least one text"), std::string::npos);
}

TEST_F(PoolingRoutesTest, ScoreWithACrossEncoderSendsPairsWithTokenTypeIds) {
  start(pooling_options({PoolingTask::Score, PoolingTask::Classify}));
  Json response = ok("/score", {{"text_1", "hello"}, {"text_2", {"the cat", "sat"}}});
  auto sent = engine_->pooling_requests();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].pooling->task, PoolingTask::Score);
  EXPECT_EQ(sent[0].prompt_token_ids, (std::vector<int32_t>{10, 1, 11, 3, 4, 11}));
  EXPECT_EQ(sent[0].token_type_ids, (std::vector<int32_t>{0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(sent[1].prompt_token_ids, (std::vector<int32_t>{10, 1, 11, 5, 11}));
  EXPECT_EQ(sent[1].token_type_ids, (std::vector<int32_t>{0, 0, 0, 1, 1}));
  double first = expected(spec_of(PoolingTask::Score), sent[0].prompt_token_ids, options_, sent[0].token_type_ids).data[0];
  EXPECT_NEAR(response["data"][0]["score"].get<double>(), first, 1e-6);
  // sum 40 % 7 = 5: 5 * 0.5 - 1.5 + 0.25 * 3 = 1.75 before the sigmoid.
  EXPECT_NEAR(first, 1.0 / (1.0 + std::exp(-1.75)), 1e-6);
  EXPECT_EQ(response["usage"]["prompt_tokens"], 11);
  EXPECT_EQ(message("/score", {{"text_1", "hello world the cat sat"}, {"text_2", "hello world the cat sat hi hi hi hi"}}),
            "This model's maximum context length is 16 tokens. However, you requested 17 tokens in the input for "
            "score. Please reduce the length of the input.");
  // truncate_prompt_tokens keeps the pair's last tokens with their type ids.
  ok("/score", {{"text_1", "hello"}, {"text_2", "the cat"}, {"truncate_prompt_tokens", 4}});
  EXPECT_EQ(engine_->pooling_requests().back().token_type_ids, (std::vector<int32_t>{0, 1, 1, 1}));
}

TEST_F(PoolingRoutesTest, RerankSortsByRelevance) {
  start(pooling_options({PoolingTask::Score}));
  std::vector<std::string> documents = {"the cat", "sat", "hello world", "hi"};
  Json response = ok("/rerank", {{"query", "hello"}, {"documents", documents}});
  EXPECT_EQ(response["id"].get<std::string>().rfind("rerank-", 0), 0u);
  EXPECT_EQ(response["model"], "fake-model");
  ASSERT_EQ(response["results"].size(), 4u);
  auto sent = engine_->pooling_requests();
  std::vector<double> scores;
  for (const auto& request : sent)
    scores.push_back(expected(spec_of(PoolingTask::Score), request.prompt_token_ids, options_, request.token_type_ids).data[0]);
  double previous = 2.0;
  for (const Json& result : response["results"]) {
    size_t index = result["index"].get<size_t>();
    EXPECT_NEAR(result["relevance_score"].get<double>(), scores[index], 1e-6);
    EXPECT_LE(result["relevance_score"].get<double>(), previous);
    previous = result["relevance_score"].get<double>();
    EXPECT_EQ(result["document"]["text"], documents[index]);
  }
  int64_t tokens = 0;
  for (const auto& request : sent) tokens += int64_t(request.prompt_token_ids.size());
  EXPECT_EQ(response["usage"]["total_tokens"], tokens);
  Json top = ok("/v1/rerank", {{"query", "hello"}, {"documents", documents}, {"top_n", 2}, {"return_documents", false}});
  ASSERT_EQ(top["results"].size(), 2u);
  EXPECT_EQ(top["results"][0]["index"], response["results"][0]["index"]);
  EXPECT_TRUE(top["results"][0]["document"].is_null());
  Json cohere = ok("/v2/rerank", {{"query", "hello"}, {"documents", Json::array({{{"text", "sat"}}})}});
  EXPECT_EQ(cohere["results"][0]["document"]["text"], "sat");
  EXPECT_EQ(refused("/rerank", {{"documents", documents}})["param"], "query");
  EXPECT_EQ(refused("/rerank", {{"query", "hello"}, {"documents", "sat"}})["param"], "documents");
  EXPECT_EQ(refused("/rerank", {{"query", "hello"}, {"documents", documents}, {"top_n", -1}})["param"], "top_n");
}

// --- Token ids without a tokenizer (--skip-tokenizer-init) --------------------------------------

TEST_F(PoolingRoutesTest, TokenIdsServeWithoutATokenizer) {
  start(pooling_options({PoolingTask::Embed, PoolingTask::Encode, PoolingTask::Classify}), /*with_tokenizer=*/false);
  EXPECT_EQ(ok("/v1/embeddings", {{"input", {1, 2, 3}}})["usage"]["prompt_tokens"], 3);
  EXPECT_EQ(ok("/pooling", {{"input", {{1, 2}, {3}}}})["data"].size(), 2u);
  EXPECT_EQ(ok("/classify", {{"input", {4}}})["data"][0]["num_classes"], 3);
  EXPECT_NE(message("/v1/embeddings", {{"input", "hello"}}).find("--skip-tokenizer-init"), std::string::npos);
  EXPECT_NE(message("/score", {{"text_1", "a"}, {"text_2", "b"}}).find("--skip-tokenizer-init"), std::string::npos);
}

// --- run-batch ----------------------------------------------------------------------------------

TEST_F(PoolingRoutesTest, RunBatchAnswersPoolingLines) {
  start(pooling_options({PoolingTask::Embed}));
  std::vector<std::string> lines = {
      R"({"custom_id": "e1", "method": "POST", "url": "/v1/embeddings", "body": {"input": ["hello", "the cat"]}})",
      R"({"custom_id": "s1", "method": "POST", "url": "/v1/score", "body": {"text_1": "hello", "text_2": ["the cat", "sat"]}})",
      R"({"custom_id": "r1", "method": "POST", "url": "/v1/rerank", "body": {"query": "hello", "documents": ["sat", "hello"]}})",
      R"({"custom_id": "c1", "method": "POST", "url": "/v1/completions", "body": {"prompt": "hello"}})",
      R"({"custom_id": "x1", "method": "POST", "url": "/v1/embeddings", "body": {"input": []}})",
      R"({"custom_id": "u1", "method": "POST", "url": "/v1/unknown", "body": {}})"};
  std::vector<Json> out = run_batch(*engine_, model_, lines);
  ASSERT_EQ(out.size(), lines.size());
  EXPECT_EQ(out[0]["custom_id"], "e1");
  EXPECT_EQ(out[0]["response"]["status_code"], 200);
  EXPECT_TRUE(out[0]["error"].is_null());
  const Json& embeddings = out[0]["response"]["body"];
  ASSERT_EQ(embeddings["data"].size(), 2u);
  EXPECT_EQ(floats(embeddings["data"][1]["embedding"]), expected(spec_of(PoolingTask::Embed), {10, 3, 4, 11}, options_).data);
  EXPECT_EQ(out[1]["response"]["body"]["data"].size(), 2u);
  EXPECT_EQ(out[1]["response"]["body"]["data"][1]["object"], "score");
  const Json& rerank = out[2]["response"]["body"];
  ASSERT_EQ(rerank["results"].size(), 2u);
  EXPECT_EQ(rerank["results"][0]["index"], 1);  // "hello" against itself: cosine 1
  EXPECT_NEAR(rerank["results"][0]["relevance_score"].get<double>(), 1.0, 1e-6);
  EXPECT_EQ(out[3]["response"]["status_code"], 400);
  EXPECT_EQ(out[3]["error"]["message"], "The model does not support Completions API");
  EXPECT_EQ(out[4]["error"]["message"], "'input' must not be empty");
  EXPECT_EQ(out[5]["response"]["status_code"], 400);
  EXPECT_NE(out[5]["error"]["message"].get<std::string>().find("/v1/rerank"), std::string::npos);
}

// --- Concurrency --------------------------------------------------------------------------------

// One engine that generates, a generative server streaming a chat and a pooling server on the same
// engine sending embeddings meanwhile: the stream's text is the same as on a quiet engine.
TEST_F(PoolingRoutesTest, PoolingBesideAStreamingChatDoesNotDisturbIt) {
  FakeEngineOptions options;
  options.step_delay = 2ms;
  options.max_model_len = 256;
  start(options);
  ServingModel pooling_model = model_;
  pooling_model.info.pooling_tasks = {PoolingTask::Embed};
  HttpServer pooling_server(*engine_, pooling_model, server_options());
  std::string pooling_port = std::to_string(pooling_server.start());

  Json chat = {{"messages", Json::array({{{"role", "user"}, {"content", "hello"}}})},
               {"max_tokens", 60},
               {"stream", true}};
  auto stream_text = [&] {
    HttpRequest request;
    request.method = "POST";
    request.target = "/v1/chat/completions";
    request.body = chat.dump();
    request.timeout_s = 30;
    std::string text, finish;  // the event count varies: the server coalesces a step's outputs
    SseReader reader;
    http_fetch_streaming("127.0.0.1", port_, request, [&](std::string_view bytes) {
      return reader.feed(bytes, [&](std::string_view event) {
        if (event == "[DONE]") return true;
        Json chunk = Json::parse(event);
        const Json& choice = chunk["choices"][0];
        if (choice["delta"].contains("content")) text += choice["delta"]["content"].get<std::string>();
        if (!choice["finish_reason"].is_null()) finish = choice["finish_reason"].get<std::string>();
        return true;
      });
    });
    return std::make_pair(text, finish);
  };
  auto quiet = stream_text();
  EXPECT_EQ(quiet.second, "length");
  EXPECT_FALSE(quiet.first.empty());

  std::atomic<int> embedded{0};
  std::thread chat_thread([&] { EXPECT_EQ(stream_text(), quiet); });
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c)
    clients.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        HttpResponse response = post("/v1/embeddings", {{"input", {"hello", "the cat"}}}, pooling_port);
        if (response.status == 200 && Json::parse(response.body)["data"].size() == 2) ++embedded;
      }
    });
  for (auto& client : clients) client.join();
  chat_thread.join();
  EXPECT_EQ(embedded.load(), 40);
  pooling_server.shutdown();
  EXPECT_EQ(pooling_server.in_flight(), 0);
  EXPECT_EQ(server_->in_flight(), 0);
}

}  // namespace
}  // namespace vllm::server
