// Phi-3: checkpoints hold fused qkv_proj and gate_up_proj (already the decoder's layout), a
// sliding window on every layer when set, partial rotary and LongRoPE.
#include "models/generic_decoder.h"

namespace vllm {
namespace {

DecoderSpec phi3_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, false);
  if (config.layer_types().empty()) {
    for (DecoderLayerSpec& layer : spec.layers) layer.sliding_window = config.sliding_window().value_or(0);
  }
  // HF's Phi3ForCausalLM discards its KV cache when a LongRoPE sequence first grows past
  // original_max_position_embeddings, re-rotating every position with the long factors.
  const nlohmann::json& rope = spec.layers.empty() ? nlohmann::json() : spec.layers.front().rope;
  if (rope.value("rope_type", "default") == "longrope")
    spec.recompute_at_length = rope.value("original_max_position_embeddings", spec.max_position_embeddings);
  return spec;
}

ModelRegistrar phi3{decoder_architecture("Phi3ForCausalLM", "phi3", phi3_spec)};

}  // namespace
}  // namespace vllm
