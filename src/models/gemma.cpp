// Gemma 1/2/3 text decoders: (1 + w) RMSNorm, sqrt(hidden) embedding scale, GELU-tanh GLU;
// Gemma 2 adds sandwich norms, soft-capping and alternating sliding windows; Gemma 3 adds q/k
// norm and separate rotary bases for local and global layers.
#include <cmath>

#include "models/generic_decoder.h"

namespace vllm {
namespace {

DecoderSpec gemma_base(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/true);
  spec.norm_weight_offset = 1.0f;
  spec.embedding_scale = std::sqrt(static_cast<float>(spec.hidden_size));
  std::string activation = config.has("hidden_activation") ? config.get_string("hidden_activation", "")
                                                           : config.get_string("hidden_act", "gelu_pytorch_tanh");
  spec.activation = parse_activation(config, activation);
  return spec;
}

DecoderSpec gemma_spec(const ModelConfig& config) { return gemma_base(config); }

DecoderSpec gemma2_spec(const ModelConfig& config) {
  DecoderSpec spec = gemma_base(config);
  spec.sandwich_norms = true;
  spec.attention_scale = 1.0f / std::sqrt(static_cast<float>(config.get_float("query_pre_attn_scalar", 256)));
  spec.attn_logit_softcap = static_cast<float>(config.find_float("attn_logit_softcapping").value_or(0.0));
  spec.final_logit_softcap = static_cast<float>(config.find_float("final_logit_softcapping").value_or(0.0));
  if (config.layer_types().empty()) {  // 4.x: even layers slide
    int64_t window = config.get_int("sliding_window", 4096);
    for (int64_t i = 0; i < spec.num_layers; i += 2) spec.layers[i].sliding_window = window;
  }
  return spec;
}

DecoderSpec gemma3_spec(const ModelConfig& config) {
  DecoderSpec spec = gemma2_spec(config);
  spec.qk_norm = true;
  if (config.layer_types().empty()) {  // 4.x: every sliding_window_pattern-th layer is global
    int64_t window = config.get_int("sliding_window", 4096);
    int64_t pattern = config.get_int("sliding_window_pattern", 6);
    for (int64_t i = 0; i < spec.num_layers; ++i)
      spec.layers[i].sliding_window = (i + 1) % pattern ? window : 0;
  }
  // 4.x: local layers rotate with rope_local_base_freq and no scaling; 5.x keys rope_parameters
  // by layer type, which rope_for_layer already returned.
  const nlohmann::json& raw = config.raw();
  bool per_layer_type = raw.contains("rope_parameters") && raw["rope_parameters"].is_object() &&
                        raw["rope_parameters"].contains("sliding_attention");
  for (DecoderLayerSpec& layer : spec.layers) {
    if (layer.sliding_window == 0) continue;
    if (per_layer_type) {
      layer.rope = rope_for_layer(config, "sliding_attention");
    } else {
      layer.rope = {{"rope_type", "default"}, {"rope_theta", config.get_float("rope_local_base_freq", 10000.0)}};
    }
  }
  return spec;
}

ModelRegistrar gemma{decoder_architecture("GemmaForCausalLM", "gemma", gemma_spec)};
ModelRegistrar gemma2{decoder_architecture("Gemma2ForCausalLM", "gemma2", gemma2_spec)};
ModelRegistrar gemma3{decoder_architecture("Gemma3ForCausalLM", "gemma3", gemma3_spec)};

}  // namespace
}  // namespace vllm
