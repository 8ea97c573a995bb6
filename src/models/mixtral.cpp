// Mixtral and PhiMoE: Mistral-style decoders whose every MLP is a mixture of num_local_experts
// experts, num_experts_per_tok per token (HF's MixtralSparseMoeBlock / PhimoeSparseMoeBlock).
// Checkpoints hold block_sparse_moe.gate and experts.N.{w1, w3, w2} (gate, up, down); transformers
// 5.x's own saves use mlp.gate (mlp.router for PhiMoE) and fused mlp.experts.{gate_up_proj,
// down_proj}, which load as they are.
#include "core/error.h"
#include "models/generic_decoder.h"

namespace vllm {
namespace {

void mixtral_weights(DecoderSpec& spec) {
  spec.weights.renames = {{".block_sparse_moe.", ".mlp."},
                          {".mlp.router.", ".mlp.gate."},
                          {".w1.weight", ".gate_proj.weight"},
                          {".w3.weight", ".up_proj.weight"},
                          {".w2.weight", ".down_proj.weight"}};
  add_expert_stacking(spec.weights);
}

// MixtralSparseMoeBlock: softmax over the experts, top-k, renormalised over the k.
DecoderSpec mixtral_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  spec.norm_eps = static_cast<float>(config.get_float("rms_norm_eps", 1e-5));
  slide_every_layer(spec, config);
  MoESpec moe = moe_block(config, spec, config.get_int("num_local_experts", 8), config.get_int("num_experts_per_tok", 2),
                          spec.intermediate_size);
  moe.routing.scoring = ops::MoEScoring::Softmax;
  moe.routing.renormalize = true;
  for (DecoderLayerSpec& layer : spec.layers) layer.moe = moe;
  mixtral_weights(spec);
  return spec;
}

// PhiMoE: Mixtral's layout with LayerNorms (weight and bias, eps rms_norm_eps), optional biases
// on the attention projections and the LM head, and the sparsemixer router (top 2).
DecoderSpec phimoe_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  use_layer_norm(spec, config, "rms_norm_eps", 1e-5);
  spec.lm_head_bias = config.get_bool("lm_head_bias", false);
  slide_every_layer(spec, config);
  // PhimoeRotaryEmbedding scales cos/sin by rope_scaling's short_mscale / long_mscale (not the
  // computed LongRoPE factor) and HF recomputes the cache when a sequence crosses the original
  // length (as Phi-3).
  for (DecoderLayerSpec& layer : spec.layers) {
    if (layer.rope.value("rope_type", "default") != "longrope") continue;
    const double short_mscale = layer.rope.value("short_mscale", 0.0), long_mscale = layer.rope.value("long_mscale", 0.0);
    VLLM_CHECK(short_mscale == long_mscale, Unsupported, config.source(),
               ": PhiMoE LongRoPE with short_mscale (", short_mscale, ") != long_mscale (", long_mscale,
               ") is not supported");
    if (short_mscale != 0.0) layer.rope["attention_factor"] = short_mscale;
    spec.recompute_at_length = layer.rope.value("original_max_position_embeddings", spec.max_position_embeddings);
  }
  MoESpec moe = moe_block(config, spec, config.get_int("num_local_experts", 16), config.get_int("num_experts_per_tok", 2),
                          spec.intermediate_size);
  VLLM_CHECK(moe.routing.top_k == 2, Unsupported, config.source(), ": PhiMoE's sparsemixer routes to 2 experts, not ",
             moe.routing.top_k, " (num_experts_per_tok)");
  moe.routing.scoring = ops::MoEScoring::SparseMixer;
  moe.routing.jitter_eps = static_cast<float>(config.get_float("router_jitter_noise", 0.01));
  for (DecoderLayerSpec& layer : spec.layers) layer.moe = moe;
  mixtral_weights(spec);
  return spec;
}

ModelRegistrar mixtral{decoder_architecture("MixtralForCausalLM", "mixtral", mixtral_spec)};
ModelRegistrar phimoe{decoder_architecture("PhiMoEForCausalLM", "phimoe", phimoe_spec)};
ModelRegistrar phimoe_hf{decoder_architecture("PhimoeForCausalLM", "phimoe", phimoe_spec)};

}  // namespace
}  // namespace vllm
