// Decoders served as pooling models (issue 25; vLLM's adapters.py and its *ForSequenceClassification,
// *ForRewardModel, *Model registrations): the generic decoder's hidden states, a pooler and an
// optional head. Built for the pooling architectures registered in pooling_decoder.cpp (Qwen2Model,
// Qwen3Model, Gemma2Model, *ForSequenceClassification, reward models) and for any registered decoder
// under --convert embed / classify / reward.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "layers/linear.h"
#include "models/classifier_config.h"
#include "models/generic_decoder.h"

namespace vllm {

enum class PoolingHeadKind {
  None,       // embeddings: the pooled hidden state
  Linear,     // score.weight [num_labels, H] (+ bias): classifiers; v_head (InternLM2 reward)
  RewardMLP,  // score.0 (H -> H) -> ReLU -> score.2 (H -> num_labels), both with biases (Qwen2 reward models)
  LMHead,     // the language-model head's logits (LlamaForCausalLM as a process reward model)
};

struct PoolingDecoderOptions {
  PoolerSpec pooler;
  std::vector<PoolingTask> tasks;
  PoolingHeadKind head = PoolingHeadKind::None;
  std::string head_prefix = "score";  // checkpoint name of the head
  bool head_bias = false;
  int64_t num_labels = 0;
  // The checkpoint is a base model (Qwen2Model...): no `model.` prefix, no lm_head.
  bool base_model_names = false;
  // Classifier rows from lm_head rows of these tokens (Qwen3-Reranker: classifier_from_token);
  // with two tokens and from_2_way_softmax one label, the "yes" row minus the "no" row.
  std::vector<int32_t> classifier_from_token_ids;
  bool from_2_way_softmax = false;
  // vLLM's is_causal false (config.json or --hf-overrides): bidirectional attention, no KV cache.
  bool bidirectional = false;
  // GritLM: MEAN pooling of an embed request skips the instruction, found by these token-id
  // patterns (the engine looks the tokens up in the tokenizer: gritlm_token_ids in the config).
  struct GritLMPatterns {
    int32_t bos = 0;
    std::vector<int32_t> user;           // "▁<|user|>\n" after BOS: an instruction follows
    std::vector<int32_t> embed;          // "▁<|embed|>\n"
    std::vector<int32_t> embed_newline;  // "\n<|embed|>\n" (after an instruction)
  };
  std::optional<GritLMPatterns> gritlm;
};

// The tokens GritLM's patterns are made of, in the order gritlm_token_ids lists their ids.
inline constexpr const char* kGritLMTokens[] = {"<s>", "\u2581<", "<", "|", "embed", ">", "<0x0A>", "user"};

// Base first so the head is constructed before GenericDecoder's constructor loads it.
struct PoolingHeadWeights {
  Linear first;   // Linear head, or the MLP's first layer
  Linear second;  // the MLP's second layer
};

class PoolingDecoder : private PoolingHeadWeights, public GenericDecoder {
 public:
  PoolingDecoder(DecoderSpec spec, const ModelLoadOptions& options, PoolingDecoderOptions pooling);

  const Pooler* pooler() const override { return &pooler_; }
  std::vector<PoolingTask> pooling_tasks() const override { return pooling_.tasks; }
  Tensor pooling_head(const Tensor& rows) const override;
  // GritLM's embed requests pool the rows after their instruction (gritlm_instruction_length);
  // everything else as Model::pool.
  std::vector<Tensor> pool(const Tensor& hidden, const PoolingBatch& batch) const override;

 private:
  PoolingDecoderOptions pooling_;
  Pooler pooler_;
};

// vLLM's GritLMMeanPool: the rows of `ids` that the instruction takes. No BOS first: 0 (a
// warning); "<|user|>\n" right after BOS means the embed marker follows a newline; the first
// embed marker from row 1 on ends the instruction; none found: 1 (the BOS row, a warning).
int64_t gritlm_instruction_length(const PoolingDecoderOptions::GritLMPatterns& patterns,
                                  const std::vector<int32_t>& ids);

// A registered decoder `config` names, wrapped for --convert `convert` (embed, classify, reward).
// Unsupported naming the architecture when the generic decoder does not serve it.
std::unique_ptr<Model> build_converted_decoder(const ArchitectureInfo& info, const ModelConfig& config,
                                               const ModelLoadOptions& options);

}  // namespace vllm
