#include "models/generic_decoder.h"

#include <algorithm>

#include "core/error.h"
#include "ops/ops.h"

namespace vllm {

namespace {

bool contains(const std::vector<int64_t>& list, int64_t value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// A residual add followed by an RMSNorm of the sum runs as one fused_add_rms_norm (vLLM's fusion).
bool fusable(const Norm& norm) {
  return norm.defined() && norm.kind == NormKind::RMSNorm && norm.weight.defined() && norm.weight.dim() == 1;
}

// residual += branch, and returns the normed sum: `branch` itself (f32), or a new `dtype` tensor.
Tensor add_and_norm(Tensor& branch, Tensor& residual, const Norm& norm, DType dtype) {
  if (dtype == DType::F32) {
    ops::fused_add_rms_norm(branch, residual, norm.weight, norm.eps, norm.weight_offset);
    return branch;
  }
  Tensor normed = Tensor::empty(branch.shape(), dtype, branch.device());
  ops::fused_add_rms_norm(branch, residual, norm.weight, norm.eps, norm.weight_offset, normed);
  return normed;
}

}  // namespace

GenericDecoder::GenericDecoder(DecoderSpec spec, const ModelLoadOptions& options)
    : GenericDecoder(std::move(spec), options, nullptr) {}

GenericDecoder::GenericDecoder(DecoderSpec spec, const ModelLoadOptions& options,
                               const std::function<void(WeightLoader&)>& load_extra)
    : spec_(std::move(spec)) {
  device_ = options.device;
  VLLM_CHECK(static_cast<int64_t>(spec_.layers.size()) == spec_.num_layers, Internal,
             "decoder spec has ", spec_.layers.size(), " layer specs for ", spec_.num_layers, " layers");
  for (const DecoderLayerSpec& layer : spec_.layers) {
    LayerCacheSpec cache;
    if (!layer.has_attention || !spec_.causal) {
      cache.kind = CacheKind::None;
    } else {
      cache.kind = layer.sliding_window > 0 ? CacheKind::SlidingWindow : CacheKind::FullAttention;
      cache.num_kv_heads = layer.num_kv_heads > 0 ? layer.num_kv_heads : spec_.num_kv_heads;
      cache.head_dim = cache.value_head_dim = spec_.head_dim;
      cache.sliding_window = layer.sliding_window;
      if (spec_.mla) {  // one latent "head": [c, k_rot] as the key, c as the value
        cache.kind = CacheKind::MLALatent;
        cache.num_kv_heads = 1;
        cache.head_dim = spec_.mla->cache_key_dim();
        cache.value_head_dim = spec_.mla->cache_value_dim();
      }
    }
    kv_cache_spec_.layers.push_back(cache);
  }
  layer_groups_ = kv_cache_spec_.layer_groups();
  VLLM_CHECK(spec_.causal || !spec_.mla, Unsupported, spec_.architecture,
             ": bidirectional attention (is_causal false) is not supported with multi-head latent attention");
  load_weights(options, spec_.weights, spec_.architecture, [this, &load_extra](WeightLoader& loader) {
    load(loader);
    if (load_extra) load_extra(loader);
  });
  if (device_.is_cuda() && !layers_.empty()) {
    // The matmuls' half type, when every projection of every layer runs in the same one.
    std::optional<DType> type;
    bool uniform = true;
    auto agree = [&](DType dtype) {
      if (!type) type = dtype;
      uniform = uniform && dtype == *type && (dtype == DType::BF16 || dtype == DType::F16);
    };
    for (const Layer& layer : layers_) {
      if (layer.attention) agree(layer.attention->weight_dtype());
      if (layer.mlp) agree(layer.mlp->weight_dtype());
      if (layer.residual_mlp) agree(layer.residual_mlp->weight_dtype());
    }
    if (uniform && type) matmul_input_dtype_ = *type;
  }
}

void GenericDecoder::load(WeightLoader& loader) {
  const DecoderSpec& s = spec_;
  // Parameters load onto the model's device as they are read (matmul weights straight from the
  // checkpoint mapping, see WeightLoader::take).
  const Device device = device_;
  embed_tokens_ = Embedding::load(loader, "model.embed_tokens", s.vocab_size, s.hidden_size, device);
  auto norm = [&](const std::string& name) {
    Norm loaded = s.norm_affine ? Norm::load(loader, name, s.hidden_size, s.norm_kind, s.norm_eps, s.norm_weight_offset)
                                : Norm::non_affine(s.norm_eps);
    loaded.to(device);
    return loaded;
  };
  if (s.learned_positions)  // rows from position_offset on, so positions index it directly
    embed_positions_.weight =
        Embedding::load(loader, "model.embed_positions", s.max_position_embeddings + s.position_offset, s.hidden_size,
                        device)
            .weight.slice(0, s.position_offset, s.max_position_embeddings + s.position_offset);
  if (s.embedding_norm) embedding_norm_ = norm("model.embed_layernorm");
  // Layers with the same rope parameters share one RotaryEmbedding (and its device table).
  std::vector<std::pair<nlohmann::json, std::shared_ptr<const RotaryEmbedding>>> rotaries;
  auto rotary_for = [&](const nlohmann::json& rope) -> std::shared_ptr<const RotaryEmbedding> {
    for (const auto& [params, rotary] : rotaries)
      if (params == rope) return rotary;
    auto rotary = std::make_shared<RotaryEmbedding>(rope, s.rotary_dim, s.max_position_embeddings, s.rope_neox);
    if (device.is_cuda()) rotary->prepare_table(device, s.max_position_embeddings);
    rotaries.emplace_back(rope, rotary);
    return rotary;
  };
  for (int64_t i = 0; i < s.num_layers; ++i) {
    const std::string prefix = str("model.layers.", i, ".");
    const DecoderLayerSpec& spec = s.layers[static_cast<size_t>(i)];
    Layer layer;
    if (spec.has_attention) {
      if (s.pre_norms) layer.input_norm = norm(prefix + "input_layernorm");
      if (s.sandwich_norms) layer.attention_output_norm = norm(prefix + "post_attention_layernorm");
      std::shared_ptr<const RotaryEmbedding> rotary;
      if (s.rotary_dim > 0 && spec.rotary) rotary = rotary_for(spec.rope);
      if (s.mla)
        layer.attention = MlaAttention::load(loader, prefix + "self_attn.", *s.mla, rotary, device);
      else
        layer.attention = std::make_unique<SelfAttention>(
            SelfAttention::load(loader, prefix + "self_attn.", layer_attention_spec(s, i), rotary, device));
    }
    if (spec.has_mlp) {
      if (s.sandwich_norms) {
        if (s.pre_norms) layer.mlp_input_norm = norm(prefix + "pre_feedforward_layernorm");
        layer.mlp_output_norm = norm(prefix + "post_feedforward_layernorm");
      } else if (s.pre_norms && !s.shared_input_norm) {
        layer.mlp_input_norm = norm(prefix + "post_attention_layernorm");
      }
      if (spec.moe)
        layer.mlp = MoEFeedForward::load(loader, prefix + "mlp.", *spec.moe, device);
      else
        layer.mlp = DenseFeedForward::load(loader, prefix + "mlp.", layer_feed_forward_spec(s, i), device);
      if (spec.residual_mlp_size > 0) {
        VLLM_CHECK(spec.has_attention && layer.mlp_input_norm.defined() && !s.parallel_residual && !s.sandwich_norms &&
                       s.residual_multiplier == 1.0f,
                   Internal, s.architecture, ": a residual MLP needs a pre-norm serial layer with attention");
        layer.residual_mlp_norm = norm(prefix + "residual_layernorm");
        FeedForwardSpec residual = layer_feed_forward_spec(s, i);
        residual.intermediate_size = spec.residual_mlp_size;
        layer.residual_mlp = DenseFeedForward::load(loader, prefix + "residual_mlp.", residual, device);
      }
    }
    layers_.push_back(std::move(layer));
  }
  final_norm_ = norm("model.norm");
  lm_head_ = LMHead::load(loader, "lm_head", s.tie_word_embeddings ? &embed_tokens_ : nullptr, s.vocab_size,
                          s.hidden_size, s.lm_head_bias, device);
  lm_head_.scale = s.logits_scale;
  lm_head_.softcap = s.final_logit_softcap;
}

bool GenericDecoder::has_skip_connection(size_t i) const {
  const SkipConnections& skip = spec_.skip_connections;
  const int64_t index = static_cast<int64_t>(i);
  for (int slot = 0; slot < 2; ++slot)
    if (contains(skip.save[slot], index) || contains(skip.mix[slot], index)) return true;
  return false;
}

void GenericDecoder::apply_skip_connections(size_t i, Tensor& hidden, Tensor (&saved)[2]) const {
  const SkipConnections& skip = spec_.skip_connections;
  const int64_t index = static_cast<int64_t>(i);
  for (int slot = 0; slot < 2; ++slot)
    if (contains(skip.save[slot], index)) saved[slot] = hidden.clone();
  for (int slot = 0; slot < 2; ++slot) {
    if (!contains(skip.mix[slot], index)) continue;
    VLLM_CHECK(saved[slot].defined(), InvalidArgument, spec_.architecture, ": a skip connection mixes at layer ",
               index, " a stream no earlier layer saved");
    Tensor kept = saved[slot].clone();
    ops::scale(kept, skip.weight);
    ops::scale(hidden, 1.0f - skip.weight);
    ops::add(hidden, kept, hidden);
  }
}

void GenericDecoder::parallel_residual_mlp_block(const Layer& layer, size_t i, Tensor& hidden, Tensor normed,
                                                 const BatchMetadata& batch, KVCache& cache) const {
  Tensor mlp_input = layer.mlp_input_norm.forward(hidden);  // of the layer's input, before attention adds to it
  if (!normed.defined()) normed = layer.input_norm.forward(hidden);
  Tensor attention_out =
      layer.attention->forward(normed, batch, attention_cache(cache, batch, layer_groups_, static_cast<int64_t>(i)));
  ops::add(hidden, attention_out, hidden);
  Tensor residual_out = layer.residual_mlp->forward(layer.residual_mlp_norm.forward(hidden), matmul_input_dtype_);
  Tensor mlp_out = layer.mlp->forward(mlp_input, matmul_input_dtype_);
  ops::add(hidden, residual_out, hidden);
  ops::add(hidden, mlp_out, hidden);
}

Tensor GenericDecoder::block(size_t i, Tensor& hidden, Tensor normed, const BatchMetadata& batch,
                             KVCache& cache) const {
  const DecoderSpec& s = spec_;
  const Layer& layer = layers_[i];
  if (layer.residual_mlp) {
    parallel_residual_mlp_block(layer, i, hidden, normed, batch, cache);
    return Tensor();
  }
  if (layer.attention) {
    if (!normed.defined()) normed = layer.input_norm.defined() ? layer.input_norm.forward(hidden) : hidden;
    Tensor attention_out =
        layer.attention->forward(normed, batch, s.causal ? attention_cache(cache, batch, layer_groups_, static_cast<int64_t>(i))
                                                         : AttentionCache{});
    if (layer.attention_output_norm.defined()) layer.attention_output_norm.forward_inplace(attention_out);
    if (s.residual_multiplier != 1.0f) ops::scale(attention_out, s.residual_multiplier);
    if (s.parallel_residual) {  // both branches read the layer's input
      if (!s.shared_input_norm) normed = layer.mlp_input_norm.forward(hidden);
      Tensor mlp_out = layer.mlp->forward(normed, matmul_input_dtype_);
      ops::add(hidden, attention_out, hidden);
      ops::add(hidden, mlp_out, hidden);
      return Tensor();
    }
    if (layer.mlp && fusable(layer.mlp_input_norm)) {
      normed = add_and_norm(attention_out, hidden, layer.mlp_input_norm, matmul_input_dtype_);
    } else {
      ops::add(hidden, attention_out, hidden);
      normed = Tensor();
    }
  }
  if (!layer.mlp) return Tensor();
  if (!normed.defined()) normed = layer.mlp_input_norm.defined() ? layer.mlp_input_norm.forward(hidden) : hidden;
  Tensor mlp_out = layer.mlp->forward(normed, matmul_input_dtype_);
  if (layer.mlp_output_norm.defined()) layer.mlp_output_norm.forward_inplace(mlp_out);
  if (s.residual_multiplier != 1.0f) ops::scale(mlp_out, s.residual_multiplier);
  // The add fused with the next norm: the next layer's input norm, or after the last layer the
  // final norm (whose f32 result is then the model's output).
  if (i + 1 < layers_.size()) {
    const Layer& next = layers_[i + 1];
    if (next.attention && fusable(next.input_norm) && !has_skip_connection(i + 1))
      return add_and_norm(mlp_out, hidden, next.input_norm, matmul_input_dtype_);
  } else if (fusable(final_norm_)) {
    return add_and_norm(mlp_out, hidden, final_norm_, DType::F32);
  }
  ops::add(hidden, mlp_out, hidden);
  return Tensor();
}

Tensor GenericDecoder::forward(const ModelInputs& inputs, const BatchMetadata& batch, KVCache& cache) {
  const DecoderSpec& s = spec_;
  VLLM_CHECK(batch.positions.dim() == 1, InvalidArgument, s.architecture, " takes [T] positions, not ",
             shape_to_string(batch.positions.shape()));
  // The residual stream [T, H] f32.
  Tensor hidden = inputs.inputs_embeds.defined() ? inputs.inputs_embeds.clone() : embed_input_ids(inputs.token_ids);
  if (s.embedding_scale != 1.0f) ops::scale(hidden, s.embedding_scale);
  if (s.learned_positions) ops::add(hidden, embed_positions_.forward(batch.positions), hidden);
  if (embedding_norm_.defined()) embedding_norm_.forward_inplace(hidden);
  Tensor saved[2];
  Tensor normed;  // the next layer's normed input, when the previous add was fused with it
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (!spec_.skip_connections.empty()) apply_skip_connections(i, hidden, saved);
    normed = block(i, hidden, normed, batch, cache);
  }
  if (normed.defined()) return normed;  // the last add was fused with the final norm
  final_norm_.forward_inplace(hidden);
  return hidden;
}

ModelDescriber decoder_describer(DecoderSpec (*make_spec)(const ModelConfig&)) {
  return [make_spec](const ModelConfig& config) { return describe_spec(make_spec(config)); };
}

ArchitectureInfo decoder_architecture(std::string name, std::string family,
                                      DecoderSpec (*make_spec)(const ModelConfig&)) {
  ArchitectureInfo info{std::move(name), std::move(family), {Task::Generate}, {}, decoder_builder(make_spec),
                        decoder_describer(make_spec)};
  info.decoder_spec = make_spec;
  return info;
}

ModelBuilder decoder_builder(DecoderSpec (*make_spec)(const ModelConfig&)) {
  return [make_spec](const ModelConfig& config, const ModelLoadOptions& options) -> std::unique_ptr<Model> {
    return std::make_unique<GenericDecoder>(make_spec(config), options);
  };
}

}  // namespace vllm
