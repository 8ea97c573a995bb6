// The resolution rules of the engine's one configuration (engine/vllm_config.h), without a model.
#include <gtest/gtest.h>

#include "engine/engine_args.h"
#include "core/error.h"
#include "engine/vllm_config.h"

namespace vllm {
namespace {

ModelFacts tiny_model() {
  ModelFacts facts;
  facts.architecture = "LlamaForCausalLM";
  facts.model_dir = "/models/tiny";
  facts.max_position_embeddings = 256;
  facts.vocab_size = 512;
  facts.kv_elements_per_token = 2 * 2 * 4 * 8;  // 2 layers, k and v, 4 kv heads, head_dim 8
  return facts;
}

DeviceConfig cpu() { return DeviceConfig{Device::cpu(), 0}; }
DeviceConfig gpu(size_t gib) { return DeviceConfig{Device::cuda(0), gib << 30}; }

// The message of the error `body` throws with `kind`, or "" when it does not throw.
template <typename F>
std::string error_of(F&& body, ErrorKind kind) {
  try {
    body();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    return e.what();
  }
  return "";
}

TEST(VllmConfig, CpuDefaults) {
  EngineArgs args;
  args.model = "tiny";
  VllmConfig config = resolve_vllm_config(args, tiny_model(), cpu());
  EXPECT_EQ(config.max_model_len(), 256);  // max_position_embeddings
  EXPECT_EQ(config.model.served_model_names, std::vector<std::string>{"tiny"});
  EXPECT_EQ(config.model.vocab_size, 512);
  EXPECT_EQ(config.scheduler.max_num_seqs, 256);
  EXPECT_EQ(config.scheduler.max_num_batched_tokens, 2048);
  EXPECT_FALSE(config.scheduler.async_scheduling);
  EXPECT_EQ(config.scheduler.admission_reserve_tokens, 256);  // 1024 capped at max_model_len
  EXPECT_EQ(config.cache.kv_cache_dtype, DType::F32);
  EXPECT_EQ(config.cache.kv_cache_memory, size_t{4} << 30);
  EXPECT_EQ(config.cache.bytes_per_block, size_t{16} * 128 * 4);
  ASSERT_EQ(config.cache.groups.size(), 1u);
  EXPECT_EQ(config.cache.num_blocks, 0);  // set after sizing
  EXPECT_EQ(config.compilation.cuda_graph_sizes.back(), 256);
  EXPECT_EQ(config.parallel.tensor_parallel_size, 1);
}

TEST(VllmConfig, GpuDefaultsFollowTheGpuSize) {
  EngineArgs args;
  VllmConfig large = resolve_vllm_config(args, tiny_model(), gpu(80));
  EXPECT_EQ(large.scheduler.max_num_seqs, 1024);
  EXPECT_EQ(large.scheduler.max_num_batched_tokens, 16384);
  EXPECT_TRUE(large.scheduler.async_scheduling);
  EXPECT_EQ(large.cache.kv_cache_dtype, DType::BF16);
  EXPECT_FALSE(large.cache.kv_cache_memory);  // from profiling
  EXPECT_EQ(large.compilation.cuda_graph_sizes.back(), 512);
  args.api_server = true;
  EXPECT_EQ(resolve_vllm_config(args, tiny_model(), gpu(80)).scheduler.max_num_batched_tokens, 8192);
  VllmConfig small = resolve_vllm_config(args, tiny_model(), gpu(24));
  EXPECT_EQ(small.scheduler.max_num_seqs, 256);
  EXPECT_EQ(small.scheduler.max_num_batched_tokens, 2048);
  args.api_server = false;
  args.dtype = "float16";
  args.async_scheduling = false;
  VllmConfig half = resolve_vllm_config(args, tiny_model(), gpu(24));
  EXPECT_EQ(half.scheduler.max_num_batched_tokens, 8192);
  EXPECT_EQ(half.cache.kv_cache_dtype, DType::F16);
  EXPECT_FALSE(half.scheduler.async_scheduling);
}

TEST(VllmConfig, MaxModelLenAboveTheModelsIsRefusedWithVllmsMessage) {
  EngineArgs args;
  args.max_model_len = 1000;
  EXPECT_EQ(error_of([&] { resolve_vllm_config(args, tiny_model(), cpu()); }, ErrorKind::InvalidArgument),
            "User-specified max_model_len (1000) is greater than the derived max_model_len "
            "(max_position_embeddings=256 in /models/tiny/config.json)");
  args.max_model_len = 64;
  EXPECT_EQ(resolve_vllm_config(args, tiny_model(), cpu()).max_model_len(), 64);
}

TEST(VllmConfig, ChunkedPrefillOffNeedsABudgetOfMaxModelLen) {
  EngineArgs args;
  args.enable_chunked_prefill = false;
  EXPECT_EQ(resolve_vllm_config(args, tiny_model(), cpu()).scheduler.max_num_batched_tokens, 2048);
  args.max_num_batched_tokens = 100;
  EXPECT_EQ(error_of([&] { resolve_vllm_config(args, tiny_model(), cpu()); }, ErrorKind::InvalidArgument),
            "max_num_batched_tokens (100) is smaller than max_model_len (256) with chunked prefill off: raise "
            "--max-num-batched-tokens or enable chunked prefill");
}

TEST(VllmConfig, CpuKvCacheIsFloat32) {
  EngineArgs args;
  args.kv_cache_dtype = "bfloat16";
  EXPECT_NE(error_of([&] { resolve_vllm_config(args, tiny_model(), cpu()); }, ErrorKind::Unsupported)
                .find("the CPU backend keeps its KV cache in float32"),
            std::string::npos);
}

TEST(VllmConfig, BadArgumentsAreRefused) {
  EngineArgs args;
  args.scheduling_policy = "random";
  EXPECT_NE(error_of([&] { resolve_vllm_config(args, tiny_model(), cpu()); }, ErrorKind::InvalidArgument), "");
  args = EngineArgs{};
  args.max_num_seqs = 0;
  EXPECT_EQ(error_of([&] { resolve_vllm_config(args, tiny_model(), cpu()); }, ErrorKind::InvalidArgument),
            "max_num_seqs must be positive, got 0");
  VllmConfig config = resolve_vllm_config(EngineArgs{}, tiny_model(), cpu());
  config.parallel.tensor_parallel_size = 2;
  EXPECT_EQ(error_of([&] { config.validate(); }, ErrorKind::Unsupported),
            "tensor_parallel_size 2: this engine runs on one device (1)");
}

TEST(VllmConfig, NumBlocksFromTheBudget) {
  EngineArgs args;
  args.max_model_len = 64;
  args.max_num_seqs = 2;
  VllmConfig config = resolve_vllm_config(args, tiny_model(), cpu());
  const size_t block = config.cache.bytes_per_block;
  config.set_num_blocks(6 * block);  // 4 blocks per sequence + the null block fit
  EXPECT_EQ(config.cache.num_blocks, 6);
  config.set_num_blocks(1000 * block);  // no more than max_num_seqs full sequences use
  EXPECT_EQ(config.cache.num_blocks, 2 * 4 + 1);
  EXPECT_EQ(error_of([&] { config.set_num_blocks(3 * block); }, ErrorKind::OutOfMemory),
            "the KV cache (0 MiB on cpu) holds 3 blocks of 16 tokens but one sequence of max_model_len=64 needs 4 "
            "(+1): lower --max-model-len or raise --kv-cache-memory");
}

TEST(VllmConfig, SlidingWindowGroupsNeedTheirBlocksToo) {
  ModelFacts facts = tiny_model();
  facts.group_windows = {0, 16};
  EngineArgs args;
  args.max_model_len = 64;
  args.max_num_batched_tokens = 64;
  VllmConfig config = resolve_vllm_config(args, facts, cpu());
  ASSERT_EQ(config.cache.groups.size(), 2u);
  EXPECT_EQ(config.cache.groups[1].sliding_window, 16);
  // Full attention 4 blocks, the window's group 4 more: 8 usable blocks.
  EXPECT_EQ(max_blocks_per_request(config.cache, 64, 64), 8);
  EXPECT_NE(error_of([&] { config.set_num_blocks(6 * config.cache.bytes_per_block); }, ErrorKind::OutOfMemory)
                .find("fewer than the 8 blocks one request of max_model_len (64) tokens needs"),
            std::string::npos);
  config.set_num_blocks(9 * config.cache.bytes_per_block);
  EXPECT_EQ(config.cache.num_blocks, 9);
}

TEST(VllmConfig, DefaultGraphSizesAreVllms) {
  EXPECT_EQ(default_graph_sizes(10), (std::vector<int64_t>{1, 2, 4, 8, 10}));
  EXPECT_EQ(default_graph_sizes(16), (std::vector<int64_t>{1, 2, 4, 8, 16}));
  EXPECT_EQ(default_graph_sizes(512).back(), 512);
}

}  // namespace
}  // namespace vllm
