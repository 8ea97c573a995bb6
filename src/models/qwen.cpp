// Qwen2 (qkv bias) and Qwen3 (q/k norm, head_dim independent of hidden/heads), and their
// mixtures of experts: Qwen2-MoE (a shared expert scaled by a sigmoid gate) and Qwen3-MoE.
#include <algorithm>

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

// Qwen2MoeDecoderLayer: layer i is sparse unless listed in mlp_only_layers, when num_experts > 0
// and (i + 1) % decoder_sparse_step == 0; the others are dense MLPs of intermediate_size. The
// router is a softmax top-k, renormalised when norm_topk_prob.
void qwen_moe_layers(const ModelConfig& config, DecoderSpec& spec, int64_t default_experts, int64_t default_top_k,
                     int64_t default_width, int64_t shared_width) {
  const int64_t experts = config.get_int("num_experts", default_experts);
  if (experts <= 0) return;
  MoESpec moe = moe_block(config, spec, experts, config.get_int("num_experts_per_tok", default_top_k),
                          config.get_int("moe_intermediate_size", default_width));
  moe.routing.scoring = ops::MoEScoring::Softmax;
  moe.routing.renormalize = config.get_bool("norm_topk_prob", false);
  moe.shared_intermediate_size = shared_width;
  moe.shared_expert_gate = shared_width > 0;
  std::vector<int64_t> dense;
  if (config.raw().contains("mlp_only_layers") && config.raw()["mlp_only_layers"].is_array())
    dense = config.raw()["mlp_only_layers"].get<std::vector<int64_t>>();
  const int64_t step = config.get_int("decoder_sparse_step", 1);
  for (int64_t i = 0; i < spec.num_layers; ++i)
    if (std::find(dense.begin(), dense.end(), i) == dense.end() && step > 0 && (i + 1) % step == 0)
      spec.layers[i].moe = moe;
  add_expert_stacking(spec.weights);
}

// Qwen2-MoE: q/k/v biases (transformers 5.x names the switch qkv_bias), a gated shared expert.
DecoderSpec qwen2_moe_spec(const ModelConfig& config) {
  DecoderSpec spec = qwen2_spec(config);
  spec.qkv_bias = config.get_bool("qkv_bias", true);
  qwen_moe_layers(config, spec, 60, 4, 1408, config.get_int("shared_expert_intermediate_size", 5632));
  return spec;
}

DecoderSpec qwen3_moe_spec(const ModelConfig& config) {
  DecoderSpec spec = qwen3_spec(config);
  qwen_moe_layers(config, spec, 128, 8, 768, 0);
  return spec;
}

ModelRegistrar qwen2{decoder_architecture("Qwen2ForCausalLM", "qwen2", qwen2_spec)};
ModelRegistrar qwen3{decoder_architecture("Qwen3ForCausalLM", "qwen3", qwen3_spec)};
ModelRegistrar qwen2_moe{decoder_architecture("Qwen2MoeForCausalLM", "qwen2_moe", qwen2_moe_spec)};
ModelRegistrar qwen3_moe{decoder_architecture("Qwen3MoeForCausalLM", "qwen3_moe", qwen3_moe_spec)};

}  // namespace
}  // namespace vllm
