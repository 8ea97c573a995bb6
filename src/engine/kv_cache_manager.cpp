#include "engine/kv_cache_manager.h"

#include <algorithm>

#include "core/error.h"

namespace vllm {

namespace {

constexpr int32_t kNull = BlockPool::kNullBlockId;

// Blocks a sliding window of `window` tokens needs before the next token's block (vLLM's
// sliding_window_contiguous_blocks): cdiv(window - 1, block_size), at least 1.
int window_blocks(int window, int block_size) {
  return std::max<int>(1, static_cast<int>(ceil_div(window - 1, block_size)));
}

}  // namespace

KVCacheManager::KVCacheManager(KVCacheConfig config, int max_model_len)
    : config_(std::move(config)),
      max_model_len_(max_model_len),
      pool_(config_.num_blocks, config_.enable_prefix_caching) {
  VLLM_CHECK(config_.block_size > 0, InvalidArgument, "block_size must be positive, got ",
             config_.block_size);
  VLLM_CHECK(!config_.groups.empty(), InvalidArgument, "the KV cache needs at least one group");
  for (const KVCacheGroupSpec& group : config_.groups)
    VLLM_CHECK(group.sliding_window >= 0, InvalidArgument, "sliding_window must be >= 0, got ",
               group.sliding_window);
  VLLM_CHECK(config_.num_state_slots >= 0, InvalidArgument, "num_state_slots must be >= 0, got ",
             config_.num_state_slots);
  for (int32_t slot = config_.num_state_slots - 1; slot >= 0; --slot) free_state_slots_.push_back(slot);
}

int KVCacheManager::max_blocks_per_request(int max_num_batched_tokens) const {
  return vllm::max_blocks_per_request(config_, max_model_len_, max_num_batched_tokens);
}

// Number of leading blocks of the request found in `group`'s cache, at most max_blocks.
// Full attention: the longest prefix of cached blocks. Sliding window: the right-most end e
// <= max_blocks such that the window_blocks() blocks before e are cached (or all of [0, e)).
int KVCacheManager::longest_hit_in_group(const Request& request, int group, int max_blocks) const {
  const auto& hashes = request.block_hashes;
  int window = config_.groups[group].sliding_window;
  if (window == 0) {
    int n = 0;
    while (n < max_blocks && pool_.get_cached_block(hashes[n], group)) ++n;
    return n;
  }
  int needed = window_blocks(window, config_.block_size);
  int run = 0;
  for (int i = max_blocks - 1; i >= 0; --i) {
    if (pool_.get_cached_block(hashes[i], group)) {
      if (++run >= needed) return i + run;
    } else {
      run = 0;
    }
  }
  return run;  // a run starting at block 0 is a hit even when shorter than the window
}

ComputedBlocks KVCacheManager::get_computed_blocks(Request& request) {
  ComputedBlocks result;
  result.block_ids.resize(num_groups());
  if (!config_.enable_prefix_caching || request.sampling_params.prompt_logprobs) return result;
  extend_block_hashes(request.block_hashes, request.all_token_ids(), config_.block_size,
                      request.cache_salt, request.mm_block_keys);
  // At most num_tokens - 1 tokens: the last one must be computed to produce logits.
  int max_blocks = std::min<int>((request.num_tokens() - 1) / config_.block_size,
                                 static_cast<int>(request.block_hashes.size()));
  // Each group's hit bounds the others': shrink to a length every group accepts. A shorter
  // bound never lengthens a full-attention hit and moves a sliding-window hit left, so this
  // reaches a fixed point within a few rounds.
  int num_blocks = max_blocks;
  for (bool changed = true; changed && num_blocks > 0;) {
    changed = false;
    for (int g = 0; g < num_groups(); ++g) {
      int hit = longest_hit_in_group(request, g, num_blocks);
      if (hit < num_blocks) {
        num_blocks = hit;
        changed = true;
      }
    }
  }
  for (int g = 0; g < num_groups(); ++g) {
    auto& ids = result.block_ids[g];
    ids.assign(num_blocks, kNull);
    int window = config_.groups[g].sliding_window;
    int first = window == 0 ? 0 : std::max(0, num_blocks - window_blocks(window, config_.block_size));
    for (int i = first; i < num_blocks; ++i) {
      auto id = pool_.get_cached_block(request.block_hashes[i], g);
      VLLM_ASSERT(id.has_value(), "cache hit block ", i, " of group ", g, " vanished");
      ids[i] = *id;
    }
  }
  result.num_computed_tokens = num_blocks * config_.block_size;
  ++stats_.requests;
  stats_.queries += request.num_tokens();
  stats_.hits += result.num_computed_tokens;
  return result;
}

void KVCacheManager::remove_skipped_blocks(Request& request, int group, int num_computed_tokens) {
  int window = config_.groups[group].sliding_window;
  if (window == 0) return;
  // The next token (position num_computed_tokens) sees positions from this one on.
  int first_useful_token = num_computed_tokens - window + 1;
  if (first_useful_token <= 0) return;
  auto& ids = request.block_ids[group];
  int first_useful_block = std::min<int>(first_useful_token / config_.block_size, ids.size());
  std::vector<int32_t> removed;
  for (int i = first_useful_block - 1; i >= 0 && ids[i] != kNull; --i) {
    removed.push_back(ids[i]);
    ids[i] = kNull;
  }
  pool_.free_blocks(removed);
}

int KVCacheManager::num_blocks_to_allocate(const Request& request, int num_new_tokens, const ComputedBlocks* computed,
                                           int num_lookahead_tokens) const {
  const int num_hit_tokens = computed ? computed->num_computed_tokens : 0;
  const bool has_hit = computed && num_hit_tokens > 0;
  const int num_computed = request.num_computed_tokens + num_hit_tokens;
  const int num_tokens_needing_slots =
      std::min(num_computed + num_new_tokens + num_lookahead_tokens, max_model_len_);
  const int required_blocks = static_cast<int>(ceil_div(num_tokens_needing_slots, config_.block_size));
  int to_allocate = 0;
  for (int g = 0; g < num_groups(); ++g) {
    const int held = request.block_ids.empty() ? 0 : static_cast<int>(request.block_ids[g].size());
    const int hit_blocks = has_hit ? static_cast<int>(computed->block_ids[g].size()) : 0;
    to_allocate += std::max(0, required_blocks - hit_blocks - held);
    // A hit block no one holds sits in the free queue: taking it uses up a free block too.
    if (has_hit)
      for (int32_t id : computed->block_ids[g])
        if (id != kNull && pool_.block(id).ref_count == 0) ++to_allocate;
  }
  return to_allocate;
}

std::optional<std::vector<std::vector<int32_t>>> KVCacheManager::allocate_slots(
    Request& request, int num_new_tokens, const ComputedBlocks* computed, int num_lookahead_tokens) {
  VLLM_ASSERT(num_new_tokens > 0, "allocate_slots for ", num_new_tokens, " tokens");
  const int groups = num_groups();
  if (request.block_ids.empty()) {
    request.block_ids.resize(groups);
    request.num_cached_blocks.assign(groups, 0);
  }
  const int num_hit_tokens = computed ? computed->num_computed_tokens : 0;
  const bool has_hit = computed && num_hit_tokens > 0;
  VLLM_ASSERT(!has_hit || request.block_ids[0].empty(),
              "a prefix-cache hit for request ", request.request_id, " that already holds blocks");
  const int num_computed = request.num_computed_tokens + num_hit_tokens;
  const int num_tokens_needing_slots =
      std::min(num_computed + num_new_tokens + num_lookahead_tokens, max_model_len_);
  const int required_blocks =
      static_cast<int>(ceil_div(num_tokens_needing_slots, config_.block_size));

  for (int g = 0; g < groups; ++g) remove_skipped_blocks(request, g, request.num_computed_tokens);

  const bool needs_state_slot = config_.num_state_slots > 0 && request.state_slot < 0;
  if (needs_state_slot && free_state_slots_.empty()) return std::nullopt;
  if (num_blocks_to_allocate(request, num_new_tokens, computed, num_lookahead_tokens) > pool_.num_free_blocks())
    return std::nullopt;
  if (needs_state_slot) {
    request.state_slot = free_state_slots_.back();
    free_state_slots_.pop_back();
  }

  if (has_hit) {
    for (int g = 0; g < groups; ++g) {
      pool_.touch(computed->block_ids[g]);
      request.block_ids[g] = computed->block_ids[g];
      request.num_cached_blocks[g] = static_cast<int>(computed->block_ids[g].size());
    }
  }
  std::vector<std::vector<int32_t>> new_blocks(groups);
  for (int g = 0; g < groups; ++g) {
    int missing = required_blocks - static_cast<int>(request.block_ids[g].size());
    if (missing <= 0) continue;
    new_blocks[g] = pool_.get_new_blocks(missing);
    request.block_ids[g].insert(request.block_ids[g].end(), new_blocks[g].begin(), new_blocks[g].end());
  }

  if (config_.enable_prefix_caching) {
    // Register the blocks this step fills completely (vLLM caches at schedule time).
    int num_tokens_to_cache = std::min(num_computed + num_new_tokens, request.num_tokens());
    extend_block_hashes(request.block_hashes, request.all_token_ids(), config_.block_size,
                        request.cache_salt, request.mm_block_keys);
    int num_full_blocks = num_tokens_to_cache / config_.block_size;
    for (int g = 0; g < groups; ++g) {
      if (num_full_blocks <= request.num_cached_blocks[g]) continue;
      pool_.cache_full_blocks(request.block_ids[g], request.block_hashes,
                              request.num_cached_blocks[g], num_full_blocks, g);
      request.num_cached_blocks[g] = num_full_blocks;
    }
  }
  return new_blocks;
}

void KVCacheManager::free(Request& request) {
  // Blocks registered for tokens past num_computed_tokens were scheduled but will not be computed
  // (a request preempted in the step that scheduled them, under the priority policy): out of the
  // prefix cache, or they would come back as hits on keys never written.
  const int computed_blocks = request.num_computed_tokens / config_.block_size;
  for (size_t g = 0; g < request.block_ids.size() && g < request.num_cached_blocks.size(); ++g) {
    const std::vector<int32_t>& ids = request.block_ids[g];
    const int cached = std::min(request.num_cached_blocks[g], static_cast<int>(ids.size()));
    for (int i = computed_blocks; i < cached; ++i)
      if (ids[i] != kNull && pool_.block(ids[i]).ref_count == 1) pool_.uncache(ids[i]);
  }
  for (auto& ids : request.block_ids) {
    std::vector<int32_t> reversed(ids.rbegin(), ids.rend());
    pool_.free_blocks(reversed);
  }
  request.block_ids.clear();
  request.num_cached_blocks.clear();
  if (request.state_slot >= 0) {
    free_state_slots_.push_back(request.state_slot);
    request.state_slot = -1;
  }
}

}  // namespace vllm
