#include "layers/attention.h"

#include "core/error.h"
#include "ops/ops.h"

namespace vllm {

Attention::Attention(AttentionSpec spec, Device device) : spec_(std::move(spec)) {
  const AttentionSpec& s = spec_;
  VLLM_CHECK(s.num_heads > 0 && s.num_kv_heads > 0 && s.num_heads % s.num_kv_heads == 0 && s.head_dim > 0,
             InvalidArgument, "attention: ", s.num_heads, " query heads must be a positive multiple of ",
             s.num_kv_heads, " kv heads, head_dim ", s.head_dim);
  VLLM_CHECK(s.type == AttentionType::Decoder, Unsupported, "attention: ",
             s.type == AttentionType::Cross ? "cross-attention" : "bidirectional (encoder-only) attention",
             " is not supported yet");
  VLLM_CHECK(!s.sinks, Unsupported, "attention: attention sinks are not supported yet");
  VLLM_CHECK(s.latent_dim == 0, Unsupported, "attention: multi-head latent attention (MLA) is not supported yet");
  if (!s.alibi_slopes.empty()) {
    VLLM_CHECK(static_cast<int64_t>(s.alibi_slopes.size()) == s.num_heads, Internal, "attention: ",
               s.alibi_slopes.size(), " ALiBi slopes for ", s.num_heads, " heads");
    alibi_slopes_ = Tensor::from_floats(s.alibi_slopes, {s.num_heads}, DType::F32).to(device);
  }
}

Tensor Attention::forward(Tensor& query, Tensor& key, const Tensor& value, const BatchMetadata& batch,
                          AttentionCache cache, const RotaryEmbedding* rotary) const {
  const AttentionSpec& s = spec_;
  const int64_t tokens = query.size(0);
  if (key.defined()) {
    if (rotary)
      rotary->forward_and_cache(batch.positions, batch.token_seq_lens, query, key, value, cache.key_cache,
                                cache.value_cache, cache.slot_mapping);
    else
      ops::reshape_and_cache(key, value, cache.key_cache, cache.value_cache, cache.slot_mapping);
  } else if (rotary) {  // keys come rotated from the layer whose cache this one reads
    Tensor no_key;
    rotary->forward(batch.positions, batch.token_seq_lens, query, no_key);
  }
  ops::AttentionParams params;
  params.scale = s.scale;
  params.sliding_window = s.sliding_window;
  params.logit_softcap = s.logit_softcap;
  params.alibi_slopes = alibi_slopes_;
  params.max_query_len = batch.max_query_len;
  params.num_decode_seqs = batch.num_decode_seqs;
  params.max_seq_len = batch.max_seq_len;
  Tensor out = Tensor::empty({tokens, s.num_heads, s.value_dim()}, DType::F32, query.device());
  ops::paged_attention(query, cache.key_cache, cache.value_cache, batch.query_start, batch.seq_lens,
                       cache.block_table, params, out);
  return out;
}

}  // namespace vllm
