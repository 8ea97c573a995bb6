// Granite: Llama with multipliers on the embeddings, the residual branches, the attention
// scores (in place of head_dim^-0.5) and the logits.
#include "models/generic_decoder.h"

namespace vllm {
namespace {

DecoderSpec granite_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, false);
  spec.embedding_scale = static_cast<float>(config.get_float("embedding_multiplier", 1.0));
  spec.residual_multiplier = static_cast<float>(config.get_float("residual_multiplier", 1.0));
  spec.attention_scale = static_cast<float>(config.get_float("attention_multiplier", 1.0));
  spec.logits_scale = static_cast<float>(1.0 / config.get_float("logits_scaling", 1.0));
  return spec;
}

ModelRegistrar granite{decoder_architecture("GraniteForCausalLM", "granite", granite_spec)};

}  // namespace
}  // namespace vllm
