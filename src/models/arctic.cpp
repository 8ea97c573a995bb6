// Snowflake Arctic (authors' modeling_arctic.py, vLLM's arctic.py): Llama attention (head size
// hidden / heads), and on every moe_layer_frequency-th layer ((i + 1) % frequency == 0) a
// mixture of num_local_experts SwiGLU experts of intermediate_size, num_experts_per_tok per
// token (softmax top-k, renormalised when k > 1); the other layers have a dense MLP of
// intermediate_size. With use_residual, each MoE layer also has a dense "residual" MLP of width
// hidden_size beside the experts, and the experts read the layer's input
// (parallel_attn_mlp_res):
//   h = x + attn(input_layernorm(x))
//   out = h + residual_mlp(residual_layernorm(h)) + moe(post_attention_layernorm(x))
// vLLM keys this structure on use_residual, the authors' code on parallel_attn_mlp_res; a config
// where the two differ is refused. Checkpoint names: block_sparse_moe.{gate, experts.E.w1/w3/w2}
// on MoE layers, block_sparse_moe.mlp.w1/w3/w2 on dense ones, residual_mlp.w1/w3/w2 and
// residual_layernorm. The DeepSpeed capacity settings (moe_eval_capacity_factor,
// moe_token_dropping) are training-time in vLLM and ignored as there; a `quantization` config
// (DeepSpeed FP quantisation) is refused.
#include <cmath>

#include "core/error.h"
#include "models/generic_decoder.h"

namespace vllm {
namespace {

DecoderSpec arctic_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  spec.head_dim = config.hidden_size() / config.num_attention_heads();  // ArcticAttention ignores head_dim
  spec.attention_scale = 1.0f / std::sqrt(static_cast<float>(spec.head_dim));
  spec.rotary_dim = spec.head_dim;
  spec.norm_eps = static_cast<float>(config.get_float("rms_norm_eps", 1e-5));
  slide_every_layer(spec, config);
  VLLM_CHECK(!config.has("quantization"), Unsupported, config.source(),
             ": Arctic's DeepSpeed `quantization` config is not supported (load the 16-bit weights)");
  VLLM_CHECK(spec.activation == ops::Activation::Silu, Unsupported, config.source(),
             ": Arctic supports hidden_act silu only (as vLLM)");
  const bool residual = config.get_bool("use_residual", false);
  VLLM_CHECK(!config.has("parallel_attn_mlp_res") || config.get_bool("parallel_attn_mlp_res", false) == residual,
             Unsupported, config.source(), ": Arctic with parallel_attn_mlp_res (",
             config.get_bool("parallel_attn_mlp_res", false), ") != use_residual (", residual,
             ") is not supported (the authors' code keys the residual MLP on the first, vLLM on the second)");
  const int64_t frequency = config.get_int("moe_layer_frequency", 2);
  VLLM_CHECK(frequency >= 1, InvalidArgument, config.source(), ": moe_layer_frequency must be >= 1, got ", frequency);

  MoESpec moe = moe_block(config, spec, config.get_int("num_local_experts", 8), config.get_int("num_experts_per_tok", 1),
                          spec.intermediate_size);
  moe.routing.scoring = ops::MoEScoring::Softmax;
  moe.routing.renormalize = moe.routing.top_k > 1;
  for (int64_t i = 0; i < spec.num_layers; ++i) {
    if ((i + 1) % frequency != 0) continue;
    spec.layers[i].moe = moe;
    if (residual) spec.layers[i].residual_mlp_size = spec.hidden_size;
  }
  spec.weights.renames = {{".block_sparse_moe.mlp.", ".mlp."},
                          {".block_sparse_moe.", ".mlp."},
                          {".w1.weight", ".gate_proj.weight"},
                          {".w3.weight", ".up_proj.weight"},
                          {".w2.weight", ".down_proj.weight"}};
  add_expert_stacking(spec.weights);
  return spec;
}

ModelRegistrar arctic{decoder_architecture("ArcticForCausalLM", "arctic", arctic_spec)};

}  // namespace
}  // namespace vllm
