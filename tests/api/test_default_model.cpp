// The built-in default model (models/default) against transformers' outputs recorded in its
// reference.json: held-out perplexity through prompt_logprobs, greedy continuations, and a stop
// string that spans tokens.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "api/llm.h"
#include "test_util.h"

using namespace vllm;

namespace {

std::filesystem::path model_dir() { return vllm::testing::source_dir() / "models" / "default"; }

class DefaultModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::ifstream in(model_dir() / "reference.json");
    reference_ = new nlohmann::json(nlohmann::json::parse(in));
    EngineArgs args;
    args.model = model_dir().string();
    args.seed = 0;
    args.device = vllm::testing::test_device();
    llm_ = new LLM(args);
  }
  static void TearDownTestSuite() {
    delete llm_;
    delete reference_;
  }
  static LLM* llm_;
  static nlohmann::json* reference_;
};

LLM* DefaultModel::llm_ = nullptr;
nlohmann::json* DefaultModel::reference_ = nullptr;

TEST_F(DefaultModel, TokenizesTheReferencePassageAsTransformers) {
  const nlohmann::json& passage = (*reference_)["passage"];
  EXPECT_EQ(llm_->engine().encode(passage["text"].get<std::string>()),
            passage["token_ids"].get<std::vector<int32_t>>());
}

TEST_F(DefaultModel, HeldOutPerplexityMatchesTransformersWithinOnePercent) {
  const nlohmann::json& passage = (*reference_)["passage"];
  std::vector<int32_t> ids = passage["token_ids"].get<std::vector<int32_t>>();
  std::vector<float> hf = passage["logprobs"].get<std::vector<float>>();
  SamplingParams params;
  params.max_tokens = 1;
  params.prompt_logprobs = 0;  // the prompt token's own logprob only
  RequestOutput output = llm_->generate(std::vector<std::vector<int32_t>>{ids}, params)[0];
  ASSERT_TRUE(output.prompt_logprobs.has_value());
  ASSERT_EQ(output.prompt_logprobs->size(), ids.size());
  EXPECT_FALSE((*output.prompt_logprobs)[0].has_value());  // nothing predicts the first token
  double sum = 0;
  for (size_t i = 1; i < ids.size(); ++i) {
    const TokenLogprobs& position = *(*output.prompt_logprobs)[i];
    ASSERT_EQ(position.front().token_id, ids[i]);
    EXPECT_NEAR(position.front().logprob, hf[i - 1], 2e-3) << "position " << i;
    sum += position.front().logprob;
  }
  double perplexity = std::exp(-sum / static_cast<double>(ids.size() - 1));
  double hf_perplexity = passage["perplexity"].get<double>();
  EXPECT_NEAR(perplexity, hf_perplexity, 0.01 * hf_perplexity);
  EXPECT_LT(perplexity, 43.6 * 1.02) << "worse than the model card's held-out figure";
}

TEST_F(DefaultModel, GreedyContinuationsMatchTransformers) {
  for (const nlohmann::json& item : (*reference_)["greedy"]) {
    std::vector<int32_t> prompt = item["prompt_ids"].get<std::vector<int32_t>>();
    std::vector<int32_t> hf = item["output_ids"].get<std::vector<int32_t>>();
    std::vector<double> margins = item["top2_margins"].get<std::vector<double>>();
    SamplingParams params;
    params.temperature = 0;
    params.max_tokens = item["max_new_tokens"].get<int>();
    std::vector<int32_t> ours = llm_->generate(std::vector<std::vector<int32_t>>{prompt}, params)[0].outputs[0].token_ids;
    for (size_t i = 0; i < hf.size() && i < ours.size(); ++i) {
      if (ours[i] == hf[i]) continue;
      EXPECT_LT(margins[i], 1e-2) << item["prompt"] << ": token " << i << " differs with HF margin " << margins[i];
      break;
    }
    EXPECT_EQ(ours.size(), hf.size()) << item["prompt"];
  }
}

TEST_F(DefaultModel, StopStringSpanningTokensEndsTheOutputBeforeIt) {
  const nlohmann::json& item = (*reference_)["greedy"][0];
  std::string text = item["text"].get<std::string>();  // " girl named Lily. She loved to ..."
  SamplingParams params;
  params.temperature = 0;
  params.max_tokens = 32;
  params.stop = {"Lily. She"};
  CompletionOutput out = llm_->generate({item["prompt"].get<std::string>()}, params)[0].outputs[0];
  EXPECT_EQ(out.finish_reason, "stop");
  EXPECT_EQ(std::get<std::string>(out.stop_reason), "Lily. She");
  EXPECT_EQ(out.text, text.substr(0, text.find("Lily. She")));
  params.include_stop_str_in_output = true;
  out = llm_->generate({item["prompt"].get<std::string>()}, params)[0].outputs[0];
  EXPECT_EQ(out.text, text.substr(0, text.find("Lily. She") + 9));
}

TEST_F(DefaultModel, ChatPromptRendersAsTransformers) {
  const nlohmann::json& chat = (*reference_)["chat"];
  SamplingParams params;
  params.temperature = 0;
  params.max_tokens = 8;
  RequestOutput output = llm_->chat({chat["messages"]}, params)[0];
  EXPECT_EQ(output.prompt, chat["text"].get<std::string>());
  EXPECT_EQ(output.prompt_token_ids, chat["token_ids"].get<std::vector<int32_t>>());
  EXPECT_FALSE(output.outputs[0].text.empty());
}

}  // namespace
