// sample_on_device on CPU logits (the same code the engine runs on CUDA logits; tests/cuda runs
// it on the GPU): every row draws the host Sampler's token from the same generators (greedy,
// temperature, filters, penalties, seeded and unseeded rows, step after step), logprobs equal
// Sampler::compute_logprobs for the drawn token, rows come back in their own order whatever
// the packing, grammar rows drawn under their token bitmask, and samples_on_device's rule.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <random>

#include "engine/device_sampling.h"
#include "engine/sampler.h"
#include "ops/sampling.h"
#include "structured/frontends.h"

namespace vllm {
namespace {

std::vector<float> random_logits(int64_t n, uint32_t seed) {
  std::mt19937 random(seed);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<float> values(static_cast<size_t>(n));
  for (float& v : values) v = normal(random);
  return values;
}

std::vector<int32_t> random_tokens(size_t n, int32_t vocab, uint32_t seed) {
  std::mt19937 random(seed);
  std::uniform_int_distribution<int32_t> pick(0, vocab / 8);  // few distinct tokens: repeats
  std::vector<int32_t> tokens(n);
  for (int32_t& t : tokens) t = pick(random);
  return tokens;
}

// Row r's parameters: greedy or temperature, with or without each penalty, filter and logprobs.
SamplingParams row_params(int r) {
  SamplingParams p;
  p.temperature = r % 3 == 0 ? 0.8 : 0.0;
  if (r % 4 == 1) p.repetition_penalty = 1.3;
  if (r % 5 == 2) p.frequency_penalty = 0.7;
  if (r % 6 == 3) p.presence_penalty = -0.4;
  if (r % 7 == 4) p.repetition_penalty = 0.8;
  if (r % 3 == 0 && r % 2 == 0) p.top_k = 20;
  if (r % 3 == 0 && r % 5 == 0) p.top_p = 0.9;
  if (r % 2 == 1) p.logprobs = (r * 7) % 9;  // 0..8
  if (r == 5) p.logprobs = static_cast<int>(ops::kMaxTopLogprobs);
  return p;
}

TEST(DeviceSampling, MatchesTheSamplerForGreedyRowsAndLogprobs) {
  const int64_t vocab = 1500, num_logits = 40;
  const std::vector<float> logits = random_logits(num_logits * vocab, 3);
  std::vector<SamplingParams> params;
  std::vector<std::vector<int32_t>> prompts, outputs;
  for (int r = 0; r < 30; ++r) {
    params.push_back(row_params(r));
    prompts.push_back(random_tokens(static_cast<size_t>(5 + r * 3), static_cast<int32_t>(vocab), 100 + r));
    outputs.push_back(random_tokens(static_cast<size_t>(r * 2), static_cast<int32_t>(vocab), 200 + r));
    if (r == 7) outputs.back().push_back(static_cast<int32_t>(vocab + 5));  // outside the vocabulary: ignored
  }
  std::vector<DeviceSampleRow> rows;
  for (size_t r = 0; r < params.size(); ++r) {
    const int64_t logits_row = static_cast<int64_t>((r * 17) % num_logits);
    // The row's two most likely tokens in its history, so that penalties move the argmax.
    const float* raw = logits.data() + logits_row * vocab;
    std::vector<int32_t> order(static_cast<size_t>(vocab));
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + 2, order.end(), [&](int32_t a, int32_t b) { return raw[a] > raw[b]; });
    (r % 2 ? outputs[r] : prompts[r]).push_back(order[0]);
    outputs[r].push_back(order[1]);
    rows.push_back({logits_row, &params[r], prompts[r], outputs[r], 1000 + r});
  }
  const DeviceSamplerOutput out = sample_on_device(Tensor::from_floats(logits, {num_logits, vocab}), rows);
  ASSERT_EQ(out.sampled_token_ids.size(), rows.size());

  Sampler sampler;
  for (size_t r = 0; r < rows.size(); ++r) {
    const float* raw = logits.data() + rows[r].logits_row * vocab;
    const std::span<const float> raw_row(raw, static_cast<size_t>(vocab));
    const int32_t token = out.sampled_token_ids[r];
    ASSERT_GE(token, 0);
    ASSERT_LT(token, vocab);
    if (params[r].is_greedy()) {
      std::vector<float> copy(raw, raw + vocab);
      SamplingRow row{&params[r], prompts[r], outputs[r], std::nullopt, nullptr};
      EXPECT_EQ(token, sampler.sample(copy, static_cast<int>(vocab), std::span(&row, 1)).sampled_token_ids[0])
          << "row " << r;
    }
    ASSERT_EQ(out.logprobs[r].has_value(), params[r].logprobs.has_value()) << "row " << r;
    if (!params[r].logprobs) continue;
    const PositionLogprobs expected = Sampler::compute_logprobs(raw_row, token, *params[r].logprobs);
    EXPECT_EQ(out.logprobs[r]->token_ids, expected.token_ids) << "row " << r;
    EXPECT_EQ(out.logprobs[r]->rank, expected.rank) << "row " << r;
    ASSERT_EQ(out.logprobs[r]->logprobs.size(), expected.logprobs.size()) << "row " << r;
    for (size_t c = 0; c < expected.logprobs.size(); ++c)
      EXPECT_NEAR(out.logprobs[r]->logprobs[c], expected.logprobs[c], 1e-6) << "row " << r << " column " << c;
  }
}

// Row r's parameters in a mix of every draw the device path takes: greedy and temperature rows,
// each filter alone and together, penalties, logprobs (which reorder the device's samples).
SamplingParams mixed_params(int r, uint32_t trial) {
  SamplingParams p;
  p.temperature = r % 4 == 0 ? 0.0 : 0.5 + 0.15 * ((r + static_cast<int>(trial)) % 6);
  if (r % 5 == 1) p.top_k = 1 + (r * 13 + static_cast<int>(trial)) % 60;
  if (r % 7 == 3) p.top_k = 1;
  if (r % 3 == 1) p.top_p = 0.5 + 0.07 * (r % 6);
  if (r % 6 == 5) p.min_p = 0.02 + 0.03 * trial;
  if (r % 4 == 2 || r % 8 == 0) p.repetition_penalty = 1.3;
  if (r % 5 == 3) p.frequency_penalty = 0.5;
  if (r % 7 == 6) p.presence_penalty = 0.4;
  if (r % 5 == 4) p.logprobs = 3;
  return p;
}

// The host Sampler and the device path are one algorithm: from the same logits and generators
// seeded alike, every row draws the same token, step after step (the outputs, and so the
// penalties, grow), on vocabularies that are no power of two. The device rows are seeded as
// LLMEngine::launch_step seeds them: one output of the row's generator (the request's own, else
// the engine sampler's) per temperature row and none for a greedy row, in row order.
TEST(DeviceSampling, DrawsTheHostSamplersTokensFromTheSameGenerators) {
  const int num_rows = 24;
  int off_argmax = 0;  // temperature draws that are not the argmax: it is really sampling
  for (int64_t vocab : {int64_t{1000}, int64_t{50257}}) {
    for (uint32_t trial = 0; trial < 4; ++trial) {
      std::vector<SamplingParams> params;
      std::vector<std::optional<SamplingGenerator>> host_generators(num_rows), device_generators(num_rows);
      std::vector<std::vector<int32_t>> prompts, outputs;
      for (int r = 0; r < num_rows; ++r) {
        params.push_back(mixed_params(r, trial));
        if (r % 3 != 2) {  // a seeded request; the others draw from the engine's generator
          host_generators[r].emplace(1000 * trial + r);
          device_generators[r].emplace(1000 * trial + r);
        }
        prompts.push_back(random_tokens(static_cast<size_t>(4 + r), static_cast<int32_t>(vocab), 300 + r + trial));
        outputs.push_back(random_tokens(static_cast<size_t>(r % 5), static_cast<int32_t>(vocab), 400 + r + trial));
      }
      Sampler sampler(77 + trial);
      SamplingGenerator engine_generator(77 + trial);
      for (int step = 0; step < 3; ++step) {
        const std::vector<float> logits = random_logits(num_rows * vocab, 1000 * trial + 10 * step + 1);
        std::vector<float> host_logits = logits;
        std::vector<SamplingRow> host_rows;
        std::vector<DeviceSampleRow> device_rows;
        for (int r = 0; r < num_rows; ++r) {
          host_rows.push_back({&params[r], prompts[r], outputs[r], std::nullopt,
                               host_generators[r] ? &*host_generators[r] : nullptr});
          const uint64_t seed = params[r].is_greedy()
                                    ? 0
                                    : (device_generators[r] ? (*device_generators[r])() : engine_generator());
          device_rows.push_back({r, &params[r], prompts[r], outputs[r], seed});
        }
        const SamplerOutput host = sampler.sample(host_logits, static_cast<int>(vocab), host_rows);
        const DeviceSamplerOutput device =
            launch_device_sampling(Tensor::from_floats(logits, {num_rows, vocab}), device_rows).finish();
        ASSERT_EQ(device.sampled_token_ids.size(), host.sampled_token_ids.size());
        for (int r = 0; r < num_rows; ++r) {
          EXPECT_EQ(device.sampled_token_ids[r], host.sampled_token_ids[r])
              << "vocab " << vocab << " trial " << trial << " step " << step << " row " << r << " (T "
              << params[r].temperature << ", top_k " << params[r].top_k << ", top_p " << params[r].top_p << ", min_p "
              << params[r].min_p << (host_generators[r] ? ", seeded" : ", unseeded") << ")";
          const float* raw = logits.data() + r * vocab;
          const int32_t argmax = static_cast<int32_t>(std::max_element(raw, raw + vocab) - raw);
          off_argmax += !params[r].is_greedy() && host.sampled_token_ids[r] != argmax;
          outputs[r].push_back(host.sampled_token_ids[r]);
        }
      }
    }
  }
  EXPECT_GT(off_argmax, 50);
}

// Penalties move a temperature row's distribution as the Sampler's processing order says:
// penalties on the logits, then / T.
TEST(DeviceSampling, PenalisedTemperatureRowsFollowThePenalisedSoftmax) {
  const int draws = 8000;
  const std::vector<float> row = {0.0f, 0.5f, 0.0f, -0.5f};
  const std::vector<int32_t> prompt = {3}, output = {0, 0, 1};
  SamplingParams p;
  p.temperature = 0.9;
  p.repetition_penalty = 1.5;
  p.frequency_penalty = 0.4;
  p.presence_penalty = 0.2;
  std::vector<DeviceSampleRow> rows;
  for (int d = 0; d < draws; ++d) rows.push_back({0, &p, prompt, output, 7919u * static_cast<uint64_t>(d) + 1});
  const DeviceSamplerOutput out = sample_on_device(Tensor::from_floats(row, {1, 4}), rows);
  // Token 0: 0 (repetition leaves 0), -0.8 - 0.2; token 1: 0.5 / 1.5 - 0.4 - 0.2; token 3: -0.5 * 1.5.
  const std::vector<float> penalised = {0.0f - 0.8f - 0.2f, 0.5f / 1.5f - 0.4f - 0.2f, 0.0f, -0.75f};
  std::vector<double> expected(4), seen(4, 0.0);
  double total = 0.0;
  for (size_t i = 0; i < 4; ++i) total += expected[i] = std::exp(penalised[i] / 0.9);
  for (int32_t token : out.sampled_token_ids) seen[static_cast<size_t>(token)] += 1.0 / draws;
  for (size_t i = 0; i < 4; ++i) {
    expected[i] /= total;
    EXPECT_NEAR(seen[i], expected[i], 5 * std::sqrt(expected[i] * (1 - expected[i]) / draws) + 1e-3) << "token " << i;
  }
}

std::shared_ptr<const structured::TokenVocabulary> choice_vocab() {
  return structured::TokenVocabulary::from_tokens({"yes", "no", "y", "es", "n", "o", "maybe", "{", "}", "<eos>"}, {9});
}

// Structured outputs on the device: a grammar row draws the host Sampler's token (which applies
// the grammar on the host) from the same logits and seed, for logits wider than the tokenizer's
// vocabulary (ids past it are never allowed), with and without penalties and temperature, and
// every draw is a token the grammar accepts.
TEST(DeviceSampling, GrammarRowsDrawTheHostSamplersTokensUnderTheirMask) {
  structured::GrammarCompiler compiler(choice_vocab());
  auto grammar = compiler.compile(structured::StructuredOutputSpec::choice({"yes", "no", "maybe"}));
  const int num_rows = 12;
  const int64_t vocab = 70;  // the model's rows: wider than the 10 tokens of the vocabulary
  int constrained_draws = 0;
  for (uint32_t trial = 0; trial < 20; ++trial) {
    std::vector<structured::GrammarMatcher> matchers;
    std::vector<SamplingParams> params(num_rows);
    std::vector<std::vector<int32_t>> prompts, outputs;
    for (int r = 0; r < num_rows; ++r) {
      matchers.emplace_back(grammar);
      if (r % 4 == 1) EXPECT_TRUE(matchers.back().accept_token(2));  // "y": only "es" may follow
      if (r % 4 == 2) EXPECT_TRUE(matchers.back().accept_token(4));  // "n"
      params[r].temperature = r % 2 ? 1.5 : 0.0;
      if (r % 3 == 0) params[r].repetition_penalty = 1.4;
      if (r % 5 == 0) params[r].logprobs = 2;
      prompts.push_back(random_tokens(4, static_cast<int32_t>(vocab), 50 + r));
      outputs.push_back({});
    }
    const std::vector<float> logits = random_logits(num_rows * vocab, 500 + trial);
    std::vector<float> host_logits = logits;
    std::vector<SamplingRow> host_rows;
    std::vector<DeviceSampleRow> device_rows;
    for (int r = 0; r < num_rows; ++r) {
      const structured::GrammarMatcher* matcher = r % 4 == 3 ? nullptr : &matchers[r];  // r % 4 == 3: free
      host_rows.push_back({&params[r], prompts[r], outputs[r], std::nullopt, nullptr, matcher});
      device_rows.push_back({r, &params[r], prompts[r], outputs[r], 9000u + 31u * trial + r, matcher});
    }
    Sampler sampler(1);
    // The host Sampler draws an unseeded temperature row's seed from its generator: give the
    // device the same seeds through an equal generator.
    SamplingGenerator generator(1);
    for (int r = 0; r < num_rows; ++r) device_rows[r].seed = params[r].is_greedy() ? 0 : generator();
    const SamplerOutput host = sampler.sample(host_logits, static_cast<int>(vocab), host_rows);
    const DeviceSamplerOutput device =
        launch_device_sampling(Tensor::from_floats(logits, {num_rows, vocab}), device_rows).finish();
    for (int r = 0; r < num_rows; ++r) {
      EXPECT_EQ(device.sampled_token_ids[r], host.sampled_token_ids[r]) << "trial " << trial << " row " << r;
      if (!host_rows[r].grammar) continue;
      ++constrained_draws;
      EXPECT_TRUE(matchers[r].accept_token(device.sampled_token_ids[r]))
          << "row " << r << " drew " << device.sampled_token_ids[r] << ", which its grammar refuses";
      if (params[r].logprobs)  // of the raw logits, as the host's
        EXPECT_EQ(device.logprobs[r]->token_ids, host.logprobs[r]->token_ids) << "row " << r;
    }
  }
  EXPECT_EQ(constrained_draws, 20 * 9);
}

// The op alone: bits set keep the logit, the others become -inf, on rows of any width.
TEST(DeviceSampling, TokenBitmaskMasksTheClearedBits) {
  const int64_t vocab = 45;  // two words, the second partly used
  std::vector<float> values = random_logits(2 * vocab, 9);
  std::vector<int32_t> words = {static_cast<int32_t>(0x80000005u), 0x1, -1, 0x1000};
  Tensor logits = Tensor::from_floats(values, {2, vocab});
  ops::apply_token_bitmask(logits, Tensor::from_ints(words, {2, 2}));
  for (int64_t s = 0; s < 2; ++s)
    for (int64_t t = 0; t < vocab; ++t) {
      const uint32_t word = static_cast<uint32_t>(words[static_cast<size_t>(s * 2 + t / 32)]);
      const bool kept = word >> (t % 32) & 1u;
      const float got = logits.data<float>()[s * vocab + t];
      if (kept) EXPECT_EQ(got, values[static_cast<size_t>(s * vocab + t)]) << s << "," << t;
      else EXPECT_TRUE(std::isinf(got) && got < 0) << s << "," << t;
    }
  EXPECT_THROW(ops::apply_token_bitmask(logits, Tensor::from_ints({-1, -1}, {2, 1})), Error);
}

TEST(DeviceSampling, SamplesOnDeviceAllButLogitsProcessorsAndWholeVocabularyLogprobs) {
  auto accepts = [](SamplingParams p, int outputs = 0) {
    Request request("r", {1, 2, 3}, p);
    for (int i = 0; i < outputs; ++i) request.append_output_token(4);
    return samples_on_device(request);
  };
  SamplingParams p;
  EXPECT_TRUE(accepts(p));
  p.repetition_penalty = 1.2;
  p.frequency_penalty = 0.5;
  p.presence_penalty = 0.5;
  p.top_k = 5;
  p.top_p = 0.5;
  p.min_p = 0.1;
  EXPECT_TRUE(accepts(p));
  p.logprobs = 0;
  EXPECT_TRUE(accepts(p));
  p.logprobs = static_cast<int>(ops::kMaxTopLogprobs);
  EXPECT_TRUE(accepts(p));
  p.logprobs = static_cast<int>(ops::kMaxTopLogprobs) + 1;
  EXPECT_FALSE(accepts(p));
  p.logprobs = -1;
  EXPECT_FALSE(accepts(p));
  p.logprobs.reset();
  p.min_tokens = 2;
  EXPECT_FALSE(accepts(p, 1));
  EXPECT_TRUE(accepts(p, 2));
  SamplingParams bias;
  bias.logit_bias[3] = 1.0f;
  EXPECT_FALSE(accepts(bias));
  SamplingParams allowed;
  allowed.allowed_token_ids = std::vector<int32_t>{1, 2};
  EXPECT_FALSE(accepts(allowed));
  SamplingParams bad;
  bad.bad_words_token_ids = {{5}};
  EXPECT_FALSE(accepts(bad));
  // A grammar row is drawn on the device, but never ahead of its previous token.
  SamplingParams constrained;
  constrained.grammar = structured::GrammarCompiler(choice_vocab()).compile(structured::StructuredOutputSpec::choice({"no"}));
  Request request("g", {1, 2, 3}, constrained);
  EXPECT_TRUE(samples_on_device(request));
  EXPECT_FALSE(draws_without_output_tokens(request));
  EXPECT_TRUE(draws_without_output_tokens(Request("p", {1, 2, 3}, SamplingParams{})));
}

}  // namespace
}  // namespace vllm
