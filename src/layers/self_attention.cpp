#include "layers/self_attention.h"

#include "core/error.h"
#include "ops/ops.h"

namespace vllm {

SelfAttention SelfAttention::load(WeightLoader& loader, const std::string& prefix, SelfAttentionSpec spec,
                                  std::shared_ptr<const RotaryEmbedding> rotary, Device device) {
  SelfAttention layer;
  const AttentionSpec& a = spec.attention;
  const int64_t q_size = a.num_heads * a.head_dim, kv_size = a.num_kv_heads * a.head_dim;
  const int64_t value_size = a.num_kv_heads * a.value_dim();
  const std::string q = prefix + "q_norm", k = prefix + "k_norm";
  switch (spec.qk_norm) {
    case QkNorm::None: break;
    case QkNorm::PerHead:
      layer.q_norm_ = Norm::load(loader, q, a.head_dim, spec.qk_norm_kind, spec.norm_eps, spec.norm_weight_offset);
      if (!spec.kv_shared)
        layer.k_norm_ = Norm::load(loader, k, a.head_dim, spec.qk_norm_kind, spec.norm_eps, spec.norm_weight_offset);
      break;
    case QkNorm::PerHeadWeights:
      layer.q_norm_ = Norm::load_per_head(loader, q, a.num_heads, a.head_dim, spec.qk_norm_kind, spec.norm_eps);
      if (!spec.kv_shared)
        layer.k_norm_ = Norm::load_per_head(loader, k, a.num_kv_heads, a.head_dim, spec.qk_norm_kind, spec.norm_eps);
      break;
    case QkNorm::Full:
      layer.q_norm_ = Norm::load(loader, q, q_size, spec.qk_norm_kind, spec.norm_eps, spec.norm_weight_offset);
      if (!spec.kv_shared)
        layer.k_norm_ = Norm::load(loader, k, kv_size, spec.qk_norm_kind, spec.norm_eps, spec.norm_weight_offset);
      break;
  }
  if (spec.v_norm) layer.v_norm_ = Norm::unit_rms(a.value_dim(), spec.norm_eps);
  if (spec.kv_shared) {
    VLLM_CHECK(!spec.qkv_bias && spec.clip_qkv == 0.0f && !spec.qk_norm_after_rotary, Unsupported, prefix,
               ": a layer sharing another layer's KV cache takes no qkv bias, clip or post-rotary norm");
    layer.qkv_proj_ = Linear::load(loader, prefix + "q_proj", spec.hidden_size, q_size, false, device);
    for (const char* unused : {"k_proj.weight", "v_proj.weight", "k_norm.weight"}) loader.skip(prefix + unused);
  } else {
    layer.qkv_proj_ = Linear::load(loader, prefix + "qkv_proj", spec.hidden_size, q_size + kv_size + value_size,
                                   spec.qkv_bias, device, {TensorParallel::Split::Column});
  }
  layer.o_proj_ = Linear::load(loader, prefix + "o_proj", a.num_heads * a.value_dim(), spec.hidden_size, spec.o_bias,
                               device, {TensorParallel::Split::Row});
  for (Norm* norm : {&layer.q_norm_, &layer.k_norm_, &layer.v_norm_}) norm->to(device);
  layer.rotary_ = std::move(rotary);
  // GPT-OSS's per-head sink logits ([num_heads], bf16 in the checkpoint).
  Tensor sinks = a.sinks ? loader.take(prefix + "sinks", {a.num_heads}, ParamStorage::Float32) : Tensor();
  layer.attention_ = Attention(a, device, sinks);
  layer.spec_ = std::move(spec);
  return layer;
}

Tensor SelfAttention::forward(const Tensor& hidden, const BatchMetadata& batch, const AttentionCache& cache) const {
  const SelfAttentionSpec& s = spec_;
  const AttentionSpec& a = s.attention;
  const int64_t tokens = hidden.size(0);
  const int64_t q_size = a.num_heads * a.head_dim, kv_size = a.num_kv_heads * a.head_dim;
  const int64_t value_size = a.num_kv_heads * a.value_dim();
  Tensor qkv = qkv_proj_.forward(hidden);  // [T, q_size + kv_size + value_size], or [T, q_size]
  if (s.clip_qkv > 0.0f) ops::clamp(qkv, -s.clip_qkv, s.clip_qkv);
  Tensor query, key, value;
  const bool normed = s.qk_norm != QkNorm::None || s.v_norm;
  if (s.kv_shared) {
    if (s.qk_norm == QkNorm::Full) q_norm_.forward_inplace(qkv);
    query = qkv.view({tokens, a.num_heads, a.head_dim});
    if (s.qk_norm == QkNorm::PerHead || s.qk_norm == QkNorm::PerHeadWeights) q_norm_.forward_inplace(query);
  } else if (normed || a.value_dim() != a.head_dim) {  // the norms work on packed copies
    query = qkv.slice(1, 0, q_size).contiguous();
    key = qkv.slice(1, q_size, q_size + kv_size).contiguous();
    value = qkv.slice(1, q_size + kv_size, q_size + kv_size + value_size).contiguous();
    if (s.qk_norm == QkNorm::Full) {  // over the whole projection, before the heads split
      q_norm_.forward_inplace(query);
      k_norm_.forward_inplace(key);
    }
    query = query.view({tokens, a.num_heads, a.head_dim});
    key = key.view({tokens, a.num_kv_heads, a.head_dim});
    value = value.view({tokens, a.num_kv_heads, a.value_dim()});
  } else {  // views into qkv: rotary, the cache write and attention take row-strided heads
    Tensor heads = qkv.view({tokens, a.num_heads + 2 * a.num_kv_heads, a.head_dim});
    query = heads.slice(1, 0, a.num_heads);
    key = heads.slice(1, a.num_heads, a.num_heads + a.num_kv_heads);
    value = heads.slice(1, a.num_heads + a.num_kv_heads, a.num_heads + 2 * a.num_kv_heads);
  }
  const bool head_norm = !s.kv_shared && s.qk_norm != QkNorm::None && s.qk_norm != QkNorm::Full;
  if (head_norm && !s.qk_norm_after_rotary) {
    q_norm_.forward_inplace(query);
    k_norm_.forward_inplace(key);
  }
  if (v_norm_.defined() && value.defined()) v_norm_.forward_inplace(value);
  Tensor out;
  if (head_norm && s.qk_norm_after_rotary) {  // rotary, then the norms, then the cache write
    if (rotary_) rotary_->forward(batch.positions, batch.token_seq_lens, query, key);
    q_norm_.forward_inplace(query);
    k_norm_.forward_inplace(key);
    out = attention_.forward(query, key, value, batch, cache);
  } else {
    out = attention_.forward(query, key, value, batch, cache, rotary_.get());
  }
  return o_proj_.forward(out.view({tokens, a.num_heads * a.value_dim()}));
}

}  // namespace vllm
