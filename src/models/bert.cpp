// BERT, RoBERTa and XLM-RoBERTa (transformers' BertModel / RobertaModel / XLMRobertaModel and their
// sequence classifiers) on the shared encoder (models/encoder.h): learned absolute positions,
// token types, post-norm layers, GELU (or hidden_act) MLP. RoBERTa's positions start at
// padding_idx + 1 (HF's create_position_ids_from_input_ids for a prompt without padding), so its
// table is read from that row on and serves max_position_embeddings - padding_idx - 1 tokens.
// Checkpoints come with or without the task model's prefix (`bert.`, `roberta.`): a BertModel saved
// by sentence-transformers has none, a *ForSequenceClassification has it plus `classifier.*`.
#include "core/error.h"
#include "models/encoder.h"

namespace vllm {
namespace {

WeightMap bert_weight_map() {
  WeightMap map;
  map.renames = {
      {"^bert.", ""},
      {"^roberta.", ""},
      {"encoder.layer.", "layers."},
      {".attention.self.query.", ".attn.q."},
      {".attention.self.key.", ".attn.k."},
      {".attention.self.value.", ".attn.v."},
      {".attention.output.dense.", ".attn.out."},
      {".attention.output.LayerNorm.", ".attn_norm."},
      {".intermediate.dense.", ".mlp.up."},
      {".output.dense.", ".mlp.down."},
      {".output.LayerNorm.", ".mlp_norm."},
      {"embeddings.LayerNorm.", "embeddings.norm."},
  };
  map.packed = {{"qkv", {"q", "k", "v"}}};
  // Saved by transformers before 4.31 (a buffer, not a weight).
  map.ignored_suffixes = {"embeddings.position_ids"};
  return map;
}

EncoderSpec bert_like_spec(const ModelConfig& config, int64_t default_type_vocab) {
  EncoderSpec s = encoder_spec_sizes(config, "bert");
  s.intermediate_size = config.get_int("intermediate_size", 4 * s.hidden_size);
  s.type_vocab_size = config.get_int("type_vocab_size", default_type_vocab);
  s.norm_eps = static_cast<float>(config.get_float("layer_norm_eps", 1e-12));
  s.activation = parse_activation(config, config.get_string("hidden_act", "gelu"));
  const std::string position_type = config.get_string("position_embedding_type", "absolute");
  VLLM_CHECK(position_type == "absolute", Unsupported, config.source(), ": position_embedding_type '", position_type,
             "' is not supported (absolute)");
  s.positions = EncoderPositions::Learned;
  s.position_table_size = config.max_position_embeddings().value_or(512);
  s.max_position_embeddings = s.position_table_size;
  s.sliding_window.assign(static_cast<size_t>(s.num_layers), 0);
  s.weights = bert_weight_map();
  return s;
}

EncoderSpec bert_spec(const ModelConfig& config) {
  EncoderSpec s = bert_like_spec(config, 2);
  // An embedder reads the last hidden state; BertModel's pooler (dense + tanh) is the classifier's.
  s.weights.ignored_prefixes = {"pooler.", "bert.pooler."};
  return s;
}

EncoderSpec bert_classifier_spec(const ModelConfig& config) {
  EncoderSpec s = bert_like_spec(config, 2);
  s.head = EncoderHead::BertPooler;
  s.num_labels = config_num_labels(config);
  return s;
}

// RoBERTa and XLM-R: positions from padding_idx + 1, one token type by default.
EncoderSpec roberta_like_spec(const ModelConfig& config) {
  EncoderSpec s = bert_like_spec(config, 1);
  s.position_offset = config.get_int("pad_token_id", 1) + 1;
  s.max_position_embeddings = s.position_table_size - s.position_offset;
  VLLM_CHECK(s.max_position_embeddings > 0, InvalidArgument, config.source(), ": max_position_embeddings ",
             s.position_table_size, " leaves no position after the padding offset ", s.position_offset);
  return s;
}

EncoderSpec roberta_spec(const ModelConfig& config) {
  EncoderSpec s = roberta_like_spec(config);
  // RobertaForMaskedLM served as an embedder: its LM head (lm_head.dense, layer_norm, decoder) is unused.
  s.weights.ignored_prefixes = {"pooler.", "roberta.pooler.", "lm_head."};
  return s;
}

EncoderSpec roberta_classifier_spec(const ModelConfig& config) {
  EncoderSpec s = roberta_like_spec(config);
  s.head = EncoderHead::RobertaHead;
  s.num_labels = config_num_labels(config);
  s.weights.ignored_prefixes = {"roberta.pooler."};
  return s;
}

ModelRegistrar bert_model{encoder_architecture("BertModel", "bert", bert_spec)};
ModelRegistrar bert_classifier{encoder_architecture("BertForSequenceClassification", "bert", bert_classifier_spec)};
ModelRegistrar roberta_model{encoder_architecture("RobertaModel", "bert", roberta_spec)};
ModelRegistrar roberta_masked_lm{encoder_architecture("RobertaForMaskedLM", "bert", roberta_spec)};
ModelRegistrar roberta_classifier{
    encoder_architecture("RobertaForSequenceClassification", "bert", roberta_classifier_spec)};
ModelRegistrar xlm_roberta_model{encoder_architecture("XLMRobertaModel", "bert", roberta_spec)};
ModelRegistrar xlm_roberta_classifier{
    encoder_architecture("XLMRobertaForSequenceClassification", "bert", roberta_classifier_spec)};

}  // namespace
}  // namespace vllm
