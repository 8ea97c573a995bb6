// BlockPool, prefix hashing and KVCacheManager (full attention and sliding window).
#include <gtest/gtest.h>

#include <numeric>

#include "core/error.h"
#include "engine/block_pool.h"
#include "engine/kv_cache_manager.h"

namespace vllm {
namespace {

std::vector<int32_t> iota_tokens(int count, int start = 0) {
  std::vector<int32_t> tokens(count);
  std::iota(tokens.begin(), tokens.end(), start);
  return tokens;
}

std::unique_ptr<Request> make_request(const std::string& id, std::vector<int32_t> prompt,
                                      SamplingParams params = {}) {
  params.max_tokens.reset();
  return std::make_unique<Request>(id, std::move(prompt), std::move(params));
}

TEST(BlockPool, AllocatesFromTheFrontAndFreesToTheBack) {
  BlockPool pool(6, /*enable_caching=*/true);
  EXPECT_EQ(pool.num_usable_blocks(), 5);
  EXPECT_EQ(pool.num_free_blocks(), 5);
  EXPECT_EQ(pool.free_block_ids(), (std::vector<int32_t>{1, 2, 3, 4, 5}));
  EXPECT_DOUBLE_EQ(pool.usage(), 0.0);

  auto a = pool.get_new_blocks(2);
  EXPECT_EQ(a, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(pool.block(1).ref_count, 1);
  EXPECT_DOUBLE_EQ(pool.usage(), 0.4);
  auto b = pool.get_new_blocks(2);
  EXPECT_EQ(b, (std::vector<int32_t>{3, 4}));
  // Freed blocks go to the back in the order given.
  pool.free_blocks(std::vector<int32_t>{2, 1});
  EXPECT_EQ(pool.free_block_ids(), (std::vector<int32_t>{5, 2, 1}));
  EXPECT_EQ(pool.get_new_blocks(1), std::vector<int32_t>{5});
  EXPECT_EQ(pool.get_new_blocks(1), std::vector<int32_t>{2});
  EXPECT_THROW(pool.get_new_blocks(2), Error);
}

TEST(BlockPool, RefCountsAndTouch) {
  BlockPool pool(4, true);
  auto ids = pool.get_new_blocks(1);
  pool.touch(ids);  // a second request shares the block
  EXPECT_EQ(pool.block(ids[0]).ref_count, 2);
  pool.free_blocks(ids);
  EXPECT_EQ(pool.num_free_blocks(), 2);  // still held once
  pool.free_blocks(ids);
  EXPECT_EQ(pool.num_free_blocks(), 3);
  EXPECT_THROW(pool.free_blocks(ids), Error);  // double free is an internal error
  // Touching a free block takes it out of the free queue.
  pool.touch(ids);
  EXPECT_EQ(pool.num_free_blocks(), 2);
  EXPECT_EQ(pool.block(ids[0]).ref_count, 1);
  // The null block is never handed out or freed.
  pool.free_blocks(std::vector<int32_t>{BlockPool::kNullBlockId});
  EXPECT_EQ(pool.num_free_blocks(), 2);
}

TEST(BlockPool, CachedBlocksAreEvictedInLruOrder) {
  BlockPool pool(4, true);
  auto ids = pool.get_new_blocks(3);  // 1, 2, 3
  auto tokens = iota_tokens(12);
  std::vector<BlockHash> hashes;
  extend_block_hashes(hashes, tokens, 4, "");
  ASSERT_EQ(hashes.size(), 3u);
  pool.cache_full_blocks(ids, hashes, 0, 3, /*group=*/0);
  EXPECT_EQ(pool.num_cached_blocks(), 3);
  EXPECT_EQ(pool.get_cached_block(hashes[1], 0), 2);
  EXPECT_FALSE(pool.get_cached_block(hashes[1], 1));  // another group
  // Free tail first, as the manager does: block 3 is evicted first, block 1 last.
  pool.free_blocks(std::vector<int32_t>{3, 2, 1});
  EXPECT_EQ(pool.get_cached_block(hashes[0], 0), 1);  // still cached while free
  EXPECT_EQ(pool.get_new_blocks(1), std::vector<int32_t>{3});
  EXPECT_FALSE(pool.get_cached_block(hashes[2], 0));  // evicted with its block
  EXPECT_EQ(pool.get_cached_block(hashes[0], 0), 1);
  EXPECT_EQ(pool.num_cached_blocks(), 2);
  EXPECT_FALSE(pool.reset_prefix_cache());  // block 3 is held
  pool.free_blocks(std::vector<int32_t>{3});
  EXPECT_TRUE(pool.reset_prefix_cache());
  EXPECT_EQ(pool.num_cached_blocks(), 0);
}

TEST(BlockHash, ChainsParentTokensAndExtraKey) {
  auto tokens = iota_tokens(8);
  BlockHash a = hash_block_tokens(root_block_hash(), std::span(tokens).first(4));
  EXPECT_EQ(a, hash_block_tokens(root_block_hash(), std::span(tokens).first(4)));
  EXPECT_NE(a, hash_block_tokens(root_block_hash(), std::span(tokens).first(4), "salt"));
  BlockHash b1 = hash_block_tokens(a, std::span(tokens).subspan(4, 4));
  BlockHash b2 = hash_block_tokens(root_block_hash(), std::span(tokens).subspan(4, 4));
  EXPECT_NE(b1, b2);  // same tokens, different prefix
  std::vector<BlockHash> hashes;
  extend_block_hashes(hashes, std::span(tokens).first(7), 4, "");
  EXPECT_EQ(hashes.size(), 1u);  // only full blocks
  extend_block_hashes(hashes, tokens, 4, "");
  EXPECT_EQ(hashes, (std::vector<BlockHash>{a, b1}));
}

TEST(KVCacheManager, AllocatesAndFrees) {
  KVCacheManager manager({.num_blocks = 11, .block_size = 4}, /*max_model_len=*/64);
  auto request = make_request("a", iota_tokens(10));
  auto hit = manager.get_computed_blocks(*request);
  EXPECT_EQ(hit.num_computed_tokens, 0);
  auto blocks = manager.allocate_slots(*request, 10, &hit);
  ASSERT_TRUE(blocks);
  EXPECT_EQ((*blocks)[0].size(), 3u);
  EXPECT_EQ(request->block_ids[0], (*blocks)[0]);
  EXPECT_EQ(manager.num_free_blocks(), 7);
  EXPECT_DOUBLE_EQ(manager.usage(), 0.3);
  request->num_computed_tokens = 10;
  // Growing within the last block needs nothing new; past it, one block.
  EXPECT_EQ(manager.allocate_slots(*request, 2)->at(0).size(), 0u);
  request->num_computed_tokens = 12;
  EXPECT_EQ(manager.allocate_slots(*request, 1)->at(0).size(), 1u);
  // More than the pool holds: nullopt and nothing changes.
  EXPECT_FALSE(manager.allocate_slots(*request, 40));
  EXPECT_EQ(request->block_ids[0].size(), 4u);
  manager.free(*request);
  EXPECT_EQ(manager.num_free_blocks(), 10);
  manager.free(*request);  // idempotent
  EXPECT_EQ(manager.num_free_blocks(), 10);
}

TEST(KVCacheManager, PrefixCacheHitsReuseTheSameBlocks) {
  KVCacheManager manager({.num_blocks = 20, .block_size = 4}, 64);
  auto first = make_request("a", iota_tokens(14));
  auto hit = manager.get_computed_blocks(*first);
  ASSERT_TRUE(manager.allocate_slots(*first, 14, &hit));
  first->num_computed_tokens = 14;
  EXPECT_EQ(manager.prefix_cache_stats().queries, 14);
  EXPECT_EQ(manager.prefix_cache_stats().hits, 0);

  // Same first 12 tokens (3 full blocks), different tail.
  std::vector<int32_t> prompt = iota_tokens(12);
  prompt.push_back(100);
  prompt.push_back(101);
  prompt.push_back(102);
  auto second = make_request("b", prompt);
  hit = manager.get_computed_blocks(*second);
  EXPECT_EQ(hit.num_computed_tokens, 12);
  EXPECT_EQ(hit.block_ids[0], std::vector<int32_t>(first->block_ids[0].begin(), first->block_ids[0].begin() + 3));
  EXPECT_EQ(manager.prefix_cache_stats().queries, 29);
  EXPECT_EQ(manager.prefix_cache_stats().hits, 12);
  int free_before = manager.num_free_blocks();
  ASSERT_TRUE(manager.allocate_slots(*second, 3, &hit));
  second->num_computed_tokens = 15;  // as the scheduler advances it: the hit and the new tokens
  EXPECT_EQ(manager.num_free_blocks(), free_before - 1);  // only the tail block is new
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(second->block_ids[0][i], first->block_ids[0][i]);
    EXPECT_EQ(manager.block_pool().block(first->block_ids[0][i]).ref_count, 2);
  }

  // After both finish the blocks stay cached: a third request hits them from the free queue.
  manager.free(*first);
  manager.free(*second);
  EXPECT_EQ(manager.num_free_blocks(), 19);
  auto third = make_request("c", iota_tokens(13));
  hit = manager.get_computed_blocks(*third);
  EXPECT_EQ(hit.num_computed_tokens, 12);
  ASSERT_TRUE(manager.allocate_slots(*third, 1, &hit));
  EXPECT_EQ(manager.num_free_blocks(), 19 - 4);  // 3 hit blocks left the free queue + 1 new
  manager.free(*third);
}

// A request freed before computing what it was scheduled for (num_computed_tokens not advanced
// past it) takes those blocks out of the prefix cache; its computed blocks stay cached.
TEST(KVCacheManager, FreeUncachesBlocksNeverComputed) {
  KVCacheManager manager({.num_blocks = 20, .block_size = 4}, 64);
  auto first = make_request("a", iota_tokens(14));
  ASSERT_TRUE(manager.allocate_slots(*first, 14));  // registers blocks 0-2 (12 tokens)
  first->num_computed_tokens = 4;                     // only block 0 was computed
  manager.free(*first);
  auto second = make_request("b", iota_tokens(14));
  EXPECT_EQ(manager.get_computed_blocks(*second).num_computed_tokens, 4);
}

TEST(KVCacheManager, NeverHitsTheWholePrompt) {
  KVCacheManager manager({.num_blocks = 10, .block_size = 4}, 64);
  auto first = make_request("a", iota_tokens(8));
  auto hit = manager.get_computed_blocks(*first);
  ASSERT_TRUE(manager.allocate_slots(*first, 8, &hit));
  auto same = make_request("b", iota_tokens(8));
  hit = manager.get_computed_blocks(*same);
  EXPECT_EQ(hit.num_computed_tokens, 4);  // the last token must be recomputed: 1 block, not 2
  manager.free(*first);
}

TEST(KVCacheManager, CacheSaltSeparatesRequests) {
  KVCacheManager manager({.num_blocks = 10, .block_size = 4}, 64);
  auto first = std::make_unique<Request>("a", iota_tokens(9), SamplingParams{}, std::nullopt, 0, 0.0, "alice");
  auto hit = manager.get_computed_blocks(*first);
  ASSERT_TRUE(manager.allocate_slots(*first, 9, &hit));
  auto other = std::make_unique<Request>("b", iota_tokens(9), SamplingParams{}, std::nullopt, 0, 0.0, "bob");
  EXPECT_EQ(manager.get_computed_blocks(*other).num_computed_tokens, 0);
  auto same = std::make_unique<Request>("c", iota_tokens(9), SamplingParams{}, std::nullopt, 0, 0.0, "alice");
  EXPECT_EQ(manager.get_computed_blocks(*same).num_computed_tokens, 8);
  manager.free(*first);
}

TEST(KVCacheManager, CachingOffAndPromptLogprobsSkipTheCache) {
  KVCacheManager off({.num_blocks = 10, .block_size = 4, .enable_prefix_caching = false}, 64);
  auto first = make_request("a", iota_tokens(9));
  ASSERT_TRUE(off.allocate_slots(*first, 9));
  auto second = make_request("b", iota_tokens(9));
  EXPECT_EQ(off.get_computed_blocks(*second).num_computed_tokens, 0);
  EXPECT_EQ(off.block_pool().num_cached_blocks(), 0);

  KVCacheManager on({.num_blocks = 10, .block_size = 4}, 64);
  auto a = make_request("a", iota_tokens(9));
  ASSERT_TRUE(on.allocate_slots(*a, 9));
  SamplingParams with_prompt_logprobs;
  with_prompt_logprobs.prompt_logprobs = 1;
  auto b = make_request("b", iota_tokens(9), with_prompt_logprobs);
  EXPECT_EQ(on.get_computed_blocks(*b).num_computed_tokens, 0);
}

TEST(KVCacheManager, SlidingWindowHoldsOnlyItsWindow) {
  // Group 0: full attention; group 1: window of 8 tokens (2 blocks of 4).
  KVCacheConfig config{.num_blocks = 64, .block_size = 4, .groups = {{0}, {8}}};
  KVCacheManager manager(config, 256);
  auto request = make_request("a", iota_tokens(5));
  ASSERT_TRUE(manager.allocate_slots(*request, 5));
  request->num_computed_tokens = 5;
  // Decode 60 more tokens one at a time.
  for (int step = 0; step < 60; ++step) {
    request->append_output_token(1000 + step);
    ASSERT_TRUE(manager.allocate_slots(*request, 1));
    request->num_computed_tokens += 1;
  }
  const auto& full = request->block_ids[0];
  const auto& window = request->block_ids[1];
  EXPECT_EQ(full.size(), window.size());  // same table length in every group
  EXPECT_EQ(full.size(), 17u);             // ceil(65 / 4)
  int held = 0;
  for (int32_t id : window) held += id != BlockPool::kNullBlockId;
  EXPECT_LE(held, 4);  // the window (8 tokens) plus the block being filled
  EXPECT_GE(held, 3);
  for (int32_t id : full) EXPECT_NE(id, BlockPool::kNullBlockId);
  // The blocks still held cover the window of the next token (position 65: sees 58..65).
  for (int position = 58; position < 65; ++position) EXPECT_NE(window[position / 4], BlockPool::kNullBlockId);
  EXPECT_EQ(manager.num_free_blocks(), 63 - 17 - held);
  manager.free(*request);
  EXPECT_EQ(manager.num_free_blocks(), 63);
}

TEST(KVCacheManager, SlidingWindowPrefixHitNeedsOnlyTheWindow) {
  KVCacheConfig config{.num_blocks = 64, .block_size = 4, .groups = {{0}, {8}}};
  KVCacheManager manager(config, 256);
  auto first = make_request("a", iota_tokens(30));
  auto hit = manager.get_computed_blocks(*first);
  ASSERT_TRUE(manager.allocate_slots(*first, 30, &hit));
  first->num_computed_tokens = 30;
  auto second = make_request("b", iota_tokens(30));
  hit = manager.get_computed_blocks(*second);
  // 29 tokens may hit: 7 full blocks = 28 tokens in both groups.
  EXPECT_EQ(hit.num_computed_tokens, 28);
  ASSERT_EQ(hit.block_ids[1].size(), 7u);
  // The sliding-window group only brings the blocks inside the window: cdiv(8 - 1, 4) = 2.
  int real = 0;
  for (int32_t id : hit.block_ids[1]) real += id != BlockPool::kNullBlockId;
  EXPECT_EQ(real, 2);
  EXPECT_EQ(hit.block_ids[1][6], first->block_ids[1][6]);
  EXPECT_EQ(hit.block_ids[0], std::vector<int32_t>(first->block_ids[0].begin(), first->block_ids[0].begin() + 7));
  ASSERT_TRUE(manager.allocate_slots(*second, 2, &hit));
  manager.free(*first);
  manager.free(*second);
  EXPECT_EQ(manager.num_free_blocks(), 63);
}

TEST(KVCacheManager, SlidingWindowBlocksLeftBehindStayCachedUntilEvicted) {
  for (int num_blocks : {64, 14}) {
    KVCacheConfig config{.num_blocks = num_blocks, .block_size = 4, .groups = {{0}, {8}}};
    KVCacheManager manager(config, 256);
    auto first = make_request("a", iota_tokens(6));
    ASSERT_TRUE(manager.allocate_slots(*first, 6));
    first->num_computed_tokens = 6;
    // Decode until the early sliding-window blocks are dropped (freed, but still cached).
    for (int step = 0; step < 26; ++step) {
      first->append_output_token(500 + step);
      ASSERT_TRUE(manager.allocate_slots(*first, 1));
      first->num_computed_tokens += 1;
    }
    EXPECT_EQ(first->block_ids[1][0], BlockPool::kNullBlockId);
    std::vector<int32_t> prompt(first->all_token_ids().begin(), first->all_token_ids().begin() + 10);
    auto second = make_request("b", prompt);
    auto hit = manager.get_computed_blocks(*second);
    const auto& pool = manager.block_pool();
    bool window_cached = pool.get_cached_block(second->block_hashes[1], 1).has_value() &&
                         pool.get_cached_block(second->block_hashes[0], 1).has_value();
    EXPECT_TRUE(pool.get_cached_block(second->block_hashes[1], 0).has_value());
    if (num_blocks == 64) {
      EXPECT_TRUE(window_cached);  // plenty of never-used blocks: nothing was evicted
      EXPECT_EQ(hit.num_computed_tokens, 8);
    } else {
      EXPECT_FALSE(window_cached);  // the tight pool reused them
      // The full-attention group alone could hit 8 tokens; the window group limits it to 0.
      EXPECT_EQ(hit.num_computed_tokens, 0);
    }
    manager.free(*first);
    EXPECT_EQ(manager.num_free_blocks(), num_blocks - 1);
  }
}

TEST(KVCacheManager, MaxBlocksPerRequest) {
  KVCacheManager full({.num_blocks = 100, .block_size = 16}, 1000);
  EXPECT_EQ(full.max_blocks_per_request(256), 63);
  KVCacheManager hybrid({.num_blocks = 100, .block_size = 16, .groups = {{0}, {128}}}, 1000);
  EXPECT_EQ(hybrid.max_blocks_per_request(256), 63 + 25);  // window + chunk + 1 partial block
}

}  // namespace
}  // namespace vllm
