// Which KV-cache blocks each request holds (vLLM's KVCacheManager + KVCacheCoordinator +
// SingleTypeKVCacheManager, vllm/v1/core/kv_cache_manager.py and single_type_kv_cache_manager.py).
//
// Layers are grouped by attention type: one KV-cache group for full-attention layers, one per
// sliding-window size. Every group has its own block table per request, with the same number
// of entries (one per block_size tokens), all drawn from one shared BlockPool:
//   - a full-attention group keeps every block of the request;
//   - a sliding-window group frees blocks wholly outside the window of the next token to compute
//     and puts BlockPool::kNullBlockId in their place, so it holds about window / block_size
//     (+ one chunk) blocks however long the sequence grows.
// Memory layout the model runner must follow: block id b of group g addresses KV memory that no
// other group uses at the same time. The simple way is one [num_blocks, ...] cache tensor per
// layer; vLLM's saving is to let layer i of each group share one tensor, since a block id is
// held by at most one group at a time.
//
// Prefix caching: a full block is registered under hash(parent hash, tokens, extra key) as soon
// as it is scheduled for computation (its KV is written in the same forward pass that may read
// it, so the model runner must write a step's KV for all tokens of a layer before that layer's
// attention, as paged attention does). A later request whose prompt starts with the same blocks
// reuses them.
//
// Recurrent state (Mamba layers, CacheConfig::num_state_slots > 0): every running request also
// holds one state slot, taken by its first allocate_slots and given back by free (finish, abort,
// preemption: a preempted request recomputes from its first token into a fresh slot). Slots are
// not cached: prefix caching is off for these models (resolve_vllm_config).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "engine/block_pool.h"
#include "engine/request.h"
#include "engine/vllm_config.h"

namespace vllm {

// The manager reads the resolved CacheConfig (engine/vllm_config.h): num_blocks, block_size,
// groups (KVCacheGroupSpec: 0 full attention; N: each token attends to the last N tokens) and
// enable_prefix_caching.
using KVCacheConfig = CacheConfig;

// Counters in tokens, as vLLM's prefix_cache_queries / prefix_cache_hits metrics.
struct PrefixCacheStats {
  int64_t requests = 0;  // lookups made
  int64_t queries = 0;   // tokens looked up
  int64_t hits = 0;      // tokens found
  double hit_rate() const { return queries ? static_cast<double>(hits) / queries : 0.0; }
};

// A prefix-cache hit: block ids per group (null blocks where a sliding window needs no KV) and
// the number of tokens they hold.
struct ComputedBlocks {
  std::vector<std::vector<int32_t>> block_ids;  // [num_groups][num_hit_blocks]
  int num_computed_tokens = 0;
};

class KVCacheManager {
 public:
  KVCacheManager(KVCacheConfig config, int max_model_len);

  // The longest run of cached full blocks that starts the request's tokens, consistent across
  // groups. Never the whole sequence: the last token is always recomputed to get its logits.
  // Counts the lookup in prefix_cache_stats(). Empty when caching is off or the request asks for
  // prompt logprobs (they need every prompt position computed, as vLLM skips the cache then).
  ComputedBlocks get_computed_blocks(Request& request);

  // Makes room for num_new_tokens more tokens after request.num_computed_tokens plus the hit
  // in `computed` (which it takes references on), dropping sliding-window blocks that left the
  // window. Returns the newly allocated block ids per group, or nullopt (nothing changed) when
  // the pool has too few free blocks.
  std::optional<std::vector<std::vector<int32_t>>> allocate_slots(
      Request& request, int num_new_tokens, const ComputedBlocks* computed = nullptr,
      int num_lookahead_tokens = 0);

  // The free blocks allocate_slots(request, num_new_tokens, computed) would take, without taking
  // them (before the sliding-window blocks it may drop: an upper bound).
  int num_blocks_to_allocate(const Request& request, int num_new_tokens, const ComputedBlocks* computed = nullptr,
                             int num_lookahead_tokens = 0) const;

  // Returns every block of the request to the pool (tail blocks first, so that the shared
  // prefix of cached blocks is evicted last), and its state slot. Safe to call twice.
  void free(Request& request);

  int num_state_slots() const { return config_.num_state_slots; }
  int num_free_state_slots() const { return static_cast<int>(free_state_slots_.size()); }

  int num_free_blocks() const { return pool_.num_free_blocks(); }
  double usage() const { return pool_.usage(); }
  int block_size() const { return config_.block_size; }
  int num_groups() const { return static_cast<int>(config_.groups.size()); }
  bool caching_enabled() const { return config_.enable_prefix_caching; }
  const PrefixCacheStats& prefix_cache_stats() const { return stats_; }
  bool reset_prefix_cache() { return pool_.reset_prefix_cache(); }
  const BlockPool& block_pool() const { return pool_; }

  // Most blocks one request of max_model_len tokens can hold at once, scheduling at most
  // max_num_batched_tokens per step: the pool must have at least this many usable blocks.
  int max_blocks_per_request(int max_num_batched_tokens) const;

 private:
  int longest_hit_in_group(const Request& request, int group, int max_blocks) const;
  void remove_skipped_blocks(Request& request, int group, int num_computed_tokens);

  KVCacheConfig config_;
  int max_model_len_;
  BlockPool pool_;
  PrefixCacheStats stats_;
  std::vector<int32_t> free_state_slots_;  // the lowest slot last, taken first
};

}  // namespace vllm
