#include "engine/block_pool.h"

#include "core/error.h"

namespace vllm {

BlockPool::BlockPool(int num_blocks, bool enable_caching)
    : enable_caching_(enable_caching), blocks_(num_blocks), free_queue_(blocks_) {
  VLLM_CHECK(num_blocks >= 2, InvalidArgument, "the KV cache needs at least 2 blocks (1 is the null "
             "block), got ", num_blocks, "; give the KV cache more memory or use a smaller block size");
  for (int32_t id = 0; id < num_blocks; ++id) blocks_[id].block_id = id;
  for (int32_t id = 1; id < num_blocks; ++id) free_queue_.push_back(id);
  blocks_[kNullBlockId].ref_count = 1;  // held forever
}

double BlockPool::usage() const {
  return 1.0 - static_cast<double>(num_free_blocks()) / num_usable_blocks();
}

void BlockPool::evict_hash(KVCacheBlock& block) {
  if (!block.hash) return;
  auto it = cached_.find(*block.hash);
  if (it != cached_.end() && it->second == block.block_id) cached_.erase(it);
  block.hash.reset();
}

std::vector<int32_t> BlockPool::get_new_blocks(int count) {
  VLLM_ASSERT(count <= num_free_blocks(), "asked for ", count, " blocks with ", num_free_blocks(),
              " free");
  std::vector<int32_t> ids;
  ids.reserve(count);
  for (int i = 0; i < count; ++i) {
    int32_t id = free_queue_.pop_front();
    KVCacheBlock& block = blocks_[id];
    VLLM_ASSERT(block.ref_count == 0, "free block ", id, " has ref_count ", block.ref_count);
    evict_hash(block);
    block.ref_count = 1;
    ids.push_back(id);
  }
  return ids;
}

std::optional<int32_t> BlockPool::get_cached_block(const BlockHash& hash, int group) const {
  auto it = cached_.find(BlockHashWithGroup{hash, group});
  if (it == cached_.end()) return std::nullopt;
  return it->second;
}

void BlockPool::touch(std::span<const int32_t> block_ids) {
  for (int32_t id : block_ids) {
    if (id == kNullBlockId) continue;
    KVCacheBlock& block = blocks_[id];
    if (block.ref_count == 0) free_queue_.remove(id);
    ++block.ref_count;
  }
}

void BlockPool::free_blocks(std::span<const int32_t> block_ids) {
  for (int32_t id : block_ids) {
    if (id == kNullBlockId) continue;
    KVCacheBlock& block = blocks_[id];
    VLLM_ASSERT(block.ref_count > 0, "double free of block ", id);
    if (--block.ref_count == 0) free_queue_.push_back(id);
  }
}

void BlockPool::cache_full_blocks(std::span<const int32_t> block_ids,
                                  std::span<const BlockHash> block_hashes, int first_block,
                                  int last_block, int group) {
  if (!enable_caching_) return;
  VLLM_ASSERT(last_block <= static_cast<int>(block_hashes.size()), "caching block ", last_block - 1,
              " without its hash");
  for (int i = first_block; i < last_block; ++i) {
    int32_t id = block_ids[i];
    if (id == kNullBlockId) continue;
    KVCacheBlock& block = blocks_[id];
    if (block.hash) continue;  // a prefix-cache hit: already cached
    BlockHashWithGroup key{block_hashes[i], group};
    if (cached_.emplace(key, id).second) block.hash = key;
  }
}

bool BlockPool::reset_prefix_cache() {
  if (num_free_blocks() != num_usable_blocks()) return false;
  for (KVCacheBlock& block : blocks_) block.hash.reset();
  cached_.clear();
  return true;
}

}  // namespace vllm
