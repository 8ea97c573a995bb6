// Architectures whose modeling code ships with the checkpoint (trust_remote_code): each is a
// Llama / Qwen2 / GLM block under its authors' weight names, fused layouts and config keys. Their
// config.json is first rewritten in the transformers names (`with_defaults`), then the spec is the
// twin's. Fixtures: tools/authors_code_reference.py.
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "models/generic_decoder.h"

namespace vllm {
namespace {

using json = nlohmann::json;

// The config with each of `fields` set where the authors' config does not already have it.
ModelConfig with_defaults(const ModelConfig& config, const json& fields) {
  json raw = config.raw();
  for (const auto& [key, value] : fields.items())
    if (!raw.contains(key) || raw[key].is_null()) raw[key] = value;
  return ModelConfig::from_json(raw, config.source());
}

json field(const ModelConfig& config, const char* key) {
  return config.raw().contains(key) ? config.raw()[key] : json();
}

// InternLM2: wqkv grouped per kv head as [kv_heads, q_per_kv + 2, head_dim].
DecoderSpec internlm2_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  spec.qkv_bias = spec.o_bias = config.get_bool("bias", true);
  int64_t kv = spec.num_kv_heads, groups = spec.num_heads / spec.num_kv_heads, head_dim = spec.head_dim;
  auto fix = [kv, groups, head_dim](const Tensor& t) { return deinterleave_qkv(t, kv, groups, head_dim); };
  spec.weights.renames = {{"^model.tok_embeddings.", "model.embed_tokens."},
                          {"^output.", "lm_head."},
                          {".attention.wqkv.", ".self_attn.qkv_proj."},
                          {".attention.wo.", ".self_attn.o_proj."},
                          {".feed_forward.w1.", ".mlp.gate_proj."},
                          {".feed_forward.w3.", ".mlp.up_proj."},
                          {".feed_forward.w2.", ".mlp.down_proj."},
                          {".attention_norm.", ".input_layernorm."},
                          {".ffn_norm.", ".post_attention_layernorm."}};
  spec.weights.transforms = {{"qkv_proj.weight", fix}, {"qkv_proj.bias", fix}};
  return spec;
}

// Baichuan 2's NormHead: the LM head's rows are L2-normalised (vLLM keys it on the vocab size).
Tensor normalize_rows(const Tensor& weight) {
  Tensor rows = weight.to(DType::F32).contiguous();
  float* data = rows.data<float>();
  int64_t n = rows.size(0), k = rows.size(1);
  for (int64_t r = 0; r < n; ++r) {
    double sum = 0;
    for (int64_t c = 0; c < k; ++c) sum += static_cast<double>(data[r * k + c]) * data[r * k + c];
    float scale = static_cast<float>(1.0 / std::max(std::sqrt(sum), 1e-12));
    for (int64_t c = 0; c < k; ++c) data[r * k + c] *= scale;
  }
  return rows.to(weight.dtype());
}

DecoderSpec baichuan_base(const ModelConfig& config, bool rotary) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  spec.weights.renames = {{".self_attn.W_pack.", ".self_attn.qkv_proj."}};
  if (spec.vocab_size == 125696) spec.weights.transforms = {{"lm_head.weight", normalize_rows}};
  if (!rotary) {  // Baichuan-13B: ALiBi with Bloom's slopes in place of rotary
    spec.rotary_dim = 0;
    spec.alibi = true;
    spec.alibi_slopes = bloom_alibi_slopes(spec.num_heads);
  }
  return spec;
}

// BaiChuanForCausalLM (Baichuan-7B) rotates; BaichuanForCausalLM rotates at hidden 4096 (7B) and
// uses ALiBi otherwise (13B), as the authors' two modeling files.
DecoderSpec baichuan7b_spec(const ModelConfig& config) { return baichuan_base(config, true); }
DecoderSpec baichuan_spec(const ModelConfig& config) { return baichuan_base(config, config.hidden_size() == 4096); }

// Qwen (1): intermediate_size is twice the MLP width; w2 gates, w1 is the up projection.
DecoderSpec qwen_spec(const ModelConfig& raw_config) {
  ModelConfig config = with_defaults(
      raw_config, {{"intermediate_size", raw_config.get_int("intermediate_size") / 2},
                   {"rms_norm_eps", field(raw_config, "layer_norm_epsilon")},
                   {"head_dim", field(raw_config, "kv_channels")},
                   {"rope_theta", raw_config.get_float("rotary_emb_base", 10000.0)},
                   {"partial_rotary_factor", raw_config.get_float("rotary_pct", 1.0)}});
  json raw = config.raw();
  raw["intermediate_size"] = raw_config.get_int("intermediate_size") / 2;  // always halved
  config = ModelConfig::from_json(raw, raw_config.source());
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  spec.qkv_bias = true;
  spec.o_bias = spec.mlp_bias = !config.get_bool("no_bias", true);
  spec.weights.renames = {{"^transformer.wte.", "model.embed_tokens."},
                          {"^transformer.h.", "model.layers."},
                          {"^transformer.ln_f.", "model.norm."},
                          {".attn.c_attn.", ".self_attn.qkv_proj."},
                          {".attn.c_proj.", ".self_attn.o_proj."},
                          {".mlp.w2.", ".mlp.gate_proj."},
                          {".mlp.w1.", ".mlp.up_proj."},
                          {".mlp.c_proj.", ".mlp.down_proj."},
                          {".ln_1.", ".input_layernorm."},
                          {".ln_2.", ".post_attention_layernorm."}};
  return spec;
}

// ChatGLM 2/3 and GLM-4 (THUDM code): multi-query groups, GPT-J rotary on half of each head with
// theta 10000 * rope_ratio, fused gate|up, q|k|v with bias.
DecoderSpec chatglm_spec(const ModelConfig& raw_config) {
  VLLM_CHECK(!raw_config.get_bool("apply_residual_connection_post_layernorm", false) &&
                 raw_config.get_bool("post_layer_norm", true),
             Unsupported, raw_config.source(),
             ": ChatGLM with apply_residual_connection_post_layernorm or without post_layer_norm is not supported");
  int64_t heads = raw_config.num_attention_heads();
  ModelConfig config = with_defaults(
      raw_config,
      {{"intermediate_size", field(raw_config, "ffn_hidden_size")},
       {"head_dim", field(raw_config, "kv_channels")},
       {"num_key_value_heads", raw_config.get_bool("multi_query_attention", false)
                                   ? raw_config.get_int("multi_query_group_num", 1) : heads},
       {"rms_norm_eps", raw_config.get_float("layernorm_epsilon", 1e-5)},
       {"max_position_embeddings", field(raw_config, "seq_length")},
       {"rope_theta", 10000.0 * raw_config.get_float("rope_ratio", 1.0)}});
  if (raw_config.has("padded_vocab_size")) {  // the embedding and output rows, whatever vocab_size says
    json raw = config.raw();
    raw["vocab_size"] = raw_config.get_int("padded_vocab_size");
    config = ModelConfig::from_json(raw, raw_config.source());
  }
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  if (!config.get_bool("rmsnorm", true)) spec.norm_kind = NormKind::LayerNorm;
  spec.qkv_bias = config.get_bool("add_qkv_bias", false);
  spec.o_bias = spec.mlp_bias = config.get_bool("add_bias_linear", false);
  spec.rope_neox = false;
  spec.rotary_dim = spec.head_dim / 2;
  spec.weights.renames = {{"^transformer.embedding.word_embeddings.", "model.embed_tokens."},
                          {"^transformer.encoder.layers.", "model.layers."},
                          {"^transformer.encoder.final_layernorm.", "model.norm."},
                          {"^transformer.output_layer.", "lm_head."},
                          {".self_attention.query_key_value.", ".self_attn.qkv_proj."},
                          {".self_attention.dense.", ".self_attn.o_proj."},
                          {".mlp.dense_h_to_4h.", ".mlp.gate_up_proj."},
                          {".mlp.dense_4h_to_h.", ".mlp.down_proj."}};
  spec.weights.ignored_suffixes = {"rotary_pos_emb.inv_freq"};
  return spec;
}

// EXAONE 3: Llama blocks under GPT-2-like names.
DecoderSpec exaone_spec(const ModelConfig& raw_config) {
  ModelConfig config = with_defaults(raw_config, {{"rms_norm_eps", raw_config.get_float("layer_norm_epsilon", 1e-5)},
                                                  {"hidden_act", raw_config.get_string("activation_function", "silu")}});
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/true);
  spec.weights.renames = {{"^transformer.wte.", "model.embed_tokens."},
                          {"^transformer.h.", "model.layers."},
                          {"^transformer.ln_f.", "model.norm."},
                          {".attn.attention.out_proj.", ".self_attn.o_proj."},
                          {".attn.attention.", ".self_attn."},
                          {".mlp.c_fc_0.", ".mlp.gate_proj."},
                          {".mlp.c_fc_1.", ".mlp.up_proj."},
                          {".mlp.c_proj.", ".mlp.down_proj."},
                          {".ln_1.", ".input_layernorm."},
                          {".ln_2.", ".post_attention_layernorm."}};
  return spec;
}

// MiniCPM: Llama with muP scales (Granite's multipliers under other names).
DecoderSpec minicpm_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/true);
  spec.embedding_scale = static_cast<float>(config.get_float("scale_emb", 1.0));
  if (config.has("scale_depth"))
    spec.residual_multiplier =
        static_cast<float>(config.get_float("scale_depth") / std::sqrt(static_cast<double>(spec.num_layers)));
  if (config.has("dim_model_base"))
    spec.logits_scale = static_cast<float>(config.get_float("dim_model_base") / static_cast<double>(spec.hidden_size));
  return spec;
}

// `fused` [parts * in, out]: Conv1D weights [in, out] concatenated along dim 0 by the packed
// mapping; each part transposed, the result [parts * out, in].
Tensor transpose_parts(const Tensor& fused, int64_t parts) {
  Tensor source = fused.contiguous();
  int64_t rows = source.size(0) / parts;
  std::vector<Tensor> pieces;
  for (int64_t p = 0; p < parts; ++p) pieces.push_back(transpose_2d(source.slice(0, p * rows, (p + 1) * rows)));
  Tensor out = Tensor::empty({parts * source.size(1), rows}, source.dtype());
  char* dst = static_cast<char*>(out.raw_data());
  for (const Tensor& piece : pieces) {
    std::memcpy(dst, piece.raw_data(), piece.nbytes());
    dst += piece.nbytes();
  }
  return out;
}

// weight x factor, kept in f32 (rounding back to bf16 would cost ~1e-3 in logprobs).
Tensor scaled(const Tensor& weight, float factor) {
  // A copy: an f32 checkpoint's tensor is a view of the read-only mapped file.
  Tensor out = weight.dtype() == DType::F32 ? weight.clone() : weight.to(DType::F32).contiguous();
  float* data = out.data<float>();
  for (int64_t i = 0; i < out.numel(); ++i) data[i] *= factor;
  return out;
}

// JAIS (inceptionai modeling_jais.py): GPT-2 blocks (LayerNorm, Conv1D weights, biases) with
// SwiGLU (c_fc * silu(c_fc2)), ALiBi or learned positions and muP scales. Newer configs spell
// them embeddings_scale / width_scale / scale_qk_dot_by_d, older ones mup_embeddings_scale /
// mup_output_alpha * mup_width_scale / mup_scale_qk_dot_by_d (vLLM's jais.py reads both).
DecoderSpec jais_spec(const ModelConfig& config) {
  int64_t hidden = config.hidden_size();
  DecoderSpec spec = dense_spec(config, config.find_int("n_inner").value_or(4 * hidden), /*default_tie=*/true);
  use_layer_norm(spec, config, "layer_norm_epsilon", 1e-5);
  std::string act = config.get_string("activation_function", "gelu_new");
  spec.gated_mlp = act == "swiglu";
  spec.activation = spec.gated_mlp ? ops::Activation::Silu : parse_activation(config, act);
  spec.qkv_bias = spec.o_bias = spec.mlp_bias = true;
  spec.rotary_dim = 0;
  float embeddings_scale = static_cast<float>(
      config.find_float("embeddings_scale").value_or(config.get_float("mup_embeddings_scale", 1.0)));
  spec.embedding_scale = embeddings_scale;
  spec.logits_scale = static_cast<float>(config.find_float("width_scale").value_or(
      config.get_float("mup_output_alpha", 1.0) * config.get_float("mup_width_scale", 1.0)));
  bool by_d = config.has("scale_qk_dot_by_d") ? config.get_bool("scale_qk_dot_by_d", false)
                                               : config.get_bool("mup_scale_qk_dot_by_d", false);
  if (by_d) spec.attention_scale = 1.0f / static_cast<float>(spec.head_dim);
  if (config.get_string("position_embedding_type", "learned") == "alibi") {
    spec.alibi = true;
    spec.alibi_slopes = bloom_alibi_slopes(spec.num_heads);  // JAIS's _get_alibi_slopes equals Bloom's
  } else {
    spec.learned_positions = true;
    // JAIS scales (tokens + positions); the decoder scales the tokens before adding positions.
    spec.weights.transforms.push_back(
        {"embed_positions.weight", [embeddings_scale](const Tensor& t) { return scaled(t, embeddings_scale); }});
  }
  spec.weights.renames = {{"^transformer.", ""},
                          {"^wte.", "model.embed_tokens."},
                          {"^wpe.", "model.embed_positions."},
                          {"^h.", "model.layers."},
                          {"^ln_f.", "model.norm."},
                          {".ln_1.", ".input_layernorm."},
                          {".ln_2.", ".post_attention_layernorm."},
                          {".attn.c_attn.", ".self_attn.qkv_proj."},
                          {".attn.c_proj.", ".self_attn.o_proj."},
                          {".mlp.c_fc2.", ".mlp.gate_proj."},
                          {".mlp.c_fc.", ".mlp.up_proj."},
                          {".mlp.c_proj.", ".mlp.down_proj."}};
  for (const char* suffix : {"qkv_proj.weight", "o_proj.weight", "down_proj.weight", "mlp.up_proj.weight"})
    spec.weights.transforms.push_back({suffix, transpose_2d});  // Conv1D: [in, out]
  spec.weights.transforms.push_back({"gate_up_proj.weight", [](const Tensor& t) { return transpose_parts(t, 2); }});
  spec.weights.ignored_suffixes = {".attn.bias", ".attn.masked_bias", "relative_pe.slopes"};
  return spec;
}

ModelRegistrar internlm2{decoder_architecture("InternLM2ForCausalLM", "internlm2", internlm2_spec)};
ModelRegistrar baichuan7b{decoder_architecture("BaiChuanForCausalLM", "baichuan", baichuan7b_spec)};
ModelRegistrar baichuan{decoder_architecture("BaichuanForCausalLM", "baichuan", baichuan_spec)};
ModelRegistrar qwen{decoder_architecture("QWenLMHeadModel", "qwen", qwen_spec)};
ModelRegistrar chatglm{decoder_architecture("ChatGLMModel", "chatglm", chatglm_spec)};
ModelRegistrar chatglm_cg{decoder_architecture("ChatGLMForConditionalGeneration", "chatglm", chatglm_spec)};
ModelRegistrar exaone{decoder_architecture("ExaoneForCausalLM", "exaone", exaone_spec)};
ModelRegistrar jais{decoder_architecture("JAISLMHeadModel", "jais", jais_spec)};
ModelRegistrar minicpm{decoder_architecture("MiniCPMForCausalLM", "minicpm", minicpm_spec)};

}  // namespace
}  // namespace vllm
