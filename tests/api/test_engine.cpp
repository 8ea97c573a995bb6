// The engine end to end on real (tiny) checkpoints: batching, chunked prefill, preemption,
// prefix caching, seeds, aborts and request validation.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "api/llm.h"
#include "core/error.h"
#ifdef VLLM_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif
#include "engine_test_util.h"
#include "test_util.h"

using namespace vllm;

namespace {

using vllm::testing::greedy;

std::string fixture(const std::string& name) { return (vllm::testing::source_dir() / "tests/data/models" / name).string(); }

EngineArgs tiny_args(const std::string& name) {
  EngineArgs args;
  args.model = fixture(name);
  args.skip_tokenizer_init = true;
  args.seed = 0;
  args.device = vllm::testing::test_device();
  // On a GPU these tests compare runs with different batch compositions token for token, which
  // bf16 GEMMs of different shapes only agree on up to rounding; f32 weights keep them exact.
  if (args.device == "cuda") args.dtype = "float32";
  return args;
}

// Prompts of ids 3..511 (the fixtures' vocabulary, clear of the special ids).
std::vector<std::vector<int32_t>> random_prompts(size_t count, int min_len, int max_len, uint32_t seed) {
  return vllm::testing::random_prompts(count, min_len, max_len, seed, 3, 511);
}

TEST(Engine, GreedyOutputIsTheSameAloneAndInABatchWithChunkingAndPreemption) {
  // Gemma 2 fixture: sliding-window and full-attention layers, so two KV-cache groups.
  std::vector<std::vector<int32_t>> prompts = random_prompts(64, 3, 60, 1);
  LLM alone(tiny_args("gemma2_softcap_4x"));
  std::vector<std::vector<int32_t>> expected;
  for (size_t i = 0; i < prompts.size(); i += 8)
    expected.push_back(alone.generate(std::vector<std::vector<int32_t>>{prompts[i]}, greedy(8))[0].outputs[0].token_ids);

  EngineArgs args = tiny_args("gemma2_softcap_4x");
  args.max_num_batched_tokens = 64;   // long prompts take several steps
  args.kv_cache_memory = 40 * 12288;  // 40 blocks of 16 tokens: far fewer than 64 prompts need
  args.admission_reserve_tokens = 0;  // vLLM's admission rule: the pool overfills and preempts
  LLM batched(args);
  std::vector<RequestOutput> outputs = batched.generate(prompts, greedy(8));
  EXPECT_GT(batched.engine().stats().num_preemptions_total, 0u) << "the KV budget should force preemption";
  for (size_t i = 0; i < prompts.size(); i += 8) {
    EXPECT_EQ(outputs[i].outputs[0].token_ids, expected[i / 8]) << "prompt " << i;
    EXPECT_EQ(outputs[i].outputs[0].finish_reason, "length");
  }
  EXPECT_EQ(batched.engine().scheduler().kv_cache_manager().usage(), 0.0);

  // The default admission reserve holds requests back until their growth fits: no preemption,
  // the same tokens as alone.
  args.admission_reserve_tokens = EngineArgs{}.admission_reserve_tokens;
  LLM reserved(args);
  std::vector<RequestOutput> reserved_outputs = reserved.generate(prompts, greedy(8));
  EXPECT_EQ(reserved.engine().stats().num_preemptions_total, 0u);
  for (size_t i = 0; i < prompts.size(); i += 8)
    EXPECT_EQ(reserved_outputs[i].outputs[0].token_ids, expected[i / 8]) << "prompt " << i;
}

TEST(Engine, PrefixCacheHitsGiveIdenticalOutputsAndAreCounted) {
  std::vector<int32_t> prefix = random_prompts(1, 48, 48, 2)[0];
  std::vector<std::vector<int32_t>> prompts;
  for (int32_t tail : {7, 8, 9}) {
    prompts.push_back(prefix);
    prompts.back().push_back(tail);
  }
  EngineArgs off = tiny_args("llama_gqa_5x");
  off.enable_prefix_caching = false;
  LLM uncached(off);
  LLM cached(tiny_args("llama_gqa_5x"));
  for (const auto& prompt : prompts) {
    std::vector<std::vector<int32_t>> one{prompt};
    EXPECT_EQ(cached.generate(one, greedy(6))[0].outputs[0].token_ids,
              uncached.generate(one, greedy(6))[0].outputs[0].token_ids);
  }
  EngineStats stats = cached.engine().stats();
  EXPECT_EQ(stats.prefix_cache_hits, 2u * 48u);  // the 3 full blocks of the prefix, twice
  EXPECT_GE(stats.prefix_cache_queries, 3u * 49u - 3u);
  EXPECT_EQ(uncached.engine().stats().prefix_cache_hits, 0u);
}

TEST(Engine, SeedsMakeSamplingReproducibleWhateverTheBatch) {
  LLM llm(tiny_args("qwen3_qk_norm_5x"));
  SamplingParams params;
  params.temperature = 1.0;
  params.max_tokens = 12;
  params.seed = 42;
  std::vector<int32_t> prompt = random_prompts(1, 10, 10, 3)[0];
  auto first = llm.generate(std::vector<std::vector<int32_t>>{prompt}, params)[0].outputs[0].token_ids;
  std::vector<std::vector<int32_t>> crowd = random_prompts(5, 4, 30, 4);
  crowd.insert(crowd.begin() + 2, prompt);
  auto in_crowd = llm.generate(crowd, params)[2].outputs[0].token_ids;
  EXPECT_EQ(first, in_crowd);
  params.seed = 43;
  EXPECT_NE(first, llm.generate(std::vector<std::vector<int32_t>>{prompt}, params)[0].outputs[0].token_ids);
}

TEST(Engine, NSequencesWithSeedsDifferAndAreIndexed) {
  LLM llm(tiny_args("llama_gqa_5x"));
  SamplingParams params;
  params.n = 3;
  params.temperature = 1.5;
  params.max_tokens = 10;
  params.seed = 5;
  RequestOutput output = llm.generate(std::vector<std::vector<int32_t>>{{5, 6, 7, 8}}, params)[0];
  ASSERT_EQ(output.outputs.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(output.outputs[i].index, i);
  EXPECT_NE(output.outputs[0].token_ids, output.outputs[1].token_ids);
  EXPECT_EQ(llm.generate(std::vector<std::vector<int32_t>>{{5, 6, 7, 8}}, params)[0].outputs[2].token_ids,
            output.outputs[2].token_ids);
}

struct AbortRun {
  int finished = 0, aborted = 0;
};

// Feeds `prompts` eight per step with random max_tokens, aborting a random live request every
// third step or so (possibly one already finished, or one of a step still queued), until done.
AbortRun run_with_random_aborts(LLMEngine& engine, const std::vector<std::vector<int32_t>>& prompts, uint32_t seed) {
  std::mt19937 random(seed);
  std::vector<std::string> live;
  size_t next = 0;
  AbortRun run;
  while (next < prompts.size() || engine.has_unfinished_requests()) {
    for (int i = 0; i < 8 && next < prompts.size(); ++i, ++next) {
      EngineRequest request;
      request.request_id = std::to_string(next);
      request.prompt_token_ids = prompts[next];
      request.params = greedy(1 + static_cast<int>(random() % 20));
      engine.add_request(std::move(request));
      live.push_back(std::to_string(next));
    }
    if (!live.empty() && random() % 3 == 0) {
      size_t victim = random() % live.size();
      run.aborted += engine.abort_request(live[victim]);  // false when already finished
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(victim));
    }
    for (const RequestOutput& output : engine.step()) run.finished += output.finished;
  }
  return run;
}

TEST(Engine, RandomAbortsLeaveNoBlockAllocated) {
  EngineArgs args = tiny_args("mistral_sliding_4x");
  args.kv_cache_memory = 64 * 2 * 2 * 16 * 2 * 4 * 16;  // 64 blocks
  LLMEngine engine(args);
  const AbortRun run = run_with_random_aborts(engine, random_prompts(600, 1, 40, 5), 9);
  EXPECT_GT(run.finished, 0);
  EXPECT_EQ(engine.scheduler().kv_cache_manager().usage(), 0.0);
  EXPECT_EQ(engine.scheduler().num_running() + engine.scheduler().num_waiting(), 0);
}

// --async-scheduling on the CPU runs the engine's whole asynchronous path (placeholders, tokens
// filled in from the previous step's draw, dropped rows of finished requests) with the ops'
// CPU sampling kernels, so it is checked here without a GPU.
EngineArgs async_args(const std::string& name, bool async) {
  EngineArgs args = tiny_args(name);
  args.async_scheduling = async;
  return args;
}

TEST(AsyncScheduling, GreedyOutputsEqualTheSynchronousOnesThroughStopsChunksAndPreemption) {
  std::vector<std::vector<int32_t>> prompts = random_prompts(48, 3, 60, 21);
  std::vector<SamplingParams> params;
  for (size_t i = 0; i < prompts.size(); ++i) params.push_back(greedy(1 + static_cast<int>(i * 7 % 19)));
  // Stop tokens taken from a first run, so that requests stop early (on the token's step).
  LLM probe(async_args("gemma2_softcap_4x", false));
  for (size_t i = 0; i < prompts.size(); i += 3) {
    auto tokens = probe.generate(std::vector<std::vector<int32_t>>{prompts[i]}, params[i])[0].outputs[0].token_ids;
    if (tokens.size() > 2) params[i].stop_token_ids = {tokens[tokens.size() / 2]};
  }
  std::map<bool, std::vector<RequestOutput>> results;
  for (bool async : {false, true}) {
    EngineArgs args = async_args("gemma2_softcap_4x", async);
    args.max_num_batched_tokens = 64;   // long prompts take several steps
    args.kv_cache_memory = 40 * 12288;  // 40 blocks: preemption
    args.admission_reserve_tokens = 0;  // vLLM's admission rule: the pool overfills and preempts
    LLM llm(args);
    results[async] = llm.generate(prompts, params);
    const EngineStats stats = llm.engine().stats();
    EXPECT_GT(stats.num_preemptions_total, 0u);
    if (async) EXPECT_GT(stats.steps_queued_ahead, 20u) << "the steps should overlap";
    else EXPECT_EQ(stats.steps_queued_ahead, 0u);
    EXPECT_EQ(llm.engine().scheduler().kv_cache_manager().usage(), 0.0);
  }
  int stopped = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(results[true][i].outputs[0].token_ids, results[false][i].outputs[0].token_ids) << "prompt " << i;
    EXPECT_EQ(results[true][i].outputs[0].finish_reason, results[false][i].outputs[0].finish_reason) << i;
    EXPECT_EQ(results[true][i].outputs[0].stop_reason, results[false][i].outputs[0].stop_reason) << i;
    stopped += results[true][i].outputs[0].finish_reason == "stop";
  }
  EXPECT_GT(stopped, 3);
}

TEST(AsyncScheduling, PenaltiesAndHostSampledRowsWaitForTheirTokens) {
  std::vector<std::vector<int32_t>> prompts = random_prompts(6, 4, 20, 22);
  SamplingParams penalised = greedy(12);
  penalised.repetition_penalty = 1.3;
  penalised.frequency_penalty = 0.5;
  SamplingParams biased = greedy(12);
  biased.logit_bias = {{17, 5.0}};  // drawn by the host's Sampler
  for (const SamplingParams& params : {penalised, biased}) {
    std::map<bool, std::vector<RequestOutput>> results;
    for (bool async : {false, true}) {
      LLM llm(async_args("llama_gqa_5x", async));
      results[async] = llm.generate(prompts, params);
      EXPECT_EQ(llm.engine().stats().steps_queued_ahead, 0u) << "these draws need the previous tokens";
    }
    for (size_t i = 0; i < prompts.size(); ++i)
      EXPECT_EQ(results[true][i].outputs[0].token_ids, results[false][i].outputs[0].token_ids) << i;
  }
}

// The host Sampler (synchronous scheduling on the CPU) and the ops' draw (asynchronous
// scheduling, engine/device_sampling.cpp) are one algorithm: seeded temperature requests, with
// each filter and penalties, get the same tokens either way.
TEST(AsyncScheduling, SeededSamplingGivesTheSynchronousTokens) {
  std::vector<std::vector<int32_t>> prompts = random_prompts(8, 4, 30, 23);
  std::vector<SamplingParams> params;
  for (size_t i = 0; i < prompts.size(); ++i) {
    SamplingParams p;
    p.temperature = 0.7 + 0.2 * static_cast<double>(i % 4);
    p.max_tokens = 8 + static_cast<int>(i % 5);
    p.ignore_eos = true;
    p.seed = 100 + static_cast<int64_t>(i);
    if (i % 4 == 1) p.top_k = 20;
    if (i % 4 == 2) p.top_p = 0.8;
    if (i % 4 == 3) p.min_p = 0.05;
    if (i % 3 == 0) p.repetition_penalty = 1.2;
    params.push_back(p);
  }
  std::map<bool, std::vector<RequestOutput>> results;
  for (bool async : {false, true}) {
    LLM llm(async_args("llama_gqa_5x", async));
    results[async] = llm.generate(prompts, params);
  }
  std::vector<SamplingParams> greedy_params;
  for (const SamplingParams& p : params) greedy_params.push_back(greedy(*p.max_tokens));
  LLM reference(async_args("llama_gqa_5x", false));
  const std::vector<RequestOutput> greedy_results = reference.generate(prompts, greedy_params);
  int differs_from_greedy = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(results[true][i].outputs[0].token_ids, results[false][i].outputs[0].token_ids) << "prompt " << i;
    differs_from_greedy += results[false][i].outputs[0].token_ids != greedy_results[i].outputs[0].token_ids;
  }
  EXPECT_GT(differs_from_greedy, 4) << "the requests should really sample";
}

TEST(AsyncScheduling, RandomAbortsLeaveNoBlockAllocated) {
  EngineArgs args = async_args("mistral_sliding_4x", true);
  args.kv_cache_memory = 64 * 2 * 2 * 16 * 2 * 4 * 16;  // 64 blocks
  LLMEngine engine(args);
  const AbortRun run = run_with_random_aborts(engine, random_prompts(300, 1, 40, 23), 19);
  EXPECT_GT(run.finished, 0);
  EXPECT_GT(run.aborted, 0);
  EXPECT_GT(engine.stats().steps_queued_ahead, 0u);
  EXPECT_EQ(engine.scheduler().kv_cache_manager().usage(), 0.0);
  EXPECT_EQ(engine.scheduler().num_running() + engine.scheduler().num_waiting(), 0);
}

// vLLM's output kinds: CUMULATIVE yields the request at every step that changes it (streaming),
// FINAL_ONLY (the offline LLM's) only once, finished, with the same tokens.
TEST(Engine, FinalOnlyRequestsYieldOnlyTheirFinishedOutput) {
  LLMEngine engine(tiny_args("llama_gqa_5x"));
  std::vector<int32_t> prompt = random_prompts(1, 8, 8, 11)[0];
  std::map<std::string, std::vector<RequestOutput>> seen;
  for (auto kind : {SamplingParams::OutputKind::Cumulative, SamplingParams::OutputKind::FinalOnly}) {
    EngineRequest request;
    request.request_id = kind == SamplingParams::OutputKind::Cumulative ? "cumulative" : "final";
    request.prompt_token_ids = prompt;
    request.params = greedy(5);
    request.params.output_kind = kind;
    engine.add_request(std::move(request));
  }
  while (engine.has_unfinished_requests())
    for (RequestOutput& output : engine.step()) seen[output.request_id].push_back(std::move(output));
  ASSERT_EQ(seen["cumulative"].size(), 5u);  // one per generated token
  ASSERT_EQ(seen["final"].size(), 1u);
  EXPECT_TRUE(seen["final"][0].finished);
  EXPECT_EQ(seen["final"][0].outputs[0].token_ids, seen["cumulative"].back().outputs[0].token_ids);
  EXPECT_EQ(seen["final"][0].outputs[0].token_ids.size(), 5u);
}

TEST(Engine, PromptLongerThanTheContextIsRejectedWithTheNumbers) {
  EngineArgs args = tiny_args("llama_gqa_5x");
  args.max_model_len = 32;
  LLMEngine engine(args);
  EngineRequest request;
  request.request_id = "long";
  request.prompt_token_ids.assign(40, 5);
  request.params = greedy(4);
  try {
    engine.add_request(request);
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::InvalidArgument);
    EXPECT_NE(std::string(error.what()).find("maximum context length is 32 tokens"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("40"), std::string::npos) << error.what();
  }
  EXPECT_FALSE(engine.has_unfinished_requests());
  request.prompt_token_ids = {600};  // vocabulary is 512
  EXPECT_THROW(engine.add_request(request), Error);
}

TEST(Engine, MaxModelLenAboveTheModelsIsAnError) {
  EngineArgs args = tiny_args("llama_gqa_5x");
  args.max_model_len = 100000;
  try {
    LLMEngine engine(args);
    FAIL();
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("max_position_embeddings=256"), std::string::npos) << error.what();
  }
}

}  // namespace

namespace {

TEST(Engine, MaxLogprobsBoundsRequests) {
  EngineArgs args = tiny_args("llama_gqa_5x");
  SamplingParams params = greedy(2);
  params.logprobs = 30;
  {
    LLM llm(args);  // vLLM's default limit: 20
    EXPECT_THROW(llm.generate(std::vector<std::vector<int32_t>>{{5, 6}}, params), Error);
  }
  args.max_logprobs = 40;
  LLM llm(args);
  RequestOutput output = llm.generate(std::vector<std::vector<int32_t>>{{5, 6}}, params)[0];
  ASSERT_TRUE(output.outputs[0].logprobs.has_value());
  EXPECT_EQ(output.outputs[0].logprobs->at(0).size(), 30u);  // the chosen token is among the top 30
}

}  // namespace

namespace {

TEST(Engine, ModelImplGenericRunsAnUnknownLlamaLayoutName) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("vllm_model_impl_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::copy_file(fixture("llama_gqa_5x") + "/model.safetensors", dir / "model.safetensors", fs::copy_options::overwrite_existing);
  nlohmann::json config = nlohmann::json::parse(std::ifstream(fixture("llama_gqa_5x") + "/config.json"));
  config["architectures"] = {"MyOwnLlamaForCausalLM"};
  std::ofstream(dir / "config.json") << config.dump();
  EngineArgs args = tiny_args("llama_gqa_5x");
  args.model = dir.string();
  EXPECT_THROW(LLM{args}, Error);  // unknown without --model-impl generic
  args.model_impl = "generic";
  LLM llm(args);
  LLM reference(tiny_args("llama_gqa_5x"));
  std::vector<std::vector<int32_t>> prompt{{5, 6, 7, 8}};
  EXPECT_EQ(llm.generate(prompt, greedy(4))[0].outputs[0].token_ids,
            reference.generate(prompt, greedy(4))[0].outputs[0].token_ids);
}

}  // namespace

namespace {

std::string engine_error(const EngineArgs& args) {
  try {
    LLM llm(args);
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

bool gpu_present() {
#ifdef VLLM_HAVE_CUDA
  return cuda::available();
#else
  return false;
#endif
}

TEST(EngineDevice, CudaWithoutAGpuIsAOneLineError) {
  if (gpu_present()) GTEST_SKIP() << "a GPU is present: --device cuda works here";
  EngineArgs args = tiny_args("llama_gqa_5x");
  args.device = "cuda";
  const std::string error = engine_error(args);
  EXPECT_NE(error.find("--device cuda"), std::string::npos) << error;
  EXPECT_NE(error.find("--device cpu"), std::string::npos) << error;  // what to do instead
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
}

TEST(EngineDevice, CpuKeepsItsKvCacheInFloat32) {
  EngineArgs args = tiny_args("llama_gqa_5x");
  args.device = "cpu";
  args.kv_cache_dtype = "bfloat16";
  const std::string error = engine_error(args);
  EXPECT_NE(error.find("--kv-cache-dtype bfloat16"), std::string::npos) << error;
  args.kv_cache_dtype = "float32";
  EXPECT_EQ(engine_error(args), "");
}

}  // namespace
