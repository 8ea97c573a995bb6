// Architectures that are the Llama (or Qwen2) layout with a switch or two: GLM and GLM-4
// (GPT-J rotary on half the head, fused gate_up; GLM-4 adds output norms), Arcee (ReLU^2
// without gating), ERNIE 4.5, HunYuan dense (q/k norm after rotary), and the authors'-code
// names whose weights are Llama's: Aquila, Xverse, InternLM, InternLM3, GritLM, MiMo, Orion
// (LayerNorm), TeleFLM (muP multipliers) and fairseq2's Llama checkpoints.
#include <cstring>

#include "core/error.h"
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

// Orion: Llama with nn.LayerNorm (weight and bias) under rms_norm_eps (vLLM's orion.py).
DecoderSpec orion_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  use_layer_norm(spec, config, "rms_norm_eps", 1e-5);
  return spec;
}

// TeleFLM: Llama with muP: embeddings x input_mult, logits x output_mult / mup_scale_factor.
DecoderSpec teleflm_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  if (config.get_bool("use_mup", false)) {
    spec.embedding_scale = static_cast<float>(config.get_float("input_mult"));
    spec.logits_scale = static_cast<float>(config.get_float("output_mult") / config.get_float("mup_scale_factor"));
  }
  return spec;
}

// fairseq2 stores each q/k head's rows in interleaved-pair rotary order (x0, x1 rotate
// together); Llama's rotate_half pairs row i with row i + head_dim / 2. Row h*d + a*d/2 + i of the
// result is row h*d + 2i + a of the checkpoint (vLLM's reshape_fairseq2_weights permute).
Tensor fairseq2_rotary_rows(const Tensor& fused, int64_t q_heads, int64_t kv_heads, int64_t head_dim) {
  Tensor source = fused.contiguous();
  Tensor out = source.clone();
  size_t row_bytes = source.nbytes() / static_cast<size_t>(source.size(0));
  const char* in = static_cast<const char*>(source.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  for (int64_t h = 0; h < q_heads + kv_heads; ++h)  // q heads, then k heads; v rows stay
    for (int64_t a = 0; a < 2; ++a)
      for (int64_t i = 0; i < head_dim / 2; ++i)
        std::memcpy(dst + static_cast<size_t>(h * head_dim + a * head_dim / 2 + i) * row_bytes,
                    in + static_cast<size_t>(h * head_dim + 2 * i + a) * row_bytes, row_bytes);
  return out;
}

// Fairseq2LlamaForCausalLM: Llama under fairseq2's names. fairseq2 saves `model.pt` (a pickled
// {"model_key": name, name: state_dict}); vllm-cpp reads safetensors, so such a checkpoint is
// converted to safetensors first (names and layouts kept).
DecoderSpec fairseq2_llama_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  spec.weights.renames = {{"^decoder_frontend.embed.", "model.embed_tokens."},
                          {"^final_proj.", "lm_head."},
                          {"^decoder.layer_norm.", "model.norm."},
                          {"^decoder.", "model."},
                          {".self_attn_layer_norm.", ".input_layernorm."},
                          {".ffn_layer_norm.", ".post_attention_layernorm."},
                          {".self_attn.output_proj.", ".self_attn.o_proj."},
                          {".ffn.gate_proj.", ".mlp.gate_proj."},
                          {".ffn.inner_proj.", ".mlp.up_proj."},
                          {".ffn.output_proj.", ".mlp.down_proj."}};
  int64_t heads = spec.num_heads, kv_heads = spec.num_kv_heads, head_dim = spec.head_dim;
  spec.weights.transforms = {{"qkv_proj.weight", [heads, kv_heads, head_dim](const Tensor& t) {
                                return fairseq2_rotary_rows(t, heads, kv_heads, head_dim);
                              }}};
  return spec;
}

ModelRegistrar glm{decoder_architecture("GlmForCausalLM", "glm", glm_spec)};
ModelRegistrar glm4{decoder_architecture("Glm4ForCausalLM", "glm4", glm4_spec)};
ModelRegistrar arcee{decoder_architecture("ArceeForCausalLM", "arcee", arcee_spec)};
ModelRegistrar ernie{decoder_architecture("Ernie4_5_ForCausalLM", "ernie4_5", ernie4_5_spec)};
ModelRegistrar ernie_hf{decoder_architecture("Ernie4_5ForCausalLM", "ernie4_5", ernie4_5_spec)};
ModelRegistrar hunyuan{decoder_architecture("HunYuanDenseV1ForCausalLM", "hunyuan_v1_dense", hunyuan_dense_spec)};
ModelRegistrar aquila{decoder_architecture("AquilaForCausalLM", "llama", llama_spec)};
ModelRegistrar aquila_model{decoder_architecture("AquilaModel", "llama", llama_spec)};
ModelRegistrar xverse{decoder_architecture("XverseForCausalLM", "llama", llama_spec)};
ModelRegistrar gritlm{decoder_architecture("GritLM", "llama", llama_spec)};
ModelRegistrar internlm{decoder_architecture("InternLMForCausalLM", "internlm", internlm_spec)};
ModelRegistrar internlm3{decoder_architecture("InternLM3ForCausalLM", "internlm3", internlm3_spec)};
ModelRegistrar orion{decoder_architecture("OrionForCausalLM", "orion", orion_spec)};
ModelRegistrar teleflm{decoder_architecture("TeleFLMForCausalLM", "teleflm", teleflm_spec)};
ModelRegistrar fairseq2{decoder_architecture("Fairseq2LlamaForCausalLM", "fairseq2_llama", fairseq2_llama_spec)};
ModelRegistrar mimo{decoder_architecture("MiMoForCausalLM", "mimo", mimo_spec)};

}  // namespace
}  // namespace vllm
