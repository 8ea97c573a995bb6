// Granite: Llama with multipliers on the embeddings, the residual branches, the attention
// scores (in place of head_dim^-0.5) and the logits. GraniteMoe: the same with every MLP a
// mixture of experts (JetMoe's top-k gating: the k best logits, softmax over them) stored fused
// (input_linear [E, 2I, H], output_linear [E, H, I]); GraniteMoeShared adds a shared MLP.
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

DecoderSpec granite_moe_spec(const ModelConfig& config) {
  DecoderSpec spec = granite_spec(config);
  MoESpec moe = moe_block(config, spec, config.get_int("num_local_experts", 8), config.get_int("num_experts_per_tok", 2),
                          spec.intermediate_size);
  moe.routing.scoring = ops::MoEScoring::TopKSoftmax;
  moe.shared_intermediate_size = config.get_int("shared_intermediate_size", 0);  // GraniteMoeShared
  for (DecoderLayerSpec& layer : spec.layers) layer.moe = moe;
  spec.weights.renames = {{".block_sparse_moe.router.layer.", ".mlp.gate."},
                          {".block_sparse_moe.input_linear.weight", ".mlp.experts.gate_up_proj"},
                          {".block_sparse_moe.output_linear.weight", ".mlp.experts.down_proj"},
                          {".shared_mlp.input_linear.", ".mlp.shared_expert.gate_up_proj."},
                          {".shared_mlp.output_linear.", ".mlp.shared_expert.down_proj."}};
  add_expert_stacking(spec.weights);  // transformers 5.x saves of other layouts
  return spec;
}

ModelRegistrar granite{decoder_architecture("GraniteForCausalLM", "granite", granite_spec)};
ModelRegistrar granite_moe{decoder_architecture("GraniteMoeForCausalLM", "granitemoe", granite_moe_spec)};
ModelRegistrar granite_moe_shared{
    decoder_architecture("GraniteMoeSharedForCausalLM", "granitemoeshared", granite_moe_spec)};

}  // namespace
}  // namespace vllm
