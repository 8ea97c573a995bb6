// ModernBERT (transformers' ModernBertModel / ModernBertForSequenceClassification) on the shared
// encoder (models/encoder.h): pre-norm layers and a final norm, rotary positions, fused Wqkv, a
// GeGLU MLP (Wi = activated half | gate half), LayerNorms without bias when norm_bias is false,
// and alternating attention: layer i is global when i % global_attn_every_n_layers == 0, else
// local, seeing the keys within local_attention / 2 on each side (HF's sliding_window_mask), with
// its own rope theta. The classifier pools (classifier_pooling: first token or mean), then
// head.dense -> classifier_activation -> head.norm -> classifier.
#include "core/error.h"
#include "models/decoder_spec.h"
#include "models/encoder.h"

namespace vllm {
namespace {

PoolingType classifier_pooling(const ModelConfig& config) {
  const std::string pooling = config.get_string("classifier_pooling", "cls");
  if (pooling == "cls") return PoolingType::First;
  if (pooling == "mean") return PoolingType::Mean;
  fail(ErrorKind::Unsupported, config.source(), ": classifier_pooling '", pooling, "' is not supported (cls, mean)");
}

EncoderSpec modernbert_spec(const ModelConfig& config) {
  EncoderSpec s = encoder_spec_sizes(config, "modernbert");
  s.intermediate_size = config.get_int("intermediate_size", 1152);
  s.max_position_embeddings = config.max_position_embeddings().value_or(8192);
  s.norm_eps = static_cast<float>(config.get_float("norm_eps", 1e-5));
  s.activation = parse_activation(config, config.get_string("hidden_activation", "gelu"));
  s.positions = EncoderPositions::Rotary;
  s.rotary_dim = s.hidden_size / s.num_heads;
  // 4.x spelling: global_rope_theta / local_rope_theta; 5.x: rope_parameters keyed by layer type.
  const nlohmann::json& raw = config.raw();
  if (raw.contains("rope_parameters") && raw["rope_parameters"].is_object()) {
    s.rope_theta = rope_for_layer(config, "full_attention").value("rope_theta", 160000.0);
    s.local_rope_theta = rope_for_layer(config, "sliding_attention").value("rope_theta", 10000.0);
  } else {
    s.rope_theta = config.get_float("global_rope_theta", 160000.0);
    s.local_rope_theta = config.get_float("local_rope_theta", 10000.0);
  }
  const int64_t window = config.get_int("local_attention", 128);
  const int64_t every = config.get_int("global_attn_every_n_layers", 3);
  VLLM_CHECK(every > 0 && window > 0, InvalidArgument, config.source(),
             ": global_attn_every_n_layers and local_attention must be positive");
  const std::vector<std::string> types = config.layer_types();
  for (int64_t i = 0; i < s.num_layers; ++i) {
    const bool local = types.empty() ? i % every != 0 : types[static_cast<size_t>(i)] == "sliding_attention";
    s.sliding_window.push_back(local ? window / 2 + 1 : 0);  // |p - j| <= local_attention / 2
  }
  s.pre_norm = true;
  s.final_norm = true;
  s.gated_mlp = true;
  s.qkv_bias = s.out_bias = config.get_bool("attention_bias", false);
  s.up_bias = s.down_bias = config.get_bool("mlp_bias", false);
  s.pooler.type = PoolingType::Mean;
  s.weights.renames = {
      {"^model.", ""},
      {"embeddings.tok_embeddings.", "embeddings.word_embeddings."},
      {".attn.Wqkv.", ".attn.qkv."},
      {".attn.Wo.", ".attn.out."},
      {".mlp.Wi.", ".mlp.gate_up."},
      {".mlp.Wo.", ".mlp.down."},
  };
  return s;
}

EncoderSpec modernbert_embedder_spec(const ModelConfig& config) {
  EncoderSpec s = modernbert_spec(config);
  s.weights.ignored_prefixes = {"head.", "decoder."};  // a masked-LM checkpoint's prediction head
  return s;
}

EncoderSpec modernbert_classifier_spec(const ModelConfig& config) {
  EncoderSpec s = modernbert_spec(config);
  s.head = EncoderHead::ModernBertHead;
  s.num_labels = config_num_labels(config);
  s.head_bias = config.get_bool("classifier_bias", false);
  s.head_activation = parse_activation(config, config.get_string("classifier_activation", "gelu"));
  s.head_pooling = classifier_pooling(config);
  return s;
}

ModelRegistrar modernbert_model{encoder_architecture("ModernBertModel", "modernbert", modernbert_embedder_spec)};
ModelRegistrar modernbert_classifier{
    encoder_architecture("ModernBertForSequenceClassification", "modernbert", modernbert_classifier_spec)};

}  // namespace
}  // namespace vllm
