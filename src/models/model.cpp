#include "models/model.h"

#include <algorithm>

#include "core/error.h"

namespace vllm {

size_t KVCacheSpec::bytes_per_block(int64_t block_size, DType dtype) const {
  size_t bytes = 0;
  for (const AttentionLayerCache& layer : layers)
    bytes += static_cast<size_t>(block_size * layer.num_kv_heads * (layer.head_dim + layer.value_head_dim)) *
             dtype_size(dtype);
  return bytes;
}

KVCache KVCache::allocate(const KVCacheSpec& spec, int64_t num_blocks, int64_t block_size,
                          DType dtype, Device device) {
  KVCache cache;
  cache.num_blocks = num_blocks;
  cache.block_size = block_size;
  for (const AttentionLayerCache& layer : spec.layers) {
    cache.key.push_back(Tensor::zeros({num_blocks, block_size, layer.num_kv_heads, layer.head_dim}, dtype, device));
    cache.value.push_back(
        Tensor::zeros({num_blocks, block_size, layer.num_kv_heads, layer.value_head_dim}, dtype, device));
  }
  return cache;
}

FlatBatch build_flat_batch(const std::vector<SequenceChunk>& chunks, int64_t block_size) {
  std::vector<int32_t> tokens, positions, query_start{0}, seq_lens, token_seq_lens, slots, logits_rows;
  size_t max_blocks = 1;
  for (const SequenceChunk& chunk : chunks) max_blocks = std::max(max_blocks, chunk.block_ids.size());
  std::vector<int32_t> block_table(chunks.size() * max_blocks, 0);
  for (size_t b = 0; b < chunks.size(); ++b) {
    const SequenceChunk& chunk = chunks[b];
    int64_t total = chunk.num_computed_tokens + static_cast<int64_t>(chunk.token_ids.size());
    VLLM_CHECK(static_cast<int64_t>(chunk.block_ids.size()) * block_size >= total, InvalidArgument,
               "sequence ", b, " has ", total, " tokens but only ", chunk.block_ids.size(),
               " blocks of ", block_size);
    std::copy(chunk.block_ids.begin(), chunk.block_ids.end(), block_table.begin() + b * max_blocks);
    for (size_t i = 0; i < chunk.token_ids.size(); ++i) {
      int64_t position = chunk.num_computed_tokens + static_cast<int64_t>(i);
      if (chunk.want_logits && (chunk.all_logits || i + 1 == chunk.token_ids.size()))
        logits_rows.push_back(static_cast<int32_t>(tokens.size()));
      tokens.push_back(chunk.token_ids[i]);
      positions.push_back(static_cast<int32_t>(position));
      token_seq_lens.push_back(static_cast<int32_t>(std::max(total, chunk.num_prompt_tokens)));
      slots.push_back(static_cast<int32_t>(chunk.block_ids[position / block_size] * block_size +
                                           position % block_size));
    }
    query_start.push_back(static_cast<int32_t>(tokens.size()));
    seq_lens.push_back(static_cast<int32_t>(total));
  }
  FlatBatch batch;
  int64_t num_tokens = static_cast<int64_t>(tokens.size());
  int64_t num_seqs = static_cast<int64_t>(chunks.size());
  batch.token_ids = Tensor::from_ints(tokens, {num_tokens});
  batch.metadata.positions = Tensor::from_ints(positions, {num_tokens});
  batch.metadata.query_start = Tensor::from_ints(query_start, {num_seqs + 1});
  batch.metadata.seq_lens = Tensor::from_ints(seq_lens, {num_seqs});
  batch.metadata.token_seq_lens = Tensor::from_ints(token_seq_lens, {num_tokens});
  batch.metadata.block_table =
      Tensor::from_ints(block_table, {num_seqs, static_cast<int64_t>(max_blocks)});
  batch.metadata.slot_mapping = Tensor::from_ints(slots, {num_tokens});
  batch.metadata.logits_rows =
      Tensor::from_ints(logits_rows, {static_cast<int64_t>(logits_rows.size())});
  return batch;
}

}  // namespace vllm
