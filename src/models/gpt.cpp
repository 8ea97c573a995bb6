// The GPT lineage with absolute or rotary positions and LayerNorm: GPT-2 (Conv1D weights stored
// [in, out]), GPTBigCode (multi-query), GPT-J (parallel residual, GPT-J rotary, LM-head bias),
// GPT-NeoX (parallel residual, partial rotary, per-head interleaved query_key_value) and OPT
// (learned positions offset by 2, ReLU MLP).
#include "core/error.h"
#include "models/generic_decoder.h"

namespace vllm {
namespace {

// GPT-2 / GPTBigCode: n_embd, n_inner (4 x n_embd when null), learned positions, biases everywhere.
DecoderSpec gpt2_like(const ModelConfig& config, const char* default_act) {
  int64_t hidden = config.hidden_size();
  DecoderSpec spec = dense_spec(config, config.find_int("n_inner").value_or(4 * hidden), /*default_tie=*/true);
  use_layer_norm(spec, config, "layer_norm_epsilon", 1e-5);
  spec.activation = parse_activation(config, config.get_string("activation_function", default_act));
  spec.gated_mlp = false;
  spec.qkv_bias = spec.o_bias = spec.mlp_bias = true;
  spec.learned_positions = true;
  spec.rotary_dim = 0;
  if (!config.get_bool("scale_attn_weights", true)) spec.attention_scale = 1.0f;
  VLLM_CHECK(!config.get_bool("scale_attn_by_inverse_layer_idx", false), Unsupported, config.source(),
             ": scale_attn_by_inverse_layer_idx is not supported");
  spec.weights.renames = {{"^transformer.", ""},  // OpenAI's GPT-2 checkpoints have no prefix
                          {"^wte.", "model.embed_tokens."},
                          {"^wpe.", "model.embed_positions."},
                          {"^h.", "model.layers."},
                          {"^ln_f.", "model.norm."},
                          {".ln_1.", ".input_layernorm."},
                          {".ln_2.", ".post_attention_layernorm."},
                          {".attn.c_attn.", ".self_attn.qkv_proj."},
                          {".attn.c_proj.", ".self_attn.o_proj."},
                          {".mlp.c_fc.", ".mlp.up_proj."},
                          {".mlp.c_proj.", ".mlp.down_proj."}};
  spec.weights.ignored_suffixes = {".attn.bias", ".attn.masked_bias"};
  return spec;
}

DecoderSpec gpt2_spec(const ModelConfig& config) {
  DecoderSpec spec = gpt2_like(config, "gelu_new");
  for (const char* suffix : {"qkv_proj.weight", "o_proj.weight", "up_proj.weight", "down_proj.weight"})
    spec.weights.transforms.push_back({suffix, transpose_2d});  // Conv1D: [in, out]
  return spec;
}

DecoderSpec gpt_bigcode_spec(const ModelConfig& config) {
  DecoderSpec spec = gpt2_like(config, "gelu_pytorch_tanh");
  if (config.get_bool("multi_query", true)) {
    spec.num_kv_heads = 1;  // c_attn: q | k | v
  } else {                  // c_attn: per head [q, k, v]
    int64_t heads = spec.num_heads, head_dim = spec.head_dim;
    auto fix = [heads, head_dim](const Tensor& t) { return deinterleave_qkv(t, heads, 1, head_dim); };
    spec.weights.transforms = {{"qkv_proj.weight", fix}, {"qkv_proj.bias", fix}};
  }
  return spec;
}

DecoderSpec gptj_spec(const ModelConfig& config) {
  int64_t hidden = config.hidden_size();
  DecoderSpec spec = dense_spec(config, config.find_int("n_inner").value_or(4 * hidden), /*default_tie=*/false);
  use_layer_norm(spec, config, "layer_norm_epsilon", 1e-5);
  spec.activation = parse_activation(config, config.get_string("activation_function", "gelu_new"));
  spec.gated_mlp = false;
  spec.mlp_bias = true;
  spec.lm_head_bias = true;
  spec.parallel_residual = spec.shared_input_norm = true;
  spec.rope_neox = false;
  spec.rotary_dim = config.find_int("rotary_dim").value_or(spec.head_dim);
  spec.weights.renames = {{"^transformer.wte.", "model.embed_tokens."},
                          {"^transformer.h.", "model.layers."},
                          {"^transformer.ln_f.", "model.norm."},
                          {".ln_1.", ".input_layernorm."},
                          {".attn.out_proj.", ".self_attn.o_proj."},
                          {".attn.", ".self_attn."},
                          {".mlp.fc_in.", ".mlp.up_proj."},
                          {".mlp.fc_out.", ".mlp.down_proj."}};
  spec.weights.ignored_suffixes = {".attn.bias", ".attn.masked_bias"};
  return spec;
}

DecoderSpec gpt_neox_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  use_layer_norm(spec, config, "layer_norm_eps", 1e-5);
  spec.activation = parse_activation(config, config.get_string("hidden_act", "gelu"));
  spec.gated_mlp = false;
  spec.qkv_bias = spec.o_bias = config.get_bool("attention_bias", true);
  spec.mlp_bias = true;
  spec.num_kv_heads = spec.num_heads;
  spec.parallel_residual = config.get_bool("use_parallel_residual", true);
  set_partial_rotary(spec, config, 0.25);
  int64_t heads = spec.num_heads, head_dim = spec.head_dim;
  auto fix = [heads, head_dim](const Tensor& t) { return deinterleave_qkv(t, heads, 1, head_dim); };
  spec.weights.renames = {{"^gpt_neox.embed_in.", "model.embed_tokens."},
                          {"^gpt_neox.layers.", "model.layers."},
                          {"^gpt_neox.final_layer_norm.", "model.norm."},
                          {"^embed_out.", "lm_head."},
                          {".attention.query_key_value.", ".self_attn.qkv_proj."},
                          {".attention.dense.", ".self_attn.o_proj."},
                          {".mlp.dense_h_to_4h.", ".mlp.up_proj."},
                          {".mlp.dense_4h_to_h.", ".mlp.down_proj."}};
  spec.weights.transforms = {{"qkv_proj.weight", fix}, {"qkv_proj.bias", fix}};
  spec.weights.ignored_suffixes = {"rotary_emb.inv_freq", ".attention.bias", ".attention.masked_bias"};
  return spec;
}

DecoderSpec opt_spec(const ModelConfig& config) {
  DecoderSpec spec = dense_spec(config, config.get_int("ffn_dim"), /*default_tie=*/true);
  VLLM_CHECK(config.get_bool("do_layer_norm_before", true), Unsupported, config.source(),
             ": OPT with do_layer_norm_before=false (post-norm, OPT-350m) is not supported");
  VLLM_CHECK(config.get_int("word_embed_proj_dim", spec.hidden_size) == spec.hidden_size, Unsupported,
             config.source(), ": OPT with word_embed_proj_dim != hidden_size (project_in/out) is not supported");
  use_layer_norm(spec, config, "layer_norm_eps", 1e-5);
  spec.norm_affine = config.get_bool("layer_norm_elementwise_affine", true);
  spec.activation = parse_activation(config, config.get_string("activation_function", "relu"));
  spec.gated_mlp = false;
  spec.qkv_bias = spec.o_bias = spec.mlp_bias = config.get_bool("enable_bias", true);
  spec.num_kv_heads = spec.num_heads;
  spec.learned_positions = true;
  spec.position_offset = 2;
  spec.rotary_dim = 0;
  spec.weights.renames = {{"^decoder.", "model.decoder."},
                          {"^model.decoder.embed_tokens.", "model.embed_tokens."},
                          {"^model.decoder.embed_positions.", "model.embed_positions."},
                          {"^model.decoder.final_layer_norm.", "model.norm."},
                          {"^model.decoder.layers.", "model.layers."},
                          {".self_attn_layer_norm.", ".input_layernorm."},
                          {".final_layer_norm.", ".post_attention_layernorm."},
                          {".self_attn.out_proj.", ".self_attn.o_proj."},
                          {".fc1.", ".mlp.up_proj."},
                          {".fc2.", ".mlp.down_proj."}};
  return spec;
}

ModelRegistrar gpt2{decoder_architecture("GPT2LMHeadModel", "gpt2", gpt2_spec)};
ModelRegistrar gpt_bigcode{decoder_architecture("GPTBigCodeForCausalLM", "gpt_bigcode", gpt_bigcode_spec)};
ModelRegistrar gptj{decoder_architecture("GPTJForCausalLM", "gptj", gptj_spec)};
ModelRegistrar gpt_neox{decoder_architecture("GPTNeoXForCausalLM", "gpt_neox", gpt_neox_spec)};
ModelRegistrar opt{decoder_architecture("OPTForCausalLM", "opt", opt_spec)};

}  // namespace
}  // namespace vllm
