#include "engine/kv_cache_utils.h"

// Header-only xxhash (libxxhash-dev): no library to link.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "core/error.h"

namespace vllm {

BlockHash root_block_hash() {
  // Arbitrary fixed constants (the digits of pi), distinct from any hash of real content.
  return BlockHash{0x243F6A8885A308D3ull, 0x13198A2E03707344ull};
}

BlockHash hash_block_tokens(const BlockHash& parent, std::span<const int32_t> token_ids,
                            std::string_view extra_key) {
  XXH3_state_t state;
  XXH3_INITSTATE(&state);
  XXH3_128bits_reset(&state);
  XXH3_128bits_update(&state, &parent.low, sizeof(parent.low));
  XXH3_128bits_update(&state, &parent.high, sizeof(parent.high));
  uint64_t count = token_ids.size();
  XXH3_128bits_update(&state, &count, sizeof(count));
  XXH3_128bits_update(&state, token_ids.data(), token_ids.size_bytes());
  // The key's length goes in too, so ("", tokens) and a key that happens to equal token bytes
  // can never collide by construction.
  uint64_t key_size = extra_key.size();
  XXH3_128bits_update(&state, &key_size, sizeof(key_size));
  XXH3_128bits_update(&state, extra_key.data(), extra_key.size());
  XXH128_hash_t digest = XXH3_128bits_digest(&state);
  return BlockHash{digest.low64, digest.high64};
}

void extend_block_hashes(std::vector<BlockHash>& hashes, std::span<const int32_t> token_ids,
                         int block_size, std::string_view first_block_extra_key,
                         std::span<const BlockExtraKey> extra_keys) {
  size_t num_full_blocks = token_ids.size() / static_cast<size_t>(block_size);
  std::string keys;
  while (hashes.size() < num_full_blocks) {
    size_t index = hashes.size();
    BlockHash parent = index == 0 ? root_block_hash() : hashes.back();
    keys.assign(index == 0 ? first_block_extra_key : std::string_view{});
    const int64_t start = static_cast<int64_t>(index) * block_size, end = start + block_size;
    for (const BlockExtraKey& extra : extra_keys)
      if (extra.start < end && extra.end > start) keys += extra.key;
    hashes.push_back(hash_block_tokens(parent, token_ids.subspan(index * block_size, block_size), keys));
  }
}

FreeBlockQueue::FreeBlockQueue(std::vector<KVCacheBlock>& blocks) : blocks_(blocks) {}

int32_t FreeBlockQueue::pop_front() {
  VLLM_ASSERT(head_ >= 0, "pop from an empty free-block queue");
  int32_t id = head_;
  remove(id);
  return id;
}

void FreeBlockQueue::push_back(int32_t block_id) {
  KVCacheBlock& block = blocks_[block_id];
  VLLM_ASSERT(!block.in_free_queue, "block ", block_id, " is already free");
  block.prev_free = tail_;
  block.next_free = -1;
  if (tail_ >= 0) blocks_[tail_].next_free = block_id;
  else head_ = block_id;
  tail_ = block_id;
  block.in_free_queue = true;
  ++size_;
}

void FreeBlockQueue::remove(int32_t block_id) {
  KVCacheBlock& block = blocks_[block_id];
  VLLM_ASSERT(block.in_free_queue, "block ", block_id, " is not in the free queue");
  if (block.prev_free >= 0) blocks_[block.prev_free].next_free = block.next_free;
  else head_ = block.next_free;
  if (block.next_free >= 0) blocks_[block.next_free].prev_free = block.prev_free;
  else tail_ = block.prev_free;
  block.prev_free = block.next_free = -1;
  block.in_free_queue = false;
  --size_;
}

std::vector<int32_t> FreeBlockQueue::ids() const {
  std::vector<int32_t> out;
  for (int32_t id = head_; id >= 0; id = blocks_[id].next_free) out.push_back(id);
  return out;
}

}  // namespace vllm
