// Attention: the one paged-attention layer every family calls (vLLM's Attention). It takes a
// step's query, key and value heads, writes key and value into the layer's paged cache (with the
// rotary embedding fused into that write where it can be) and attends over the cache through the
// block table. What tells one family's attention from another is data in AttentionSpec.
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
  EncoderOnly,  // bidirectional self-attention within the step's own tokens (encoders)
  Cross,        // decoder queries over a cache an encoder filled once (encoder-decoder models)
};

struct AttentionSpec {
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;         // of queries and keys
  int64_t value_head_dim = 0;   // 0: head_dim
  float scale = 0.0f;           // multiplies q.k (HF's scaling)
  AttentionType type = AttentionType::Decoder;
  int64_t sliding_window = 0;   // 0: none; else key j visible to position p iff p - j < window
  float logit_softcap = 0.0f;   // 0: none; else cap * tanh(score / cap) (Gemma 2)
  std::vector<float> alibi_slopes;  // empty: none; else [num_heads] (Bloom, MPT)
  bool sinks = false;           // a learned per-head sink logit in the softmax (`sinks` parameter)
  int64_t latent_dim = 0;       // > 0: MLA's latent form, one compressed vector per token cached

  int64_t value_dim() const { return value_head_dim > 0 ? value_head_dim : head_dim; }
};

// The paged cache one attention layer reads and writes in a step.
struct AttentionCache {
  Tensor key_cache;     // [num_blocks, block_size, Hk, D]
  Tensor value_cache;   // [num_blocks, block_size, Hk, Dv]
  Tensor block_table;   // [B, max_blocks] int32: the layer's KV-cache group
  Tensor slot_mapping;  // [T] int32
};

class Attention {
 public:
  Attention() = default;
  // Unsupported, naming the switch, for a spec this build cannot run yet.
  Attention(AttentionSpec spec, Device device);

  const AttentionSpec& spec() const { return spec_; }

  // query [T, Hq, D] f32 (rows may be strided), key [T, Hk, D] and value [T, Hk, Dv] or both
  // undefined (a layer that reads another layer's cache, Gemma 3n's KV sharing). With `rotary`,
  // query and key are rotated first (in place), fused with the cache write where the backend can.
  // Returns [T, Hq, Dv] f32.
  Tensor forward(Tensor& query, Tensor& key, const Tensor& value, const BatchMetadata& batch,
                 AttentionCache cache, const RotaryEmbedding* rotary = nullptr) const;

 private:
  AttentionSpec spec_;
  Tensor alibi_slopes_;  // [Hq] f32 on the model's device, or undefined
};

}  // namespace vllm
