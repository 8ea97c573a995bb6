#include "models/generic_decoder.h"

#include "core/error.h"
#include "loader/safetensors.h"
#include "ops/ops.h"

namespace vllm {

GenericDecoder::GenericDecoder(DecoderSpec spec, const ModelLoadOptions& options) : spec_(std::move(spec)) {
  device_ = options.device;
  VLLM_CHECK(static_cast<int64_t>(spec_.layers.size()) == spec_.num_layers, Internal,
             "decoder spec has ", spec_.layers.size(), " layer specs for ", spec_.num_layers, " layers");
  for (const DecoderLayerSpec& layer : spec_.layers)
    kv_cache_spec_.layers.push_back({spec_.num_kv_heads, spec_.head_dim, spec_.head_dim, layer.sliding_window});
  layer_groups_ = kv_cache_spec_.layer_groups();
  load_weights(options, spec_.weights, spec_.architecture, [this](WeightLoader& loader) { load(loader); });
  if (device_.is_cuda() && !layers_.empty()) {
    const DType type = layers_[0].qkv_proj.weight.dtype();
    bool uniform = type == DType::BF16 || type == DType::F16;
    for (const Layer& layer : layers_)
      for (const Linear* linear : {&layer.qkv_proj, &layer.gate_up_proj, &layer.down_proj})
        uniform = uniform && linear->weight.defined() && linear->weight.dtype() == type;
    if (uniform) matmul_input_dtype_ = type;
  }
}

void GenericDecoder::load(WeightLoader& loader) {
  const DecoderSpec& s = spec_;
  int64_t q_size = s.num_heads * s.head_dim, kv_size = s.num_kv_heads * s.head_dim;
  // Parameters load onto the model's device as they are read (matmul weights straight from the
  // checkpoint mapping, see WeightLoader::take).
  const Device device = device_;
  embed_tokens_ = loader.take("model.embed_tokens.weight", {s.vocab_size, s.hidden_size}, ParamStorage::Keep, device);
  auto norm = [&](const std::string& name, int64_t size) {
    Norm loaded = s.norm_affine ? Norm::load(loader, name, size, s.norm_kind, s.norm_eps, s.norm_weight_offset)
                                : Norm::non_affine(s.norm_eps);
    loaded.to(device);
    return loaded;
  };
  if (s.learned_positions)  // rows from position_offset on, so positions index it directly
    embed_positions_ = loader.take("model.embed_positions.weight",
                                   {s.max_position_embeddings + s.position_offset, s.hidden_size}, ParamStorage::Keep,
                                   device)
                           .slice(0, s.position_offset, s.max_position_embeddings + s.position_offset);
  if (s.embedding_norm) embedding_norm_ = norm("model.embed_layernorm", s.hidden_size);
  if (s.alibi) {
    VLLM_CHECK(static_cast<int64_t>(s.alibi_slopes.size()) == s.num_heads, Internal, s.architecture, ": ",
               s.alibi_slopes.size(), " ALiBi slopes for ", s.num_heads, " heads");
    alibi_slopes_ = Tensor::from_floats(s.alibi_slopes, {s.num_heads}, DType::F32).to(device);
  }
  for (int64_t i = 0; i < s.num_layers; ++i) {
    std::string prefix = str("model.layers.", i, ".");
    Layer layer;
    if (s.pre_norms) layer.input_norm = norm(prefix + "input_layernorm", s.hidden_size);
    if (s.sandwich_norms) {
      layer.attention_output_norm = norm(prefix + "post_attention_layernorm", s.hidden_size);
      if (s.pre_norms) layer.mlp_input_norm = norm(prefix + "pre_feedforward_layernorm", s.hidden_size);
      layer.mlp_output_norm = norm(prefix + "post_feedforward_layernorm", s.hidden_size);
    } else if (s.pre_norms && !s.shared_input_norm) {
      layer.mlp_input_norm = norm(prefix + "post_attention_layernorm", s.hidden_size);
    }
    if (s.qk_norm) {
      std::string q = prefix + "self_attn.q_norm", k = prefix + "self_attn.k_norm";
      switch (s.qk_norm_kind) {
        case QkNorm::None: break;
        case QkNorm::PerHead:
          layer.q_norm = Norm::load(loader, q, s.head_dim, s.qk_norm_norm_kind, s.norm_eps, s.norm_weight_offset);
          layer.k_norm = Norm::load(loader, k, s.head_dim, s.qk_norm_norm_kind, s.norm_eps, s.norm_weight_offset);
          break;
        case QkNorm::PerHeadWeights:
          layer.q_norm = Norm::load_per_head(loader, q, s.num_heads, s.head_dim, s.qk_norm_norm_kind, s.norm_eps);
          layer.k_norm = Norm::load_per_head(loader, k, s.num_kv_heads, s.head_dim, s.qk_norm_norm_kind, s.norm_eps);
          break;
        case QkNorm::Full:
          layer.q_norm = Norm::load(loader, q, q_size, s.qk_norm_norm_kind, s.norm_eps, s.norm_weight_offset);
          layer.k_norm = Norm::load(loader, k, kv_size, s.qk_norm_norm_kind, s.norm_eps, s.norm_weight_offset);
          break;
      }
    }
    layer.qkv_proj =
        Linear::load(loader, prefix + "self_attn.qkv_proj", s.hidden_size, q_size + 2 * kv_size, s.qkv_bias, device);
    layer.o_proj = Linear::load(loader, prefix + "self_attn.o_proj", q_size, s.hidden_size, s.o_bias, device);
    if (s.gated_mlp)
      layer.gate_up_proj =
          Linear::load(loader, prefix + "mlp.gate_up_proj", s.hidden_size, 2 * s.intermediate_size, s.mlp_bias, device);
    else
      layer.gate_up_proj =
          Linear::load(loader, prefix + "mlp.up_proj", s.hidden_size, s.intermediate_size, s.mlp_bias, device);
    layer.down_proj =
        Linear::load(loader, prefix + "mlp.down_proj", s.intermediate_size, s.hidden_size, s.mlp_bias, device);
    for (Norm* n : {&layer.q_norm, &layer.k_norm}) n->to(device);
    if (s.rotary_dim > 0 && s.layers[i].rotary) {
      // Layers with the same rope parameters share one RotaryEmbedding (and its device table).
      for (const Layer& previous : layers_)
        if (previous.rotary && previous.rope_params == s.layers[i].rope) layer.rotary = previous.rotary;
      if (!layer.rotary) {
        auto rotary = std::make_shared<RotaryEmbedding>(s.layers[i].rope, s.rotary_dim, s.max_position_embeddings,
                                                        s.rope_neox);
        if (device.is_cuda()) rotary->prepare_table(device, s.max_position_embeddings);
        layer.rotary = std::move(rotary);
      }
      layer.rope_params = s.layers[i].rope;
    }
    layer.sliding_window = s.layers[i].sliding_window;
    layers_.push_back(std::move(layer));
  }
  final_norm_ = norm("model.norm", s.hidden_size);
  if (s.tie_word_embeddings) {
    lm_head_ = embed_tokens_;
    loader.skip("lm_head.weight");  // some checkpoints store the tied copy as well
  } else {
    lm_head_ = loader.take("lm_head.weight", {s.vocab_size, s.hidden_size}, ParamStorage::Keep, device);
  }
  if (s.lm_head_bias) lm_head_bias_ = loader.take("lm_head.bias", {s.vocab_size}, ParamStorage::Float32, device);
}

Tensor GenericDecoder::attention(const Layer& layer, const Tensor& hidden, const BatchMetadata& batch,
                                 const Tensor& block_table, const Tensor& slot_mapping, Tensor& key_cache,
                                 Tensor& value_cache) const {
  const DecoderSpec& s = spec_;
  int64_t tokens = hidden.size(0);
  int64_t q_size = s.num_heads * s.head_dim, kv_size = s.num_kv_heads * s.head_dim;
  Tensor qkv = layer.qkv_proj.forward(hidden);  // [T, q_size + 2 kv_size]
  if (s.clip_qkv > 0.0f) ops::clamp(qkv, -s.clip_qkv, s.clip_qkv);
  bool full_qk_norm = s.qk_norm && s.qk_norm_kind == QkNorm::Full;
  Tensor query, key, value;
  if (s.qk_norm) {  // the norms work on packed copies
    query = qkv.slice(1, 0, q_size).contiguous();
    key = qkv.slice(1, q_size, q_size + kv_size).contiguous();
    value = qkv.slice(1, q_size + kv_size, q_size + 2 * kv_size).contiguous();
    if (full_qk_norm) {  // over the whole projection, before the heads split
      layer.q_norm.forward_inplace(query);
      layer.k_norm.forward_inplace(key);
    }
    query = query.view({tokens, s.num_heads, s.head_dim});
    key = key.view({tokens, s.num_kv_heads, s.head_dim});
    value = value.view({tokens, s.num_kv_heads, s.head_dim});
  } else {  // views into qkv: rotary, the cache write and attention take row-strided heads
    Tensor heads = qkv.view({tokens, s.num_heads + 2 * s.num_kv_heads, s.head_dim});
    query = heads.slice(1, 0, s.num_heads);
    key = heads.slice(1, s.num_heads, s.num_heads + s.num_kv_heads);
    value = heads.slice(1, s.num_heads + s.num_kv_heads, s.num_heads + 2 * s.num_kv_heads);
  }
  bool head_qk_norm = s.qk_norm && !full_qk_norm && s.qk_norm_kind != QkNorm::None;
  if (head_qk_norm && !s.qk_norm_after_rotary) {
    layer.q_norm.forward_inplace(query);
    layer.k_norm.forward_inplace(key);
  }
  if (head_qk_norm && s.qk_norm_after_rotary) {
    if (layer.rotary) layer.rotary->forward(batch.positions, batch.token_seq_lens, query, key);
    layer.q_norm.forward_inplace(query);
    layer.k_norm.forward_inplace(key);
    ops::reshape_and_cache(key, value, key_cache, value_cache, slot_mapping);
  } else if (layer.rotary) {
    layer.rotary->forward_and_cache(batch.positions, batch.token_seq_lens, query, key, value, key_cache, value_cache,
                                    slot_mapping);
  } else {
    ops::reshape_and_cache(key, value, key_cache, value_cache, slot_mapping);
  }

  ops::AttentionParams params;
  params.scale = s.attention_scale;
  params.sliding_window = layer.sliding_window;
  params.logit_softcap = s.attn_logit_softcap;
  params.alibi_slopes = alibi_slopes_;
  params.max_query_len = batch.max_query_len;
  params.num_decode_seqs = batch.num_decode_seqs;
  params.max_seq_len = batch.max_seq_len;
  Tensor out = Tensor::empty({tokens, s.num_heads, s.head_dim}, DType::F32, hidden.device());
  ops::paged_attention(query, key_cache, value_cache, batch.query_start, batch.seq_lens, block_table, params, out);
  return layer.o_proj.forward(out.view({tokens, q_size}));
}

Tensor GenericDecoder::mlp(const Layer& layer, const Tensor& hidden) const {
  if (!spec_.gated_mlp) {
    Tensor up = layer.gate_up_proj.forward(hidden);  // [T, I]
    ops::activation(spec_.activation, up, up);
    return layer.down_proj.forward(up);
  }
  // [T, 2 I] in the matmuls' half type when they run in one (CUDA): the activation reads half the
  // bytes, and the product is rounded as HF's bf16 model rounds it.
  Tensor gate_up = layer.gate_up_proj.forward(hidden, matmul_input_dtype_);
  Tensor activated = Tensor::empty({hidden.size(0), spec_.intermediate_size}, matmul_input_dtype_, hidden.device());
  ops::activation_and_mul(spec_.activation, gate_up, activated);
  return layer.down_proj.forward(activated);
}

void GenericDecoder::add_position_embeddings(const Tensor& positions, Tensor& hidden) const {
  Tensor position_embeddings = Tensor::empty(hidden.shape(), DType::F32, hidden.device());
  ops::embedding(positions, embed_positions_, position_embeddings);
  ops::add(hidden, position_embeddings, hidden);
}

Tensor GenericDecoder::forward(const Tensor& token_ids, const BatchMetadata& batch, KVCache& cache) {
  const DecoderSpec& s = spec_;
  int64_t tokens = token_ids.size(0);
  Tensor hidden = Tensor::empty({tokens, s.hidden_size}, DType::F32, token_ids.device());  // residual stream
  ops::embedding(token_ids, embed_tokens_, hidden);
  if (s.embedding_scale != 1.0f) ops::scale(hidden, s.embedding_scale);
  if (s.learned_positions) add_position_embeddings(batch.positions, hidden);
  if (embedding_norm_.defined()) embedding_norm_.forward_inplace(hidden);

  // A residual add followed by an RMSNorm of the sum runs as one fused_add_rms_norm (vLLM's
  // fusion): the branch output becomes the normed sum.
  auto fusable = [](const Norm& norm) {
    return norm.defined() && norm.kind == NormKind::RMSNorm && norm.weight.defined() && norm.weight.dim() == 1;
  };
  // Returns the normed sum: the branch itself (f32), or a matmul_input_dtype_ tensor.
  auto add_and_norm = [this](Tensor& branch, Tensor& residual, const Norm& norm) {
    if (matmul_input_dtype_ == DType::F32) {
      ops::fused_add_rms_norm(branch, residual, norm.weight, norm.eps, norm.weight_offset);
      return branch;
    }
    Tensor normed = Tensor::empty(branch.shape(), matmul_input_dtype_, branch.device());
    ops::fused_add_rms_norm(branch, residual, norm.weight, norm.eps, norm.weight_offset, normed);
    return normed;
  };
  Tensor next_normed;  // the next layer's normed input, when the previous add was fused with it
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& layer = layers_[i];
    Tensor normed = next_normed.defined()         ? next_normed
                    : layer.input_norm.defined() ? layer.input_norm.forward(hidden)
                                                 : hidden;
    next_normed = Tensor();
    // One table serves every layer, or each KV-cache group has its own.
    size_t group = batch.block_tables.size() == 1 ? 0 : static_cast<size_t>(layer_groups_[i]);
    VLLM_CHECK(group < batch.block_tables.size(), InvalidArgument, "batch has ", batch.block_tables.size(),
               " block tables; layer ", i, " needs group ", group);
    Tensor attention_out = attention(layer, normed, batch, batch.block_tables[group], batch.slot_mappings[group],
                                     cache.key[i], cache.value[i]);
    if (layer.attention_output_norm.defined()) layer.attention_output_norm.forward_inplace(attention_out);
    if (s.residual_multiplier != 1.0f) ops::scale(attention_out, s.residual_multiplier);

    if (s.parallel_residual) {  // both branches read the layer's input
      if (!s.shared_input_norm) normed = layer.mlp_input_norm.forward(hidden);
      Tensor mlp_out = mlp(layer, normed);
      ops::add(hidden, attention_out, hidden);
      ops::add(hidden, mlp_out, hidden);
      continue;
    }
    if (fusable(layer.mlp_input_norm)) {
      normed = add_and_norm(attention_out, hidden, layer.mlp_input_norm);
    } else {
      ops::add(hidden, attention_out, hidden);
      normed = layer.mlp_input_norm.defined() ? layer.mlp_input_norm.forward(hidden) : hidden;
    }
    Tensor mlp_out = mlp(layer, normed);
    if (layer.mlp_output_norm.defined()) layer.mlp_output_norm.forward_inplace(mlp_out);
    if (s.residual_multiplier != 1.0f) ops::scale(mlp_out, s.residual_multiplier);
    if (i + 1 < layers_.size() && fusable(layers_[i + 1].input_norm)) {
      next_normed = add_and_norm(mlp_out, hidden, layers_[i + 1].input_norm);
    } else {
      ops::add(hidden, mlp_out, hidden);
    }
  }

  // Only the rows whose logits are wanted go through the final norm and the LM head.
  Tensor rows = Tensor::empty({batch.logits_rows.size(0), s.hidden_size}, DType::F32, hidden.device());
  ops::gather_rows(hidden, batch.logits_rows, rows);
  final_norm_.forward_inplace(rows);
  Tensor logits = Tensor::empty({rows.size(0), s.vocab_size}, DType::F32, hidden.device());
  ops::linear(rows, lm_head_, lm_head_bias_, logits);
  if (s.logits_scale != 1.0f) ops::scale(logits, s.logits_scale);
  if (s.final_logit_softcap > 0.0f) ops::softcap(logits, s.final_logit_softcap);
  return logits;
}

ModelDescriber decoder_describer(DecoderSpec (*make_spec)(const ModelConfig&)) {
  return [make_spec](const ModelConfig& config) { return describe_spec(make_spec(config)); };
}

ArchitectureInfo decoder_architecture(std::string name, std::string family,
                                      DecoderSpec (*make_spec)(const ModelConfig&)) {
  return {std::move(name), std::move(family), {Task::Generate}, {}, decoder_builder(make_spec),
          decoder_describer(make_spec)};
}

ModelBuilder decoder_builder(DecoderSpec (*make_spec)(const ModelConfig&)) {
  return [make_spec](const ModelConfig& config, const ModelLoadOptions& options) -> std::unique_ptr<Model> {
    return std::make_unique<GenericDecoder>(make_spec(config), options);
  };
}

}  // namespace vllm
