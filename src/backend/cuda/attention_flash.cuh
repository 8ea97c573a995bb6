// The tensor-core paged attention kernels (attention_flash_cuda.cu) as attention_cuda.cu launches
// them: bf16/f16 caches, head sizes 64, 80, 96, 128 and 256 with Dv == D.
#pragma once

#include <cstdint>

#include "backend/cuda/cuda_common.cuh"

namespace vllm::cuda::detail {

// The grid's order. SeqsFastest: x = (sequence, split), y = kv head, z = row tile. HeadsFastest
// (x = kv head, y = (sequence, split)): the blocks of one sequence's heads run side by side and read
// neighbouring bytes of each cache row, as the heads of a token are adjacent in [block, slot, Hk,
// D]. RowsFastest (x = row tile, y = kv head, z = sequence): the row tiles of one (sequence, kv
// head) run side by side and read the same keys, which then come from L2 rather than memory.
enum class FlashOrder { SeqsFastest, HeadsFastest, RowsFastest };

// One launch over a flattened batch. A "row" of a (sequence, kv head) is one (query token, query
// head of the kv head's GQA group) pair, row = token * group + head_in_group: packing the group
// into the rows of one tile reads each K/V tile once per group.
struct FlashArgs {
  const float* query;   // [T, Hq, D], rows query_stride apart
  int64_t query_stride;
  const void* key_cache;    // [num_blocks, block_size, Hk, D] bf16/f16
  const void* value_cache;  // [num_blocks, block_size, Hk, D]
  WType cache_type;         // bf16 or f16
  const int32_t* query_start;  // [B + 1]
  const int32_t* seq_lens;     // [B]
  const int32_t* block_table;  // [B, table_stride]
  int64_t table_stride;
  int max_blocks;  // usable columns of block_table
  int block_size;
  int block_shift;  // log2(block_size) when a power of two, else -1
  int num_blocks;
  int num_heads;
  int num_kv_heads;
  int group;  // num_heads / num_kv_heads
  float scale;
  bool causal;         // false: every row sees its sequence's whole context
  float softcap;       // 0: none
  int sliding_window;  // 0: none (causal only)
  const float* alibi_slopes;  // [Hq] or nullptr
  // [Hq] or nullptr: each head's sink logit joins the softmax denominator where a row's output is
  // final (here with num_splits == 1, else in merge_attention_splits).
  const float* sinks;
  // The context of each sequence is cut into num_splits equal parts (rounded to the key tile) on
  // the device, from its actual seq_len: one block per part. With num_splits == 1 the result goes
  // to out; otherwise each part writes partial_out (normalised) and partial_lse (log2 of its
  // softmax denominator plus its max, in log2 units; -inf when it saw no key) and
  // merge_attention_splits combines them.
  int num_splits;
  // Which of a block's coordinates its index runs through fastest, i.e. which blocks run side by
  // side (see FlashOrder).
  FlashOrder order;
  int64_t tokens;
  float* out;          // [T, Hq, D]
  float* partial_out;  // [num_splits, T, Hq, D]
  float* partial_lse;  // [num_splits, T, Hq]
};

constexpr float kLog2e = 1.4426950408889634f;

// Rows per block of the two variants: decode tiles hold 16 rows whose four warps take a quarter of
// each key tile; prefill tiles hold 64 rows, 16 per warp, each warp over the whole key tile.
constexpr int kFlashDecodeRows = 16;
constexpr int kFlashPrefillRows = 64;

bool flash_attention_supported(int head_size);
// grid: B * num_splits, Hk and ceil(max_query_len * group / rows) blocks, in args.order.
void launch_flash_attention(WType cache_type, int head_size, bool decode, const FlashArgs& args,
                            int64_t num_seqs, int64_t row_tiles);

}  // namespace vllm::cuda::detail
