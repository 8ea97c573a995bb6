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
//   DeepseekV2ForCausalLM / DeepseekV3ForCausalLM: multi-head latent attention (layers/
//     mla_attention.h) with a rotary over qk_rope_head_dim dims (interleaved pairs: V2 always, V3
//     unless rope_interleave is false); softmax scale (qk_nope + qk_rope)^-0.5, times yarn's
//     mscale(factor, mscale_all_dim)^2 under a scaled rope (the authors' code and vLLM; transformers'
//     V2 class leaves that factor out, its V3 class keeps it). V2 routes by softmax top-k
//     ("greedy") or within the best groups by their best expert ("group_limited_greedy"),
//     renormalised when norm_topk_prob; V3 by DeepSeek-V3's router above.
#include <cmath>

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

// Multi-head latent attention from the DeepSeek-V2/V3 config fields.
MlaSpec mla_spec(const ModelConfig& config, DecoderSpec& spec, bool interleaved) {
  MlaSpec mla;
  mla.hidden_size = spec.hidden_size;
  mla.num_heads = spec.num_heads;
  mla.q_lora_rank = config.find_int("q_lora_rank").value_or(0);  // null: one q_proj
  mla.kv_lora_rank = config.get_int("kv_lora_rank", 512);
  mla.qk_nope_head_dim = config.get_int("qk_nope_head_dim", 128);
  mla.qk_rope_head_dim = config.get_int("qk_rope_head_dim", 64);
  mla.v_head_dim = config.get_int("v_head_dim", 128);
  mla.norm_eps = spec.norm_eps;
  mla.attention_bias = config.get_bool("attention_bias", false);
  double scale = 1.0 / std::sqrt(static_cast<double>(mla.qk_nope_head_dim + mla.qk_rope_head_dim));
  const nlohmann::json& rope = spec.layers.front().rope;
  const std::string rope_type = rope.value("rope_type", rope.value("type", std::string("default")));
  if (rope_type != "default" && rope.contains("factor")) {
    const double factor = rope["factor"].get<double>(), all_dim = rope.value("mscale_all_dim", 0.0);
    const double mscale = factor <= 1.0 ? 1.0 : 0.1 * all_dim * std::log(factor) + 1.0;
    scale *= mscale * mscale;
  }
  mla.scale = static_cast<float>(scale);
  VLLM_CHECK(mla.qk_rope_head_dim % 2 == 0, InvalidArgument, config.source(), ": qk_rope_head_dim (",
             mla.qk_rope_head_dim, ") must be even");
  spec.rotary_dim = mla.qk_rope_head_dim;
  spec.rope_neox = !interleaved;
  spec.head_dim = mla.qk_nope_head_dim + mla.qk_rope_head_dim;
  return mla;
}

DecoderSpec deepseek_v2_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  spec.mla = mla_spec(config, spec, /*interleaved=*/true);
  if (!config.find_int("num_experts_per_tok") || !config.find_int("n_routed_experts")) return spec;  // dense
  MoESpec moe = deepseek_block(config, spec, 64, 0, 1407, 2);
  ops::MoERouting& r = moe.routing;
  r.scoring = ops::MoEScoring::Softmax;
  r.renormalize = r.top_k > 1 && config.get_bool("norm_topk_prob", false);
  r.scaling = static_cast<float>(config.get_float("routed_scaling_factor", 1.0));
  const std::string method = config.get_string("topk_method", "greedy");
  if (method == "group_limited_greedy") {
    r.num_groups = static_cast<int32_t>(config.get_int("n_group", 1));
    r.topk_groups = static_cast<int32_t>(config.get_int("topk_group", 1));
    r.group_score_max = true;
  } else {
    VLLM_CHECK(method == "greedy", Unsupported, config.source(), ": DeepSeek-V2 topk_method '", method,
               "' is not supported (known: greedy, group_limited_greedy)");
  }
  moe_from(spec, moe, config.get_int("first_k_dense_replace", 0), config.get_int("moe_layer_freq", 1));
  return spec;
}

DecoderSpec deepseek_v3_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  spec.mla = mla_spec(config, spec, config.get_bool("rope_interleave", true));
  if (!config.find_int("n_routed_experts")) return spec;  // dense
  const std::string method = config.get_string("topk_method", "noaux_tc");
  VLLM_CHECK(method == "noaux_tc", Unsupported, config.source(), ": DeepSeek-V3 topk_method '", method,
             "' is not supported (known: noaux_tc)");
  MoESpec moe = deepseek_block(config, spec, 256, 8, 2048, 1);
  deepseek_v3_router(config, moe, /*default_renormalize=*/true);
  moe_from(spec, moe, config.get_int("first_k_dense_replace", 3), config.get_int("moe_layer_freq", 1));
  return spec;
}

ModelRegistrar deepseek{decoder_architecture("DeepseekForCausalLM", "deepseek", deepseek_spec)};
ModelRegistrar deepseek_v2{decoder_architecture("DeepseekV2ForCausalLM", "deepseek_v2", deepseek_v2_spec)};
ModelRegistrar deepseek_v3{decoder_architecture("DeepseekV3ForCausalLM", "deepseek_v3", deepseek_v3_spec)};
ModelRegistrar glm4_moe{decoder_architecture("Glm4MoeForCausalLM", "glm4_moe", glm4_moe_spec)};
ModelRegistrar dots1{decoder_architecture("Dots1ForCausalLM", "dots1", dots1_spec)};

}  // namespace
}  // namespace vllm
