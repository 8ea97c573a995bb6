// Runs a state-space model (or a hybrid) over prompts through its recurrent-state slots, the way
// the model runner does: each sequence owns a slot, chunks continue from it. Shared by the Mamba
// model tests and the HF parity test of tests/data/ssm.
#pragma once

#include <numeric>
#include <vector>

#include "engine/input_batch.h"
#include "models/model.h"

namespace vllm::testing {

constexpr int64_t kSsmBlockSize = 4;

// A model with its cache of `slots` state slots (and blocks for attention layers, if any).
struct SsmRunner {
  Model& model;
  KVCache cache;
  int64_t next_block = 0;
  std::vector<std::vector<int32_t>> blocks;  // per slot

  SsmRunner(Model& m, int64_t slots)
      : model(m),
        cache(KVCache::allocate(m.kv_cache_spec(), 512, kSsmBlockSize, DType::F32, Device::cpu(), slots)),
        blocks(static_cast<size_t>(slots)) {}

  // A chunk of sequence `slot`: tokens [start, start + ids.size()), logits for every row.
  SequenceChunk chunk(int32_t slot, int64_t start, std::vector<int32_t> ids, bool all_logits = true) {
    std::vector<int32_t>& owned = blocks[static_cast<size_t>(slot)];
    while (static_cast<int64_t>(owned.size()) * kSsmBlockSize < start + static_cast<int64_t>(ids.size()))
      owned.push_back(static_cast<int32_t>(next_block++));
    SequenceChunk c;
    c.num_computed_tokens = start;
    c.token_ids = std::move(ids);
    c.block_ids = owned;
    c.state_slot = slot;
    c.all_logits = all_logits;
    return c;
  }

  // One step: logits [R, vocab] of the chunks' rows.
  Tensor step(const std::vector<SequenceChunk>& chunks) {
    FlatBatch batch = build_flat_batch(chunks, kSsmBlockSize);
    return forward_logits(model, batch.token_ids, batch.metadata, cache);
  }

  // `ids` through `slot` in chunks of the given sizes (summing to ids.size()): every row's logits.
  std::vector<float> run_chunked(int32_t slot, const std::vector<int32_t>& ids, const std::vector<int64_t>& sizes) {
    std::vector<float> rows;
    int64_t start = 0;
    for (int64_t size : sizes) {
      std::vector<int32_t> part(ids.begin() + start, ids.begin() + start + size);
      Tensor logits = step({chunk(slot, start, part)});
      std::vector<float> values = logits.to_float_vector();
      rows.insert(rows.end(), values.begin(), values.end());
      start += size;
    }
    return rows;
  }
};

}  // namespace vllm::testing
