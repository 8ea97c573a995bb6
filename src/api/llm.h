// The offline C++ API (vLLM's `LLM`): build once, generate for many prompts, blocking.
//
//   vllm::EngineArgs args;  args.model = "models/default";
//   vllm::LLM llm(args);
//   vllm::SamplingParams params;  params.temperature = 0;  params.max_tokens = 32;
//   for (const vllm::RequestOutput& out : llm.generate({"Once upon a time"}, params))
//     std::cout << out.outputs[0].text << "\n";
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/engine_args.h"
#include "engine/outputs.h"
#include "engine/llm_engine.h"
#include "text/chat/chat_template.h"

namespace vllm {

// vLLM's pooling output classes (vllm/outputs.py), in C++ shape.
struct PoolingRequestOutput {  // LLM::encode, LLM::reward: the raw pooled tensor
  std::string request_id;
  std::vector<int32_t> prompt_token_ids;
  PoolingOutput outputs;
  bool finished = false;
};
struct EmbeddingOutput {
  std::vector<float> embedding;
  size_t hidden_size() const { return embedding.size(); }
};
struct EmbeddingRequestOutput {
  std::string request_id;
  std::vector<int32_t> prompt_token_ids;
  EmbeddingOutput outputs;
  bool finished = false;
};
struct ClassificationOutput {
  std::vector<float> probs;
  size_t num_classes() const { return probs.size(); }
};
struct ClassificationRequestOutput {
  std::string request_id;
  std::vector<int32_t> prompt_token_ids;
  ClassificationOutput outputs;
  bool finished = false;
};
struct ScoringOutput {
  float score = 0.0f;
};
struct ScoringRequestOutput {
  std::string request_id;
  std::vector<int32_t> prompt_token_ids;  // the pair's tokens (a cross-encoder), or the second text's
  ScoringOutput outputs;
  bool finished = false;
};

class LLM {
 public:
  explicit LLM(const EngineArgs& args);

  // Outputs in the order of the prompts. Each prompt is one request; params.n sequences each.
  // `params` is used as given (vLLM's LLM.generate); default_sampling_params() starts from the
  // model's generation_config.json instead.
  std::vector<RequestOutput> generate(const std::vector<std::string>& prompts, const SamplingParams& params);
  std::vector<RequestOutput> generate(const std::vector<std::vector<int32_t>>& prompt_token_ids,
                                      const SamplingParams& params);
  // One SamplingParams per prompt (vLLM's list form of sampling_params).
  std::vector<RequestOutput> generate(const std::vector<std::vector<int32_t>>& prompt_token_ids,
                                      const std::vector<SamplingParams>& params);
  // Chat conversations (OpenAI message lists) rendered with the model's chat template.
  std::vector<RequestOutput> chat(const std::vector<nlohmann::json>& conversations, const SamplingParams& params,
                                  const ChatTemplateOptions& options = {});

  // Pooling models (--runner pooling), vLLM's LLM.embed / classify / score / reward / encode.
  // `params` carries the per-request options (normalize, activation, dimensions,
  // truncate_prompt_tokens); its task is set by the method.
  std::vector<EmbeddingRequestOutput> embed(const std::vector<std::string>& prompts, PoolingRequestSpec params = {});
  std::vector<EmbeddingRequestOutput> embed(const std::vector<std::vector<int32_t>>& prompt_token_ids,
                                            PoolingRequestSpec params = {});
  std::vector<ClassificationRequestOutput> classify(const std::vector<std::string>& prompts,
                                                    PoolingRequestSpec params = {});
  std::vector<ClassificationRequestOutput> classify(const std::vector<std::vector<int32_t>>& prompt_token_ids,
                                                    PoolingRequestSpec params = {});
  // 1:1, 1:N (one first text against each second) or N:N (pairwise) as vLLM's LLM.score: a
  // cross-encoder (a model serving the score task) scores each pair encoded as one sequence by the
  // tokenizer's pair template (BERT: [CLS] a [SEP] b [SEP], token_type_ids 0 then 1); an embedding
  // model scores the cosine similarity of the two embeddings.
  std::vector<ScoringRequestOutput> score(const std::vector<std::string>& data_1, const std::vector<std::string>& data_2,
                                          PoolingRequestSpec params = {});
  std::vector<PoolingRequestOutput> reward(const std::vector<std::string>& prompts, PoolingRequestSpec params = {});
  std::vector<PoolingRequestOutput> encode(const std::vector<std::string>& prompts, PoolingRequestSpec params = {});
  std::vector<PoolingRequestOutput> encode(const std::vector<std::vector<int32_t>>& prompt_token_ids,
                                           PoolingRequestSpec params = {});

  SamplingParams default_sampling_params() const;
  LLMEngine& engine() { return *engine_; }

 private:
  std::vector<RequestOutput> run(std::vector<EngineRequest> requests);
  // One pooling request per prompt (token_type_ids per prompt or none), run to completion.
  std::vector<RequestOutput> run_pooling(const std::vector<std::vector<int32_t>>& prompts, const PoolingRequestSpec& params,
                                         const std::vector<std::vector<int32_t>>& token_type_ids = {});
  std::vector<std::vector<int32_t>> encode_all(const std::vector<std::string>& prompts) const;

  std::unique_ptr<LLMEngine> engine_;
  std::string chat_template_override_;
  std::string chat_template_content_format_;
  uint64_t next_id_ = 0;
};

}  // namespace vllm
