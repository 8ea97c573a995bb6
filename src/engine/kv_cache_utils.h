// Building blocks of the paged KV cache (vLLM's vllm/v1/core/kv_cache_utils.py): block hashes
// for prefix caching, the per-block metadata and the free-block queue in eviction order.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vllm {

// Identity of a FULL block's contents for prefix caching:
//   hash(parent block's hash, the block's token ids, extra keys)
// with XXH3-128. Chaining the parent hash makes a block's hash stand for the whole prefix up to
// and including it. Collisions: two different prefixes with the same 128-bit hash would share KV
// (a wrong but not crashing answer); with 2^32 cached blocks the probability is about 2^-65, so
// no token comparison is made on a hit (vLLM makes the same trade with sha256/xxhash-128).
struct BlockHash {
  uint64_t low = 0;
  uint64_t high = 0;
  bool operator==(const BlockHash&) const = default;
};

// The parent of a request's first block (vLLM's NONE_HASH). Fixed so that hashes are stable
// across runs, which makes cache behaviour reproducible and testable.
BlockHash root_block_hash();

// Hash of one full block. `extra_key` carries whatever else decides the KV (a cache salt, a LoRA
// name); the engine passes it for the first block only, and chaining carries it to the rest.
BlockHash hash_block_tokens(const BlockHash& parent, std::span<const int32_t> token_ids,
                            std::string_view extra_key = {});

// An extra key of the blocks that overlap tokens [start, end): a multimodal item's hash over its
// placeholder range, so that two different images behind the same placeholder tokens never share
// cached KV (vLLM's _gen_mm_extra_hash_keys).
struct BlockExtraKey {
  int64_t start = 0;
  int64_t end = 0;
  std::string key;
};

// Extends `hashes` to cover every full block of `token_ids` (prompt + output so far); each block
// mixes in the keys of `extra_keys` it overlaps (sorted by start).
void extend_block_hashes(std::vector<BlockHash>& hashes, std::span<const int32_t> token_ids,
                         int block_size, std::string_view first_block_extra_key,
                         std::span<const BlockExtraKey> extra_keys = {});

// Cache-map key: the same tokens cached in two KV-cache groups are two different blocks.
struct BlockHashWithGroup {
  BlockHash hash;
  int group = 0;
  bool operator==(const BlockHashWithGroup&) const = default;
};

struct BlockHashWithGroupHasher {
  size_t operator()(const BlockHashWithGroup& key) const {
    return static_cast<size_t>(key.hash.low ^ (key.hash.high * 0x9E3779B97F4A7C15ull) ^
                               static_cast<uint64_t>(key.group));
  }
};

// Metadata of one block of the pool. The KV data itself lives in the model runner's cache
// tensors, indexed by block_id.
struct KVCacheBlock {
  int32_t block_id = 0;
  int32_t ref_count = 0;                     // requests holding this block
  std::optional<BlockHashWithGroup> hash;    // set while the block is in the prefix cache
  int32_t prev_free = -1;                    // free-queue links (indices into the pool)
  int32_t next_free = -1;
  bool in_free_queue = false;
};

// Free blocks in eviction order, as an intrusive doubly linked list over the pool's blocks:
// O(1) pop from the front, append at the back, and removal from the middle (when a cached free
// block is hit again). Freed blocks are appended, so the least recently freed is evicted first.
class FreeBlockQueue {
 public:
  explicit FreeBlockQueue(std::vector<KVCacheBlock>& blocks);

  int size() const { return size_; }
  int32_t pop_front();  // block id; the queue must be non-empty
  void push_back(int32_t block_id);
  void remove(int32_t block_id);
  std::vector<int32_t> ids() const;  // front to back, for tests

 private:
  std::vector<KVCacheBlock>& blocks_;
  int32_t head_ = -1;
  int32_t tail_ = -1;
  int size_ = 0;
};

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace vllm
