// Scheduler: continuous batching, chunked prefill, budgets, preemption, policies, stops, aborts.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include "core/error.h"
#include "engine/scheduler.h"

namespace vllm {
namespace {

constexpr int kVocab = 50;

// A deterministic stand-in for a model: the next token is a function of the whole sequence.
int32_t fake_next_token(std::span<const int32_t> tokens) {
  uint64_t h = 1469598103934665603ull;
  for (int32_t t : tokens) h = (h ^ static_cast<uint64_t>(t)) * 1099511628211ull;
  return static_cast<int32_t>(h % kVocab);
}

std::vector<int32_t> tokens_from(int count, int seed) {
  std::vector<int32_t> tokens(count);
  for (int i = 0; i < count; ++i) tokens[i] = (seed * 7 + i * 3) % kVocab;
  return tokens;
}

SamplingParams params_with(int max_tokens, bool ignore_eos = true) {
  SamplingParams p;
  p.max_tokens = max_tokens;
  p.ignore_eos = ignore_eos;
  return p;
}

struct Finished {
  std::vector<int32_t> tokens;
  RequestStatus status;
  StopReason stop_reason;
};

// The scheduler's part of the resolved configuration, with max_model_len (VllmConfig keeps it in
// its model part).
struct SchedulerSetup : SchedulerConfig {
  int max_model_len = 0;
};

VllmConfig vllm_config_of(const SchedulerSetup& setup, const KVCacheConfig& kv) {
  VllmConfig config;
  config.scheduler = setup;
  config.model.max_model_len = setup.max_model_len;
  config.cache = kv;
  return config;
}

// Drives a Scheduler with the fake model and checks the step invariants.
struct Engine {
  Scheduler scheduler;
  std::map<std::string, std::vector<int32_t>> outputs;
  std::map<std::string, Finished> finished;
  std::vector<SchedulerOutput> history;
  int num_preemptions = 0;

  Engine(const SchedulerSetup& config, const KVCacheConfig& kv) : scheduler(vllm_config_of(config, kv)) {}

  void add(const std::string& id, std::vector<int32_t> prompt, SamplingParams params,
           int priority = 0, double arrival = 0.0, std::optional<int32_t> eos = std::nullopt) {
    scheduler.add_request(std::make_unique<Request>(id, std::move(prompt), std::move(params), eos,
                                                    priority, arrival));
  }

  SchedulerOutput step(bool keep_history = false) {
    SchedulerOutput out = scheduler.schedule();
    const SchedulerConfig& config = scheduler.config();
    EXPECT_LE(out.total_num_scheduled_tokens, config.max_num_batched_tokens);
    EXPECT_LE(static_cast<int>(out.scheduled.size()), config.max_num_seqs);
    std::vector<std::vector<int32_t>> sampled(out.scheduled.size());
    for (size_t i = 0; i < out.scheduled.size(); ++i) {
      const ScheduledRequest& s = out.scheduled[i];
      const Request& r = *s.request;
      EXPECT_GT(s.num_new_tokens, 0);
      EXPECT_EQ(r.num_computed_tokens, s.num_computed_tokens + s.num_new_tokens);
      int bs = scheduler.kv_cache_manager().block_size();
      for (const auto& table : r.block_ids)
        EXPECT_GE(static_cast<int64_t>(table.size()) * bs, r.num_computed_tokens);
      EXPECT_EQ(s.needs_sampling, r.num_computed_tokens == r.num_tokens());
      if (s.needs_sampling) sampled[i] = {fake_next_token(r.all_token_ids())};
    }
    num_preemptions += static_cast<int>(out.preempted_request_ids.size());
    for (const RequestUpdate& u : scheduler.update_from_output(out, sampled)) {
      auto& tokens = outputs[u.request_id];
      tokens.insert(tokens.end(), u.new_token_ids.begin(), u.new_token_ids.end());
      if (u.finished) finished[u.request_id] = {tokens, *u.finished, u.stop_reason};
    }
    if (keep_history) history.push_back(out);
    return out;
  }

  void run_to_completion(int max_steps = 10000) {
    for (int i = 0; i < max_steps && scheduler.has_unfinished_requests(); ++i) step();
    ASSERT_FALSE(scheduler.has_unfinished_requests());
  }

  void expect_all_blocks_free() const {
    const BlockPool& pool = scheduler.kv_cache_manager().block_pool();
    EXPECT_EQ(pool.num_free_blocks(), pool.num_usable_blocks());
    for (int id = 1; id < pool.num_blocks(); ++id) EXPECT_EQ(pool.block(id).ref_count, 0) << id;
  }
};

SchedulerSetup config_of(int max_model_len, int budget = 64, int max_seqs = 16) {
  SchedulerSetup setup;
  setup.max_num_batched_tokens = budget;
  setup.max_num_seqs = max_seqs;
  setup.max_model_len = max_model_len;
  return setup;
}

KVCacheConfig kv_of(int num_blocks, int block_size = 4, bool caching = true) {
  return KVCacheConfig{.num_blocks = num_blocks, .block_size = block_size, .enable_prefix_caching = caching};
}

TEST(Scheduler, RunsOneRequestToMaxTokens) {
  Engine engine(config_of(64), kv_of(32));
  engine.add("a", tokens_from(10, 1), params_with(3));
  SchedulerOutput first = engine.step();
  ASSERT_EQ(first.scheduled.size(), 1u);
  EXPECT_EQ(first.scheduled[0].num_new_tokens, 10);
  EXPECT_TRUE(first.scheduled[0].is_new);
  EXPECT_EQ(first.scheduled[0].new_block_ids[0].size(), 3u);
  SchedulerOutput second = engine.step();
  EXPECT_EQ(second.scheduled[0].num_new_tokens, 1);  // decode: one token
  EXPECT_FALSE(second.scheduled[0].is_new);
  engine.run_to_completion();
  const Finished& done = engine.finished.at("a");
  EXPECT_EQ(done.status, RequestStatus::FINISHED_LENGTH_CAPPED);
  EXPECT_EQ(done.tokens.size(), 3u);
  std::vector<int32_t> sequence = tokens_from(10, 1);
  for (int32_t t : done.tokens) {
    EXPECT_EQ(t, fake_next_token(sequence));
    sequence.push_back(t);
  }
  engine.expect_all_blocks_free();
  // The finished id is reported to the model runner in the next step.
  EXPECT_EQ(engine.scheduler.schedule().finished_request_ids, std::vector<std::string>{"a"});
}

TEST(Scheduler, ChunkedPrefillSplitsALongPromptWithinTheBudget) {
  Engine engine(config_of(256, /*budget=*/32), kv_of(80));
  engine.add("long", tokens_from(100, 2), params_with(2));
  std::vector<int> chunks;
  std::vector<bool> sampled;
  for (int i = 0; i < 4; ++i) {
    SchedulerOutput out = engine.step();
    chunks.push_back(out.scheduled[0].num_new_tokens);
    sampled.push_back(out.scheduled[0].needs_sampling);
  }
  EXPECT_EQ(chunks, (std::vector<int>{32, 32, 32, 4}));
  EXPECT_EQ(sampled, (std::vector<bool>{false, false, false, true}));
  EXPECT_EQ(engine.outputs["long"].size(), 1u);
  engine.run_to_completion();
  engine.expect_all_blocks_free();
}

TEST(Scheduler, RunningRequestsGoFirstAndShareTheBudget) {
  Engine engine(config_of(256, /*budget=*/40), kv_of(100));
  engine.add("a", tokens_from(30, 1), params_with(5));
  engine.step();  // a: 30 prompt tokens
  engine.add("b", tokens_from(60, 2), params_with(5));
  SchedulerOutput out = engine.step();
  ASSERT_EQ(out.scheduled.size(), 2u);
  EXPECT_EQ(out.scheduled[0].request_id, "a");
  EXPECT_EQ(out.scheduled[0].num_new_tokens, 1);
  EXPECT_EQ(out.scheduled[1].request_id, "b");
  EXPECT_EQ(out.scheduled[1].num_new_tokens, 39);  // the rest of the budget: a chunk
  EXPECT_EQ(out.total_num_scheduled_tokens, 40);
  engine.run_to_completion();
  engine.expect_all_blocks_free();
}

TEST(Scheduler, WithoutChunkedPrefillAPromptWaitsForRoom) {
  SchedulerSetup config = config_of(64, /*budget=*/64);
  config.enable_chunked_prefill = false;
  Engine engine(config, kv_of(64));
  engine.add("a", tokens_from(40, 1), params_with(4));
  engine.add("b", tokens_from(40, 2), params_with(4));
  SchedulerOutput out = engine.step();
  ASSERT_EQ(out.scheduled.size(), 1u);  // b does not fit in the 24 tokens left
  out = engine.step();
  ASSERT_EQ(out.scheduled.size(), 2u);
  EXPECT_EQ(out.scheduled[1].num_new_tokens, 40);
  config.max_num_batched_tokens = 32;
  EXPECT_THROW(Scheduler(vllm_config_of(config, kv_of(64))), Error);  // a prompt could never fit
}

TEST(Scheduler, MaxNumSeqsIsRespected) {
  Engine engine(config_of(64, 256, /*max_seqs=*/2), kv_of(64));
  for (int i = 0; i < 5; ++i) engine.add(std::to_string(i), tokens_from(5, i), params_with(3));
  SchedulerOutput out = engine.step();
  EXPECT_EQ(out.scheduled.size(), 2u);
  EXPECT_EQ(engine.scheduler.num_running(), 2);
  EXPECT_EQ(engine.scheduler.num_waiting(), 3);
  engine.run_to_completion();
  EXPECT_EQ(engine.finished.size(), 5u);
  engine.expect_all_blocks_free();
}

TEST(Scheduler, PreemptedRequestsCompleteWithTheSameTokens) {
  auto run = [](int num_blocks, bool caching, int* preemptions) {
    Engine engine(config_of(128, 64, 8), kv_of(num_blocks, 4, caching));
    for (int i = 0; i < 6; ++i) engine.add(std::to_string(i), tokens_from(10 + 3 * i, i), params_with(30));
    engine.run_to_completion();
    engine.expect_all_blocks_free();
    *preemptions = engine.num_preemptions;
    std::map<std::string, std::vector<int32_t>> out;
    for (auto& [id, f] : engine.finished) out[id] = f.tokens;
    return out;
  };
  int none = 0, some = 0, some_cached = 0;
  auto reference = run(400, false, &none);
  EXPECT_EQ(none, 0);
  EXPECT_EQ(run(40, false, &some), reference);
  EXPECT_GT(some, 0);  // the small pool did force preemptions
  EXPECT_EQ(run(40, true, &some_cached), reference);
  EXPECT_GT(some_cached, 0);
}

// With an admission reserve, requests wait until the pool can hold their growth: the workload
// that preempts under vLLM's rule (admit whenever the prompt fits) runs without a preemption, with
// the same tokens, and the first request of an empty engine is admitted whatever its reserve.
TEST(Scheduler, AdmissionReserveAvoidsPreemptionWithTheSameTokens) {
  auto run = [](int reserve, int* preemptions, int* most_running) {
    SchedulerSetup config = config_of(128, 64, 16);
    config.admission_reserve_tokens = reserve;
    // 40 usable blocks of 4 tokens; 10 prompts of 8 tokens (2 blocks) growing by 12 (3 blocks).
    Engine engine(config, kv_of(41, 4, /*caching=*/true));
    for (int i = 0; i < 10; ++i) engine.add(std::to_string(i), tokens_from(8, i), params_with(12));
    *most_running = 0;
    int prompt_tokens = 0;
    for (int i = 0; i < 1000 && engine.scheduler.has_unfinished_requests(); ++i) {
      SchedulerOutput out = engine.step();
      for (const ScheduledRequest& s : out.scheduled)
        prompt_tokens += std::max(0, std::min(s.num_new_tokens, 8 - s.num_computed_tokens));
      *most_running = std::max(*most_running, engine.scheduler.num_running());
    }
    // Every prompt token computed, and only recomputed after a preemption: a request held back
    // by the reserve left no block of its prompt in the prefix cache (it would be a "hit" on
    // keys never computed).
    if (engine.num_preemptions == 0) EXPECT_EQ(prompt_tokens, 80) << "reserve " << reserve;
    else EXPECT_GT(prompt_tokens, 80) << "reserve " << reserve;
    EXPECT_FALSE(engine.scheduler.has_unfinished_requests());
    engine.expect_all_blocks_free();
    *preemptions = engine.num_preemptions;
    std::map<std::string, std::vector<int32_t>> out;
    for (auto& [id, f] : engine.finished) out[id] = f.tokens;
    return out;
  };
  int preemptions = 0, running = 0;
  auto reference = run(0, &preemptions, &running);
  EXPECT_GT(preemptions, 0);  // vLLM's rule admits all 10 (20 blocks) and then runs out
  EXPECT_EQ(running, 10);
  EXPECT_EQ(run(12, &preemptions, &running), reference);
  EXPECT_EQ(preemptions, 0);
  EXPECT_EQ(running, 8);  // 8 x (2 + 3) blocks fill the 40
  // A reserve above max_tokens counts only what the requests may still produce.
  EXPECT_EQ(run(1000, &preemptions, &running), reference);
  EXPECT_EQ(preemptions, 0);
  EXPECT_EQ(running, 8);

  // A request held back leaves nothing in the prefix cache: admitted later, it computes its
  // whole prompt (a block registered at a refused admission would be a "hit" on keys never
  // written). 12 usable blocks: "a" (1 block, growing by 40 tokens = 10 blocks) holds "b" back.
  {
    SchedulerSetup held_config = config_of(48, 64, 16);
    held_config.admission_reserve_tokens = 100;
    Engine held(held_config, kv_of(13, 4, /*caching=*/true));
    held.add("a", tokens_from(4, 1), params_with(40));
    held.step();
    held.add("b", tokens_from(9, 2), params_with(1));
    int b_prompt_tokens = 0;
    for (int i = 0; i < 200 && held.scheduler.has_unfinished_requests(); ++i) {
      SchedulerOutput out = held.step();
      for (const ScheduledRequest& s : out.scheduled)
        if (s.request_id == "b" && s.num_computed_tokens < 9) {
          if (b_prompt_tokens == 0) EXPECT_TRUE(held.finished.count("a")) << "b ran beside a";
          b_prompt_tokens += s.num_new_tokens;
          EXPECT_EQ(s.num_computed_tokens, 0) << "b started from a prefix-cache hit";
        }
    }
    EXPECT_EQ(b_prompt_tokens, 9);
    EXPECT_EQ(held.num_preemptions, 0);
  }

  // A request whose growth takes the whole pool runs alone; the next one waits for it.
  SchedulerSetup config = config_of(80, 64, 16);
  config.admission_reserve_tokens = 200;
  Engine engine(config, kv_of(21, 4, false));
  engine.add("big", tokens_from(8, 1), params_with(70));
  engine.add("next", tokens_from(8, 2), params_with(4));
  SchedulerOutput first = engine.step();
  ASSERT_EQ(first.scheduled.size(), 1u);
  EXPECT_EQ(first.scheduled[0].request_id, "big");
  EXPECT_EQ(engine.scheduler.num_waiting(), 1);
  EXPECT_EQ(engine.scheduler.kv_cache_manager().num_free_blocks(), 18);  // "next" took nothing
  engine.run_to_completion();
  EXPECT_EQ(engine.finished.at("big").tokens.size(), 70u);
  EXPECT_EQ(engine.finished.at("next").tokens.size(), 4u);
  engine.expect_all_blocks_free();
}

// Under the priority policy the victim may be a request scheduled earlier in the same step: the
// blocks its chunk was about to fill were registered in the prefix cache, and must not come back
// as a hit (their keys were never computed) when it resumes.
TEST(Scheduler, APreemptedChunkLeavesNoUncomputedBlockInThePrefixCache) {
  // 7 usable blocks of 4 tokens. "low" (24 prompt tokens, 8 per step) and then "high" (4) run;
  // in the third step "low" takes blocks 4-5 for tokens 16-23, "high" then needs a block, and
  // "low", the lowest priority, gives its blocks back before computing them; "high" finishes,
  // and "low" resumes with its blocks still in the pool.
  SchedulerSetup config = config_of(28, 64, 8);
  config.policy = SchedulingPolicy::PRIORITY;
  config.long_prefill_token_threshold = 8;
  Engine engine(config, kv_of(8, 4, /*caching=*/true));
  engine.add("low", tokens_from(24, 1), params_with(4), /*priority=*/10);
  engine.step();
  engine.add("high", tokens_from(4, 2), params_with(2), /*priority=*/0);  // done in the next step
  int computed_before_preemption = -1;
  bool resumed = false;
  for (int i = 0; i < 200 && engine.scheduler.has_unfinished_requests(); ++i) {
    const Request* low = engine.scheduler.get_request("low");
    const int low_computed = low ? low->num_computed_tokens : 0;
    SchedulerOutput out = engine.step();
    for (const std::string& id : out.preempted_request_ids)
      if (id == "low") computed_before_preemption = low_computed;
    for (const ScheduledRequest& s : out.scheduled)
      if (s.request_id == "low" && s.is_resumed) {
        resumed = true;
        EXPECT_LE(s.num_computed_tokens, computed_before_preemption) << "a hit on blocks never computed";
      }
  }
  EXPECT_GE(computed_before_preemption, 0) << "the pool should force \"low\" out";
  EXPECT_TRUE(resumed);
  EXPECT_EQ(engine.finished.at("low").tokens.size(), 4u);
  EXPECT_EQ(engine.finished.at("high").tokens.size(), 2u);
  engine.expect_all_blocks_free();
}

TEST(Scheduler, PreemptionTakesTheLastRunningRequestAndPutsItFirst) {
  // 12 usable blocks of 4 tokens; two requests of 20 prompt tokens (5 blocks each) that grow.
  Engine engine(config_of(48, 64, 8), kv_of(13, 4, false));
  engine.add("a", tokens_from(20, 1), params_with(20));
  engine.add("b", tokens_from(20, 2), params_with(20));
  bool saw_preemption = false;
  for (int i = 0; i < 100 && !saw_preemption; ++i) {
    SchedulerOutput out = engine.step();
    if (!out.preempted_request_ids.empty()) {
      saw_preemption = true;
      EXPECT_EQ(out.preempted_request_ids[0], "b");  // FCFS: the most recent running one
      const Request* b = engine.scheduler.get_request("b");
      ASSERT_NE(b, nullptr);
      EXPECT_EQ(b->status, RequestStatus::PREEMPTED);
      EXPECT_EQ(b->num_computed_tokens, 0);
      EXPECT_TRUE(b->block_ids.empty());
    }
  }
  EXPECT_TRUE(saw_preemption);
  engine.run_to_completion();
  EXPECT_EQ(engine.finished.at("b").tokens.size(), 20u);
  engine.expect_all_blocks_free();
}

TEST(Scheduler, PriorityPolicyOrdersByPriorityThenArrival) {
  SchedulerSetup config = config_of(64, 256, /*max_seqs=*/1);
  config.policy = parse_scheduling_policy("priority");
  Engine engine(config, kv_of(64));
  engine.add("p3", tokens_from(4, 1), params_with(1), /*priority=*/3, /*arrival=*/0.0);
  engine.add("p1-late", tokens_from(4, 2), params_with(1), 1, 2.0);
  engine.add("p1-early", tokens_from(4, 3), params_with(1), 1, 1.0);
  engine.add("p2", tokens_from(4, 4), params_with(1), 2, 0.5);
  std::vector<std::string> order;
  while (engine.scheduler.has_unfinished_requests()) {
    SchedulerOutput out = engine.step();
    for (auto& s : out.scheduled) order.push_back(s.request_id);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"p1-early", "p1-late", "p2", "p3"}));
  EXPECT_THROW(parse_scheduling_policy("lifo"), Error);
}

TEST(Scheduler, PriorityPreemptsTheLowestPriorityRunningRequest) {
  SchedulerSetup config = config_of(48, 64, 8);
  config.policy = SchedulingPolicy::PRIORITY;
  Engine engine(config, kv_of(13, 4, false));
  engine.add("low", tokens_from(20, 1), params_with(20), /*priority=*/5, 0.0);
  engine.add("high", tokens_from(20, 2), params_with(20), /*priority=*/0, 1.0);
  std::vector<std::string> preempted;
  for (int i = 0; i < 200 && engine.scheduler.has_unfinished_requests(); ++i) {
    SchedulerOutput out = engine.step();
    preempted.insert(preempted.end(), out.preempted_request_ids.begin(), out.preempted_request_ids.end());
  }
  ASSERT_FALSE(preempted.empty());
  for (const auto& id : preempted) EXPECT_EQ(id, "low");
  EXPECT_EQ(engine.finished.at("low").tokens.size(), 20u);
  EXPECT_EQ(engine.finished.at("high").tokens.size(), 20u);
  engine.expect_all_blocks_free();
}

TEST(Scheduler, StopsOnEosUnlessIgnoredAndRespectsMinTokens) {
  // Find the fake model's first output for a prompt, then use it as "EOS".
  std::vector<int32_t> prompt = tokens_from(6, 9);
  int32_t first = fake_next_token(prompt);
  {
    Engine engine(config_of(64), kv_of(32));
    engine.add("eos", prompt, params_with(10, /*ignore_eos=*/false), 0, 0.0, first);
    engine.run_to_completion();
    EXPECT_EQ(engine.finished.at("eos").status, RequestStatus::FINISHED_STOPPED);
    EXPECT_EQ(engine.finished.at("eos").tokens, std::vector<int32_t>{first});
    EXPECT_TRUE(std::holds_alternative<std::monostate>(engine.finished.at("eos").stop_reason));
  }
  {
    Engine engine(config_of(64), kv_of(32));
    engine.add("ignored", prompt, params_with(10, /*ignore_eos=*/true), 0, 0.0, first);
    engine.run_to_completion();
    EXPECT_EQ(engine.finished.at("ignored").status, RequestStatus::FINISHED_LENGTH_CAPPED);
    EXPECT_EQ(engine.finished.at("ignored").tokens.size(), 10u);
  }
  {
    // min_tokens: EOS in the first 3 tokens does not stop (the sampler also masks it).
    Engine engine(config_of(64), kv_of(32));
    SamplingParams p = params_with(10, false);
    p.min_tokens = 3;
    engine.add("min", prompt, p, 0, 0.0, first);
    engine.run_to_completion();
    EXPECT_GE(engine.finished.at("min").tokens.size(), 3u);
  }
  {
    Engine engine(config_of(64), kv_of(32));
    SamplingParams p = params_with(10, true);
    p.stop_token_ids = {first};
    engine.add("stop-id", prompt, p);
    engine.run_to_completion();
    const Finished& done = engine.finished.at("stop-id");
    EXPECT_EQ(done.status, RequestStatus::FINISHED_STOPPED);
    EXPECT_EQ(std::get<int32_t>(done.stop_reason), first);
  }
}

TEST(Scheduler, MaxModelLenLimitsRequests) {
  Engine engine(config_of(32), kv_of(32));
  // The input processor refuses these with vLLM's messages (test_input_processor.cpp); the
  // scheduler asserts that it did.
  EXPECT_THROW(engine.add("too-long", tokens_from(20, 1), params_with(20)), Error);
  EXPECT_THROW(engine.add("prompt-too-long", tokens_from(32, 1), params_with(1)), Error);
  EXPECT_THROW(engine.add("empty", {}, params_with(1)), Error);
  EXPECT_EQ(engine.scheduler.num_waiting(), 0);
  // max_tokens unset: up to the context.
  SamplingParams unlimited;
  unlimited.max_tokens.reset();
  unlimited.ignore_eos = true;
  engine.add("fill", tokens_from(20, 1), unlimited);
  EXPECT_THROW(engine.add("fill", tokens_from(2, 1), unlimited), Error);  // duplicate id
  engine.run_to_completion();
  EXPECT_EQ(engine.finished.at("fill").tokens.size(), 12u);
  EXPECT_EQ(engine.finished.at("fill").status, RequestStatus::FINISHED_LENGTH_CAPPED);
  // A pool too small for one max_model_len request is refused up front.
  EXPECT_THROW(Scheduler(vllm_config_of(config_of(1000), kv_of(32))), Error);
}

TEST(Scheduler, AbortAtAnyTimeFreesBlocks) {
  Engine engine(config_of(128, 16), kv_of(64));
  engine.add("a", tokens_from(40, 1), params_with(10));
  engine.add("b", tokens_from(10, 2), params_with(10));
  engine.step();  // a: first chunk of 16
  EXPECT_TRUE(engine.scheduler.abort_request("b"));  // waiting
  EXPECT_TRUE(engine.scheduler.abort_request("a"));  // running, mid-prefill
  EXPECT_FALSE(engine.scheduler.abort_request("a"));
  EXPECT_FALSE(engine.scheduler.has_unfinished_requests());
  engine.expect_all_blocks_free();
  SchedulerOutput out = engine.scheduler.schedule();
  EXPECT_TRUE(out.scheduled.empty());
  EXPECT_EQ(std::set<std::string>(out.finished_request_ids.begin(), out.finished_request_ids.end()),
            (std::set<std::string>{"a", "b"}));
}

TEST(Scheduler, FinishRequestForStopStrings) {
  Engine engine(config_of(64), kv_of(32));
  engine.add("a", tokens_from(5, 1), params_with(10));
  engine.step();
  engine.scheduler.finish_request("a", RequestStatus::FINISHED_STOPPED, std::string("###"));
  EXPECT_FALSE(engine.scheduler.has_unfinished_requests());
  engine.expect_all_blocks_free();
}

TEST(Scheduler, PrefixCacheHitsSkipComputation) {
  Engine engine(config_of(128, 256), kv_of(64, 4));
  std::vector<int32_t> shared = tokens_from(33, 5);
  engine.add("first", shared, params_with(2));
  engine.run_to_completion();
  engine.add("second", shared, params_with(2));
  SchedulerOutput out = engine.step();
  ASSERT_EQ(out.scheduled.size(), 1u);
  EXPECT_EQ(out.scheduled[0].num_computed_tokens, 32);  // 8 cached blocks
  EXPECT_EQ(out.scheduled[0].num_new_tokens, 1);
  EXPECT_EQ(engine.scheduler.get_request("second")->num_cached_tokens, 32);
  engine.run_to_completion();
  EXPECT_EQ(engine.finished.at("second").tokens, engine.finished.at("first").tokens);
  const PrefixCacheStats& stats = engine.scheduler.kv_cache_manager().prefix_cache_stats();
  EXPECT_EQ(stats.queries, 66);
  EXPECT_EQ(stats.hits, 32);
}

TEST(Scheduler, SlidingWindowGroupsThroughTheScheduler) {
  KVCacheConfig kv{.num_blocks = 40, .block_size = 4, .groups = {{0}, {8}}};
  Engine engine(config_of(100, 32, 4), kv);
  for (int i = 0; i < 3; ++i) engine.add(std::to_string(i), tokens_from(30, i), params_with(40));
  engine.run_to_completion();
  EXPECT_EQ(engine.finished.size(), 3u);
  engine.expect_all_blocks_free();
}

// The issue's test: many requests with random aborts, finishes and preemptions leave no block
// allocated, and every block's ref count always matches the requests holding it.
TEST(Scheduler, TenThousandRandomRequestsLeaveNoBlockAllocated) {
  std::mt19937 rng(1234);
  for (bool caching : {true, false}) {
    Engine engine(config_of(256, 96, 12), kv_of(90, 4, caching));
    std::vector<std::string> live;
    int added = 0, aborted = 0;
    auto check_ref_counts = [&] {
      const BlockPool& pool = engine.scheduler.kv_cache_manager().block_pool();
      std::map<int32_t, int> holders;
      for (const std::string& id : live)
        if (const Request* r = engine.scheduler.get_request(id))
          for (const auto& table : r->block_ids)
            for (int32_t b : table)
              if (b != BlockPool::kNullBlockId) ++holders[b];
      int held = 0;
      for (int id = 1; id < pool.num_blocks(); ++id) {
        ASSERT_EQ(pool.block(id).ref_count, holders.count(id) ? holders[id] : 0) << "block " << id;
        held += pool.block(id).ref_count > 0;
      }
      ASSERT_EQ(held + pool.num_free_blocks(), pool.num_usable_blocks());
    };
    for (int iteration = 0; added < 10000; ++iteration) {
      int action = std::uniform_int_distribution<int>(0, 9)(rng);
      if (action < 4) {
        // Prompts from a few shared prefixes so that the prefix cache gets hits.
        int length = std::uniform_int_distribution<int>(1, 120)(rng);
        std::vector<int32_t> prompt = tokens_from(length, std::uniform_int_distribution<int>(0, 3)(rng));
        if (rng() % 2) prompt.back() = static_cast<int32_t>(rng() % kVocab);
        SamplingParams p = params_with(std::uniform_int_distribution<int>(1, 24)(rng), rng() % 2);
        std::string id = "r" + std::to_string(added++);
        engine.add(id, prompt, p, 0, 0.0, static_cast<int32_t>(rng() % kVocab));
        live.push_back(id);
      } else if (action == 4 && !live.empty()) {
        size_t index = rng() % live.size();
        if (engine.scheduler.abort_request(live[index])) ++aborted;
        live.erase(live.begin() + index);
      } else if (action == 5 && !live.empty()) {
        size_t index = rng() % live.size();
        engine.scheduler.finish_request(live[index], RequestStatus::FINISHED_STOPPED, std::string("stop"));
        live.erase(live.begin() + index);
      } else {
        engine.step();
        std::erase_if(live, [&](const std::string& id) { return engine.finished.count(id) > 0; });
      }
      if (iteration % 97 == 0) check_ref_counts();
    }
    // Drain half, abort the rest.
    for (int i = 0; i < 50; ++i) engine.step();
    for (const std::string& id : live) engine.scheduler.abort_request(id);
    EXPECT_FALSE(engine.scheduler.has_unfinished_requests());
    engine.expect_all_blocks_free();
    EXPECT_GT(aborted, 100);
    EXPECT_GT(engine.finished.size(), 1000u);
    EXPECT_GT(engine.num_preemptions, 10);
    if (caching) {
      EXPECT_GT(engine.scheduler.kv_cache_manager().prefix_cache_stats().hits, 0);
    }
  }
}

// Asynchronous scheduling: step N + 1 is scheduled before step N's tokens are known. The fake
// model computes a placeholder position like the device does (from the sequence as it will be
// once step N's token is in), so every request must end with the tokens, statuses and free
// blocks of the synchronous run, whatever stops, preemptions and max_tokens do in between.
struct AsyncDriver {
  Scheduler scheduler;
  std::map<std::string, Finished> finished;
  std::map<std::string, std::vector<int32_t>> outputs;
  int lookahead_steps = 0, wasted_rows = 0, preemptions = 0;
  std::optional<SchedulerOutput> pending;

  AsyncDriver(const SchedulerSetup& config, const KVCacheConfig& kv) : scheduler(vllm_config_of(config, kv)) {}

  void update(const SchedulerOutput& out) {
    std::vector<std::vector<int32_t>> sampled(out.scheduled.size());
    for (size_t i = 0; i < out.scheduled.size(); ++i) {
      const Request* r = scheduler.get_request(out.scheduled[i].request_id);
      if (!out.scheduled[i].needs_sampling) continue;
      if (r == nullptr) {  // finished while this step was queued: its row is dropped
        ++wasted_rows;
        continue;
      }
      sampled[i] = {fake_next_token(r->all_token_ids())};  // the earlier steps' tokens are in by now
    }
    for (const RequestUpdate& u : scheduler.update_from_output(out, sampled)) {
      auto& tokens = outputs[u.request_id];
      tokens.insert(tokens.end(), u.new_token_ids.begin(), u.new_token_ids.end());
      if (u.finished) finished[u.request_id] = {tokens, *u.finished, u.stop_reason};
    }
  }

  void run(int max_steps = 10000) {
    for (int i = 0; i < max_steps && (scheduler.has_unfinished_requests() || pending); ++i) {
      SchedulerOutput next = scheduler.schedule();
      preemptions += static_cast<int>(next.preempted_request_ids.size());
      for (const ScheduledRequest& s : next.scheduled) {
        const Request& r = *s.request;
        EXPECT_LE(r.num_output_placeholders, 2) << s.request_id;  // the pending step's and this one's
        EXPECT_LE(r.num_computed_tokens, r.num_tokens() + r.num_output_placeholders);
        if (s.num_computed_tokens + s.num_new_tokens > r.num_tokens()) {
          ++lookahead_steps;
          EXPECT_EQ(s.num_new_tokens, 1) << "a placeholder is computed alone";
        }
      }
      if (pending) update(*pending);
      pending.reset();
      if (!next.scheduled.empty()) pending = std::move(next);
    }
    ASSERT_FALSE(scheduler.has_unfinished_requests());
  }
};

TEST(Scheduler, AsynchronousSchedulingGivesTheSynchronousTokensAndFreesEverything) {
  for (const int num_blocks : {200, 20}) {  // 20 blocks of 4 tokens force preemptions
    Engine sync(config_of(72, 48, 8), kv_of(num_blocks));
    AsyncDriver async(config_of(72, 48, 8), kv_of(num_blocks));
    for (int i = 0; i < 12; ++i) {
      const std::string id = std::to_string(i);
      // Every third request stops on EOS: its EOS is the fake model's second output token.
      const bool eos = i % 3 == 0;
      std::vector<int32_t> prompt = tokens_from(3 + (i * 7) % 40, i), sequence = prompt;
      sequence.push_back(fake_next_token(sequence));
      const int32_t eos_id = fake_next_token(sequence);
      SamplingParams params = params_with(3 + (i * 5) % 23, /*ignore_eos=*/!eos);
      sync.add(id, prompt, params, 0, 0.0, eos_id);
      async.scheduler.add_request(std::make_unique<Request>(id, prompt, params, eos_id));
    }
    sync.run_to_completion();
    async.run();
    EXPECT_GT(async.lookahead_steps, 0);
    EXPECT_GT(async.wasted_rows, 0) << "EOS stops drop the row queued behind them";
    ASSERT_EQ(async.finished.size(), sync.finished.size());
    for (const auto& [id, done] : sync.finished) {
      EXPECT_EQ(async.finished.at(id).tokens, done.tokens) << "request " << id << ", " << num_blocks << " blocks";
      EXPECT_EQ(async.finished.at(id).status, done.status) << id;
    }
    if (num_blocks == 20) EXPECT_GT(async.preemptions, 0);
    const BlockPool& pool = async.scheduler.kv_cache_manager().block_pool();
    EXPECT_EQ(pool.num_free_blocks(), pool.num_usable_blocks());
  }
}

TEST(Scheduler, AsynchronousSchedulingStopsAtMaxTokensWithoutAnExtraRow) {
  AsyncDriver async(config_of(64), kv_of(32));
  async.scheduler.add_request(std::make_unique<Request>("a", tokens_from(5, 1), params_with(3)));
  async.run();
  EXPECT_EQ(async.finished.at("a").tokens.size(), 3u);
  EXPECT_EQ(async.finished.at("a").status, RequestStatus::FINISHED_LENGTH_CAPPED);
  EXPECT_EQ(async.wasted_rows, 0) << "a request is not scheduled past its max_tokens";
  EXPECT_EQ(async.lookahead_steps, 2);  // tokens 2 and 3 were computed from placeholders
}

}  // namespace
}  // namespace vllm
