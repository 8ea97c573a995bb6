// The sampling ops on CUDA against the CPU ops on the same inputs (skipped without a GPU):
// sample_tokens draws exactly the CPU's tokens (greedy, temperature, each filter, ties, masked and
// non-finite logits, row ids, one row of a Llama-3 vocabulary and many small rows), apply_penalties
// writes the CPU's floats, compute_logprobs gives the CPU's ids and ranks and its values within
// 1e-5; the engine's sample_on_device on GPU logits equals itself on CPU logits and draws the host
// Sampler's tokens from the same generators; the packed upload round-trips; and the engine on
// CUDA serves penalties and logprobs from the device path.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <numeric>
#include <optional>
#include <random>

#include "api/llm.h"
#include "backend/cuda/cuda_backend.h"
#include "cuda/cuda_test_util.h"
#include "engine/device_sampling.h"
#include "engine/sampler.h"
#include "ops/ops.h"
#include "test_util.h"

using namespace vllm;
using namespace vllm::cuda_test;

namespace {

constexpr int64_t kLlama3Vocab = 128256;

Tensor seeds_tensor(const std::vector<int64_t>& values) {
  Tensor t = Tensor::empty({static_cast<int64_t>(values.size())}, DType::I64);
  std::copy(values.begin(), values.end(), t.data<int64_t>());
  return t;
}

std::vector<int32_t> to_ints(const Tensor& t) {
  Tensor host = t.to(Device::cpu());
  return std::vector<int32_t>(host.data<int32_t>(), host.data<int32_t>() + host.numel());
}

// Per-row sampling parameters as host vectors; tensors() on either device.
struct RowParams {
  std::vector<float> temperatures, top_p, min_p;
  std::vector<int32_t> top_k, rows;
  std::vector<int64_t> seeds;
  bool with_filters = true;

  void add(float temperature, int32_t k, float p, float m, int64_t seed) {
    temperatures.push_back(temperature);
    top_k.push_back(k);
    top_p.push_back(p);
    min_p.push_back(m);
    seeds.push_back(seed);
  }
  ops::SamplingTensors tensors(Device device) const {
    const int64_t n = static_cast<int64_t>(temperatures.size());
    ops::SamplingTensors t;
    t.temperatures = Tensor::from_floats(temperatures, {n}).to(device);
    t.seeds = seeds_tensor(seeds).to(device);
    if (with_filters) {
      t.top_k = Tensor::from_ints(top_k, {n}).to(device);
      t.top_p = Tensor::from_floats(top_p, {n}).to(device);
      t.min_p = Tensor::from_floats(min_p, {n}).to(device);
    }
    if (!rows.empty()) t.rows = Tensor::from_ints(rows, {static_cast<int64_t>(rows.size())}).to(device);
    return t;
  }
};

// sample_tokens on the CPU and on the GPU (the same logits, there with the same strides); the
// tokens must be equal row for row.
void expect_same_tokens(const Tensor& logits, const Tensor& gpu_logits, const RowParams& params,
                        const std::string& what) {
  const int64_t n = static_cast<int64_t>(params.temperatures.size());
  Tensor cpu_out = Tensor::empty({n}, DType::I32);
  ops::sample_tokens(logits, params.tensors(Device::cpu()), cpu_out);
  Tensor gpu_out = Tensor::from_ints(std::vector<int32_t>(static_cast<size_t>(n), -7), {n}).to(Device::cuda());
  ops::sample_tokens(gpu_logits, params.tensors(Device::cuda()), gpu_out);
  const std::vector<int32_t> expected = to_ints(cpu_out), got = to_ints(gpu_out);
  size_t bad = 0;
  for (size_t r = 0; r < expected.size(); ++r)
    if (got[r] != expected[r] && bad++ < 10)
      ADD_FAILURE() << what << ": row " << r << " gpu " << got[r] << " cpu " << expected[r] << " (T "
                    << params.temperatures[r] << ", top_k " << params.top_k[r] << ", top_p " << params.top_p[r]
                    << ", min_p " << params.min_p[r] << ")";
  EXPECT_EQ(bad, 0u) << what;
}

void expect_same_tokens(const Tensor& logits, const RowParams& params, const std::string& what) {
  expect_same_tokens(logits, gpu(logits), params, what);
}

// The GPU draws exactly the CPU's tokens from the same logits and parameters (greedy rows,
// plain temperature, top-k, top-p, min-p and their combinations, masked logits).
TEST(CudaSampling, SampleTokensMatchesCpu) {
  SKIP_WITHOUT_GPU();
  const int64_t rows = 48, vocab = 50000;
  Tensor logits = random_tensor({rows, vocab}, DType::F32, 3.0f);
  for (int64_t r = 0; r < rows; r += 5) logits.data<float>()[r * vocab + 17] = -INFINITY;
  RowParams params;
  for (int64_t r = 0; r < rows; ++r)
    params.add(r % 6 == 0 ? 0.0f : 0.5f + 0.1f * static_cast<float>(r % 7),
               r % 4 == 1 ? static_cast<int32_t>(1 + r * 13 % 200) : 0, r % 3 == 2 ? 0.5f + 0.01f * static_cast<float>(r) : 1.0f,
               r % 5 == 3 ? 0.05f : 0.0f, 977 * r + 5);
  expect_same_tokens(logits, params, "mixed rows");
  params.with_filters = false;  // the filter tensors undefined: greedy and plain temperature only
  expect_same_tokens(logits, params, "no filter tensors");
}

// One decode row of a Llama-3-sized vocabulary (the row split across the whole GPU), under every
// mode and filter alone and together, and with a tie-heavy row (logits rounded to 1/4).
TEST(CudaSampling, SampleTokensOneLargeRowMatchesCpu) {
  SKIP_WITHOUT_GPU();
  for (bool ties : {false, true}) {
    Tensor logits = random_tensor({1, kLlama3Vocab}, DType::F32, 4.0f);
    if (ties)
      for (int64_t i = 0; i < kLlama3Vocab; ++i) logits.data<float>()[i] = std::round(logits.data<float>()[i] * 4.0f) / 4.0f;
    struct Mode { float t; int32_t k; float p, m; };
    for (Mode mode : {Mode{0.0f, 0, 1.0f, 0.0f}, Mode{1.0f, 0, 1.0f, 0.0f}, Mode{0.7f, 50, 1.0f, 0.0f},
                      Mode{0.7f, 1, 1.0f, 0.0f}, Mode{0.7f, 0, 0.9f, 0.0f}, Mode{1.3f, 0, 0.3f, 0.0f},
                      Mode{0.7f, 0, 1.0f, 0.1f}, Mode{0.9f, 40, 0.8f, 0.02f}, Mode{1.0f, 128256, 0.999f, 0.0f},
                      Mode{2.0f, 5000, 0.95f, 0.0f}})
      for (int64_t seed : {1, 99, 123456789}) {
        RowParams params;
        params.add(mode.t, mode.k, mode.p, mode.m, seed);
        expect_same_tokens(logits, params,
                           str(ties ? "tied " : "", "T ", mode.t, " k ", mode.k, " p ", mode.p, " min_p ", mode.m, " seed ", seed));
      }
  }
}

// Many rows (few slices each), small and odd vocabularies, rows read through row ids from a
// strided logits tensor, and edge rows: all masked, NaN, +inf after scaling, flat, tiny top-p,
// min-p 1, top-k past the vocabulary.
TEST(CudaSampling, SampleTokensShapesAndEdgeRowsMatchCpu) {
  SKIP_WITHOUT_GPU();
  for (int64_t vocab : {int64_t{1}, int64_t{7}, int64_t{1000}, int64_t{3001}}) {
    const int64_t rows = 700;
    Tensor logits = random_tensor({rows, vocab}, DType::F32, 2.0f);
    float* data = logits.data<float>();
    RowParams params;
    for (int64_t r = 0; r < rows; ++r) {
      float* row = data + r * vocab;
      switch (r % 10) {
        case 0: std::fill(row, row + vocab, -INFINITY); break;
        case 1: row[r % vocab] = NAN; break;
        case 2: row[(r * 3) % vocab] = 3e38f; break;  // z = +inf at T < 1
        case 3: std::fill(row, row + vocab, 0.5f); break;
        case 4: for (int64_t i = 0; i < vocab; ++i) row[i] = std::round(row[i]); break;
        default: break;
      }
      const int64_t kind = (r / 10) % 8;
      params.add(kind == 0 ? 0.0f : 0.25f + 0.25f * static_cast<float>(r % 5),
                 kind == 1 ? static_cast<int32_t>(1 + r % 9) : (kind == 5 ? static_cast<int32_t>(vocab + 3) : 0),
                 kind == 2 ? 0.001f : (kind == 6 ? 0.6f : 1.0f), kind == 3 ? 1.0f : (kind == 7 ? 0.2f : 0.0f), r * 31 + 1);
    }
    expect_same_tokens(logits, params, str("vocab ", vocab));
  }
  // Row ids into a strided tensor (each row padded to 5003 floats), with repeats.
  const int64_t vocab = 5000;
  Tensor base = random_tensor({9, vocab + 3}, DType::F32, 2.0f);
  Tensor logits = base.slice(1, 0, vocab);
  RowParams params;
  for (int32_t s = 0; s < 20; ++s) {
    params.add(s % 3 == 0 ? 0.0f : 0.8f, s % 4 == 1 ? 10 : 0, s % 4 == 2 ? 0.7f : 1.0f, 0.0f, 17 * s + 3);
    params.rows.push_back((s * 5) % 9);
  }
  expect_same_tokens(logits, gpu(base).slice(1, 0, vocab), params, "row ids into strided logits");
}

TEST(CudaSampling, SampleTokensIsDeterministic) {
  SKIP_WITHOUT_GPU();
  Tensor logits = gpu(random_tensor({3, kLlama3Vocab}, DType::F32, 3.0f));
  RowParams params;
  params.add(0.0f, 0, 1.0f, 0.0f, 1);
  params.add(0.9f, 0, 1.0f, 0.0f, 2);
  params.add(0.9f, 30, 0.8f, 0.05f, 3);
  Tensor a = Tensor::empty({3}, DType::I32, Device::cuda()), b = Tensor::empty({3}, DType::I32, Device::cuda());
  ops::sample_tokens(logits, params.tensors(Device::cuda()), a);
  ops::sample_tokens(logits, params.tensors(Device::cuda()), b);
  EXPECT_EQ(to_ints(a), to_ints(b));
}

// Random distinct token lists per row (some outside the vocabulary), random counts and
// penalties: the GPU writes exactly the CPU's floats.
TEST(CudaSampling, ApplyPenaltiesMatchesCpu) {
  SKIP_WITHOUT_GPU();
  std::mt19937 random(fresh_seed());
  for (int64_t vocab : {int64_t{50}, int64_t{5000}, kLlama3Vocab}) {
    const int64_t rows = 6;
    Tensor logits = random_tensor({rows, vocab}, DType::F32, 3.0f);
    std::vector<float> repetition, frequency, presence;
    std::vector<int32_t> offsets{0}, ids, counts;
    for (int64_t r = 0; r < rows; ++r) {
      repetition.push_back(r % 3 == 0 ? 1.0f : 0.5f + 0.3f * static_cast<float>(r));
      frequency.push_back(r % 2 ? 0.0f : -1.5f + 0.7f * static_cast<float>(r));
      presence.push_back(r == 4 ? 0.0f : 0.3f * static_cast<float>(r) - 0.8f);
      std::vector<int32_t> tokens(static_cast<size_t>(vocab));
      std::iota(tokens.begin(), tokens.end(), 0);
      std::shuffle(tokens.begin(), tokens.end(), random);
      const size_t n = std::min<size_t>(tokens.size(), static_cast<size_t>(r * 400 + 3));
      for (size_t e = 0; e < n; ++e) {
        ids.push_back(e == 1 ? static_cast<int32_t>(vocab + 2) : tokens[e]);
        counts.push_back(static_cast<int32_t>(random() % 4));
      }
      offsets.push_back(static_cast<int32_t>(ids.size()));
    }
    const int64_t entries = static_cast<int64_t>(ids.size());
    auto tensors = [&](Device device) {
      return ops::PenaltyTensors{Tensor::from_floats(repetition, {rows}).to(device),
                                 Tensor::from_floats(frequency, {rows}).to(device),
                                 Tensor::from_floats(presence, {rows}).to(device),
                                 Tensor::from_ints(offsets, {rows + 1}).to(device),
                                 Tensor::from_ints(ids, {entries}).to(device),
                                 Tensor::from_ints(counts, {entries}).to(device)};
    };
    Tensor on_gpu = gpu(logits);
    ops::apply_penalties(logits, tensors(Device::cpu()));
    ops::apply_penalties(on_gpu, tensors(Device::cuda()));
    expect_close(on_gpu, logits, 0.0f, 0.0f, str("apply_penalties vocab ", vocab));
  }
}

// Structured outputs' masks: the same -inf where the CPU puts them, on Llama-3 rows and small ones.
TEST(CudaSampling, ApplyTokenBitmaskMatchesCpu) {
  SKIP_WITHOUT_GPU();
  std::mt19937 random(fresh_seed());
  for (int64_t vocab : {int64_t{33}, int64_t{5000}, kLlama3Vocab}) {
    const int64_t rows = 5, words = (vocab + 31) / 32;
    Tensor logits = random_tensor({rows, vocab}, DType::F32, 3.0f);
    std::vector<int32_t> mask(static_cast<size_t>(rows * words));
    for (size_t i = 0; i < mask.size(); ++i) mask[i] = i % 7 == 0 ? -1 : static_cast<int32_t>(random());
    Tensor on_gpu = gpu(logits);
    ops::apply_token_bitmask(logits, Tensor::from_ints(mask, {rows, words}));
    ops::apply_token_bitmask(on_gpu, Tensor::from_ints(mask, {rows, words}).to(Device::cuda()));
    const std::vector<float> cuda = on_gpu.to(Device::cpu()).to_float_vector(), cpu = logits.to_float_vector();
    size_t masked = 0;
    for (float v : cpu) masked += std::isinf(v);
    EXPECT_GT(masked, 0u);
    EXPECT_EQ(cuda, cpu) << "apply_token_bitmask vocab " << vocab;
  }
}

// ids and ranks exactly, logprobs within 1e-5, for a Llama-3 row with 20 logprobs, many rows with
// up to kMaxTopLogprobs, a vocabulary smaller than the top list, tie-heavy and masked rows, and
// row ids.
TEST(CudaSampling, ComputeLogprobsMatchesCpu) {
  SKIP_WITHOUT_GPU();
  struct Case { int64_t rows, vocab, num_top; bool ties, row_ids; };
  for (Case c : {Case{1, kLlama3Vocab, 20, false, false}, Case{37, 5000, ops::kMaxTopLogprobs, false, true},
                 Case{5, 10, 20, false, false}, Case{9, 4099, 8, true, true}, Case{4, 3000, 0, false, false},
                 Case{2, kLlama3Vocab, 5, true, true}}) {
    const std::string what = str("rows ", c.rows, " vocab ", c.vocab, " top ", c.num_top, c.ties ? " ties" : "");
    const int64_t logits_rows = c.rows + 2;
    Tensor logits = random_tensor({logits_rows, c.vocab}, DType::F32, 3.0f);
    float* data = logits.data<float>();
    if (c.ties)
      for (int64_t i = 0; i < logits.numel(); ++i) data[i] = std::round(data[i]);
    for (int64_t i = 3; i < logits.numel(); i += 7) data[i] = -INFINITY;
    std::vector<int32_t> rows, tokens;
    for (int64_t s = 0; s < c.rows; ++s) {
      rows.push_back(c.row_ids ? static_cast<int32_t>((s * 3 + 1) % logits_rows) : static_cast<int32_t>(s));
      tokens.push_back(static_cast<int32_t>((s * 7919 + 11) % c.vocab));
    }
    Tensor row_tensor = c.row_ids ? Tensor::from_ints(rows, {c.rows}) : Tensor();
    Tensor cpu_logits = c.row_ids ? logits : logits.slice(0, 0, c.rows);
    const int64_t columns = 1 + c.num_top;
    Tensor ids = Tensor::empty({c.rows, columns}, DType::I32), values = Tensor::empty({c.rows, columns}, DType::F32);
    Tensor ranks = Tensor::empty({c.rows}, DType::I32);
    ops::compute_logprobs(cpu_logits, row_tensor, Tensor::from_ints(tokens, {c.rows}), ids, values, ranks);
    Tensor gpu_ids = Tensor::empty({c.rows, columns}, DType::I32, Device::cuda());
    Tensor gpu_values = filled({c.rows, columns}, kPoison, Device::cuda());
    Tensor gpu_ranks = Tensor::empty({c.rows}, DType::I32, Device::cuda());
    ops::compute_logprobs(gpu(cpu_logits.contiguous()), c.row_ids ? gpu(row_tensor) : Tensor(),
                          gpu(Tensor::from_ints(tokens, {c.rows})), gpu_ids, gpu_values, gpu_ranks);
    EXPECT_EQ(to_ints(gpu_ids), to_ints(ids)) << what;
    EXPECT_EQ(to_ints(gpu_ranks), to_ints(ranks)) << what;
    std::vector<float> expected = values.to_float_vector(), got = gpu_values.to(Device::cpu()).to_float_vector();
    ASSERT_EQ(got.size(), expected.size());
    for (size_t i = 0; i < got.size(); ++i) {
      if (std::isinf(expected[i])) {
        EXPECT_EQ(got[i], expected[i]) << what << " entry " << i;
        continue;
      }
      EXPECT_NEAR(got[i], expected[i], 1e-5) << what << " entry " << i;
    }
  }
}

// The engine's device path on GPU logits and on the same logits on the CPU: identical tokens
// (penalised, filtered, greedy and temperature rows mixed), logprob ids and ranks, values to 1e-5.
TEST(CudaSampling, SampleOnDeviceMatchesCpu) {
  SKIP_WITHOUT_GPU();
  const int64_t vocab = 32000, num_logits = 12;
  Tensor logits = random_tensor({num_logits, vocab}, DType::F32, 3.0f);
  std::vector<SamplingParams> params(24);
  std::vector<std::vector<int32_t>> prompts, outputs;
  std::mt19937 random(fresh_seed());
  for (size_t r = 0; r < params.size(); ++r) {
    SamplingParams& p = params[r];
    p.temperature = r % 3 == 0 ? 0.0 : 0.6 + 0.1 * static_cast<double>(r % 5);
    if (r % 4 == 1) p.repetition_penalty = 1.25;
    if (r % 5 == 2) p.frequency_penalty = 0.6;
    if (r % 6 == 3) p.presence_penalty = -0.3;
    if (r % 3 == 1) p.top_k = static_cast<int>(5 + r);
    if (r % 4 == 2) p.top_p = 0.85;
    if (r % 7 == 5) p.min_p = 0.05;
    if (r % 2 == 0) p.logprobs = static_cast<int>(r % 11);
    if (r == 8) p.logprobs = static_cast<int>(ops::kMaxTopLogprobs);
    std::uniform_int_distribution<int32_t> pick(0, 300);  // repeats
    std::vector<int32_t> prompt(20 + r * 5), output(r * 3);
    for (int32_t& t : prompt) t = pick(random);
    for (int32_t& t : output) t = pick(random);
    prompts.push_back(prompt);
    outputs.push_back(output);
  }
  std::vector<DeviceSampleRow> rows;
  for (size_t r = 0; r < params.size(); ++r)
    rows.push_back({static_cast<int64_t>((r * 5) % num_logits), &params[r], prompts[r], outputs[r], 31 * r + 2});
  const DeviceSamplerOutput cpu = sample_on_device(logits, rows), cuda = sample_on_device(gpu(logits), rows);
  EXPECT_EQ(cuda.sampled_token_ids, cpu.sampled_token_ids);
  ASSERT_EQ(cuda.logprobs.size(), cpu.logprobs.size());
  for (size_t r = 0; r < rows.size(); ++r) {
    ASSERT_EQ(cuda.logprobs[r].has_value(), cpu.logprobs[r].has_value()) << "row " << r;
    if (!cpu.logprobs[r]) continue;
    EXPECT_EQ(cuda.logprobs[r]->token_ids, cpu.logprobs[r]->token_ids) << "row " << r;
    EXPECT_EQ(cuda.logprobs[r]->rank, cpu.logprobs[r]->rank) << "row " << r;
    ASSERT_EQ(cuda.logprobs[r]->logprobs.size(), cpu.logprobs[r]->logprobs.size()) << "row " << r;
    for (size_t c = 0; c < cpu.logprobs[r]->logprobs.size(); ++c)
      EXPECT_NEAR(cuda.logprobs[r]->logprobs[c], cpu.logprobs[r]->logprobs[c], 1e-5) << "row " << r << " column " << c;
  }
}

// One request's rows may be drawn on the GPU (device rows) or by the host Sampler (rows with logit
// bias and the like, or logits of a CPU run): from generators seeded alike both draw the same
// tokens, step after step (penalties grow with the outputs), for greedy, temperature, each filter
// and penalties, seeded and unseeded rows. The device rows are seeded as LLMEngine::launch_step
// does: one output of the row's generator per temperature row, none for a greedy one, in row order.
TEST(CudaSampling, SampleOnDeviceDrawsTheHostSamplersTokens) {
  SKIP_WITHOUT_GPU();
  const int num_rows = 24;
  for (int64_t vocab : {int64_t{50257}, kLlama3Vocab}) {
    std::vector<SamplingParams> params(num_rows);
    std::vector<std::optional<SamplingGenerator>> host_generators(num_rows), device_generators(num_rows);
    std::vector<std::vector<int32_t>> prompts(num_rows), outputs(num_rows);
    std::mt19937 random(fresh_seed());
    std::uniform_int_distribution<int32_t> pick(0, 300);  // repeats
    for (int r = 0; r < num_rows; ++r) {
      SamplingParams& p = params[r];
      p.temperature = r % 4 == 0 ? 0.0 : 0.5 + 0.15 * (r % 6);
      if (r % 5 == 1) p.top_k = 1 + r * 13 % 60;
      if (r % 3 == 1) p.top_p = 0.5 + 0.07 * (r % 6);
      if (r % 6 == 5) p.min_p = 0.05;
      if (r % 4 == 2 || r % 8 == 0) p.repetition_penalty = 1.3;
      if (r % 5 == 3) p.frequency_penalty = 0.5;
      if (r % 7 == 6) p.presence_penalty = 0.4;
      if (r % 5 == 4) p.logprobs = 3;
      if (r % 3 != 2) {  // a seeded request; the others draw from the engine's generator
        const uint32_t seed = random();
        host_generators[r].emplace(seed);
        device_generators[r].emplace(seed);
      }
      prompts[r].resize(static_cast<size_t>(4 + r));
      outputs[r].resize(static_cast<size_t>(r % 5));
      for (int32_t& t : prompts[r]) t = pick(random);
      for (int32_t& t : outputs[r]) t = pick(random);
    }
    const uint32_t engine_seed = random();
    Sampler sampler(engine_seed);
    SamplingGenerator engine_generator(engine_seed);
    for (int step = 0; step < 3; ++step) {
      const Tensor logits = random_tensor({num_rows, vocab}, DType::F32, 3.0f);
      std::vector<float> host_logits(logits.data<float>(), logits.data<float>() + logits.numel());
      std::vector<SamplingRow> host_rows;
      std::vector<DeviceSampleRow> device_rows;
      for (int r = 0; r < num_rows; ++r) {
        host_rows.push_back({&params[r], prompts[r], outputs[r], std::nullopt,
                             host_generators[r] ? &*host_generators[r] : nullptr});
        const uint64_t seed =
            params[r].is_greedy() ? 0 : (device_generators[r] ? (*device_generators[r])() : engine_generator());
        device_rows.push_back({r, &params[r], prompts[r], outputs[r], seed});
      }
      const SamplerOutput host = sampler.sample(host_logits, static_cast<int>(vocab), host_rows);
      const DeviceSamplerOutput cuda = sample_on_device(gpu(logits), device_rows);
      ASSERT_EQ(cuda.sampled_token_ids.size(), host.sampled_token_ids.size());
      for (int r = 0; r < num_rows; ++r) {
        EXPECT_EQ(cuda.sampled_token_ids[r], host.sampled_token_ids[r])
            << "vocab " << vocab << " step " << step << " row " << r << " (T " << params[r].temperature << ", top_k "
            << params[r].top_k << ", top_p " << params[r].top_p << ", min_p " << params[r].min_p
            << (host_generators[r] ? ", seeded" : ", unseeded") << ")";
        outputs[r].push_back(host.sampled_token_ids[r]);
      }
    }
  }
}

// Back-to-back uploads of growing sizes (the staging buffer grows and is reused while earlier
// copies may still be in flight) each land intact.
TEST(CudaSampling, UploadPackedRoundTrips) {
  SKIP_WITHOUT_GPU();
  std::vector<Tensor> uploads;
  std::vector<std::vector<int32_t>> sent;
  for (size_t n : {size_t{3}, size_t{1000}, size_t{70000}, size_t{5}, size_t{300000}, size_t{17}}) {
    std::vector<int32_t> values(n);
    std::iota(values.begin(), values.end(), static_cast<int32_t>(n));
    uploads.push_back(ops::upload_packed(values.data(), n * sizeof(int32_t), Device::cuda()));
    sent.push_back(values);
  }
  for (size_t u = 0; u < uploads.size(); ++u) {
    ASSERT_TRUE(uploads[u].device().is_cuda());
    Tensor back = uploads[u].to(Device::cpu());
    ASSERT_EQ(static_cast<size_t>(back.numel()), sent[u].size() * sizeof(int32_t));
    EXPECT_EQ(std::vector<int32_t>(static_cast<const int32_t*>(back.raw_data()),
                                   static_cast<const int32_t*>(back.raw_data()) + sent[u].size()),
              sent[u])
        << "upload " << u;
  }
}

// The asynchronous engine's pieces: scatter_tokens as on the CPU, many small uploads through the
// page-locked ring in flight at once (each must keep its own bytes), and a HostCopy that waits
// for queued work.
TEST(CudaSampling, ScatterTokensMatchesCpu) {
  SKIP_WITHOUT_GPU();
  std::mt19937 random(fresh_seed());
  std::vector<int32_t> dst(5000), src(300), to, from;
  for (int32_t& v : dst) v = static_cast<int32_t>(random() % 1000);
  for (int32_t& v : src) v = static_cast<int32_t>(random() % 1000);
  std::vector<int32_t> positions(dst.size());
  std::iota(positions.begin(), positions.end(), 0);
  std::shuffle(positions.begin(), positions.end(), random);
  for (int i = 0; i < 700; ++i) {
    to.push_back(positions[static_cast<size_t>(i)]);
    from.push_back(static_cast<int32_t>(random() % src.size()));
  }
  const int64_t n = static_cast<int64_t>(to.size());
  Tensor cpu_dst = Tensor::from_ints(dst, {5000});
  ops::scatter_tokens(cpu_dst, Tensor::from_ints(to, {n}), Tensor::from_ints(src, {300}), Tensor::from_ints(from, {n}));
  Tensor gpu_dst = gpu(Tensor::from_ints(dst, {5000}));
  ops::scatter_tokens(gpu_dst, gpu(Tensor::from_ints(to, {n})), gpu(Tensor::from_ints(src, {300})),
                      gpu(Tensor::from_ints(from, {n})));
  Tensor back = gpu_dst.to(Device::cpu());
  EXPECT_EQ(std::vector<int32_t>(back.data<int32_t>(), back.data<int32_t>() + 5000),
            std::vector<int32_t>(cpu_dst.data<int32_t>(), cpu_dst.data<int32_t>() + 5000));
}

TEST(CudaSampling, SmallUploadsAndHostCopiesKeepTheirBytesWhileTheStreamIsBusy) {
  SKIP_WITHOUT_GPU();
  // A long matmul queue keeps the stream busy while 40 small uploads (5 times the ring's slots)
  // and their read-backs are queued behind it.
  Tensor a = gpu(Tensor::from_floats(random_values(2048 * 2048), {2048, 2048}));
  Tensor out = Tensor::empty({2048, 2048}, DType::F32, Device::cuda());
  for (int i = 0; i < 20; ++i) ops::linear(a, a, Tensor(), out);
  std::vector<ops::HostCopy> copies;
  std::vector<std::vector<int32_t>> sent;
  for (int u = 0; u < 40; ++u) {
    std::vector<int32_t> values(static_cast<size_t>(100 + 37 * u));
    std::iota(values.begin(), values.end(), u * 1000);
    Tensor up = Tensor::from_ints(values, {static_cast<int64_t>(values.size())}).to(Device::cuda());
    copies.emplace_back(up);
    sent.push_back(std::move(values));
  }
  for (size_t u = 0; u < copies.size(); ++u) {
    const auto* data = static_cast<const int32_t*>(copies[u].wait());
    ASSERT_EQ(copies[u].bytes(), sent[u].size() * sizeof(int32_t));
    EXPECT_EQ(std::vector<int32_t>(data, data + sent[u].size()), sent[u]) << "upload " << u;
  }
}

// Not a check: the time of one sample_tokens / compute_logprobs call (1 and 64 rows of a Llama-3
// vocabulary, logits already on the GPU), printed for the benchmarks' notes.
TEST(CudaSampling, ReportsKernelTimes) {
  SKIP_WITHOUT_GPU();
  for (int64_t rows : {int64_t{1}, int64_t{64}}) {
    Tensor logits = gpu(random_tensor({rows, kLlama3Vocab}, DType::F32, 3.0f));
    struct Mode { const char* name; float t; int32_t k; float p, m; };
    for (Mode mode : {Mode{"greedy", 0.0f, 0, 1.0f, 0.0f}, Mode{"temperature", 0.8f, 0, 1.0f, 0.0f},
                      Mode{"top-k 50", 0.8f, 50, 1.0f, 0.0f}, Mode{"top-p 0.9", 0.8f, 0, 0.9f, 0.0f},
                      Mode{"top-k 50 top-p 0.9 min-p 0.05", 0.8f, 50, 0.9f, 0.05f}}) {
      RowParams params;
      for (int64_t r = 0; r < rows; ++r) params.add(mode.t, mode.k, mode.p, mode.m, r + 1);
      params.with_filters = mode.k > 0 || mode.p < 1.0f || mode.m > 0.0f;
      const ops::SamplingTensors tensors = params.tensors(Device::cuda());
      Tensor out = Tensor::empty({rows}, DType::I32, Device::cuda());
      ops::sample_tokens(logits, tensors, out);  // warm-up
      cuda::synchronize(Device::cuda());
      const int iterations = 200;
      const auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < iterations; ++i) ops::sample_tokens(logits, tensors, out);
      cuda::synchronize(Device::cuda());
      const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
      std::printf("sample_tokens %ld x %ld %s: %.1f us\n", static_cast<long>(rows), static_cast<long>(kLlama3Vocab),
                  mode.name, us / iterations);
    }
    for (int64_t num_top : {int64_t{0}, int64_t{20}}) {
      Tensor tokens = gpu(Tensor::from_ints(std::vector<int32_t>(static_cast<size_t>(rows), 5), {rows}));
      Tensor ids = Tensor::empty({rows, 1 + num_top}, DType::I32, Device::cuda());
      Tensor values = Tensor::empty({rows, 1 + num_top}, DType::F32, Device::cuda());
      Tensor ranks = Tensor::empty({rows}, DType::I32, Device::cuda());
      ops::compute_logprobs(logits, Tensor(), tokens, ids, values, ranks);
      cuda::synchronize(Device::cuda());
      const int iterations = 200;
      const auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < iterations; ++i) ops::compute_logprobs(logits, Tensor(), tokens, ids, values, ranks);
      cuda::synchronize(Device::cuda());
      const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
      std::printf("compute_logprobs %ld x %ld top %ld: %.1f us\n", static_cast<long>(rows),
                  static_cast<long>(kLlama3Vocab), static_cast<long>(num_top), us / iterations);
    }
  }
}

// The engine on CUDA with penalties, filters and logprobs in one batch with a host row (logit
// bias): every request gets its tokens, logprobs list the sampled token first with its rank, then
// the top tokens in order; a seeded request repeats itself.
TEST(CudaSampling, EngineServesPenaltiesAndLogprobsOnTheDevice) {
  SKIP_WITHOUT_GPU();
  const std::filesystem::path dir = vllm::testing::source_dir() / "tests" / "data" / "models" / "llama_gqa_5x";
  EngineArgs args;
  args.model = dir.string();
  args.device = "cuda";
  args.skip_tokenizer_init = true;
  args.seed = 0;
  args.gpu_memory_utilization = 0.2;
  args.max_num_seqs = 8;
  args.max_logprobs = static_cast<int>(ops::kMaxTopLogprobs);
  LLM llm(args);
  std::vector<SamplingParams> params(4);
  params[0].temperature = 0.0;
  params[0].repetition_penalty = 1.3;
  params[0].frequency_penalty = 0.5;
  params[0].logprobs = 3;
  params[1].temperature = 0.8;
  params[1].seed = 7;
  params[1].top_k = 10;
  params[1].presence_penalty = 0.5;
  params[1].logprobs = 0;
  params[2].temperature = 0.0;
  params[2].logprobs = static_cast<int>(ops::kMaxTopLogprobs);
  params[3].temperature = 0.0;
  params[3].logit_bias[5] = 2.0f;  // the host sampler's row
  params[3].logprobs = 2;
  auto run = [&]() {
    std::map<std::string, RequestOutput> finished;
    for (size_t i = 0; i < params.size(); ++i) {
      params[i].max_tokens = 12;
      params[i].ignore_eos = true;
      EngineRequest request;
      request.request_id = str("r", i);
      request.prompt_token_ids = {1, static_cast<int32_t>(20 + i), 30, 40, 50};
      request.params = params[i];
      request.apply_generation_config = false;
      llm.engine().add_request(request, [&finished](const RequestOutput& out) {
        if (out.finished) finished[out.request_id] = out;
      });
    }
    while (llm.engine().has_unfinished_requests()) llm.engine().step();
    return finished;
  };
  std::map<std::string, RequestOutput> first = run(), second = run();
  ASSERT_EQ(first.size(), params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const CompletionOutput& out = first.at(str("r", i)).outputs.at(0);
    ASSERT_EQ(out.token_ids.size(), 12u) << "request " << i;
    ASSERT_TRUE(out.logprobs.has_value()) << "request " << i;
    ASSERT_EQ(out.logprobs->size(), out.token_ids.size()) << "request " << i;
    for (size_t step = 0; step < out.token_ids.size(); ++step) {
      const TokenLogprobs& entries = (*out.logprobs)[step];
      ASSERT_FALSE(entries.empty());
      EXPECT_EQ(entries[0].token_id, out.token_ids[step]) << "request " << i << " step " << step;
      EXPECT_GE(entries[0].rank, 1);
      EXPECT_LE(entries[0].logprob, 0.0f);
      EXPECT_LE(entries.size(), static_cast<size_t>(1 + *params[i].logprobs));
      EXPECT_GE(entries.size(), static_cast<size_t>(*params[i].logprobs));  // the chosen token appears once
      for (size_t e = 1; e < entries.size(); ++e) {
        EXPECT_LE(entries[e].logprob, 0.0f);
        if (e > 1) {
          EXPECT_LE(entries[e].logprob, entries[e - 1].logprob) << "request " << i << " step " << step;
        }
      }
      if (i == 2) {  // greedy without penalties: the argmax, rank 1, the first top entry
        EXPECT_EQ(entries[0].rank, 1) << "step " << step;
        if (entries.size() > 1) {
          EXPECT_GE(entries[0].logprob, entries[1].logprob) << "step " << step;
        }
      }
    }
    EXPECT_EQ(second.at(str("r", i)).outputs.at(0).token_ids, out.token_ids) << "request " << i << " repeats";
  }
}

}  // namespace
