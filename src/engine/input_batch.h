// The model runner's input preparation: a step's per-sequence chunks (tokens, block ids per
// KV-cache group, which rows need logits) flattened into one batch (BatchMetadata, layers/batch_metadata.h)
// and copied to the model's device in one transfer. The model runner and the model tests build
// their batches here.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "models/model.h"

namespace vllm {

// One sequence's share of a step, on the host.
struct SequenceChunk {
  int64_t num_computed_tokens = 0;  // tokens already in the KV cache
  std::vector<int32_t> token_ids;   // the new tokens this step computes
  std::vector<int32_t> block_ids;   // every block of the sequence, in order (every group)
  // Per KV-cache group instead, when groups hold different blocks (null blocks where a
  // sliding window dropped them).
  std::vector<std::vector<int32_t>> group_block_ids;
  // The prompt's length: rotary scalings that depend on the sequence length see at least this
  // many tokens, so a prompt prefilled in chunks rotates as if prefilled at once (0: unknown).
  int64_t num_prompt_tokens = 0;
  bool all_logits = false;          // logits for every new token (prompt logprobs) or the last only
  bool want_logits = true;          // false: a prefill chunk that does not reach the end
  // The sequence's recurrent-state slot (models with state layers; -1: none, or a padding row).
  int32_t state_slot = -1;
};

struct FlatBatch {
  Tensor token_ids;  // [T] int32
  BatchMetadata metadata;
};

// table_width: block-table columns (at least the longest sequence's block count; 0: just that).
FlatBatch build_flat_batch(const std::vector<SequenceChunk>& chunks, int64_t block_size, int64_t table_width = 0);

// The batch's int32 arrays copied to `device` in one transfer, as views of one packed buffer
// (the host bounds carried over). With `into` (an int32 device tensor at least
// packed_batch_size(batch) long) the arrays land there: the fixed input buffers of a CUDA graph.
FlatBatch upload_batch(const FlatBatch& batch, Device device, const Tensor* into = nullptr);
int64_t packed_batch_size(const FlatBatch& batch);

}  // namespace vllm
