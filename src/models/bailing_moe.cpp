// Bailing MoE (inclusionAI's Ling; authors' modeling_bailing_moe.py, vLLM's bailing_moe.py): Llama
// blocks under other names, a fused query_key_value (q | k | v), and from layer
// first_k_dense_replace on a mixture of num_experts experts plus num_shared_experts always-on
// experts (one ungated MLP of num_shared_experts * moe_intermediate_size, or
// moe_shared_expert_intermediate_size where given). Checkpoint names:
//   model.word_embeddings, model.layers.N.attention.{query_key_value, dense, query_layernorm,
//   key_layernorm}, mlp.gate (+ gate.expert_bias), mlp.experts.E.{gate,up,down}_proj,
//   mlp.shared_experts.*, dense layers' mlp.{gate,up,down}_proj, model.norm, lm_head.
// Switches as vLLM reads them: use_qkv_bias (q/k/v bias), use_qk_norm (per-head RMSNorm with
// use_rmsnorm, else LayerNorm with eps 1e-6), rotary_dim (NeoX rotary on the first rotary_dim
// dims), norm_topk_prob, score_function softmax (default) or sigmoid with the router's
// expert_bias (moe_router_enable_expert_bias) and optional n_group / topk_group,
// routed_scaling_factor, norm_head (the LM head's columns L2-normalised at load, eps 1e-7).
// use_bias (biases on the o projection and every MLP, the config class's default) is refused:
// the routed experts have none in vLLM, which drops such weights silently.
#include <cmath>

#include "core/error.h"
#include "models/generic_decoder.h"

namespace vllm {
namespace {

// F.normalize(weight, dim=0, eps=1e-7): each column of the [vocab, hidden] head over the vocab,
// in f32 (as every other load-time fold keeps it).
Tensor normalize_columns(const Tensor& weight) {
  Tensor out = weight.to(DType::F32).clone();  // an f32 checkpoint's tensor is the read-only mapping itself
  float* data = out.data<float>();
  const int64_t rows = out.size(0), cols = out.size(1);
  std::vector<double> norms(static_cast<size_t>(cols), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) norms[c] += static_cast<double>(data[r * cols + c]) * data[r * cols + c];
  for (double& norm : norms) norm = 1.0 / std::max(std::sqrt(norm), 1e-7);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) data[r * cols + c] = static_cast<float>(data[r * cols + c] * norms[c]);
  return out;
}

DecoderSpec bailing_moe_spec(const ModelConfig& config) {
  const int64_t first_dense = config.get_int("first_k_dense_replace", 0);
  DecoderSpec spec = dense_spec(config, config.find_int("intermediate_size").value_or(0), /*default_tie=*/false);
  VLLM_CHECK(first_dense == 0 || spec.intermediate_size > 0, InvalidArgument, config.source(),
             ": first_k_dense_replace (", first_dense, ") dense layers need intermediate_size");
  VLLM_CHECK(!config.get_bool("use_bias", true), Unsupported, config.source(),
             ": Bailing MoE with use_bias true (its default: biases on the o projection and the experts' MLPs) is "
             "not supported; set \"use_bias\": false for bias-free checkpoints (Ling)");
  spec.norm_eps = static_cast<float>(config.get_float("rms_norm_eps", 1e-5));
  spec.qkv_bias = config.get_bool("use_qkv_bias", false);
  spec.o_bias = false;
  if (config.has("rotary_dim")) {
    const int64_t rotary = config.get_int("rotary_dim");
    VLLM_CHECK(rotary > 0 && rotary <= spec.head_dim && rotary % 2 == 0, InvalidArgument, config.source(),
               ": rotary_dim (", rotary, ") must be even and in [2, head_dim ", spec.head_dim, "]");
    spec.rotary_dim = rotary;
  }
  if (config.get_bool("use_qk_norm", false)) {
    spec.qk_norm = true;
    spec.qk_norm_kind = QkNorm::PerHead;
    if (!config.get_bool("use_rmsnorm", false)) {
      // nn.LayerNorm(head_dim, eps=1e-6); the q/k norms share the decoder's epsilon here.
      VLLM_CHECK(spec.norm_eps == 1e-6f, Unsupported, config.source(),
                 ": Bailing q/k LayerNorms (use_qk_norm without use_rmsnorm) use eps 1e-6, which only a config "
                 "with rms_norm_eps 1e-6 is supported with (rms_norm_eps is ", spec.norm_eps, ")");
      spec.qk_norm_norm_kind = NormKind::LayerNorm;
    }
  }
  const bool norm_head = config.get_bool("norm_head", false);
  VLLM_CHECK(!(norm_head && spec.tie_word_embeddings), Unsupported, config.source(),
             ": Bailing MoE with both norm_head and tie_word_embeddings is not supported");

  MoESpec moe = moe_block(config, spec, config.get_int("num_experts", 16), config.get_int("num_experts_per_tok", 2),
                          config.get_int("moe_intermediate_size"));
  moe.shared_intermediate_size =
      config.get_int("num_shared_experts", 0) *
      config.get_int("moe_shared_expert_intermediate_size", moe.intermediate_size);
  ops::MoERouting& r = moe.routing;
  r.renormalize = config.get_bool("norm_topk_prob", true);
  r.scaling = static_cast<float>(config.get_float("routed_scaling_factor", 1.0));
  const std::string scoring = config.get_string("score_function", "softmax");
  const bool expert_bias = config.get_bool("moe_router_enable_expert_bias", false);
  if (scoring == "softmax") {
    VLLM_CHECK(!expert_bias, Unsupported, config.source(),
               ": score_function softmax with moe_router_enable_expert_bias is not supported (vLLM pairs the "
               "expert bias with sigmoid scores only)");
    r.scoring = ops::MoEScoring::Softmax;
  } else {
    VLLM_CHECK(scoring == "sigmoid" && expert_bias, Unsupported, config.source(), ": score_function '", scoring,
               "' is not supported (known: softmax, sigmoid with moe_router_enable_expert_bias)");
    r.scoring = ops::MoEScoring::Sigmoid;
    moe.correction_bias = true;
  }
  if (config.has("n_group") && config.has("topk_group")) {  // vLLM's grouped_topk: groups by their best two
    VLLM_CHECK(r.scoring == ops::MoEScoring::Sigmoid, Unsupported, config.source(),
               ": n_group / topk_group with softmax scores is not supported");
    r.num_groups = static_cast<int32_t>(config.get_int("n_group"));
    r.topk_groups = static_cast<int32_t>(config.get_int("topk_group"));
    VLLM_CHECK(r.num_groups >= 1 && r.num_groups <= 64 && moe.num_experts % r.num_groups == 0 &&
                   moe.num_experts / r.num_groups >= 2 && r.topk_groups >= 1 && r.topk_groups <= r.num_groups &&
                   r.top_k <= r.topk_groups * (moe.num_experts / r.num_groups),
               InvalidArgument, config.source(), ": n_group (", r.num_groups, ") must divide the ", moe.num_experts,
               " experts into groups of at least 2 (at most 64 groups), with topk_group (", r.topk_groups,
               ") groups holding at least num_experts_per_tok (", r.top_k, ") experts");
  }
  for (int64_t i = first_dense; i < spec.num_layers; ++i) spec.layers[i].moe = moe;

  spec.weights.renames = {{"^model.word_embeddings.", "model.embed_tokens."},
                          {".attention.query_key_value.", ".self_attn.qkv_proj."},
                          {".attention.dense.", ".self_attn.o_proj."},
                          {".attention.query_layernorm.", ".self_attn.q_norm."},
                          {".attention.key_layernorm.", ".self_attn.k_norm."},
                          {".mlp.shared_experts.", ".mlp.shared_expert."},
                          {".mlp.gate.expert_bias", ".mlp.gate.e_score_correction_bias"}};
  add_expert_stacking(spec.weights);
  if (norm_head) spec.weights.transforms.push_back({"lm_head.weight", normalize_columns});
  return spec;
}

ModelRegistrar bailing_moe{decoder_architecture("BailingMoeForCausalLM", "bailing_moe", bailing_moe_spec)};

}  // namespace
}  // namespace vllm
