// Attention: the one attention layer every family calls (vLLM's Attention). It takes a step's
// query, key and value heads; a decoder layer writes key and value into the layer's paged cache
// (with the rotary embedding fused into that write where it can be) and attends over the cache
// through the block table, an encoder layer attends over the step's own keys without a cache, and
// a cross-attention layer attends over the cache its encoder step filled. What tells one family's
// attention from another is data in AttentionSpec.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "layers/batch_metadata.h"
#include "layers/rotary_embedding.h"

namespace vllm {

// Which keys a query sees.
enum class AttentionType {
  Decoder,      // causal self-attention over the paged cache
  EncoderOnly,  // bidirectional self-attention within each sequence's own tokens of the step, no cache
  Cross,        // decoder queries over a cache an encoder filled once (encoder-decoder models)
};

struct AttentionSpec {
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;         // of queries and keys
  int64_t value_head_dim = 0;   // 0: head_dim
  float scale = 0.0f;           // multiplies q.k (HF's scaling)
  AttentionType type = AttentionType::Decoder;
  // 0: none; else key j visible to position p iff p - j < window (Decoder), |p - j| < window
  // (EncoderOnly: ModernBERT's local layers); Cross takes none.
  int64_t sliding_window = 0;
  float logit_softcap = 0.0f;   // 0: none; else cap * tanh(score / cap) (Gemma 2)
  std::vector<float> alibi_slopes;  // empty: none; else [num_heads] (Bloom, MPT)
  bool sinks = false;           // a learned per-head sink logit in the softmax (GPT-OSS's `sinks`)

  int64_t value_dim() const { return value_head_dim > 0 ? value_head_dim : head_dim; }
};

// The paged cache one attention layer reads and writes in a step.
struct AttentionCache {
  Tensor key_cache;     // [num_blocks, block_size, Hk, D]
  Tensor value_cache;   // [num_blocks, block_size, Hk, Dv]
  Tensor block_table;   // [B, max_blocks] int32: the layer's KV-cache group
  Tensor slot_mapping;  // [T] int32 (a cross layer's encoder step: [Tk], one slot per encoder token)
  // [B] int32: the keys each sequence has in this cache; undefined: batch.seq_lens. Cross layers
  // pass their encoder lengths.
  Tensor seq_lens;
};

class Attention {
 public:
  Attention() = default;
  // sinks: [num_heads] f32 when spec.sinks (moved to `device`), else undefined. Unsupported, naming
  // the switch, for a spec this build cannot run yet (MLA).
  Attention(AttentionSpec spec, Device device, Tensor sinks = Tensor());

  const AttentionSpec& spec() const { return spec_; }

  // query [T, Hq, D] f32 (rows may be strided), key [T, Hk, D] and value [T, Hk, Dv] or both
  // undefined. With `rotary`, query and key are rotated first (in place), fused with the cache
  // write where the backend can. By type:
  //   Decoder: key/value written to the cache at cache.slot_mapping, then causal attention over
  //     the cache; undefined key/value: a layer that reads another layer's cache (Gemma 3n's KV
  //     sharing).
  //   EncoderOnly: key/value required; sequence b attends over its own rows of the step
  //     (batch.query_start), both ways; no cache is read or written (`cache` is unused).
  //   Cross: key/value [Tk, Hk, D] are the encoder's (its step: written to the cache at
  //     cache.slot_mapping, [Tk]), or undefined (a later step); the queries attend over every
  //     cached key of their sequence, cache.seq_lens of them. No rotary.
  // Returns [T, Hq, Dv] f32.
  Tensor forward(Tensor& query, Tensor& key, const Tensor& value, const BatchMetadata& batch,
                 AttentionCache cache, const RotaryEmbedding* rotary = nullptr) const;

 private:
  AttentionSpec spec_;
  Tensor alibi_slopes_;  // [Hq] f32 on the model's device, or undefined
  Tensor sinks_;         // [Hq] f32 on the model's device, or undefined
};

}  // namespace vllm
