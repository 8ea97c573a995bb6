// Sampler: each logits processor against a hand computation or a naive reference, seeded
// reproducibility, logprobs and ranks, and batch/thread independence.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <set>

#include "core/error.h"
#include "engine/sampler.h"

namespace vllm {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

std::vector<float> random_logits(int vocab, uint32_t seed, float scale = 3.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> logits(vocab);
  for (float& x : logits) x = normal(rng);
  return logits;
}

std::vector<double> softmax(const std::vector<float>& logits) {
  double top = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(logits.size());
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) sum += p[i] = std::exp(logits[i] - top);
  for (double& x : p) x /= sum;
  return p;
}

// One-row sampling with the given params and history.
int32_t sample_one(Sampler& sampler, std::vector<float> logits, const SamplingParams& params,
                   std::vector<int32_t> prompt = {}, std::vector<int32_t> output = {},
                   std::optional<int32_t> eos = std::nullopt) {
  SamplingRow row{&params, prompt, output, eos, nullptr};
  return sampler.sample(logits, static_cast<int>(logits.size()), std::span(&row, 1)).sampled_token_ids[0];
}

SamplingParams greedy() {
  SamplingParams p;
  p.temperature = 0.0;
  return p;
}

TEST(Sampler, GreedyIsArgmaxFirstOnTies) {
  Sampler sampler;
  EXPECT_EQ(sample_one(sampler, {0.1f, 2.0f, -1.0f, 2.0f}, greedy()), 1);
  std::vector<float> logits = random_logits(1000, 1);
  int32_t expected = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  EXPECT_EQ(sample_one(sampler, logits, greedy()), expected);
}

TEST(Sampler, SeededRowsAreReproducibleWhateverTheBatch) {
  const int vocab = 200;
  SamplingParams seeded_a, seeded_b, unseeded;
  seeded_a.seed = 11;
  seeded_b.seed = 22;
  seeded_b.top_k = 50;
  // Run 20 steps with rows ordered [a, b, u] and [u, b, a, u], on fresh requests each time.
  auto run = [&](bool reversed, uint64_t engine_seed) {
    Request a("a", {1, 2}, seeded_a), b("b", {3}, seeded_b), u("u", {4}, unseeded), u2("u2", {5}, unseeded);
    Sampler sampler(engine_seed);
    std::vector<std::vector<int32_t>> tokens(2);
    for (int step = 0; step < 20; ++step) {
      std::vector<Request*> order = reversed ? std::vector<Request*>{&u, &b, &a, &u2}
                                             : std::vector<Request*>{&a, &b, &u};
      std::vector<float> logits;
      std::vector<SamplingRow> rows;
      for (Request* r : order) {
        auto row = random_logits(vocab, 1000 + step, 1.0f);  // the same logits for everyone
        logits.insert(logits.end(), row.begin(), row.end());
        rows.push_back(SamplingRow::of(*r));
      }
      SamplerOutput out = sampler.sample(logits, vocab, rows);
      for (size_t i = 0; i < order.size(); ++i) {
        order[i]->append_output_token(out.sampled_token_ids[i]);
        if (order[i] == &a) tokens[0].push_back(out.sampled_token_ids[i]);
        if (order[i] == &b) tokens[1].push_back(out.sampled_token_ids[i]);
      }
    }
    return tokens;
  };
  auto first = run(false, 1);
  EXPECT_EQ(run(true, 99), first);
  std::set<int32_t> distinct(first[0].begin(), first[0].end());
  EXPECT_GT(distinct.size(), 3u);  // it is really sampling, not greedy
}

TEST(Sampler, BatchAndThreadsDoNotChangeResults) {
  const int vocab = 32000, rows = 48;
  std::vector<SamplingParams> params(rows);
  for (int i = 0; i < rows; ++i) {
    params[i].temperature = 0.5 + 0.02 * i;
    params[i].top_k = i % 3 == 0 ? 0 : 20 + i;
    params[i].top_p = i % 2 ? 0.9 : 1.0;
    params[i].min_p = i % 5 == 0 ? 0.05 : 0.0;
    if (i % 4 == 0) params[i].temperature = 0.0;
  }
  std::vector<float> logits;
  for (int i = 0; i < rows; ++i) {
    auto row = random_logits(vocab, 500 + i);
    logits.insert(logits.end(), row.begin(), row.end());
  }
  std::vector<SamplingRow> batch;
  for (int i = 0; i < rows; ++i) batch.push_back(SamplingRow{&params[i], {}, {}, std::nullopt, nullptr});
  Sampler batched(7), one_by_one(7);
  std::vector<float> copy = logits;
  SamplerOutput all = batched.sample(copy, vocab, batch);
  for (int i = 0; i < rows; ++i) {
    std::vector<float> row(logits.begin() + i * vocab, logits.begin() + (i + 1) * vocab);
    SamplerOutput single = one_by_one.sample(row, vocab, std::span(&batch[i], 1));
    EXPECT_EQ(single.sampled_token_ids[0], all.sampled_token_ids[i]) << "row " << i;
  }
}

TEST(Sampler, TopKTopPMinPMatchANaiveReference) {
  const int vocab = 300;
  for (uint32_t seed = 0; seed < 20; ++seed) {
    std::vector<float> logits = random_logits(vocab, seed);
    std::vector<double> probs = softmax(logits);
    std::vector<int> order(vocab);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int a, int b) { return logits[a] > logits[b]; });

    // top-k keeps the k largest.
    int k = 1 + static_cast<int>(seed * 7 % 50);
    std::vector<float> row = logits;
    sampling::apply_top_k(row, k);
    for (int rank = 0; rank < vocab; ++rank)
      EXPECT_EQ(row[order[rank]] != kNegInf, rank < k) << "top_k " << k << " rank " << rank;

    // top-p keeps the smallest set of most likely tokens whose mass reaches p.
    double p = 0.3 + 0.03 * seed;
    row = logits;
    sampling::apply_top_p(row, p);
    double before = 0;
    for (int rank = 0; rank < vocab; ++rank) {
      EXPECT_EQ(row[order[rank]] != kNegInf, before < p) << "top_p " << p << " rank " << rank;
      before += probs[order[rank]];
    }

    // min-p keeps tokens with probability >= min_p * max probability.
    double min_p = 0.01 + 0.02 * seed;
    row = logits;
    sampling::apply_min_p(row, min_p);
    double top = probs[order[0]];
    for (int i = 0; i < vocab; ++i) EXPECT_EQ(row[i] != kNegInf, probs[i] >= min_p * top) << i;
  }
}

TEST(Sampler, TopPOnFlatAndPeakedDistributions) {
  // Flat: the nucleus spans thousands of tokens (the head search widens); peaked: a handful.
  for (float scale : {0.05f, 0.5f, 8.0f}) {
    const int vocab = 5000;
    std::vector<float> logits = random_logits(vocab, 77, scale);
    std::vector<double> probs = softmax(logits);
    std::vector<int> order(vocab);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int a, int b) { return logits[a] > logits[b]; });
    for (double p : {0.1, 0.5, 0.95}) {
      std::vector<float> row = logits;
      sampling::apply_top_p(row, p);
      double before = 0;
      int kept = 0;
      for (int rank = 0; rank < vocab; ++rank) {
        ASSERT_EQ(row[order[rank]] != kNegInf, before < p) << scale << " " << p << " " << rank;
        kept += before < p;
        before += probs[order[rank]];
      }
      if (scale == 0.05f && p == 0.95) {
        EXPECT_GT(kept, 2048);
      }
    }
  }
}

TEST(Sampler, PromptLogprobsForAChunkOfPositions) {
  const int vocab = 40, positions = 5;
  std::vector<float> logits;
  for (int i = 0; i < positions; ++i) {
    auto row = random_logits(vocab, 900 + i);
    logits.insert(logits.end(), row.begin(), row.end());
  }
  std::vector<int32_t> next_tokens = {3, 9, 0, 39, 12};
  auto out = Sampler::compute_prompt_logprobs(logits, vocab, next_tokens, 2);
  ASSERT_EQ(out.size(), 5u);
  for (int i = 0; i < positions; ++i) {
    std::vector<float> row(logits.begin() + i * vocab, logits.begin() + (i + 1) * vocab);
    std::vector<double> probs = softmax(row);
    EXPECT_EQ(out[i].token_ids[0], next_tokens[i]);
    EXPECT_NEAR(out[i].logprobs[0], std::log(probs[next_tokens[i]]), 1e-5);
    EXPECT_EQ(out[i].token_ids.size(), 3u);
  }
  EXPECT_THROW(Sampler::compute_prompt_logprobs(logits, vocab, std::vector<int32_t>{1, 2, 3, 4, 40}, 2), Error);
}

TEST(Sampler, RandomDrawsFollowTheFilteredDistribution) {
  std::vector<float> logits = {1.0f, 2.0f, 0.5f, 3.0f, -1.0f, 2.5f};
  SamplingParams p;
  p.temperature = 0.8;
  p.top_k = 3;  // keeps tokens 3, 5, 1
  Sampler sampler(5);
  std::vector<int> counts(logits.size(), 0);
  const int draws = 20000;
  for (int i = 0; i < draws; ++i) ++counts[sample_one(sampler, logits, p)];
  std::vector<float> kept = {logits[3] / 0.8f, logits[5] / 0.8f, logits[1] / 0.8f};
  std::vector<double> expected = softmax(kept);
  EXPECT_EQ(counts[0] + counts[2] + counts[4], 0);
  EXPECT_NEAR(counts[3] / double(draws), expected[0], 0.015);
  EXPECT_NEAR(counts[5] / double(draws), expected[1], 0.015);
  EXPECT_NEAR(counts[1] / double(draws), expected[2], 0.015);
}

TEST(Sampler, PenaltiesMatchAHandComputation) {
  SamplingParams p;
  p.repetition_penalty = 2.0;
  p.frequency_penalty = 0.5;
  p.presence_penalty = 0.25;
  std::vector<float> row = {2.0f, -1.0f, 0.5f, 3.0f, 0.0f};
  std::vector<int32_t> prompt = {0}, output = {1, 1, 3};
  sampling::apply_penalties(row, p, prompt, output);
  EXPECT_FLOAT_EQ(row[0], 1.0f);                      // prompt token: 2 / 2
  EXPECT_FLOAT_EQ(row[1], -1.0f * 2 - 0.5f * 2 - 0.25f);  // negative: * 2, then twice in output
  EXPECT_FLOAT_EQ(row[2], 0.5f);                      // unseen
  EXPECT_FLOAT_EQ(row[3], 3.0f / 2 - 0.5f - 0.25f);   // once in output
  EXPECT_FLOAT_EQ(row[4], 0.0f);
}

TEST(Sampler, LogitBiasAllowedTokensAndBadWords) {
  Sampler sampler;
  std::vector<float> logits = {1.0f, 5.0f, 2.0f, 4.0f, 3.0f};
  SamplingParams biased = greedy();
  biased.logit_bias = {{0, 10.0f}};
  EXPECT_EQ(sample_one(sampler, logits, biased), 0);

  SamplingParams allowed = greedy();
  allowed.allowed_token_ids = std::vector<int32_t>{0, 2, 4};
  EXPECT_EQ(sample_one(sampler, logits, allowed), 4);
  SamplingParams allowed_random;
  allowed_random.allowed_token_ids = std::vector<int32_t>{0, 2};
  for (int i = 0; i < 200; ++i) {
    int32_t token = sample_one(sampler, logits, allowed_random);
    EXPECT_TRUE(token == 0 || token == 2);
  }

  SamplingParams bad = greedy();
  bad.bad_words_token_ids = {{1}, {2, 3}};  // "1" always; "3" only right after "2"
  EXPECT_EQ(sample_one(sampler, logits, bad, {}, {0}), 3);
  EXPECT_EQ(sample_one(sampler, logits, bad, {}, {0, 2}), 4);
  EXPECT_EQ(sample_one(sampler, logits, bad, {2}, {}), 3);  // the prompt does not count
}

TEST(Sampler, MinTokensMasksEosAndStopTokens) {
  Sampler sampler;
  std::vector<float> logits = {1.0f, 5.0f, 2.0f, 4.0f, 3.0f};
  SamplingParams p = greedy();
  p.min_tokens = 2;
  p.stop_token_ids = {3};
  const int32_t eos = 1;
  EXPECT_EQ(sample_one(sampler, logits, p, {}, {}, eos), 4);
  EXPECT_EQ(sample_one(sampler, logits, p, {}, {0}, eos), 4);
  EXPECT_EQ(sample_one(sampler, logits, p, {}, {0, 0}, eos), 1);  // reached min_tokens
}

TEST(Sampler, LogprobsComeFromRawLogits) {
  const int vocab = 50;
  std::vector<float> logits = random_logits(vocab, 3);
  std::vector<double> probs = softmax(logits);
  SamplingParams p = greedy();
  p.logprobs = 3;
  p.repetition_penalty = 1.5;  // changes the processed logits, not the reported logprobs
  p.logit_bias = {{7, 5.0f}};
  std::vector<int32_t> prompt = {0, 1, 2};
  SamplingRow row{&p, prompt, {}, std::nullopt, nullptr};
  Sampler sampler;
  std::vector<float> work = logits;
  SamplerOutput out = sampler.sample(work, vocab, std::span(&row, 1));
  ASSERT_TRUE(out.logprobs[0]);
  const PositionLogprobs& lp = *out.logprobs[0];
  int32_t token = out.sampled_token_ids[0];
  ASSERT_EQ(lp.token_ids.size(), 4u);
  EXPECT_EQ(lp.token_ids[0], token);
  EXPECT_NEAR(lp.logprobs[0], std::log(probs[token]), 1e-5);
  std::vector<int> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return probs[a] > probs[b]; });
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(lp.token_ids[1 + i], order[i]);
    EXPECT_NEAR(lp.logprobs[1 + i], std::log(probs[order[i]]), 1e-5);
  }
  int rank = 1 + static_cast<int>(std::find(order.begin(), order.end(), token) - order.begin());
  EXPECT_EQ(lp.rank, rank);

  // -1: the whole vocabulary, in order; prompt logprobs use the same function.
  PositionLogprobs all = Sampler::compute_logprobs(logits, 5, -1);
  EXPECT_EQ(all.token_ids.size(), static_cast<size_t>(vocab + 1));
  double total = 0;
  for (int i = 1; i <= vocab; ++i) total += std::exp(all.logprobs[i]);
  EXPECT_NEAR(total, 1.0, 1e-5);
  PositionLogprobs none = Sampler::compute_logprobs(logits, 5, 0);
  EXPECT_EQ(none.token_ids, std::vector<int32_t>{5});
  EXPECT_EQ(Sampler::compute_logprobs(std::vector<float>{1.0f, 3.0f, 3.0f}, 2, 1).rank, 2);  // ties
}

}  // namespace
}  // namespace vllm
