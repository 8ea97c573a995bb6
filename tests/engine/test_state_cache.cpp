// The recurrent-state cache (models with Mamba layers): one state slot per running request from
// the KV-cache manager, carried across prefill chunks, freed on finish, abort and preemption;
// the memory budget split between slots and blocks; prefix caching off. Driven with a stand-in
// model whose "state" is a running hash per slot, so a slot lost, shared or not carried changes
// the tokens.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "core/error.h"
#include "engine/engine_args.h"
#include "engine/scheduler.h"

namespace vllm {
namespace {

constexpr int kVocab = 50;
constexpr uint64_t kSeed = 1469598103934665603ull;

uint64_t fold(uint64_t h, int32_t token) { return (h ^ static_cast<uint64_t>(token)) * 1099511628211ull; }

// The reference: the next token from the whole sequence at once.
int32_t next_token_of(std::span<const int32_t> tokens) {
  uint64_t h = kSeed;
  for (int32_t t : tokens) h = fold(h, t);
  return static_cast<int32_t>(h % kVocab);
}

std::vector<int32_t> prompt_of(int count, int seed) {
  std::vector<int32_t> tokens(count);
  for (int i = 0; i < count; ++i) tokens[i] = (seed * 11 + i * 5) % kVocab;
  return tokens;
}

VllmConfig state_config(int num_blocks, int num_slots, int max_num_seqs, int budget, int max_model_len = 256) {
  VllmConfig config;
  config.model.max_model_len = max_model_len;
  config.scheduler.max_num_batched_tokens = budget;
  config.scheduler.max_num_seqs = max_num_seqs;
  config.cache.num_blocks = num_blocks;
  config.cache.block_size = 4;
  config.cache.enable_prefix_caching = false;
  config.cache.num_state_slots = num_slots;
  return config;
}

// A scheduler and a stand-in recurrent model: each slot holds the hash of the tokens its request
// computed so far; a request whose chunk starts at position 0 starts from the seed.
struct StateEngine {
  Scheduler scheduler;
  std::vector<uint64_t> slots;
  std::map<std::string, std::vector<int32_t>> outputs;
  std::set<std::string> finished;
  int num_preemptions = 0;

  explicit StateEngine(const VllmConfig& config)
      : scheduler(config), slots(static_cast<size_t>(config.cache.num_state_slots), 0) {}

  void add(const std::string& id, std::vector<int32_t> prompt, int max_tokens) {
    SamplingParams params;
    params.max_tokens = max_tokens;
    params.ignore_eos = true;
    scheduler.add_request(std::make_unique<Request>(id, std::move(prompt), params));
  }

  void step() {
    SchedulerOutput out = scheduler.schedule();
    num_preemptions += static_cast<int>(out.preempted_request_ids.size());
    std::set<int32_t> used;
    std::vector<std::vector<int32_t>> sampled(out.scheduled.size());
    for (size_t i = 0; i < out.scheduled.size(); ++i) {
      const ScheduledRequest& s = out.scheduled[i];
      const int32_t slot = s.request->state_slot;
      ASSERT_GE(slot, 0) << s.request_id << " runs without a state slot";
      ASSERT_LT(slot, static_cast<int32_t>(slots.size()));
      EXPECT_TRUE(used.insert(slot).second) << "slot " << slot << " given to two running requests";
      uint64_t& state = slots[static_cast<size_t>(slot)];
      if (s.num_computed_tokens == 0) state = kSeed;
      std::span<const int32_t> tokens = s.request->all_token_ids();
      for (int p = s.num_computed_tokens; p < s.num_computed_tokens + s.num_new_tokens; ++p) state = fold(state, tokens[p]);
      if (s.needs_sampling) sampled[i] = {static_cast<int32_t>(state % kVocab)};
    }
    for (const RequestUpdate& update : scheduler.update_from_output(out, sampled)) {
      auto& tokens = outputs[update.request_id];
      tokens.insert(tokens.end(), update.new_token_ids.begin(), update.new_token_ids.end());
      if (update.finished) finished.insert(update.request_id);
    }
  }

  void expect_everything_free() const {
    const KVCacheManager& manager = scheduler.kv_cache_manager();
    EXPECT_EQ(manager.num_free_state_slots(), manager.num_state_slots());
    EXPECT_EQ(manager.block_pool().num_free_blocks(), manager.block_pool().num_usable_blocks());
  }
};

// What a request's outputs must be: each token the reference's next token of everything before it.
void expect_reference_outputs(const std::vector<int32_t>& prompt, const std::vector<int32_t>& outputs) {
  std::vector<int32_t> sequence = prompt;
  for (int32_t token : outputs) {
    EXPECT_EQ(token, next_token_of(sequence));
    sequence.push_back(token);
  }
}

TEST(StateCache, ASlotIsTakenAtAdmissionKeptAcrossChunksAndFreed) {
  VllmConfig config = state_config(64, 2, 2, 8);
  KVCacheManager manager(config.cache, 256);
  Request a("a", prompt_of(20, 1), SamplingParams{});
  Request b("b", prompt_of(5, 2), SamplingParams{});
  Request c("c", prompt_of(5, 3), SamplingParams{});
  ASSERT_TRUE(manager.allocate_slots(a, 8));
  const int32_t slot_a = a.state_slot;
  EXPECT_GE(slot_a, 0);
  a.num_computed_tokens = 8;
  ASSERT_TRUE(manager.allocate_slots(a, 8));  // the next chunk keeps the slot
  EXPECT_EQ(a.state_slot, slot_a);
  ASSERT_TRUE(manager.allocate_slots(b, 5));
  EXPECT_NE(b.state_slot, slot_a);
  EXPECT_EQ(manager.num_free_state_slots(), 0);
  const int free_blocks = manager.num_free_blocks();
  EXPECT_FALSE(manager.allocate_slots(c, 5));  // no slot left: nothing taken
  EXPECT_EQ(c.state_slot, -1);
  EXPECT_EQ(manager.num_free_blocks(), free_blocks);
  manager.free(a);
  EXPECT_EQ(a.state_slot, -1);
  EXPECT_EQ(manager.num_free_state_slots(), 1);
  manager.free(a);  // twice is safe
  EXPECT_EQ(manager.num_free_state_slots(), 1);
  ASSERT_TRUE(manager.allocate_slots(c, 5));
  EXPECT_EQ(c.state_slot, slot_a);
}

TEST(StateCache, NoSlotsWithoutStateLayers) {
  VllmConfig config = state_config(64, 0, 2, 8);
  KVCacheManager manager(config.cache, 256);
  Request a("a", prompt_of(5, 1), SamplingParams{});
  ASSERT_TRUE(manager.allocate_slots(a, 5));
  EXPECT_EQ(a.state_slot, -1);
}

TEST(StateCache, ChunkedPrefillCarriesTheStateAndManyRequestsKeepTheirOwn) {
  // A budget of 8 tokens splits every prompt into chunks; 12 requests share 3 slots.
  StateEngine engine(state_config(200, 3, 3, 8));
  std::map<std::string, std::vector<int32_t>> prompts;
  for (int i = 0; i < 12; ++i) {
    const std::string id = std::to_string(i);
    prompts[id] = prompt_of(3 + 5 * i, i);
    engine.add(id, prompts[id], 4 + i % 5);
  }
  for (int i = 0; i < 2000 && engine.scheduler.has_unfinished_requests(); ++i) engine.step();
  ASSERT_FALSE(engine.scheduler.has_unfinished_requests());
  EXPECT_EQ(engine.finished.size(), 12u);
  for (const auto& [id, prompt] : prompts) {
    SCOPED_TRACE(id);
    EXPECT_EQ(engine.outputs[id].size(), static_cast<size_t>(4 + std::stoi(id) % 5));
    expect_reference_outputs(prompt, engine.outputs[id]);
  }
  engine.expect_everything_free();
}

TEST(StateCache, PreemptedRequestsRecomputeIntoAFreshSlot) {
  // 14 usable blocks of 4 tokens for 4 requests growing to 40 tokens each: preemptions happen.
  StateEngine engine(state_config(15, 4, 4, 64, /*max_model_len=*/48));
  std::map<std::string, std::vector<int32_t>> prompts;
  for (int i = 0; i < 4; ++i) {
    const std::string id = std::to_string(i);
    prompts[id] = prompt_of(10, i);
    engine.add(id, prompts[id], 30);
  }
  for (int i = 0; i < 2000 && engine.scheduler.has_unfinished_requests(); ++i) engine.step();
  ASSERT_FALSE(engine.scheduler.has_unfinished_requests());
  EXPECT_GT(engine.num_preemptions, 0);
  for (const auto& [id, prompt] : prompts) {
    SCOPED_TRACE(id);
    EXPECT_EQ(engine.outputs[id].size(), 30u);
    expect_reference_outputs(prompt, engine.outputs[id]);
  }
  engine.expect_everything_free();
}

TEST(StateCache, AllSlotsFreeAfterManyRequestsWithRandomAborts) {
  StateEngine engine(state_config(120, 5, 5, 24));
  std::mt19937 rng(7);
  std::set<std::string> aborted;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = std::to_string(i);
    engine.add(id, prompt_of(1 + static_cast<int>(rng() % 20), i), 1 + static_cast<int>(rng() % 6));
    if (rng() % 3 == 0) engine.step();
    if (rng() % 4 == 0) {
      const std::string victim = std::to_string(rng() % (i + 1));
      if (engine.scheduler.abort_request(victim)) aborted.insert(victim);
    }
  }
  for (int i = 0; i < 20000 && engine.scheduler.has_unfinished_requests(); ++i) engine.step();
  ASSERT_FALSE(engine.scheduler.has_unfinished_requests());
  EXPECT_GT(aborted.size(), 100u);
  EXPECT_EQ(engine.finished.size() + aborted.size(), 1000u);
  engine.expect_everything_free();
}

TEST(StateCache, TheBudgetHoldsOneSlotPerSequenceAndBoundsMaxNumSeqs) {
  ModelFacts facts;
  facts.architecture = "MambaForCausalLM";
  facts.model_dir = "/models/mamba";
  facts.max_position_embeddings = 2048;
  facts.vocab_size = 512;
  facts.kv_elements_per_token = 0;  // no attention layer
  facts.state_bytes_per_slot = size_t{1} << 20;
  const DeviceConfig cpu{Device::cpu(), 0};
  EngineArgs args;
  args.max_model_len = 64;
  VllmConfig config = resolve_vllm_config(args, facts, cpu);
  EXPECT_FALSE(config.cache.enable_prefix_caching);  // vLLM turns it off for Mamba layers
  EXPECT_EQ(config.cache.state_bytes_per_slot, size_t{1} << 20);
  config.set_num_blocks(size_t{300} << 20);  // the default 256 sequences fit
  EXPECT_EQ(config.cache.num_state_slots, 256);
  EXPECT_EQ(config.scheduler.max_num_seqs, 256);

  VllmConfig small = resolve_vllm_config(args, facts, cpu);
  small.set_num_blocks(size_t{10} << 20);  // the default shrinks to the 10 slots that fit
  EXPECT_EQ(small.scheduler.max_num_seqs, 10);
  EXPECT_EQ(small.cache.num_state_slots, 10);

  args.max_num_seqs = 32;  // asked for: a clear error instead
  VllmConfig given = resolve_vllm_config(args, facts, cpu);
  try {
    given.set_num_blocks(size_t{10} << 20);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::OutOfMemory);
    EXPECT_EQ(std::string(e.what()),
              "--max-num-seqs 32 needs 32 recurrent-state slots of 1024 KiB, but the KV cache (10 MiB) holds 10: "
              "lower --max-num-seqs to 10 or raise --kv-cache-memory");
  }
  VllmConfig none = resolve_vllm_config(args, facts, cpu);
  EXPECT_THROW(none.set_num_blocks(size_t{1} << 19), Error);
}

}  // namespace
}  // namespace vllm
