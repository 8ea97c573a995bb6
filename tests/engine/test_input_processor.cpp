// The one check of a request at the edge (engine/input_processor.h), without a model.
#include <gtest/gtest.h>

#include "core/error.h"
#include "engine/input_processor.h"

namespace vllm {
namespace {

InputProcessor processor(int64_t max_model_len = 32, std::string generation_config = "auto",
                         nlohmann::json defaults = nlohmann::json::object()) {
  EngineModelConfig model;
  model.max_model_len = max_model_len;
  model.vocab_size = 100;
  model.max_logprobs = 5;
  model.generation_config = std::move(generation_config);
  return InputProcessor(model, nullptr, std::move(defaults), 2);
}

EngineRequest request_of(size_t prompt_len, std::optional<int> max_tokens) {
  EngineRequest request;
  request.request_id = "r";
  request.prompt_token_ids.assign(prompt_len, 7);
  request.params.max_tokens = max_tokens;
  return request;
}

std::string error_of(const InputProcessor& p, EngineRequest request) {
  try {
    p.process(request);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument) << e.what();
    return e.what();
  }
  return "";
}

TEST(InputProcessor, PromptAndMaxTokensMustFitTheContext) {
  const InputProcessor p = processor();
  EXPECT_EQ(error_of(p, request_of(20, 20)),
            "This model's maximum context length is 32 tokens. However, you requested 40 tokens (20 in the messages, "
            "20 in the completion). Please reduce the length of the messages or completion.");
  EXPECT_EQ(error_of(p, request_of(32, 1)),
            "This model's maximum context length is 32 tokens. However, your request has 32 input tokens. Please "
            "reduce the length of the input messages.");
  EXPECT_EQ(error_of(p, request_of(0, 1)), "The prompt cannot be empty");
  EXPECT_EQ(error_of(p, request_of(20, 12)), "");
  EXPECT_EQ(error_of(p, request_of(31, std::nullopt)), "");  // max_tokens unset: up to the context
}

TEST(InputProcessor, TokenIdsAndParamsAgainstTheVocabulary) {
  const InputProcessor p = processor();
  EngineRequest request = request_of(4, 4);
  request.prompt_token_ids[1] = 100;
  EXPECT_EQ(error_of(p, request), "Token id 100 is out of vocabulary (vocab size 100)");
  request = request_of(4, 4);
  request.params.logprobs = 6;
  EXPECT_NE(error_of(p, request), "");  // above --max-logprobs
  request = request_of(4, 4);
  request.params.bad_words = {"x"};
  EXPECT_EQ(error_of(p, request), "bad_words need a tokenizer (not with --skip-tokenizer-init)");
}

TEST(InputProcessor, TruncatesThePromptFromTheLeft) {
  const InputProcessor p = processor();
  EngineRequest request = request_of(40, 4);
  for (size_t i = 0; i < request.prompt_token_ids.size(); ++i) request.prompt_token_ids[i] = static_cast<int32_t>(i);
  request.params.truncate_prompt_tokens = 10;
  p.process(request);
  ASSERT_EQ(request.prompt_token_ids.size(), 10u);
  EXPECT_EQ(request.prompt_token_ids.front(), 30);
}

TEST(InputProcessor, GenerationConfigFillsUnsetFieldsWhenAsked) {
  const InputProcessor p = processor(32, "auto", {{"temperature", 0.5}});
  EngineRequest request = request_of(4, 4);
  p.process(request);
  EXPECT_EQ(request.params.temperature, 0.5);
  request = request_of(4, 4);
  request.apply_generation_config = false;
  p.process(request);
  EXPECT_EQ(request.params.temperature, 1.0);
  const InputProcessor vllm_defaults = processor(32, "vllm", {{"temperature", 0.5}});
  request = request_of(4, 4);
  vllm_defaults.process(request);
  EXPECT_EQ(request.params.temperature, 1.0);
  EXPECT_EQ(p.eos_token_id(), 2);
}

}  // namespace
}  // namespace vllm
