#include "engine/input_batch.h"

#include <algorithm>

#include "core/error.h"

namespace vllm {

FlatBatch build_flat_batch(const std::vector<SequenceChunk>& chunks, int64_t block_size, int64_t table_width) {
  size_t num_groups = 1;
  for (const SequenceChunk& chunk : chunks) num_groups = std::max(num_groups, chunk.group_block_ids.size());
  auto blocks_of = [&](const SequenceChunk& chunk, size_t group) -> const std::vector<int32_t>& {
    if (chunk.group_block_ids.empty()) return chunk.block_ids;
    VLLM_CHECK(chunk.group_block_ids.size() == num_groups, InvalidArgument,
               "every sequence of a batch needs a block table per KV-cache group");
    return chunk.group_block_ids[group];
  };
  std::vector<int32_t> tokens, positions, query_start{0}, seq_lens, token_seq_lens, logits_rows;
  std::vector<std::vector<int32_t>> slots(num_groups);
  size_t max_blocks = static_cast<size_t>(std::max<int64_t>(table_width, 1));
  for (const SequenceChunk& chunk : chunks)
    for (size_t g = 0; g < num_groups; ++g) max_blocks = std::max(max_blocks, blocks_of(chunk, g).size());
  std::vector<std::vector<int32_t>> block_tables(num_groups, std::vector<int32_t>(chunks.size() * max_blocks, 0));
  for (size_t b = 0; b < chunks.size(); ++b) {
    const SequenceChunk& chunk = chunks[b];
    int64_t total = chunk.num_computed_tokens + static_cast<int64_t>(chunk.token_ids.size());
    for (size_t g = 0; g < num_groups; ++g) {
      const std::vector<int32_t>& blocks = blocks_of(chunk, g);
      VLLM_CHECK(static_cast<int64_t>(blocks.size()) * block_size >= total, InvalidArgument, "sequence ", b,
                 " has ", total, " tokens but only ", blocks.size(), " blocks of ", block_size);
      std::copy(blocks.begin(), blocks.end(), block_tables[g].begin() + b * max_blocks);
    }
    for (size_t i = 0; i < chunk.token_ids.size(); ++i) {
      int64_t position = chunk.num_computed_tokens + static_cast<int64_t>(i);
      if (chunk.want_logits && (chunk.all_logits || i + 1 == chunk.token_ids.size()))
        logits_rows.push_back(static_cast<int32_t>(tokens.size()));
      tokens.push_back(chunk.token_ids[i]);
      positions.push_back(static_cast<int32_t>(position));
      token_seq_lens.push_back(static_cast<int32_t>(std::max(total, chunk.num_prompt_tokens)));
      for (size_t g = 0; g < num_groups; ++g)
        slots[g].push_back(static_cast<int32_t>(blocks_of(chunk, g)[position / block_size] * block_size +
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
  for (size_t g = 0; g < num_groups; ++g) {
    batch.metadata.block_tables.push_back(
        Tensor::from_ints(block_tables[g], {num_seqs, static_cast<int64_t>(max_blocks)}));
    batch.metadata.slot_mappings.push_back(Tensor::from_ints(slots[g], {num_tokens}));
  }
  batch.metadata.logits_rows = Tensor::from_ints(logits_rows, {static_cast<int64_t>(logits_rows.size())});
  if (std::any_of(chunks.begin(), chunks.end(), [](const SequenceChunk& c) { return c.state_slot >= 0; })) {
    std::vector<int32_t> state_slots;
    for (const SequenceChunk& chunk : chunks) state_slots.push_back(chunk.state_slot);
    batch.metadata.state_slots = Tensor::from_ints(state_slots, {num_seqs});
  }
  int64_t max_query_len = 0, max_seq_len = 0;
  for (size_t b = 0; b < chunks.size(); ++b) {
    max_query_len = std::max<int64_t>(max_query_len, query_start[b + 1] - query_start[b]);
    max_seq_len = std::max<int64_t>(max_seq_len, seq_lens[b]);
  }
  batch.metadata.max_query_len = max_query_len;
  batch.metadata.max_seq_len = max_seq_len;
  int64_t decodes = 0;
  while (decodes < num_seqs && query_start[decodes + 1] - query_start[decodes] == 1) ++decodes;
  batch.metadata.num_decode_seqs = decodes;
  return batch;
}

namespace {

// Every int32 array of a batch, in a fixed order (the packed layout of upload_batch).
template <typename Batch>  // FlatBatch or const FlatBatch
auto batch_arrays(Batch& batch) {
  auto& m = batch.metadata;
  std::vector<decltype(&batch.token_ids)> arrays{&batch.token_ids, &m.positions, &m.query_start, &m.seq_lens,
                                                 &m.token_seq_lens, &m.logits_rows, &m.state_slots};
  for (auto& t : m.block_tables) arrays.push_back(&t);
  for (auto& t : m.slot_mappings) arrays.push_back(&t);
  return arrays;
}

}  // namespace

int64_t packed_batch_size(const FlatBatch& batch) {
  int64_t total = 0;
  for (const Tensor* t : batch_arrays(batch))
    if (t->defined()) total += t->numel();
  return total;
}

FlatBatch upload_batch(const FlatBatch& batch, Device device, const Tensor* into) {
  if (device.is_cpu()) return batch;
  const int64_t total = packed_batch_size(batch);
  Tensor packed = Tensor::empty({std::max<int64_t>(total, 1)}, DType::I32);
  int32_t* out = packed.data<int32_t>();
  for (const Tensor* t : batch_arrays(batch)) {
    if (!t->defined()) continue;
    Tensor contiguous = t->contiguous();
    std::copy(contiguous.data<int32_t>(), contiguous.data<int32_t>() + contiguous.numel(), out);
    out += contiguous.numel();
  }
  Tensor target;
  if (into) {
    VLLM_CHECK(into->device() == device && into->dtype() == DType::I32 && into->numel() >= total, Internal,
               "upload_batch: the input buffer ", into->to_string(), " cannot hold ", total, " values");
    target = into->slice(0, 0, std::max<int64_t>(total, 1));
    target.copy_from(packed);
  } else {
    target = packed.to(device);
  }
  FlatBatch result = batch;
  int64_t offset = 0;
  std::vector<const Tensor*> host_arrays = batch_arrays(batch);
  std::vector<Tensor*> device_arrays = batch_arrays(result);
  for (size_t i = 0; i < host_arrays.size(); ++i) {
    if (!host_arrays[i]->defined()) continue;
    const int64_t n = host_arrays[i]->numel();
    *device_arrays[i] = target.slice(0, offset, offset + n).view(host_arrays[i]->shape());
    offset += n;
  }
  return result;
}

}  // namespace vllm
