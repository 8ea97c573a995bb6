// Architectures that are the Llama (or Qwen2) layout with a switch or two: GLM and GLM-4
// (GPT-J rotary on half the head, fused gate_up; GLM-4 adds output norms), Arcee (ReLU^2
// without gating), ERNIE 4.5, HunYuan dense (q/k norm after rotary), and the authors'-code
// names whose weights are Llama's: Aquila, Xverse, InternLM, InternLM3, GritLM, MiMo.
#include "models/generic_decoder.h"

namespace vllm {
namespace {

DecoderSpec glm_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  spec.qkv_bias = config.get_bool("attention_bias", true);
  spec.o_bias = false;
  spec.rope_neox = false;
  set_partial_rotary(spec, config, 0.5);
  return spec;
}

DecoderSpec glm4_spec(const ModelConfig& config) {
  DecoderSpec spec = glm_spec(config);
  spec.sandwich_norms = true;
  spec.weights.renames = {{".post_attention_layernorm.", ".pre_feedforward_layernorm."},
                          {".post_self_attn_layernorm.", ".post_attention_layernorm."},
                          {".post_mlp_layernorm.", ".post_feedforward_layernorm."}};
  return spec;
}

DecoderSpec arcee_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  spec.activation = parse_activation(config, config.get_string("hidden_act", "relu2"));
  spec.gated_mlp = false;
  return spec;
}

DecoderSpec ernie4_5_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/true);
  spec.qkv_bias = spec.o_bias = spec.mlp_bias = config.get_bool("use_bias", false);
  spec.rope_neox = false;
  return spec;
}

DecoderSpec hunyuan_dense_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  if (config.get_bool("use_qk_norm", true)) {
    spec.qk_norm = true;
    spec.qk_norm_after_rotary = true;
  }
  spec.weights.renames = {{".self_attn.query_layernorm.", ".self_attn.q_norm."},
                          {".self_attn.key_layernorm.", ".self_attn.k_norm."}};
  return spec;
}

DecoderSpec llama_spec(const ModelConfig& config) { return llama_like_spec(config, /*default_tie=*/false); }

// InternLM: `bias` puts a bias on q, k, v and o.
DecoderSpec internlm_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, false);
  spec.qkv_bias = spec.o_bias = config.get_bool("bias", true);
  return spec;
}

// InternLM3: `qkv_bias` on q, k, v; `bias` on o.
DecoderSpec internlm3_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, false);
  spec.qkv_bias = config.get_bool("qkv_bias", false);
  spec.o_bias = config.get_bool("bias", false);
  return spec;
}

// MiMo: Qwen2 with multi-token-prediction layers (unused for plain generation).
DecoderSpec mimo_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, false);
  spec.qkv_bias = true;
  spec.o_bias = false;
  spec.weights.ignored_prefixes = {"model.mtp_layers."};
  return spec;
}

const std::vector<Task> kGenerate = {Task::Generate};

ModelRegistrar glm{{"GlmForCausalLM", "glm", kGenerate, {}, decoder_builder(glm_spec), decoder_describer(glm_spec)}};
ModelRegistrar glm4{{"Glm4ForCausalLM", "glm4", kGenerate, {}, decoder_builder(glm4_spec), decoder_describer(glm4_spec)}};
ModelRegistrar arcee{{"ArceeForCausalLM", "arcee", kGenerate, {}, decoder_builder(arcee_spec), decoder_describer(arcee_spec)}};
ModelRegistrar ernie{{"Ernie4_5_ForCausalLM", "ernie4_5", kGenerate, {}, decoder_builder(ernie4_5_spec), decoder_describer(ernie4_5_spec)}};
ModelRegistrar ernie_hf{{"Ernie4_5ForCausalLM", "ernie4_5", kGenerate, {}, decoder_builder(ernie4_5_spec), decoder_describer(ernie4_5_spec)}};
ModelRegistrar hunyuan{{"HunYuanDenseV1ForCausalLM", "hunyuan_v1_dense", kGenerate, {}, decoder_builder(hunyuan_dense_spec), decoder_describer(hunyuan_dense_spec)}};
ModelRegistrar aquila{{"AquilaForCausalLM", "llama", kGenerate, {}, decoder_builder(llama_spec), decoder_describer(llama_spec)}};
ModelRegistrar aquila_model{{"AquilaModel", "llama", kGenerate, {}, decoder_builder(llama_spec), decoder_describer(llama_spec)}};
ModelRegistrar xverse{{"XverseForCausalLM", "llama", kGenerate, {}, decoder_builder(llama_spec), decoder_describer(llama_spec)}};
ModelRegistrar gritlm{{"GritLM", "llama", kGenerate, {}, decoder_builder(llama_spec), decoder_describer(llama_spec)}};
ModelRegistrar internlm{{"InternLMForCausalLM", "internlm", kGenerate, {}, decoder_builder(internlm_spec), decoder_describer(internlm_spec)}};
ModelRegistrar internlm3{{"InternLM3ForCausalLM", "internlm3", kGenerate, {}, decoder_builder(internlm3_spec), decoder_describer(internlm3_spec)}};
ModelRegistrar mimo{{"MiMoForCausalLM", "mimo", kGenerate, {}, decoder_builder(mimo_spec), decoder_describer(mimo_spec)}};

}  // namespace
}  // namespace vllm
