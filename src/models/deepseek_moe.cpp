// The DeepSeek-style mixtures of experts: the first first_k_dense_replace layers dense, the others
// a router over n_routed_experts plus n_shared_experts always-on experts (one shared MLP of
// n_shared_experts * moe_intermediate_size), under mlp.gate / mlp.experts.N / mlp.shared_experts.
//   DeepseekForCausalLM (DeepSeek-MoE V1, authors' code): Llama attention; softmax top-k,
//     renormalised when norm_topk_prob; MoE on every moe_layer_freq-th layer after the dense ones.
//   Glm4MoeForCausalLM (GLM-4.5): GLM attention (q/k/v bias, NeoX rotary on partial_rotary_factor
//     of the head, optional per-head q/k norm) with DeepSeek-V3's router.
//   Dots1ForCausalLM (dots.llm1): Qwen3 attention with DeepSeek-V3's router.
// DeepSeek-V3's router (DeepseekV3TopkRouter): sigmoid scores; the choice adds
// e_score_correction_bias and keeps the topk_group best of n_group groups; weights are the
// plain scores, renormalised when norm_topk_prob, times routed_scaling_factor. Multi-token
// prediction layers past num_hidden_layers are not used.
#include "core/error.h"
#include "models/generic_decoder.h"

namespace vllm {
namespace {

// The experts, the shared expert and the per-expert weight layout of the DeepSeek family.
MoESpec deepseek_block(const ModelConfig& config, DecoderSpec& spec, int64_t default_experts, int64_t default_top_k,
                       int64_t default_width, int64_t default_shared) {
  MoESpec moe = moe_block(config, spec, config.get_int("n_routed_experts", default_experts),
                          config.get_int("num_experts_per_tok", default_top_k),
                          config.get_int("moe_intermediate_size", default_width));
  moe.shared_intermediate_size = config.get_int("n_shared_experts", default_shared) * moe.intermediate_size;
  spec.weights.renames.push_back({".mlp.shared_experts.", ".mlp.shared_expert."});
  add_expert_stacking(spec.weights);
  const int64_t mtp = config.get_int("num_nextn_predict_layers", 0);
  for (int64_t i = spec.num_layers; i < spec.num_layers + mtp; ++i)
    spec.weights.ignored_prefixes.push_back(str("model.layers.", i, "."));
  return moe;
}

void deepseek_v3_router(const ModelConfig& config, MoESpec& moe, bool default_renormalize) {
  ops::MoERouting& r = moe.routing;
  r.scoring = ops::MoEScoring::Sigmoid;
  r.renormalize = config.get_bool("norm_topk_prob", default_renormalize);
  r.num_groups = static_cast<int32_t>(config.get_int("n_group", 1));
  r.topk_groups = static_cast<int32_t>(config.get_int("topk_group", 1));
  r.scaling = static_cast<float>(config.get_float("routed_scaling_factor", 1.0));
  moe.correction_bias = true;
  VLLM_CHECK(r.num_groups >= 1 && r.num_groups <= 64 && moe.num_experts % r.num_groups == 0 &&
                 moe.num_experts / r.num_groups >= 2 && r.topk_groups >= 1 && r.topk_groups <= r.num_groups &&
                 r.top_k <= r.topk_groups * (moe.num_experts / r.num_groups),
             InvalidArgument, config.source(), ": n_group (", r.num_groups, ") must divide the ", moe.num_experts,
             " routed experts into groups of at least 2 (at most 64 groups), with topk_group (", r.topk_groups,
             ") groups holding at least num_experts_per_tok (", r.top_k, ") experts");
}

// MoE on the layers from first_k_dense_replace on, every `frequency`-th.
void moe_from(DecoderSpec& spec, const MoESpec& moe, int64_t first_dense, int64_t frequency) {
  for (int64_t i = first_dense; i < spec.num_layers; ++i)
    if (frequency > 0 && i % frequency == 0) spec.layers[i].moe = moe;
}

DecoderSpec deepseek_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  if (!config.has("n_routed_experts")) return spec;  // a dense DeepSeek
  const std::string scoring = config.get_string("scoring_func", "softmax");
  VLLM_CHECK(scoring == "softmax", Unsupported, config.source(), ": DeepSeek V1 scoring_func '", scoring,
             "' is not supported (known: softmax)");
  MoESpec moe = deepseek_block(config, spec, 0, 0, 1407, 0);
  moe.routing.scoring = ops::MoEScoring::Softmax;
  moe.routing.renormalize = moe.routing.top_k > 1 && config.get_bool("norm_topk_prob", false);
  moe_from(spec, moe, config.get_int("first_k_dense_replace", 0), config.get_int("moe_layer_freq", 1));
  return spec;
}

DecoderSpec glm4_moe_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  spec.norm_eps = static_cast<float>(config.get_float("rms_norm_eps", 1e-5));
  spec.qkv_bias = config.get_bool("attention_bias", false);
  spec.o_bias = false;
  set_partial_rotary(spec, config, 0.5);
  spec.qk_norm = config.get_bool("use_qk_norm", false);  // per head, before rotary
  MoESpec moe = deepseek_block(config, spec, 128, 8, 1408, 1);
  deepseek_v3_router(config, moe, /*default_renormalize=*/true);
  moe_from(spec, moe, config.get_int("first_k_dense_replace", 1), 1);
  return spec;
}

DecoderSpec dots1_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  spec.qk_norm = true;
  // 4.x configs without layer_types: layers from max_window_layers (62) on slide by
  // sliding_window (4096 unless given, null for none).
  if (config.layer_types().empty()) {
    const int64_t window = config.raw().contains("sliding_window") ? config.find_int("sliding_window").value_or(0) : 4096;
    for (int64_t i = config.get_int("max_window_layers", 62); i < spec.num_layers && window > 0; ++i)
      spec.layers[i].sliding_window = window;
  }
  MoESpec moe = deepseek_block(config, spec, 0, 0, 1408, 0);
  deepseek_v3_router(config, moe, /*default_renormalize=*/false);
  moe_from(spec, moe, config.get_int("first_k_dense_replace", 0), 1);
  return spec;
}

ModelRegistrar deepseek{decoder_architecture("DeepseekForCausalLM", "deepseek", deepseek_spec)};
ModelRegistrar glm4_moe{decoder_architecture("Glm4MoeForCausalLM", "glm4_moe", glm4_moe_spec)};
ModelRegistrar dots1{decoder_architecture("Dots1ForCausalLM", "dots1", dots1_spec)};

}  // namespace
}  // namespace vllm
