// The model interface the engine drives: a forward pass over one flattened batch that reads and
// writes the paged KV cache and returns the logits of the rows asked for.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace vllm {

// One step's flattened batch (DESIGN.md): the new tokens of B sequences concatenated, T in all.
struct BatchMetadata {
  Tensor positions;        // [T] int32: position of each token in its sequence
  Tensor query_start;      // [B + 1] int32: sequence b owns rows [query_start[b], query_start[b+1])
  Tensor seq_lens;         // [B] int32: tokens of each sequence once this step is done
  Tensor token_seq_lens;   // [T] int32: seq_lens of each token's sequence (length-dependent rope)
  // Per KV-cache group (KVCacheSpec::groups); a single entry serves every layer.
  std::vector<Tensor> block_tables;   // [B, max_blocks_per_seq] int32: KV blocks of each sequence
  std::vector<Tensor> slot_mappings;  // [T] int32: block * block_size + offset of each token's K/V
  Tensor logits_rows;      // [R] int32: rows of T whose logits the step returns
  // Host-side bounds, so device kernels pick their launch shapes without reading device memory:
  // the largest new-token count of a sequence, and an upper bound on every seq_lens[b] (a CUDA
  // graph captured once for many steps is given max_model_len). -1: unknown.
  int64_t max_query_len = -1;
  int64_t max_seq_len = -1;
  int64_t num_decode_seqs = -1;  // leading sequences with one new token each (AttentionParams)
};

// What the KV cache of one attention layer holds, so the engine can size and group pools.
struct AttentionLayerCache {
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;        // key head size
  int64_t value_head_dim = 0;  // value head size
  int64_t sliding_window = 0;  // 0: full attention
};

// Layers are grouped by attention window for the KV-cache manager: group 0 holds the
// full-attention layers (when any), then one group per sliding-window size, ascending. Each
// group has its own block table per sequence; each layer has its own cache tensors.
struct KVCacheSpec {
  std::vector<AttentionLayerCache> layers;
  std::vector<int64_t> group_windows() const;   // window of each group (0: full attention)
  std::vector<int64_t> layer_groups() const;    // group of each layer
  // Bytes one block of `block_size` tokens takes across every layer (f32 on the CPU).
  size_t bytes_per_block(int64_t block_size, DType dtype) const;
};

// Per attention layer: key [num_blocks, block_size, Hk, D] and value [num_blocks, block_size, Hk, Dv].
struct KVCache {
  int64_t num_blocks = 0;
  int64_t block_size = 0;
  std::vector<Tensor> key;
  std::vector<Tensor> value;

  static KVCache allocate(const KVCacheSpec& spec, int64_t num_blocks, int64_t block_size,
                          DType dtype, Device device);
};

class Model {
 public:
  virtual ~Model() = default;
  // token_ids [T] int32 -> logits [R, vocab] f32 for the rows batch.logits_rows names.
  virtual Tensor forward(const Tensor& token_ids, const BatchMetadata& batch, KVCache& cache) = 0;
  virtual const KVCacheSpec& kv_cache_spec() const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual int64_t max_position_embeddings() const = 0;
  virtual const std::string& architecture() const = 0;
  // > 0: a sequence growing past this many tokens must be recomputed from its first token, its
  // cached K/V discarded (Phi-3 LongRoPE switches every position to the long factors there, as
  // HF's Phi3ForCausalLM drops its cache at that length).
  virtual int64_t recompute_at_length() const { return 0; }
};

}  // namespace vllm
