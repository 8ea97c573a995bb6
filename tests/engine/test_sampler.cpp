// Sampler: each logits processor against a hand computation, the draw's filters against a naive
// reference of the kept set and its frequencies against the filtered softmax, one generator
// output per temperature row, seeded reproducibility, logprobs and ranks, and batch/thread
// independence. That the draw is ops::sample_tokens' token for token is test_device_sampling's.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <string>

#include "core/error.h"
#include "engine/sampler.h"

namespace vllm {
namespace {

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

// The tokens vLLM's filters keep from `logits` at temperature T, with their probabilities
// renormalised over the kept set, by the definitions on the softmax in double: min_p (p >= min_p *
// p_max), then the top_k most likely, then top_p on what is left (renormalised; a token stays
// while the mass before it is < top_p).
std::map<int32_t, double> naive_kept_set(const std::vector<float>& logits, double temperature, int top_k,
                                         double top_p, double min_p) {
  std::vector<float> scaled(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) scaled[i] = static_cast<float>(logits[i] / temperature);
  std::vector<double> probs = softmax(scaled);
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return probs[a] > probs[b]; });
  std::vector<int32_t> kept;
  for (int32_t token : order)
    if (probs[token] >= min_p * probs[order[0]]) kept.push_back(token);
  if (top_k > 0 && kept.size() > static_cast<size_t>(top_k)) kept.resize(static_cast<size_t>(top_k));
  double mass = 0;
  for (int32_t token : kept) mass += probs[token];
  double before = 0;
  std::map<int32_t, double> nucleus;
  for (int32_t token : kept) {
    if (before >= top_p) break;
    nucleus[token] = probs[token];
    before += probs[token] / mass;
  }
  double nucleus_mass = 0;
  for (const auto& [token, p] : nucleus) nucleus_mass += p;
  for (auto& [token, p] : nucleus) p /= nucleus_mass;
  return nucleus;
}

// Random rows under each filter alone and together: over many seeds the Sampler draws only
// tokens of the naive kept set, and every kept token of probability >= 2% (600 draws: 12 expected).
TEST(Sampler, FiltersKeepTheNaiveReferenceSet) {
  const int vocab = 300;
  struct Filters { double temperature; int top_k; double top_p, min_p; };
  for (uint32_t seed = 0; seed < 12; ++seed) {
    const std::vector<float> logits = random_logits(vocab, seed, 2.0f);
    for (Filters f : {Filters{1.0, 1 + static_cast<int>(seed * 7 % 50), 1.0, 0.0},
                      Filters{0.7, 0, 0.3 + 0.05 * seed, 0.0}, Filters{1.3, 0, 1.0, 0.01 + 0.02 * seed},
                      Filters{0.9, 3 + static_cast<int>(seed), 0.6, 0.05}}) {
      SamplingParams p;
      p.temperature = f.temperature;
      p.top_k = f.top_k;
      p.top_p = f.top_p;
      p.min_p = f.min_p;
      const std::map<int32_t, double> kept = naive_kept_set(logits, f.temperature, f.top_k, f.top_p, f.min_p);
      Sampler sampler(seed);
      std::set<int32_t> drawn;
      for (int d = 0; d < 600; ++d) drawn.insert(sample_one(sampler, logits, p));
      const std::string what = "seed " + std::to_string(seed) + " T " + std::to_string(f.temperature) + " top_k " +
                               std::to_string(f.top_k) + " top_p " + std::to_string(f.top_p) + " min_p " +
                               std::to_string(f.min_p);
      for (int32_t token : drawn) EXPECT_TRUE(kept.count(token)) << what << ": drew " << token << " outside the kept set";
      for (const auto& [token, probability] : kept) {
        if (probability >= 0.02) {
          EXPECT_TRUE(drawn.count(token)) << what << ": never drew " << token << " (p " << probability << ")";
        }
      }
    }
  }
}

// Each temperature row takes exactly one output of its generator (the request's own, else the
// sampler's), in row order, and a greedy row none: the engine seeds its device rows so.
TEST(Sampler, EachTemperatureRowTakesOneGeneratorOutput) {
  const int vocab = 64;
  SamplingParams hot, cold = greedy();
  hot.temperature = 0.9;
  SamplingGenerator own(17), expected_own(17);
  std::vector<float> logits;
  for (int r = 0; r < 5; ++r) {
    std::vector<float> row = random_logits(vocab, 40 + r);
    logits.insert(logits.end(), row.begin(), row.end());
  }
  // Rows: greedy, hot (own), hot (sampler's), greedy (own), hot (sampler's).
  std::vector<SamplingRow> rows = {{&cold, {}, {}, std::nullopt, nullptr},
                                   {&hot, {}, {}, std::nullopt, &own},
                                   {&hot, {}, {}, std::nullopt, nullptr},
                                   {&cold, {}, {}, std::nullopt, &own},
                                   {&hot, {}, {}, std::nullopt, nullptr}};
  Sampler sampler(23);
  SamplingGenerator expected_sampler(23);
  sampler.sample(logits, vocab, rows);
  expected_own();
  expected_sampler();
  expected_sampler();
  EXPECT_TRUE(own == expected_own) << "the seeded row's generator advances once";
  EXPECT_TRUE(sampler.generator() == expected_sampler) << "two unseeded temperature rows: two outputs";
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

// Frequencies of 20,000 draws (successive seeds of one sampler) against softmax(logits / T) over
// the tokens the filters keep, within 5 sigma.
void expect_filtered_softmax(const std::vector<float>& logits, const SamplingParams& p, const std::vector<int32_t>& kept) {
  Sampler sampler(5);
  std::vector<double> counts(logits.size(), 0.0);
  const int draws = 20000;
  for (int i = 0; i < draws; ++i) counts[static_cast<size_t>(sample_one(sampler, logits, p))] += 1.0;
  std::vector<double> expected(logits.size(), 0.0);
  double total = 0;
  for (int32_t token : kept) total += expected[token] = std::exp(logits[token] / p.temperature);
  for (size_t i = 0; i < logits.size(); ++i) {
    expected[i] /= total;
    const double sigma = std::sqrt(expected[i] * (1 - expected[i]) / draws);
    EXPECT_NEAR(counts[i] / draws, expected[i], 5 * sigma + 1e-3) << "token " << i;
  }
}

TEST(Sampler, RandomDrawsFollowTheFilteredDistribution) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, 3.0f, -1.0f, 2.5f};
  SamplingParams p;
  p.temperature = 0.8;
  expect_filtered_softmax(logits, p, {0, 1, 2, 3, 4, 5});
  p.top_k = 3;  // keeps tokens 3, 5, 1
  expect_filtered_softmax(logits, p, {3, 5, 1});
  // At T = 1 the probabilities are about 0.45, 0.27, 0.17, 0.06, 0.04, 0.01 (tokens 3, 5, 1, 0, 2,
  // 4): top_p 0.6 keeps 3 and 5 (mass before 5: 0.45 < 0.6; before 1: 0.73); min_p 0.1 keeps
  // p >= 0.045: 3, 5, 1, 0.
  p.temperature = 1.0;
  p.top_k = 0;
  p.top_p = 0.6;
  expect_filtered_softmax(logits, p, {3, 5});
  p.top_p = 1.0;
  p.min_p = 0.1;
  expect_filtered_softmax(logits, p, {3, 5, 1, 0});
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
