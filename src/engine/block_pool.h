// The pool of KV-cache blocks shared by every request and every KV-cache group (vLLM's
// vllm/v1/core/block_pool.py): allocation from a free queue in LRU order, reference counts for
// blocks shared through the prefix cache, and the map block hash -> cached block.
//
// Block 0 is the "null block": a placeholder for block-table entries that hold no KV (sliding-
// window positions that fell out of the window). It is never allocated or freed, so a pool of
// num_blocks has num_blocks - 1 usable blocks.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "engine/kv_cache_utils.h"

namespace vllm {

class BlockPool {
 public:
  static constexpr int32_t kNullBlockId = 0;

  BlockPool(int num_blocks, bool enable_caching);

  int num_blocks() const { return static_cast<int>(blocks_.size()); }
  int num_usable_blocks() const { return num_blocks() - 1; }
  // Free blocks, including cached ones no request holds (they are reusable on eviction).
  int num_free_blocks() const { return free_queue_.size(); }
  // Fraction of usable blocks held by requests, in [0, 1].
  double usage() const;
  bool caching_enabled() const { return enable_caching_; }

  // Takes `count` blocks from the front of the free queue (the least recently freed), evicting
  // their cached hashes; each returned block has ref_count 1. Throws Internal when fewer are
  // free: callers check num_free_blocks() first.
  std::vector<int32_t> get_new_blocks(int count);

  // The cached block holding `hash` in `group`, if any.
  std::optional<int32_t> get_cached_block(const BlockHash& hash, int group) const;

  // Takes a reference on blocks found in the prefix cache: a free one leaves the free queue.
  void touch(std::span<const int32_t> block_ids);

  // Drops one reference per block; blocks reaching 0 go to the back of the free queue in the
  // given order (so pass a request's blocks tail first: its prefix is then evicted last).
  // The null block is skipped.
  void free_blocks(std::span<const int32_t> block_ids);

  // Registers blocks[first_block, last_block) of a request (now full) in the prefix cache
  // under block_hashes[i]. A hash that is already cached (another request computed the same
  // prefix meanwhile) leaves the duplicate block uncached.
  void cache_full_blocks(std::span<const int32_t> block_ids, std::span<const BlockHash> block_hashes,
                         int first_block, int last_block, int group);

  // Removes one block from the prefix cache (its keys will not be computed after all).
  void uncache(int32_t block_id) { evict_hash(blocks_[block_id]); }

  // Drops every cached hash; only when no block is held. Returns false otherwise.
  bool reset_prefix_cache();

  const KVCacheBlock& block(int32_t block_id) const { return blocks_[block_id]; }
  std::vector<int32_t> free_block_ids() const { return free_queue_.ids(); }  // eviction order
  int num_cached_blocks() const { return static_cast<int>(cached_.size()); }

 private:
  void evict_hash(KVCacheBlock& block);

  bool enable_caching_;
  std::vector<KVCacheBlock> blocks_;
  FreeBlockQueue free_queue_;
  std::unordered_map<BlockHashWithGroup, int32_t, BlockHashWithGroupHasher> cached_;
};

}  // namespace vllm
