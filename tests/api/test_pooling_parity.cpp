// Pooling models against transformers on the tiny checkpoints of tools/make_pooling_fixtures.py
// (tests/data/pooling): each fixture's expected.json holds, per prompt, what its task returns.
// Skipped, with the reason, when the fixtures are absent.
#include <gtest/gtest.h>

#include <filesystem>

#include "api/llm.h"
#include "core/error.h"
#include "loader/json_util.h"
#include "test_util.h"

using namespace vllm;

namespace {

std::filesystem::path fixture_dir(const std::string& name) {
  return vllm::testing::source_dir() / "tests/data/pooling" / name;
}

#define SKIP_WITHOUT_FIXTURE(name)                                                                  \
  if (!std::filesystem::exists(fixture_dir(name) / "expected.json"))                                \
  GTEST_SKIP() << "tests/data/pooling/" << name                                                     \
               << " is absent: run python3 tools/make_pooling_fixtures.py --out tests/data/pooling"

EngineArgs args_for(const std::string& name, const std::string& convert = "auto", const std::string& pooler = "") {
  EngineArgs args;
  args.model = fixture_dir(name).string();
  args.skip_tokenizer_init = !std::filesystem::exists(fixture_dir(name) / "tokenizer.json");
  args.convert = convert;
  args.runner = "pooling";
  args.pooler_config = pooler;
  args.device = vllm::testing::test_device();
  if (args.device == "cuda") args.dtype = "float32";
  return args;
}

void expect_close(const std::vector<float>& got, const nlohmann::json& expected, const std::string& what) {
  std::vector<float> flat;
  if (expected.is_number()) flat.push_back(expected.get<float>());
  for (const auto& v : expected.is_array() ? expected : nlohmann::json::array()) {
    if (v.is_array())
      for (const auto& x : v) flat.push_back(x.get<float>());
    else
      flat.push_back(v.get<float>());
  }
  ASSERT_EQ(got.size(), flat.size()) << what;
  for (size_t i = 0; i < flat.size(); ++i) EXPECT_NEAR(got[i], flat[i], 1e-3) << what << " [" << i << "]";
}

nlohmann::json expected_of(const std::string& name) { return read_json_file(fixture_dir(name) / "expected.json"); }

std::vector<std::vector<int32_t>> prompts_of(const nlohmann::json& expected) {
  std::vector<std::vector<int32_t>> prompts;
  for (const auto& p : expected["prompts"]) prompts.push_back(p["input_ids"].get<std::vector<int32_t>>());
  return prompts;
}

void check_embedder(const std::string& name, const std::string& convert = "auto") {
  const nlohmann::json expected = expected_of(name);
  LLM llm(args_for(name, convert));
  std::vector<EmbeddingRequestOutput> out = llm.embed(prompts_of(expected));
  for (size_t i = 0; i < out.size(); ++i)
    expect_close(out[i].outputs.embedding, expected["prompts"][i]["embedding"], name + " embedding");
  LLM mean(args_for(name, convert, R"({"pooling_type": "MEAN"})"));  // the generic override point
  out = mean.embed(prompts_of(expected));
  for (size_t i = 0; i < out.size(); ++i)
    expect_close(out[i].outputs.embedding, expected["prompts"][i]["mean_embedding"], name + " mean embedding");
}

void check_classifier(const std::string& name, const std::string& convert = "auto") {
  const nlohmann::json expected = expected_of(name);
  LLM llm(args_for(name, convert));
  std::vector<ClassificationRequestOutput> out = llm.classify(prompts_of(expected));
  for (size_t i = 0; i < out.size(); ++i)
    expect_close(out[i].outputs.probs, expected["prompts"][i]["probs"], name + " probs");
  PoolingRequestSpec raw;
  raw.activation = false;
  out = llm.classify(prompts_of(expected), raw);
  for (size_t i = 0; i < out.size(); ++i)
    expect_close(out[i].outputs.probs, expected["prompts"][i]["logits"], name + " logits");
}

}  // namespace

TEST(PoolingParity, Qwen3ModelEmbeddings) { SKIP_WITHOUT_FIXTURE("qwen3_model_embed"); check_embedder("qwen3_model_embed"); }
TEST(PoolingParity, Qwen2ModelEmbeddings) { SKIP_WITHOUT_FIXTURE("qwen2_model_embed"); check_embedder("qwen2_model_embed"); }
TEST(PoolingParity, Gemma2ModelEmbeddings) { SKIP_WITHOUT_FIXTURE("gemma2_model_embed"); check_embedder("gemma2_model_embed"); }
TEST(PoolingParity, LlamaConvertEmbed) {
  SKIP_WITHOUT_FIXTURE("llama_convert_embed");
  check_embedder("llama_convert_embed", "embed");
}
TEST(PoolingParity, Qwen2SequenceClassification) { SKIP_WITHOUT_FIXTURE("qwen2_seq_cls"); check_classifier("qwen2_seq_cls"); }
TEST(PoolingParity, Qwen3SequenceClassification) { SKIP_WITHOUT_FIXTURE("qwen3_seq_cls"); check_classifier("qwen3_seq_cls"); }
TEST(PoolingParity, GPT2SequenceClassification) { SKIP_WITHOUT_FIXTURE("gpt2_seq_cls"); check_classifier("gpt2_seq_cls"); }
TEST(PoolingParity, GemmaSequenceClassification) { SKIP_WITHOUT_FIXTURE("gemma_seq_cls"); check_classifier("gemma_seq_cls"); }
TEST(PoolingParity, LlamaConvertClassify) {
  SKIP_WITHOUT_FIXTURE("llama_convert_classify");
  check_classifier("llama_convert_classify", "classify");
}

TEST(PoolingParity, RewardModelsPerToken) {
  for (const std::string name : {"qwen2_reward", "internlm2_reward"}) {
    if (!std::filesystem::exists(fixture_dir(name) / "expected.json")) GTEST_SKIP() << name << " is absent";
    const nlohmann::json expected = expected_of(name);
    LLM llm(args_for(name));
    std::vector<PoolingRequestOutput> out = llm.encode(prompts_of(expected));
    for (size_t i = 0; i < out.size(); ++i)
      expect_close(out[i].outputs.data, expected["prompts"][i]["token_scores"], name + " token scores");
  }
}

TEST(PoolingParity, ProcessRewardModelsAtStepTags) {
  SKIP_WITHOUT_FIXTURE("qwen2_process_reward");
  nlohmann::json expected = expected_of("qwen2_process_reward");
  LLM qwen(args_for("qwen2_process_reward", "auto", R"({"step_tag_id": 7})"));
  std::vector<PoolingRequestOutput> out = qwen.encode(prompts_of(expected));
  for (size_t i = 0; i < out.size(); ++i)
    expect_close(out[i].outputs.data, expected["prompts"][i]["step_probs"], "qwen2 PRM");
  SKIP_WITHOUT_FIXTURE("llama_process_reward");
  expected = expected_of("llama_process_reward");
  LLM llama(args_for("llama_process_reward", "reward", R"({"step_tag_id": 7, "returned_token_ids": [10, 11]})"));
  out = llama.reward(std::vector<std::string>{}, {});  // no prompts: nothing
  EXPECT_TRUE(out.empty());
  out = llama.encode(prompts_of(expected));
  for (size_t i = 0; i < out.size(); ++i)
    expect_close(out[i].outputs.data, expected["prompts"][i]["step_logits"], "llama PRM");
}

TEST(PoolingParity, Qwen3RerankerFromTwoWaySoftmax) {
  SKIP_WITHOUT_FIXTURE("qwen3_reranker");
  const nlohmann::json expected = expected_of("qwen3_reranker");
  EngineArgs args = args_for("qwen3_reranker");
  args.hf_overrides = R"({"architectures": ["Qwen3ForSequenceClassification"], "classifier_from_token": ["no", "yes"],
                          "is_original_qwen3_reranker": true})";
  LLM llm(args);
  std::vector<ClassificationRequestOutput> out = llm.classify(prompts_of(expected));
  for (size_t i = 0; i < out.size(); ++i)
    expect_close(out[i].outputs.probs, expected["prompts"][i]["score"], "reranker score");
  const nlohmann::json& pair = expected["pair"];
  std::vector<ScoringRequestOutput> scored =
      llm.score({pair["query"].get<std::string>()}, {pair["document"].get<std::string>()});
  ASSERT_EQ(scored.size(), 1u);
  EXPECT_NEAR(scored[0].outputs.score, pair["score"].get<float>(), 1e-3);
}
