// One step's flattened batch as every layer reads it (DESIGN.md): the new tokens of B sequences
// concatenated, T in all. The engine's model runner builds it; layers read it by const&.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace vllm {

struct BatchMetadata {
  // [T] int32: position of each token in its sequence. Multimodal rotary (M-RoPE) models get
  // [3, T] (temporal, height, width positions); every other model checks for [T].
  Tensor positions;
  Tensor query_start;      // [B + 1] int32: sequence b owns rows [query_start[b], query_start[b+1])
  Tensor seq_lens;         // [B] int32: tokens of each sequence once this step is done
  Tensor token_seq_lens;   // [T] int32: seq_lens of each token's sequence (length-dependent rope)
  // Per KV-cache group (KVCacheSpec::group_windows); a single entry serves every layer.
  std::vector<Tensor> block_tables;   // [B, max_blocks_per_seq] int32: KV blocks of each sequence
  std::vector<Tensor> slot_mappings;  // [T] int32: block * block_size + offset of each token's K/V
  Tensor logits_rows;      // [R] int32: rows of T whose logits the step returns
  // [B] int32: each sequence's recurrent-state slot (models with state layers; undefined
  // otherwise). A sequence whose first new token is at position 0 starts from a zero state;
  // later chunks continue from the slot.
  Tensor state_slots;
  // Host-side bounds, so device kernels pick their launch shapes without reading device memory:
  // the largest new-token count of a sequence, and an upper bound on every seq_lens[b] (a CUDA
  // graph captured once for many steps is given max_model_len). -1: unknown.
  int64_t max_query_len = -1;
  int64_t max_seq_len = -1;
  int64_t num_decode_seqs = -1;  // leading sequences with one new token each (AttentionParams)
};

}  // namespace vllm
