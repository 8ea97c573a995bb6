// Qwen2 (qkv bias) and Qwen3 (q/k norm, head_dim independent of hidden/heads).
#include "models/generic_decoder.h"

namespace vllm {
namespace {

// 4.x configs: layers from max_window_layers on slide when use_sliding_window is set.
void qwen_sliding_layers(const ModelConfig& config, DecoderSpec& spec) {
  if (!config.layer_types().empty() || !config.get_bool("use_sliding_window", false)) return;
  int64_t window = config.sliding_window().value_or(0);
  int64_t first = config.get_int("max_window_layers", spec.num_layers);
  for (int64_t i = first; i < spec.num_layers; ++i) spec.layers[i].sliding_window = window;
}

DecoderSpec qwen2_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, false);
  spec.qkv_bias = true;  // Qwen2's q/k/v projections always carry a bias, o_proj never
  spec.o_bias = false;
  qwen_sliding_layers(config, spec);
  return spec;
}

DecoderSpec qwen3_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, false);
  spec.qk_norm = true;
  qwen_sliding_layers(config, spec);
  return spec;
}

ModelRegistrar qwen2{decoder_architecture("Qwen2ForCausalLM", "qwen2", qwen2_spec)};
ModelRegistrar qwen3{decoder_architecture("Qwen3ForCausalLM", "qwen3", qwen3_spec)};

}  // namespace
}  // namespace vllm
