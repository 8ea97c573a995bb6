// The engine over state-space models (tiny hand-written Mamba and Mamba-2 checkpoints): many
// concurrent requests of different lengths, prefilled in chunks, give the same greedy tokens as
// each alone; state slots bound max_num_seqs and are all free after finishes and aborts; prefix
// caching is off.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "api/llm.h"
#include "engine/llm_engine.h"
#include "ssm_test_checkpoint.h"
#include "engine_test_util.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace vllm;

namespace {

using vllm::testing::greedy;

struct MambaCheckpoint {
  fs::path dir;
  explicit MambaCheckpoint(vllm::testing::SsmKind kind, const char* name) {
    dir = fs::temp_directory_path() / ("vllm_mamba_engine_" + std::to_string(::getpid()) + "_" + name);
    vllm::testing::write_tiny_ssm(dir, kind, 5);
  }
  ~MambaCheckpoint() { fs::remove_all(dir); }
};

EngineArgs mamba_args(const fs::path& dir) {
  EngineArgs args;
  args.model = dir.string();
  args.skip_tokenizer_init = true;
  args.seed = 0;
  args.device = "cpu";
  args.max_model_len = 128;
  return args;
}

// Prompts of ids 2..47 (the tiny SSM checkpoints' vocabulary).
std::vector<std::vector<int32_t>> random_prompts(size_t count, int min_len, int max_len, uint32_t seed) {
  return vllm::testing::random_prompts(count, min_len, max_len, seed, 2, 47);
}

class MambaEngine : public ::testing::TestWithParam<vllm::testing::SsmKind> {};

TEST_P(MambaEngine, ConcurrentChunkedRequestsMatchEachAloneAndFreeTheirSlots) {
  MambaCheckpoint checkpoint(GetParam(), GetParam() == vllm::testing::SsmKind::Mamba ? "m1" : "m2");
  const std::vector<std::vector<int32_t>> prompts = random_prompts(20, 1, 40, 3);
  LLM alone(mamba_args(checkpoint.dir));
  std::vector<std::vector<int32_t>> expected;
  for (const auto& prompt : prompts)
    expected.push_back(alone.generate(std::vector<std::vector<int32_t>>{prompt}, greedy(6))[0].outputs[0].token_ids);

  EngineArgs args = mamba_args(checkpoint.dir);
  args.max_num_batched_tokens = 16;  // long prompts take several steps: state carried across chunks
  args.max_num_seqs = 5;             // 20 requests through 5 slots
  LLM batched(args);
  const KVCacheManager& manager = batched.engine().scheduler().kv_cache_manager();
  EXPECT_EQ(manager.num_state_slots(), 5);
  EXPECT_FALSE(manager.caching_enabled());
  std::vector<RequestOutput> outputs = batched.generate(prompts, greedy(6));
  ASSERT_EQ(outputs.size(), prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(outputs[i].outputs[0].token_ids, expected[i]) << "prompt " << i;
  EXPECT_EQ(manager.num_free_state_slots(), 5);
}

TEST_P(MambaEngine, AbortedRequestsGiveTheirSlotsBack) {
  MambaCheckpoint checkpoint(GetParam(), GetParam() == vllm::testing::SsmKind::Mamba ? "a1" : "a2");
  EngineArgs args = mamba_args(checkpoint.dir);
  args.max_num_seqs = 3;
  args.max_num_batched_tokens = 8;
  LLMEngine engine(args);
  const KVCacheManager& manager = engine.scheduler().kv_cache_manager();
  const std::vector<std::vector<int32_t>> prompts = random_prompts(9, 5, 30, 4);
  for (size_t i = 0; i < prompts.size(); ++i) {
    EngineRequest request;
    request.request_id = std::to_string(i);
    request.prompt_token_ids = prompts[i];
    request.params = greedy(20);
    request.apply_generation_config = false;
    engine.add_request(std::move(request));
  }
  engine.step();
  engine.step();
  // Every running request (mid-prefill or decoding) holds a slot.
  EXPECT_GT(engine.scheduler().num_running(), 0);
  EXPECT_EQ(manager.num_free_state_slots() + engine.scheduler().num_running(), 3);
  for (int i = 0; i < 9; i += 2) engine.abort_request(std::to_string(i));
  while (engine.has_unfinished_requests()) engine.step();
  EXPECT_EQ(manager.num_free_state_slots(), 3);
}

INSTANTIATE_TEST_SUITE_P(Ssm, MambaEngine, ::testing::Values(vllm::testing::SsmKind::Mamba, vllm::testing::SsmKind::Mamba2));

TEST(MambaEngine, MaxNumSeqsBeyondTheStateBudgetIsAClearError) {
  MambaCheckpoint checkpoint(vllm::testing::SsmKind::Mamba, "oom");
  EngineArgs args = mamba_args(checkpoint.dir);
  args.max_num_seqs = 64;
  args.kv_cache_memory = 10 * 2 * (32 * 3 + 32 * 4) * 4;  // 10 slots of 2 layers x (conv 32x3 + ssm 32x4) f32
  try {
    LLMEngine engine(args);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::OutOfMemory);
    EXPECT_NE(std::string(e.what()).find("--max-num-seqs 64 needs 64 recurrent-state slots"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("holds 10"), std::string::npos) << e.what();
  }
}

}  // namespace
