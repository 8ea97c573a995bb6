// The rotary BERTs of authors' code (trust_remote_code), on the shared encoder (models/encoder.h);
// vLLM serves them from bert_with_rope.py.
//   NomicBertModel (nomic-ai/nomic-bert-2048, nomic-embed-text-v1/v1.5): GPT-2-style config keys
//     (n_embd, n_head, n_layer, n_inner), fused Wqkv, rotary on rotary_emb_fraction of each head
//     (GPT-NeoX halves, base rotary_emb_base), SwiGLU with fc11 the multiplied half and fc12 the
//     activated one, post-norm (prenorm false), emb_ln after word + token-type embeddings; its
//     vocabulary is padded to pad_vocab_size_multiple.
//   GteNewModel (Alibaba-NLP/new-impl, published as "NewModel": gte-base-en-v1.5,
//     gte-multilingual-base; vLLM asks for --hf-overrides '{"architectures": ["GteNewModel"]}') and
//     GteModel (Snowflake arctic-embed-m-v2.0, the same layers): rotary (rope_theta), packed qkv
//     with bias, a gated MLP up_gate_proj = up | gate (swapped at load to the activated half
//     first), LayerNorm post-norm (attn_ln, mlp_ln).
#include <cstring>

#include "core/error.h"
#include "models/encoder.h"

namespace vllm {
namespace {

EncoderSpec nomic_spec(const ModelConfig& config) {
  EncoderSpec s = encoder_spec_sizes(config, "nomic_bert");
  const int64_t multiple = std::max<int64_t>(1, config.get_int("pad_vocab_size_multiple", 1));
  s.vocab_size = (config.vocab_size() + multiple - 1) / multiple * multiple;
  s.intermediate_size = config.get_int("n_inner", 4 * s.hidden_size);
  s.max_position_embeddings = config.max_position_embeddings().value_or(2048);
  s.type_vocab_size = config.get_int("type_vocab_size", 2);
  s.norm_eps = static_cast<float>(config.get_float("layer_norm_epsilon", 1e-5));
  for (const char* key : {"prenorm", "use_rms_norm", "parallel_block", "rotary_emb_interleaved", "causal"})
    VLLM_CHECK(!config.get_bool(key, false), Unsupported, config.source(), ": ", key, " true is not supported");
  for (const char* key : {"rotary_emb_scale_base", "rotary_scaling_factor"})
    VLLM_CHECK(!config.has(key), Unsupported, config.source(), ": ", key, " is not supported (null only)");
  const std::string activation = config.get_string("activation_function", "swiglu");
  if (activation == "swiglu" || activation == "geglu") {
    s.gated_mlp = true;
    s.activation = activation == "swiglu" ? ops::Activation::Silu : ops::Activation::Gelu;
  } else {
    s.activation = parse_activation(config, activation);
  }
  s.positions = EncoderPositions::Rotary;
  const int64_t head_dim = s.hidden_size / s.num_heads;
  s.rotary_dim = static_cast<int64_t>(static_cast<double>(head_dim) * config.get_float("rotary_emb_fraction", 0.0));
  VLLM_CHECK(s.rotary_dim > 0, Unsupported, config.source(),
             ": rotary_emb_fraction 0 (no position information) is not supported");
  s.rope_theta = s.local_rope_theta = config.get_float("rotary_emb_base", 10000.0);
  s.sliding_window.assign(static_cast<size_t>(s.num_layers), 0);
  s.qkv_bias = s.out_bias = config.get_bool("qkv_proj_bias", true);
  s.up_bias = config.get_bool("mlp_fc1_bias", true);
  s.down_bias = config.get_bool("mlp_fc2_bias", true);
  s.pooler.type = PoolingType::Mean;
  s.weights.renames = {
      {"emb_ln.", "embeddings.norm."},
      {"encoder.layers.", "layers."},
      {".attn.Wqkv.", ".attn.qkv."},
      {".attn.out_proj.", ".attn.out."},
      {".norm1.", ".attn_norm."},
      {".norm2.", ".mlp_norm."},
      {".mlp.fc11.", ".mlp.up."},
      {".mlp.fc12.", ".mlp.gate."},
      {".mlp.fc1.", ".mlp.up."},
      {".mlp.fc2.", ".mlp.down."},
  };
  s.weights.packed = {{"gate_up", {"gate", "up"}}};
  return s;
}

// Rows [up | gate] -> [gate | up]: the activated half first, as ops::activation_and_mul reads it.
Tensor swap_halves(const Tensor& tensor) {
  Tensor source = tensor.contiguous();
  VLLM_CHECK(source.dim() == 2 && source.size(0) % 2 == 0, InvalidArgument, "up_gate_proj of shape ",
             shape_to_string(source.shape()), " does not have an even number of rows");
  Tensor out = Tensor::empty(source.shape(), source.dtype());
  const size_t half = source.nbytes() / 2;
  const char* in = static_cast<const char*>(source.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  std::memcpy(dst, in + half, half);
  std::memcpy(dst + half, in, half);
  return out;
}

EncoderSpec gte_spec(const ModelConfig& config) {
  EncoderSpec s = encoder_spec_sizes(config, "gte_new");
  s.intermediate_size = config.get_int("intermediate_size", 4 * s.hidden_size);
  s.max_position_embeddings = config.max_position_embeddings().value_or(8192);
  s.type_vocab_size = config.get_int("type_vocab_size", 0);
  s.norm_eps = static_cast<float>(config.get_float("layer_norm_eps", 1e-12));
  s.activation = parse_activation(config, config.get_string("hidden_act", "gelu"));
  const std::string position_type = config.get_string("position_embedding_type", "rope");
  VLLM_CHECK(position_type == "rope", Unsupported, config.source(), ": position_embedding_type '", position_type,
             "' is not supported (rope)");
  const std::string norm_type = config.get_string("layer_norm_type", "layer_norm");
  VLLM_CHECK(norm_type == "layer_norm", Unsupported, config.source(), ": layer_norm_type '", norm_type,
             "' is not supported (layer_norm)");
  VLLM_CHECK(!config.get_bool("logn_attention_scale", false), Unsupported, config.source(),
             ": logn_attention_scale true is not supported");
  // rope_scaling {"type": "ntk"} (gte-multilingual) changes the base only past
  // max_position_embeddings, which no accepted prompt reaches.
  const nlohmann::json& raw = config.raw();
  if (raw.contains("rope_scaling") && !raw["rope_scaling"].is_null()) {
    const nlohmann::json& scaling = raw["rope_scaling"];
    const std::string kind = scaling.value("type", scaling.value("rope_type", std::string("?")));
    VLLM_CHECK(kind == "ntk", Unsupported, config.source(), ": rope_scaling type '", kind,
               "' is not supported (ntk, or null)");
  }
  s.positions = EncoderPositions::Rotary;
  s.rotary_dim = s.hidden_size / s.num_heads;
  s.rope_theta = s.local_rope_theta = config.get_float("rope_theta", 10000.0);
  s.sliding_window.assign(static_cast<size_t>(s.num_layers), 0);
  s.gated_mlp = true;
  s.qkv_bias = s.out_bias = s.down_bias = true;
  s.up_bias = false;
  s.weights.renames = {
      {"^new.", ""},
      {"encoder.layer.", "layers."},
      {".attention.qkv_proj.", ".attn.qkv."},
      {".attention.o_proj.", ".attn.out."},
      {".attn_ln.", ".attn_norm."},
      {".mlp.up_gate_proj.", ".mlp.gate_up."},
      {".mlp.down_proj.", ".mlp.down."},
      {".mlp_ln.", ".mlp_norm."},
      {"embeddings.LayerNorm.", "embeddings.norm."},
  };
  s.weights.transforms = {{"mlp.gate_up.weight", swap_halves}};
  s.weights.ignored_suffixes = {"position_ids", "rotary_emb.inv_freq"};
  s.weights.ignored_prefixes = {"pooler.", "new.pooler."};
  return s;
}

ModelRegistrar nomic_bert{encoder_architecture("NomicBertModel", "nomic_bert", nomic_spec)};
ModelRegistrar gte_new{encoder_architecture("GteNewModel", "gte_new", gte_spec)};
ModelRegistrar gte_snowflake{encoder_architecture("GteModel", "gte_new", gte_spec)};

}  // namespace
}  // namespace vllm
