// The bidirectional encoder of the BERT family and its descendants (issue 25's pooling models):
// embeddings (word + learned positions + token types, then a norm), layers of encoder-only
// attention and an MLP with post-norm (BERT, RoBERTa, Nomic, GTE) or pre-norm and a final norm
// (ModernBERT), then a pooling stage or a classification head. What tells the families apart is
// data in EncoderSpec, and each family's WeightMap renames its checkpoint names to the one layout
// EncoderModel asks for:
//   embeddings.{word_embeddings, position_embeddings, token_type_embeddings, norm}
//   layers.N.{attn.qkv, attn.out, attn_norm, mlp.up | mlp.gate_up, mlp.down, mlp_norm}
//   final_norm, and the heads' pooler.dense | classifier.{dense, out_proj} | head.{dense, norm},
//   classifier.
// A gated MLP's gate_up holds the activated half first (act(x W_gate) * x W_up, the layout of
// ops::activation_and_mul); families storing it the other way round are fixed at load.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "layers/attention.h"
#include "layers/embedding.h"
#include "ops/activation.h"
#include "layers/linear.h"
#include "layers/norm.h"
#include "layers/pooler.h"
#include "layers/rotary_embedding.h"
#include "models/classifier_config.h"
#include "models/decoder_spec.h"
#include "models/model.h"
#include "models/registry.h"

namespace vllm {

enum class EncoderPositions {
  Learned,  // position_embeddings rows from position_offset on (BERT; RoBERTa: padding_idx + 1)
  Rotary,   // rotary on q/k in every layer (ModernBERT, Nomic, GTE)
};

// What follows the encoder for the Classify and Score tasks.
enum class EncoderHead {
  None,           // an embedding model
  BertPooler,     // tanh(pooler.dense(first token)) -> classifier (BertForSequenceClassification)
  RobertaHead,    // tanh(classifier.dense(first token)) -> classifier.out_proj
  ModernBertHead, // norm(act(head.dense(pooled))) -> classifier; pooled: first token or mean
};

struct EncoderSpec {
  std::string architecture;
  std::string family;  // "bert", "modernbert", "nomic_bert", "gte_new"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t intermediate_size = 0;
  int64_t max_position_embeddings = 0;  // what the model accepts (RoBERTa: the table less the offset)
  int64_t type_vocab_size = 0;          // 0: no token-type embedding
  float norm_eps = 1e-12f;

  EncoderPositions positions = EncoderPositions::Learned;
  int64_t position_table_size = 0;  // Learned: rows of position_embeddings
  int64_t position_offset = 0;      // Learned: row of position 0
  int64_t rotary_dim = 0;           // Rotary: rotated dims of each head (Nomic: a fraction)
  double rope_theta = 10000.0;      // Rotary: global layers
  double local_rope_theta = 10000.0;  // Rotary: local (sliding) layers
  // Per layer: 0 for global attention, else the two-sided window (key j seen from position p iff
  // |p - j| < window; ModernBERT's local_attention / 2 + 1).
  std::vector<int64_t> sliding_window;

  bool pre_norm = false;            // ModernBERT: norm -> sublayer -> residual; first layer's attn_norm is the identity
  bool final_norm = false;          // ModernBERT's final_norm
  bool gated_mlp = false;           // mlp.gate_up [2I, H] (activated half first), else mlp.up [I, H]
  ops::Activation activation = ops::Activation::Gelu;
  bool qkv_bias = true, out_bias = true, up_bias = true, down_bias = true;

  // The default pooler: an embedder's pooling as the family's sentence-transformers configs pool
  // (normalised); a classifier's is set by encoder_architecture from head_pooling and the config's
  // activation (classifier_pooler).
  PoolerSpec pooler = [] {
    PoolerSpec p;
    p.type = PoolingType::First;
    p.normalize = true;
    return p;
  }();
  EncoderHead head = EncoderHead::None;
  int64_t num_labels = 0;           // classifiers: the logits' width
  bool head_bias = true;            // ModernBERT: classifier_bias (head.dense and classifier)
  ops::Activation head_activation = ops::Activation::Gelu;  // ModernBERT's classifier_activation
  PoolingType head_pooling = PoolingType::First;            // ModernBERT's classifier_pooling

  WeightMap weights;

  bool is_classifier() const { return head != EncoderHead::None; }
};

nlohmann::json describe_encoder(const EncoderSpec& spec);

// An EncoderSpec with the architecture, `family` and the common sizes (vocab_size, hidden_size,
// num_hidden_layers, num_attention_heads) read from config.json; the family file fills the rest.
EncoderSpec encoder_spec_sizes(const ModelConfig& config, std::string family);

class EncoderModel : public Model {
 public:
  EncoderModel(EncoderSpec spec, const ModelLoadOptions& options);

  Tensor embed_input_ids(const Tensor& token_ids) const override { return word_embeddings_.forward(token_ids); }
  // -> last_hidden_state [T, H] (after ModernBERT's final norm); every sequence of the step must be
  // a whole prompt (each attends over its own rows of batch.query_start).
  Tensor forward(const ModelInputs& inputs, const BatchMetadata& batch, KVCache& cache) override;
  Tensor compute_logits(const Tensor& hidden_rows) const override;
  const Pooler* pooler() const override { return &pooler_; }
  std::vector<PoolingTask> pooling_tasks() const override;
  // Classifiers: pooled rows [N, H] -> the head's logits [N, num_labels]; embedders: the rows.
  Tensor pooling_head(const Tensor& rows) const override;
  const KVCacheSpec& kv_cache_spec() const override { return kv_cache_spec_; }
  int64_t vocab_size() const override { return spec_.vocab_size; }
  int64_t hidden_size() const override { return spec_.hidden_size; }
  int64_t max_position_embeddings() const override { return spec_.max_position_embeddings; }
  const std::string& architecture() const override { return spec_.architecture; }

  const EncoderSpec& spec() const { return spec_; }

 private:
  struct Layer {
    Linear qkv, out;
    Norm attn_norm, mlp_norm;  // pre_norm: before the sublayer (the first attn_norm may be absent)
    Linear up, down;           // up: gate_up when gated
    Attention attention;
    const RotaryEmbedding* rotary = nullptr;
  };

  void load(WeightLoader& loader);
  Tensor embed(const ModelInputs& inputs, const BatchMetadata& batch) const;
  Tensor attention_block(const Layer& layer, const Tensor& x, const BatchMetadata& batch) const;
  Tensor mlp_block(const Layer& layer, const Tensor& x) const;

  EncoderSpec spec_;
  Device device_;
  KVCacheSpec kv_cache_spec_;
  Pooler pooler_;
  Embedding word_embeddings_, position_embeddings_, token_type_embeddings_;
  Norm embedding_norm_, final_norm_;
  std::vector<Layer> layers_;
  std::optional<RotaryEmbedding> global_rotary_, local_rotary_;
  Linear head_dense_, classifier_;  // BertPooler: pooler.dense, classifier; RobertaHead: dense, out_proj
  Norm head_norm_;                  // ModernBertHead
};

// The registry entry of an encoder architecture: Embed, or Classify + Score for classifiers.
ArchitectureInfo encoder_architecture(std::string name, std::string family, EncoderSpec (*make_spec)(const ModelConfig&));


}  // namespace vllm
