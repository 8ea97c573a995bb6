#include "layers/attention.h"

#include "core/error.h"
#include "ops/ops.h"

namespace vllm {

Attention::Attention(AttentionSpec spec, Device device, Tensor sinks) : spec_(std::move(spec)) {
  const AttentionSpec& s = spec_;
  VLLM_CHECK(s.num_heads > 0 && s.num_kv_heads > 0 && s.num_heads % s.num_kv_heads == 0 && s.head_dim > 0,
             InvalidArgument, "attention: ", s.num_heads, " query heads must be a positive multiple of ",
             s.num_kv_heads, " kv heads, head_dim ", s.head_dim);
  VLLM_CHECK(s.type != AttentionType::Cross || s.sliding_window == 0, Unsupported, "attention: a sliding window (",
             s.sliding_window, ") applies to decoder and encoder-only attention, not to cross-attention");
  if (!s.alibi_slopes.empty()) {
    VLLM_CHECK(static_cast<int64_t>(s.alibi_slopes.size()) == s.num_heads, Internal, "attention: ",
               s.alibi_slopes.size(), " ALiBi slopes for ", s.num_heads, " heads");
    alibi_slopes_ = Tensor::from_floats(s.alibi_slopes, {s.num_heads}, DType::F32).to(device);
  }
  VLLM_CHECK(s.sinks == sinks.defined(), Internal, "attention: the spec ", s.sinks ? "has" : "has no",
             " sinks but the sink tensor is ", sinks.defined() ? "given" : "missing");
  if (s.sinks) {
    VLLM_CHECK(sinks.dim() == 1 && sinks.size(0) == s.num_heads && sinks.dtype() == DType::F32, InvalidArgument,
               "attention: sinks ", sinks.to_string(), " must be f32 [", s.num_heads, "]");
    sinks_ = sinks.to(device).contiguous();
  }
}

Tensor Attention::forward(Tensor& query, Tensor& key, const Tensor& value, const BatchMetadata& batch,
                          AttentionCache cache, const RotaryEmbedding* rotary) const {
  const AttentionSpec& s = spec_;
  const int64_t tokens = query.size(0);
  ops::AttentionParams params;
  params.scale = s.scale;
  params.causal = s.type == AttentionType::Decoder;
  params.sliding_window = s.sliding_window;
  params.logit_softcap = s.logit_softcap;
  params.alibi_slopes = alibi_slopes_;
  params.sinks = sinks_;
  params.max_query_len = batch.max_query_len;
  params.num_decode_seqs = batch.num_decode_seqs;
  params.max_seq_len = batch.max_seq_len;
  Tensor out = Tensor::empty({tokens, s.num_heads, s.value_dim()}, DType::F32, query.device());

  switch (s.type) {
    case AttentionType::Decoder:
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
      break;
    case AttentionType::EncoderOnly:
      VLLM_CHECK(key.defined() && value.defined(), InvalidArgument,
                 "attention: encoder-only attention needs the step's key and value");
      if (rotary) rotary->forward(batch.positions, batch.token_seq_lens, query, key);
      params.max_seq_len = batch.max_query_len;  // the keys are the step's own tokens
      ops::attention_varlen(query, key, value, batch.query_start, batch.query_start, params, out);
      return out;
    case AttentionType::Cross:
      VLLM_CHECK(!rotary, InvalidArgument, "attention: cross-attention takes no rotary embedding");
      if (key.defined()) ops::reshape_and_cache(key, value, cache.key_cache, cache.value_cache, cache.slot_mapping);
      if (cache.seq_lens.defined()) params.max_seq_len = -1;  // batch.max_seq_len bounds the decoder's lengths
      break;
  }
  ops::paged_attention(query, cache.key_cache, cache.value_cache, batch.query_start,
                       cache.seq_lens.defined() ? cache.seq_lens : batch.seq_lens, cache.block_table, params, out);
  return out;
}

}  // namespace vllm
