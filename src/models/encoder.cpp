#include "models/encoder.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "models/decoder_spec.h"
#include "ops/ops.h"

namespace vllm {

namespace {

const char* head_name(EncoderHead head) {
  switch (head) {
    case EncoderHead::None: return "none";
    case EncoderHead::BertPooler: return "bert_pooler";
    case EncoderHead::RobertaHead: return "roberta_classification_head";
    case EncoderHead::ModernBertHead: return "modernbert_prediction_head";
  }
  return "?";
}

}  // namespace

EncoderSpec encoder_spec_sizes(const ModelConfig& config, std::string family) {
  EncoderSpec s;
  s.architecture = config.architecture();
  s.family = std::move(family);
  s.vocab_size = config.vocab_size();
  s.hidden_size = config.hidden_size();
  s.num_layers = config.num_hidden_layers();
  s.num_heads = config.num_attention_heads();
  return s;
}

nlohmann::json describe_encoder(const EncoderSpec& s) {
  nlohmann::json j = {{"model", "EncoderModel"},
                      {"family", s.family},
                      {"vocab_size", s.vocab_size},
                      {"hidden_size", s.hidden_size},
                      {"num_layers", s.num_layers},
                      {"num_heads", s.num_heads},
                      {"head_dim", s.num_heads > 0 ? s.hidden_size / s.num_heads : 0},
                      {"intermediate_size", s.intermediate_size},
                      {"max_position_embeddings", s.max_position_embeddings},
                      {"type_vocab_size", s.type_vocab_size},
                      {"norm_eps", s.norm_eps},
                      {"norm_placement", s.pre_norm ? "pre" : "post"},
                      {"final_norm", s.final_norm},
                      {"mlp", s.gated_mlp ? "gated" : "plain"},
                      {"activation", activation_name(s.activation)},
                      {"biases", {{"qkv", s.qkv_bias}, {"out", s.out_bias}, {"up", s.up_bias}, {"down", s.down_bias}}},
                      {"attention", "bidirectional (encoder-only), no KV cache"},
                      {"pooling", {{"type", pooling_type_name(s.pooler.type)}, {"normalize", s.pooler.normalize}, {"softmax", s.pooler.softmax}, {"sigmoid", s.pooler.sigmoid}}}};
  if (s.positions == EncoderPositions::Learned) {
    j["positions"] = {{"kind", "learned"}, {"table", s.position_table_size}, {"offset", s.position_offset}};
  } else {
    j["positions"] = {{"kind", "rotary"}, {"rotary_dim", s.rotary_dim}, {"rope_theta", s.rope_theta}};
    if (std::any_of(s.sliding_window.begin(), s.sliding_window.end(), [](int64_t w) { return w > 0; })) {
      j["positions"]["local_rope_theta"] = s.local_rope_theta;
      j["sliding_window"] = s.sliding_window;  // per layer; 0: global
    }
  }
  if (s.is_classifier()) {
    j["head"] = {{"kind", head_name(s.head)}, {"num_labels", s.num_labels}};
    if (s.head == EncoderHead::ModernBertHead) {
      j["head"]["pooling"] = pooling_type_name(s.head_pooling);
      j["head"]["activation"] = activation_name(s.head_activation);
    }
  }
  return j;
}

EncoderModel::EncoderModel(EncoderSpec spec, const ModelLoadOptions& options)
    : spec_(std::move(spec)), device_(options.device), pooler_(spec_.pooler) {
  const EncoderSpec& s = spec_;
  VLLM_CHECK(s.num_heads > 0 && s.hidden_size % s.num_heads == 0, InvalidArgument, s.architecture,
             ": hidden_size ", s.hidden_size, " is not a multiple of num_attention_heads ", s.num_heads);
  VLLM_CHECK(static_cast<int64_t>(s.sliding_window.size()) == s.num_layers, Internal, s.architecture,
             ": one sliding-window entry per layer expected");
  const int64_t head_dim = s.hidden_size / s.num_heads;
  for (int64_t i = 0; i < s.num_layers; ++i) {
    LayerCacheSpec cache;
    cache.kind = CacheKind::None;  // attention over the step's own tokens only
    cache.num_kv_heads = s.num_heads;
    cache.head_dim = cache.value_head_dim = head_dim;
    kv_cache_spec_.layers.push_back(cache);
  }
  if (s.positions == EncoderPositions::Rotary) {
    VLLM_CHECK(s.rotary_dim > 0 && s.rotary_dim <= head_dim && s.rotary_dim % 2 == 0, InvalidArgument,
               s.architecture, ": rotary dimension ", s.rotary_dim, " must be even and within the head (", head_dim,
               ")");
    global_rotary_.emplace(nlohmann::json{{"rope_type", "default"}, {"rope_theta", s.rope_theta}}, s.rotary_dim,
                           s.max_position_embeddings, true);
    local_rotary_.emplace(nlohmann::json{{"rope_type", "default"}, {"rope_theta", s.local_rope_theta}}, s.rotary_dim,
                          s.max_position_embeddings, true);
  }
  load_weights(options, s.weights, s.architecture, [this](WeightLoader& loader) { load(loader); });
}

void EncoderModel::load(WeightLoader& loader) {
  const EncoderSpec& s = spec_;
  const int64_t H = s.hidden_size, I = s.intermediate_size, head_dim = H / s.num_heads;
  word_embeddings_ = Embedding::load(loader, "embeddings.word_embeddings", s.vocab_size, H, device_);
  if (s.positions == EncoderPositions::Learned) {
    VLLM_CHECK(s.position_offset >= 0 && s.position_offset < s.position_table_size, InvalidArgument, s.architecture,
               ": position offset ", s.position_offset, " is outside the ", s.position_table_size,
               " position embeddings");
    Embedding table = Embedding::load(loader, "embeddings.position_embeddings", s.position_table_size, H, device_);
    // Position p reads row offset + p (RoBERTa: padding_idx + 1 + p), a load-time view.
    position_embeddings_.weight = table.weight.slice(0, s.position_offset, s.position_table_size);
  }
  if (s.type_vocab_size > 0)
    token_type_embeddings_ = Embedding::load(loader, "embeddings.token_type_embeddings", s.type_vocab_size, H, device_);
  embedding_norm_ = Norm::load(loader, "embeddings.norm", H, NormKind::LayerNorm, s.norm_eps, 0.0f);
  embedding_norm_.to(device_);

  for (int64_t i = 0; i < s.num_layers; ++i) {
    const std::string p = "layers." + std::to_string(i) + ".";
    Layer layer;
    layer.qkv = Linear::load(loader, p + "attn.qkv", H, 3 * H, s.qkv_bias, device_);
    layer.out = Linear::load(loader, p + "attn.out", H, H, s.out_bias, device_);
    // ModernBERT's first layer norms nothing before attention (its embeddings end in a norm).
    if (!(s.pre_norm && i == 0)) layer.attn_norm = Norm::load(loader, p + "attn_norm", H, NormKind::LayerNorm, s.norm_eps, 0.0f);
    layer.mlp_norm = Norm::load(loader, p + "mlp_norm", H, NormKind::LayerNorm, s.norm_eps, 0.0f);
    layer.attn_norm.to(device_);
    layer.mlp_norm.to(device_);
    layer.up = Linear::load(loader, p + (s.gated_mlp ? "mlp.gate_up" : "mlp.up"), H, s.gated_mlp ? 2 * I : I, s.up_bias,
                            device_);
    layer.down = Linear::load(loader, p + "mlp.down", I, H, s.down_bias, device_);
    AttentionSpec attention;
    attention.num_heads = attention.num_kv_heads = s.num_heads;
    attention.head_dim = head_dim;
    attention.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
    attention.type = AttentionType::EncoderOnly;
    attention.sliding_window = s.sliding_window[static_cast<size_t>(i)];
    layer.attention = Attention(attention, device_);
    if (s.positions == EncoderPositions::Rotary)
      layer.rotary = attention.sliding_window > 0 ? &*local_rotary_ : &*global_rotary_;
    layers_.push_back(std::move(layer));
  }
  if (s.final_norm) {
    final_norm_ = Norm::load(loader, "final_norm", H, NormKind::LayerNorm, s.norm_eps, 0.0f);
    final_norm_.to(device_);
  }

  switch (s.head) {
    case EncoderHead::None: break;
    case EncoderHead::BertPooler:
      head_dense_ = Linear::load(loader, "pooler.dense", H, H, true, device_);
      classifier_ = Linear::load(loader, "classifier", H, s.num_labels, true, device_);
      break;
    case EncoderHead::RobertaHead:
      head_dense_ = Linear::load(loader, "classifier.dense", H, H, true, device_);
      classifier_ = Linear::load(loader, "classifier.out_proj", H, s.num_labels, true, device_);
      break;
    case EncoderHead::ModernBertHead:
      head_dense_ = Linear::load(loader, "head.dense", H, H, s.head_bias, device_);
      head_norm_ = Norm::load(loader, "head.norm", H, NormKind::LayerNorm, s.norm_eps, 0.0f);
      head_norm_.to(device_);
      classifier_ = Linear::load(loader, "classifier", H, s.num_labels, true, device_);
      break;
  }
}

Tensor EncoderModel::embed(const ModelInputs& inputs, const BatchMetadata& batch) const {
  const EncoderSpec& s = spec_;
  VLLM_CHECK(inputs.token_ids.defined() || inputs.inputs_embeds.defined(), InvalidArgument, s.architecture,
             ": forward needs token ids or input embeddings");
  Tensor x = inputs.inputs_embeds.defined() ? inputs.inputs_embeds.clone() : word_embeddings_.forward(inputs.token_ids);
  const int64_t tokens = x.size(0);
  if (s.positions == EncoderPositions::Learned) {
    VLLM_CHECK(batch.positions.dim() == 1 && batch.positions.size(0) == tokens, InvalidArgument, s.architecture,
               ": positions must be [", tokens, "]");
    ops::add(x, position_embeddings_.forward(batch.positions), x);
  }
  if (s.type_vocab_size > 0) {
    const Tensor& types = inputs.token_type_ids;
    VLLM_CHECK(!types.defined() || (types.dim() == 1 && types.size(0) == tokens), InvalidArgument, s.architecture,
               ": token_type_ids must be [", tokens, "]");
    ops::add(x, token_type_embeddings_.forward(types.defined() ? types : Tensor::zeros({tokens}, DType::I32, x.device())),
             x);
  } else {
    VLLM_CHECK(!inputs.token_type_ids.defined(), InvalidArgument, s.architecture,
               " has no token-type embeddings (type_vocab_size 0); token_type_ids must not be given");
  }
  embedding_norm_.forward_inplace(x);
  return x;
}

Tensor EncoderModel::attention_block(const Layer& layer, const Tensor& x, const BatchMetadata& batch) const {
  const int64_t tokens = x.size(0), heads = spec_.num_heads, head_dim = spec_.hidden_size / heads;
  Tensor qkv = layer.qkv.forward(x);  // [T, 3H]: q | k | v
  Tensor per_head = qkv.view({tokens, 3 * heads, head_dim});
  Tensor query = per_head.slice(1, 0, heads), key = per_head.slice(1, heads, 2 * heads);
  Tensor value = per_head.slice(1, 2 * heads, 3 * heads);
  Tensor out = layer.attention.forward(query, key, value, batch, AttentionCache{}, layer.rotary);
  return layer.out.forward(out.view({tokens, spec_.hidden_size}));
}

Tensor EncoderModel::mlp_block(const Layer& layer, const Tensor& x) const {
  Tensor hidden = layer.up.forward(x);
  if (spec_.gated_mlp) {
    Tensor product = Tensor::empty({x.size(0), spec_.intermediate_size}, DType::F32, x.device());
    ops::activation_and_mul(spec_.activation, hidden, product);
    hidden = product;
  } else {
    ops::activation(spec_.activation, hidden, hidden);
  }
  return layer.down.forward(hidden);
}

Tensor EncoderModel::forward(const ModelInputs& inputs, const BatchMetadata& batch, KVCache&) {
  Tensor x = embed(inputs, batch);
  for (const Layer& layer : layers_) {
    if (spec_.pre_norm) {  // x + attn(norm(x)), then + mlp(norm(.)) (ModernBERT)
      ops::add(x, attention_block(layer, layer.attn_norm.forward(x), batch), x);
      ops::add(x, mlp_block(layer, layer.mlp_norm.forward(x)), x);
    } else {  // norm(x + attn(x)), then norm(. + mlp(.)) (BERT)
      ops::add(x, attention_block(layer, x, batch), x);
      layer.attn_norm.forward_inplace(x);
      ops::add(x, mlp_block(layer, x), x);
      layer.mlp_norm.forward_inplace(x);
    }
  }
  if (spec_.final_norm) final_norm_.forward_inplace(x);
  return x;
}

Tensor EncoderModel::compute_logits(const Tensor&) const {
  fail(ErrorKind::Unsupported, spec_.architecture,
       " is an encoder (pooling) model without a language-model head; it serves ",
       spec_.is_classifier() ? "classify and score" : "embed", " requests, not text generation");
}

std::vector<PoolingTask> EncoderModel::pooling_tasks() const {
  if (spec_.is_classifier()) return {PoolingTask::Classify, PoolingTask::Score};
  return {PoolingTask::Encode, PoolingTask::Embed};
}

Tensor EncoderModel::pooling_head(const Tensor& rows) const {
  if (!spec_.is_classifier()) return rows;
  Tensor hidden = head_dense_.forward(rows.to(device_));
  switch (spec_.head) {
    case EncoderHead::BertPooler:
    case EncoderHead::RobertaHead: ops::softcap(hidden, 1.0f); break;  // tanh
    case EncoderHead::ModernBertHead:
      ops::activation(spec_.head_activation, hidden, hidden);
      head_norm_.forward_inplace(hidden);
      break;
    case EncoderHead::None: break;
  }
  return classifier_.forward(hidden).to(Device::cpu()).contiguous();
}

ArchitectureInfo encoder_architecture(std::string name, std::string family,
                                      EncoderSpec (*make_spec)(const ModelConfig&)) {
  const std::string suffix = "ForSequenceClassification";
  const bool classifier = name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  std::vector<Task> tasks = classifier ? std::vector<Task>{Task::Classify, Task::Score} : std::vector<Task>{Task::Embed};
  auto full_spec = [make_spec](const ModelConfig& config) {
    EncoderSpec spec = make_spec(config);
    if (spec.is_classifier()) spec.pooler = classifier_pooler(config, spec.head_pooling, spec.num_labels);
    return spec;
  };
  ModelBuilder build = [full_spec](const ModelConfig& config, const ModelLoadOptions& options) -> std::unique_ptr<Model> {
    return std::make_unique<EncoderModel>(full_spec(config), options);
  };
  ModelDescriber describe = [full_spec](const ModelConfig& config) { return describe_encoder(full_spec(config)); };
  return {std::move(name), std::move(family), std::move(tasks), {}, std::move(build), std::move(describe)};
}

}  // namespace vllm
