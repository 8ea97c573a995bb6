// Bloom, Falcon and MPT: LayerNorm decoders with fused query_key_value projections in their own
// layouts and ALiBi (Bloom, MPT) or rotary (Falcon) positions.
#include "core/error.h"
#include "core/logging.h"
#include "models/generic_decoder.h"

namespace vllm {
namespace {

std::function<Tensor(const Tensor&)> qkv_fix(int64_t kv_heads, int64_t q_per_kv, int64_t head_dim) {
  return [=](const Tensor& t) { return deinterleave_qkv(t, kv_heads, q_per_kv, head_dim); };
}

DecoderSpec bloom_spec(const ModelConfig& config) {
  int64_t hidden = config.hidden_size();
  DecoderSpec spec = dense_spec(config, 4 * hidden, /*default_tie=*/true);
  VLLM_CHECK(!config.get_bool("apply_residual_connection_post_layernorm", false), Unsupported, config.source(),
             ": apply_residual_connection_post_layernorm is not supported");
  use_layer_norm(spec, config, "layer_norm_epsilon", 1e-5);
  spec.activation = ops::Activation::GeluTanh;  // bloom_gelu_forward: the tanh approximation
  spec.gated_mlp = false;
  spec.qkv_bias = spec.o_bias = spec.mlp_bias = true;
  spec.num_kv_heads = spec.num_heads;
  spec.embedding_norm = true;
  spec.rotary_dim = 0;
  spec.alibi = true;
  spec.alibi_slopes = bloom_alibi_slopes(spec.num_heads);
  spec.weights.renames = {{"^transformer.", ""},  // bigscience checkpoints have no prefix
                          {"^word_embeddings_layernorm.", "model.embed_layernorm."},
                          {"^word_embeddings.", "model.embed_tokens."},
                          {"^h.", "model.layers."},
                          {"^ln_f.", "model.norm."},
                          {".self_attention.query_key_value.", ".self_attn.qkv_proj."},
                          {".self_attention.dense.", ".self_attn.o_proj."},
                          {".mlp.dense_h_to_4h.", ".mlp.up_proj."},
                          {".mlp.dense_4h_to_h.", ".mlp.down_proj."}};
  auto fix = qkv_fix(spec.num_heads, 1, spec.head_dim);
  spec.weights.transforms = {{"qkv_proj.weight", fix}, {"qkv_proj.bias", fix}};
  return spec;
}

// Falcon: the new decoder (ln_attn / ln_mlp, grouped qkv), the 7B layout (multi-query, one norm
// feeding parallel attention and MLP) and the serial layout with per-head interleaved qkv.
DecoderSpec falcon_spec(const ModelConfig& config) {
  int64_t hidden = config.hidden_size();
  DecoderSpec spec = dense_spec(config, config.get_int("ffn_hidden_size", 4 * hidden), /*default_tie=*/true);
  use_layer_norm(spec, config, "layer_norm_epsilon", 1e-5);
  spec.activation = parse_activation(config, config.get_string("activation", "gelu"));
  spec.gated_mlp = false;
  spec.qkv_bias = spec.o_bias = spec.mlp_bias = config.get_bool("bias", false);
  bool new_arch = config.get_bool("new_decoder_architecture", false);
  int64_t heads = spec.num_heads, head_dim = spec.head_dim;
  if (new_arch) {
    spec.num_kv_heads = config.get_int("num_kv_heads", heads);
    spec.parallel_residual = true;
    spec.shared_input_norm = config.get_int("num_ln_in_parallel_attn", 2) == 1;
  } else {
    spec.num_kv_heads = config.get_bool("multi_query", true) ? 1 : heads;
    spec.parallel_residual = spec.shared_input_norm = config.get_bool("parallel_attn", true);
  }
  if (config.get_bool("alibi", false)) {
    // Falcon-RW: Bloom's bias added before the scores are scaled, so the slopes carry the scale
    // (vLLM's slopes * inv_norm_factor; HF's SDPA path). transformers 5.x's eager path adds it
    // twice (once folded into its causal mask): make_fixtures.py builds this fixture with SDPA.
    spec.rotary_dim = 0;
    spec.alibi = true;
    spec.alibi_slopes = bloom_alibi_slopes(heads);
    for (float& slope : spec.alibi_slopes) slope *= spec.attention_scale;
  }
  VLLM_CHECK(heads % spec.num_kv_heads == 0, InvalidArgument, config.source(), ": num_kv_heads ",
             spec.num_kv_heads, " does not divide num_attention_heads ", heads);
  spec.weights.renames = {{"^transformer.word_embeddings.", "model.embed_tokens."},
                          {"^transformer.h.", "model.layers."},
                          {"^transformer.ln_f.", "model.norm."},
                          {".ln_attn.", ".input_layernorm."},
                          {".ln_mlp.", ".post_attention_layernorm."},
                          {".self_attention.query_key_value.", ".self_attn.qkv_proj."},
                          {".self_attention.dense.", ".self_attn.o_proj."},
                          {".mlp.dense_h_to_4h.", ".mlp.up_proj."},
                          {".mlp.dense_4h_to_h.", ".mlp.down_proj."}};
  if (new_arch || spec.num_kv_heads != 1) {
    auto fix = qkv_fix(spec.num_kv_heads, heads / spec.num_kv_heads, head_dim);
    spec.weights.transforms = {{"qkv_proj.weight", fix}, {"qkv_proj.bias", fix}};
  }
  return spec;
}

DecoderSpec mpt_spec(const ModelConfig& config) {
  int64_t hidden = config.hidden_size();
  // transformers' MptMLP is always 4 x d_model and never reads expansion_ratio (MosaicML's own
  // code did); HF is the reference, so is this model.
  if (int64_t ratio = config.get_int("expansion_ratio", 4); ratio != 4)
    log_warning(config.source(), ": expansion_ratio ", ratio,
                " is ignored as transformers' MPT ignores it: the MLP is 4 x d_model");
  DecoderSpec spec = dense_spec(config, 4 * hidden, /*default_tie=*/true);
  spec.tie_word_embeddings = true;  // MPT's LM head is always the embedding
  nlohmann::json attn = config.raw().value("attn_config", nlohmann::json::object());
  VLLM_CHECK(!attn.value("qk_ln", false) && !attn.value("rope", false), Unsupported, config.source(),
             ": MPT with attn_config.qk_ln or attn_config.rope is not supported");
  use_layer_norm(spec, config, "layer_norm_epsilon", 1e-5);
  spec.activation = ops::Activation::Gelu;
  spec.gated_mlp = false;
  spec.qkv_bias = spec.o_bias = spec.mlp_bias = !config.get_bool("no_bias", true);
  spec.num_kv_heads = spec.num_heads;
  spec.rotary_dim = 0;
  if (attn.contains("softmax_scale") && !attn["softmax_scale"].is_null())
    spec.attention_scale = attn["softmax_scale"].get<float>();
  if (attn.contains("clip_qkv") && !attn["clip_qkv"].is_null()) spec.clip_qkv = attn["clip_qkv"].get<float>();
  if (attn.value("alibi", false)) {
    spec.alibi = true;
    spec.alibi_slopes = mpt_alibi_slopes(spec.num_heads, attn.value("alibi_bias_max", 8.0));
  } else {
    spec.learned_positions = true;
  }
  spec.weights.renames = {{"^transformer.wte.", "model.embed_tokens."},
                          {"^transformer.wpe.", "model.embed_positions."},
                          {"^transformer.blocks.", "model.layers."},
                          {"^transformer.norm_f.", "model.norm."},
                          {".norm_1.", ".input_layernorm."},
                          {".norm_2.", ".post_attention_layernorm."},
                          {".attn.Wqkv.", ".self_attn.qkv_proj."},
                          {".attn.out_proj.", ".self_attn.o_proj."},
                          {".ffn.", ".mlp."}};
  return spec;
}

ModelRegistrar bloom{decoder_architecture("BloomForCausalLM", "bloom", bloom_spec)};
ModelRegistrar falcon{decoder_architecture("FalconForCausalLM", "falcon", falcon_spec)};
ModelRegistrar mpt{decoder_architecture("MptForCausalLM", "mpt", mpt_spec)};
ModelRegistrar mpt_upper{decoder_architecture("MPTForCausalLM", "mpt", mpt_spec)};

}  // namespace
}  // namespace vllm
