// LayerNorm decoders with partial rotary: Phi (one norm feeding parallel attention and MLP, LM-head
// bias), StableLM (per-head q/k LayerNorm weights), Persimmon (interleaved query_key_value, q/k
// LayerNorm, ReLU^2), Nemotron (LayerNorm1P, ReLU^2) and Starcoder2 (biases, sliding window).
#include "models/generic_decoder.h"

namespace vllm {
namespace {

DecoderSpec phi_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  use_layer_norm(spec, config, "layer_norm_eps", 1e-5);
  spec.activation = parse_activation(config, config.get_string("hidden_act", "gelu_new"));
  spec.gated_mlp = false;
  spec.qkv_bias = spec.o_bias = spec.mlp_bias = spec.lm_head_bias = true;
  spec.parallel_residual = spec.shared_input_norm = true;
  set_partial_rotary(spec, config, 0.5);
  if (config.get_bool("qk_layernorm", false)) {
    spec.qk_norm = true;
    spec.qk_norm_norm_kind = NormKind::LayerNorm;
  }
  spec.weights.renames = {{"^model.final_layernorm.", "model.norm."},
                          {".self_attn.dense.", ".self_attn.o_proj."},
                          {".self_attn.q_layernorm.", ".self_attn.q_norm."},
                          {".self_attn.k_layernorm.", ".self_attn.k_norm."},
                          {".mlp.fc1.", ".mlp.up_proj."},
                          {".mlp.fc2.", ".mlp.down_proj."}};
  return spec;
}

DecoderSpec stablelm_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  use_layer_norm(spec, config, "layer_norm_eps", 1e-5);
  spec.qkv_bias = config.get_bool("use_qkv_bias", false);
  spec.o_bias = spec.mlp_bias = false;
  spec.parallel_residual = spec.shared_input_norm = config.get_bool("use_parallel_residual", false);
  set_partial_rotary(spec, config, 0.25);
  if (config.get_bool("qk_layernorm", false)) {
    spec.qk_norm = true;
    spec.qk_norm_kind = QkNorm::PerHeadWeights;
    spec.qk_norm_norm_kind = NormKind::LayerNorm;
  }
  spec.weights.renames = {{".self_attn.q_layernorm.", ".self_attn.q_norm."},
                          {".self_attn.k_layernorm.", ".self_attn.k_norm."}};
  return spec;
}

DecoderSpec persimmon_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  use_layer_norm(spec, config, "layer_norm_eps", 1e-5);
  spec.activation = parse_activation(config, config.get_string("hidden_act", "relu2"));
  spec.gated_mlp = false;
  spec.qkv_bias = spec.o_bias = spec.mlp_bias = true;
  spec.num_kv_heads = spec.num_heads;
  set_partial_rotary(spec, config, 0.5);
  if (config.get_bool("qk_layernorm", true)) {
    spec.qk_norm = true;
    spec.qk_norm_norm_kind = NormKind::LayerNorm;
  }
  int64_t heads = spec.num_heads, head_dim = spec.head_dim;
  auto fix = [heads, head_dim](const Tensor& t) { return deinterleave_qkv(t, heads, 1, head_dim); };
  spec.weights.renames = {{"^model.final_layernorm.", "model.norm."},
                          {".self_attn.query_key_value.", ".self_attn.qkv_proj."},
                          {".self_attn.dense.", ".self_attn.o_proj."},
                          {".self_attn.q_layernorm.", ".self_attn.q_norm."},
                          {".self_attn.k_layernorm.", ".self_attn.k_norm."},
                          {".mlp.dense_h_to_4h.", ".mlp.up_proj."},
                          {".mlp.dense_4h_to_h.", ".mlp.down_proj."}};
  spec.weights.transforms = {{"qkv_proj.weight", fix}, {"qkv_proj.bias", fix}};
  return spec;
}

DecoderSpec nemotron_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  use_layer_norm(spec, config, "norm_eps", 1e-5);
  spec.norm_weight_offset = 1.0f;  // LayerNorm1P: (1 + w)
  spec.activation = parse_activation(config, config.get_string("hidden_act", "relu2"));
  spec.gated_mlp = false;
  set_partial_rotary(spec, config, 0.5);
  return spec;
}

DecoderSpec starcoder2_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/true);
  use_layer_norm(spec, config, "norm_epsilon", 1e-5);
  spec.activation = parse_activation(config, config.get_string("hidden_act", "gelu_pytorch_tanh"));
  spec.gated_mlp = false;
  spec.qkv_bias = spec.o_bias = spec.mlp_bias = config.get_bool("use_bias", true);
  slide_every_layer(spec, config);
  spec.weights.renames = {{".mlp.c_fc.", ".mlp.up_proj."}, {".mlp.c_proj.", ".mlp.down_proj."}};
  return spec;
}

ModelRegistrar phi{decoder_architecture("PhiForCausalLM", "phi", phi_spec)};
ModelRegistrar stablelm{decoder_architecture("StableLmForCausalLM", "stablelm", stablelm_spec)};
ModelRegistrar stablelm_epoch{decoder_architecture("StableLMEpochForCausalLM", "stablelm", stablelm_spec)};
ModelRegistrar persimmon{decoder_architecture("PersimmonForCausalLM", "persimmon", persimmon_spec)};
ModelRegistrar nemotron{decoder_architecture("NemotronForCausalLM", "nemotron", nemotron_spec)};
ModelRegistrar starcoder2{decoder_architecture("Starcoder2ForCausalLM", "starcoder2", starcoder2_spec)};

}  // namespace
}  // namespace vllm
