// The sampling ops on the CPU (the reference of the CUDA kernels): sample_tokens' greedy rows
// take the argmax, temperature rows follow softmax(logits / T) under each filter (frequencies
// over many seeds) and draw exactly the race winner over a sorted naive reference of the kept
// set; apply_penalties and compute_logprobs against hand computations.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "ops/ops.h"
#include "backend/sampling_common.h"

using namespace vllm;

namespace {

Tensor seeds_tensor(const std::vector<int64_t>& values) {
  Tensor t = Tensor::empty({static_cast<int64_t>(values.size())}, DType::I64);
  std::copy(values.begin(), values.end(), t.data<int64_t>());
  return t;
}

Tensor filled_ints(int64_t n, int32_t value) {
  return Tensor::from_ints(std::vector<int32_t>(static_cast<size_t>(n), value), {n});
}

// Temperature and seed only: no filters.
ops::SamplingTensors plain(Tensor temperatures, Tensor seeds) {
  ops::SamplingTensors params;
  params.temperatures = std::move(temperatures);
  params.seeds = std::move(seeds);
  return params;
}

TEST(SampleTokens, GreedyRowsTakeTheArgmaxLowestIndexOnTies) {
  Tensor logits = Tensor::from_floats({0.1f, 3.0f, -1.0f, 3.0f, /**/ -5.0f, -4.0f, -6.0f, -4.5f}, {2, 4});
  Tensor out = Tensor::empty({2}, DType::I32);
  ops::sample_tokens(logits, plain(Tensor::from_floats({0.0f, 0.0f}, {2}), seeds_tensor({1, 2})), out);
  EXPECT_EQ(out.data<int32_t>()[0], 1);
  EXPECT_EQ(out.data<int32_t>()[1], 1);
}

TEST(SampleTokens, TemperatureRowsFollowTheSoftmax) {
  const std::vector<float> row = {1.0f, 0.0f, 2.0f, -1.0f};
  const float temperature = 0.7f;
  const int draws = 20000;
  std::vector<float> values;
  std::vector<float> temperatures(draws, temperature);
  std::vector<int64_t> seeds;
  for (int d = 0; d < draws; ++d) {
    values.insert(values.end(), row.begin(), row.end());
    seeds.push_back(1000003LL * d + 17);
  }
  Tensor out = Tensor::empty({draws}, DType::I32);
  ops::sample_tokens(Tensor::from_floats(values, {draws, 4}), plain(Tensor::from_floats(temperatures, {draws}), seeds_tensor(seeds)),
                     out);
  std::vector<double> counts(4, 0.0);
  for (int d = 0; d < draws; ++d) counts[static_cast<size_t>(out.data<int32_t>()[d])] += 1.0;
  double total = 0.0;
  std::vector<double> p(4);
  for (size_t i = 0; i < 4; ++i) total += p[i] = std::exp(row[i] / temperature);
  for (size_t i = 0; i < 4; ++i) {
    const double expected = p[i] / total;
    const double sigma = std::sqrt(expected * (1 - expected) / draws);
    EXPECT_NEAR(counts[i] / draws, expected, 5 * sigma + 1e-3) << "token " << i;
  }
}

TEST(SampleTokens, TheSameSeedGivesTheSameToken) {
  std::vector<float> values(1000);
  for (size_t i = 0; i < values.size(); ++i) values[i] = std::sin(static_cast<float>(i)) * 0.01f;
  Tensor logits = Tensor::from_floats(values, {1, 1000});
  Tensor a = Tensor::empty({1}, DType::I32), b = Tensor::empty({1}, DType::I32), c = Tensor::empty({1}, DType::I32);
  ops::sample_tokens(logits, plain(Tensor::from_floats({1.0f}, {1}), seeds_tensor({42})), a);
  ops::sample_tokens(logits, plain(Tensor::from_floats({1.0f}, {1}), seeds_tensor({42})), b);
  EXPECT_EQ(a.data<int32_t>()[0], b.data<int32_t>()[0]);
  int differs = 0;  // over a near-flat row other seeds pick other tokens
  for (int64_t seed = 0; seed < 20; ++seed) {
    ops::sample_tokens(logits, plain(Tensor::from_floats({1.0f}, {1}), seeds_tensor({seed})), c);
    differs += c.data<int32_t>()[0] != a.data<int32_t>()[0];
  }
  EXPECT_GT(differs, 10);
}

TEST(SampleTokens, RejectsMismatchedRows) {
  Tensor out = Tensor::empty({2}, DType::I32);
  EXPECT_THROW(ops::sample_tokens(Tensor::zeros({2, 4}, DType::F32), plain(Tensor::from_floats({1.0f}, {1}), seeds_tensor({1, 2})),
                                  out),
               Error);
}

// Frequencies of `draws` samples of one row under the given filters.
std::vector<double> frequencies(const std::vector<float>& row, float temperature, int32_t top_k, float top_p, float min_p,
                                int draws = 20000) {
  const int64_t n = draws, vocab = static_cast<int64_t>(row.size());
  std::vector<float> values;
  std::vector<int64_t> seeds;
  for (int d = 0; d < draws; ++d) {
    values.insert(values.end(), row.begin(), row.end());
    seeds.push_back(7919LL * d + 3);
  }
  ops::SamplingTensors params;
  params.temperatures = Tensor::from_floats(std::vector<float>(draws, temperature), {n});
  params.seeds = seeds_tensor(seeds);
  params.top_k = Tensor::from_ints(std::vector<int32_t>(draws, top_k), {n});
  params.top_p = Tensor::from_floats(std::vector<float>(draws, top_p), {n});
  params.min_p = Tensor::from_floats(std::vector<float>(draws, min_p), {n});
  Tensor out = Tensor::empty({n}, DType::I32);
  ops::sample_tokens(Tensor::from_floats(values, {n, vocab}), params, out);
  std::vector<double> counts(row.size(), 0.0);
  for (int d = 0; d < draws; ++d) counts[static_cast<size_t>(out.data<int32_t>()[d])] += 1.0 / draws;
  return counts;
}

// `expected` probabilities (0 for filtered tokens) within 5 sigma.
void expect_distribution(const std::vector<double>& seen, const std::vector<double>& expected, int draws = 20000) {
  for (size_t i = 0; i < expected.size(); ++i) {
    if (expected[i] == 0.0) {
      EXPECT_EQ(seen[i], 0.0) << "token " << i << " should be filtered out";
      continue;
    }
    const double sigma = std::sqrt(expected[i] * (1 - expected[i]) / draws);
    EXPECT_NEAR(seen[i], expected[i], 5 * sigma + 1e-3) << "token " << i;
  }
}

// probabilities 0.5, 0.3, 0.15, 0.05 at temperature 1
const std::vector<float> kRow = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};

TEST(SampleTokens, TopKKeepsTheKMostLikely) {
  expect_distribution(frequencies(kRow, 1.0f, 2, 1.0f, 0.0f), {0.625, 0.375, 0.0, 0.0});
  expect_distribution(frequencies(kRow, 1.0f, 1, 1.0f, 0.0f), {1.0, 0.0, 0.0, 0.0});
}

TEST(SampleTokens, TopPKeepsTheSmallestSetReachingP) {
  expect_distribution(frequencies(kRow, 1.0f, 0, 0.7f, 0.0f), {0.625, 0.375, 0.0, 0.0});   // 0.5 < 0.7 <= 0.8
  expect_distribution(frequencies(kRow, 1.0f, 0, 0.85f, 0.0f), {0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0.0});
}

TEST(SampleTokens, MinPKeepsTokensNearTheTop) {
  expect_distribution(frequencies(kRow, 1.0f, 0, 1.0f, 0.5f), {0.625, 0.375, 0.0, 0.0});  // p >= 0.25
}

TEST(SampleTokens, TopPAppliesToWhatTopKKept) {
  // top-3 renormalised: 0.526, 0.316, 0.158; top-p 0.8 of that needs the first two (0.842).
  expect_distribution(frequencies(kRow, 1.0f, 3, 0.8f, 0.0f), {0.625, 0.375, 0.0, 0.0});
}

TEST(SampleTokens, MaskedLogitsAreNeverDrawn) {
  const float masked = -std::numeric_limits<float>::infinity();
  expect_distribution(frequencies({0.0f, masked, 0.0f, masked}, 1.0f, 0, 0.9f, 0.0f), {0.5, 0.0, 0.5, 0.0});
}

// The kept set by the definitions (sorting, not radix selects), then the race over it: what
// sample_tokens must return exactly.
int32_t naive_sample(const std::vector<float>& row, float temperature, uint64_t seed, int32_t top_k, float top_p,
                     float min_p) {
  const size_t vocab = row.size();
  const float inverse = 1.0f / temperature;
  std::vector<float> z(vocab);
  for (size_t i = 0; i < vocab; ++i) z[i] = row[i] * inverse;
  float max = -INFINITY, min = INFINITY;
  for (float v : z)
    if (std::isfinite(v)) max = std::max(max, v), min = std::min(min, v);
  if (!(max >= min)) return 0;
  float tau = min;
  if (min_p > 0.0f) tau = std::max(tau, ops::detail::min_p_threshold(max, min_p));
  std::vector<float> kept;
  for (float v : z)
    if (v >= tau) kept.push_back(v);
  std::sort(kept.begin(), kept.end(), std::greater<float>());
  if (top_k > 0 && kept.size() > static_cast<size_t>(top_k)) {
    const float kth = kept[static_cast<size_t>(top_k) - 1];
    while (kept.back() < kth) kept.pop_back();
    tau = kth;
  }
  if (top_p < 1.0f) {
    uint64_t total = 0;
    for (float v : kept) total += ops::detail::mass_units(v, max);
    const double target = static_cast<double>(top_p) * static_cast<double>(total);
    uint64_t mass = 0;
    for (size_t j = 0; j < kept.size(); ++j) {  // equal values enter together
      mass += ops::detail::mass_units(kept[j], max);
      if ((j + 1 == kept.size() || kept[j + 1] != kept[j]) && static_cast<double>(mass) >= target) {
        tau = kept[j];
        break;
      }
    }
  }
  float best = -INFINITY;
  int32_t best_index = 0;
  bool found = false;
  for (size_t i = 0; i < vocab; ++i) {
    if (!(z[i] >= tau)) continue;
    const float score = z[i] - ops::detail::race_log_exponential(seed, static_cast<int64_t>(i));
    if (!found || score > best) best = score, best_index = static_cast<int32_t>(i), found = true;
  }
  return best_index;
}

// Rows of random logits with few distinct values (ties at every threshold) or many, and each
// filter alone and together: the op draws the naive reference's token.
TEST(SampleTokens, DrawsTheRaceWinnerOfTheExactKeptSet) {
  std::mt19937 random(5);
  const int64_t rows = 120, vocab = 3000;
  std::vector<float> values(static_cast<size_t>(rows * vocab));
  std::vector<float> temperatures, top_p, min_p;
  std::vector<int32_t> top_k;
  std::vector<int64_t> seeds;
  for (int64_t r = 0; r < rows; ++r) {
    std::normal_distribution<float> normal(0.0f, r % 2 ? 1.0f : 4.0f);
    for (int64_t i = 0; i < vocab; ++i) {
      float v = normal(random);
      if (r % 3 == 0) v = std::round(v * 2.0f) / 2.0f;  // ties
      if (r % 7 == 0 && i % 11 == 0) v = -INFINITY;      // masked
      values[static_cast<size_t>(r * vocab + i)] = v;
    }
    temperatures.push_back(0.3f + 0.2f * static_cast<float>(r % 6));
    top_k.push_back(r % 4 == 1 ? static_cast<int32_t>(1 + r * 37 % 500) : (r % 4 == 3 ? 1 : 0));
    top_p.push_back(r % 5 < 2 ? 0.05f + 0.09f * static_cast<float>(r % 11) : 1.0f);
    min_p.push_back(r % 6 == 4 ? 0.02f * static_cast<float>(1 + r % 5) : 0.0f);
    seeds.push_back(1000003LL * r + 7);
  }
  ops::SamplingTensors params;
  params.temperatures = Tensor::from_floats(temperatures, {rows});
  params.seeds = seeds_tensor(seeds);
  params.top_k = Tensor::from_ints(top_k, {rows});
  params.top_p = Tensor::from_floats(top_p, {rows});
  params.min_p = Tensor::from_floats(min_p, {rows});
  Tensor out = Tensor::empty({rows}, DType::I32);
  ops::sample_tokens(Tensor::from_floats(values, {rows, vocab}), params, out);
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<float> row(values.begin() + r * vocab, values.begin() + (r + 1) * vocab);
    EXPECT_EQ(out.data<int32_t>()[r], naive_sample(row, temperatures[r], static_cast<uint64_t>(seeds[r]), top_k[r],
                                                   top_p[r], min_p[r]))
        << "row " << r << " top_k " << top_k[r] << " top_p " << top_p[r] << " min_p " << min_p[r];
  }
}

TEST(SampleTokens, TopKKeepsTiesWithTheKth) {
  // z: 3, 2, 2, 2, 1: top-2 keeps the three 2s as well (ties with the 2nd largest stay).
  std::vector<double> seen = frequencies({3.0f, 2.0f, 2.0f, 2.0f, 1.0f}, 1.0f, 2, 1.0f, 0.0f);
  const double e = std::exp(1.0), total = e + 3.0;
  expect_distribution(seen, {e / total, 1.0 / total, 1.0 / total, 1.0 / total, 0.0});
}

// Samples read the logits rows `rows` names, in any order and with repeats.
TEST(SampleTokens, RowIdsPickTheLogitsRows) {
  Tensor logits = Tensor::from_floats({0.0f, 5.0f, 1.0f, /**/ 7.0f, 0.0f, 1.0f, /**/ 0.0f, 1.0f, 9.0f}, {3, 3});
  ops::SamplingTensors params = plain(Tensor::from_floats({0.0f, 0.0f, 0.0f, 0.0f}, {4}), seeds_tensor({0, 0, 0, 0}));
  params.rows = Tensor::from_ints({2, 0, 0, 1}, {4});
  Tensor out = Tensor::empty({4}, DType::I32);
  ops::sample_tokens(logits, params, out);
  EXPECT_EQ(std::vector<int32_t>(out.data<int32_t>(), out.data<int32_t>() + 4), (std::vector<int32_t>{2, 1, 1, 0}));
  params.rows = Tensor::from_ints({2, 0, 3, 1}, {4});
  EXPECT_THROW(ops::sample_tokens(logits, params, out), Error);  // row 3 of 3
}

TEST(SampleTokens, NothingFiniteGivesTokenZero) {
  const float masked = -INFINITY;
  Tensor logits = Tensor::from_floats({masked, masked, masked, /**/ masked, masked, masked}, {2, 3});
  ops::SamplingTensors params = plain(Tensor::from_floats({0.0f, 1.0f}, {2}), seeds_tensor({1, 2}));
  params.top_p = Tensor::from_floats({0.5f, 0.5f}, {2});
  Tensor out = filled_ints(2, 99);
  ops::sample_tokens(logits, params, out);
  EXPECT_EQ(out.data<int32_t>()[0], 0);
  EXPECT_EQ(out.data<int32_t>()[1], 0);
}

// Repetition on every listed token (divides positive logits, multiplies negative ones), then
// frequency * count and presence on the tokens of the output, in float as the engine's Sampler.
TEST(ApplyPenalties, MatchesAHandComputation) {
  Tensor logits = Tensor::from_floats({2.0f, -1.0f, 0.5f, 3.0f, /**/ 1.0f, 1.0f, 1.0f, 1.0f}, {2, 4});
  ops::PenaltyTensors penalties{Tensor::from_floats({2.0f, 1.0f}, {2}),
                                Tensor::from_floats({0.5f, 0.25f}, {2}),
                                Tensor::from_floats({0.1f, 1.0f}, {2}),
                                Tensor::from_ints({0, 3, 5}, {3}),
                                Tensor::from_ints({0, 1, 3, /**/ 2, 9}, {5}),  // 9: outside the vocabulary
                                Tensor::from_ints({0, 2, 1, /**/ 3, 1}, {5})};
  ops::apply_penalties(logits, penalties);
  const std::vector<float> expected = {
      2.0f / 2.0f,                                 // prompt only: repetition
      -1.0f * 2.0f - 0.5f * 2.0f - 0.1f,           // output twice
      0.5f,                                        // not listed
      3.0f / 2.0f - 0.5f * 1.0f - 0.1f,            // output once
      1.0f, 1.0f, 1.0f - 0.25f * 3.0f - 1.0f, 1.0f};  // repetition 1: off
  EXPECT_EQ(logits.to_float_vector(), expected);
  penalties.token_offsets = Tensor::from_ints({0, 3, 6}, {3});  // past the 5 entries
  EXPECT_THROW(ops::apply_penalties(logits, penalties), Error);
}

// log_softmax of the raw row: the chosen token first, then the top tokens (lowest id on ties,
// -1 past the vocabulary), rank = tokens with logit >= the chosen one's.
TEST(ComputeLogprobs, MatchesAHandComputation) {
  const std::vector<float> row = {1.0f, 3.0f, -2.0f, 3.0f};
  Tensor logits = Tensor::from_floats({0.0f, 0.0f, 0.0f, 0.0f, /**/ 1.0f, 3.0f, -2.0f, 3.0f}, {2, 4});
  Tensor rows = Tensor::from_ints({1, 1}, {2}), tokens = Tensor::from_ints({0, 3}, {2});
  const int64_t columns = 1 + 5;
  Tensor ids = Tensor::empty({2, columns}, DType::I32), values = Tensor::empty({2, columns}, DType::F32);
  Tensor ranks = Tensor::empty({2}, DType::I32);
  ops::compute_logprobs(logits, rows, tokens, ids, values, ranks);
  double sum = 0.0;
  for (float v : row) sum += std::exp(static_cast<double>(v) - 3.0);
  auto logprob = [&](int i) { return static_cast<float>(row[static_cast<size_t>(i)] - (3.0 + std::log(sum))); };
  const int32_t* id = ids.data<int32_t>();
  const float* value = values.data<float>();
  EXPECT_EQ(std::vector<int32_t>(id, id + columns), (std::vector<int32_t>{0, 1, 3, 0, 2, -1}));
  EXPECT_EQ(std::vector<int32_t>(id + columns, id + 2 * columns), (std::vector<int32_t>{3, 1, 3, 0, 2, -1}));
  for (int c = 0; c < 5; ++c) EXPECT_FLOAT_EQ(value[c], logprob(id[c])) << "column " << c;
  EXPECT_EQ(value[5], -INFINITY);
  EXPECT_EQ(ranks.data<int32_t>()[0], 3);
  EXPECT_EQ(ranks.data<int32_t>()[1], 2);  // tied with token 1: two logits are >= 3
  Tensor too_many = Tensor::empty({2, ops::kMaxTopLogprobs + 2}, DType::I32);
  Tensor too_many_values = Tensor::empty({2, ops::kMaxTopLogprobs + 2}, DType::F32);
  EXPECT_THROW(ops::compute_logprobs(logits, rows, tokens, too_many, too_many_values, ranks), Error);
}

TEST(UploadPacked, CopiesTheBytesOnTheCpu) {
  const std::vector<int32_t> values = {1, -2, 3};
  Tensor t = ops::upload_packed(values.data(), values.size() * sizeof(int32_t), Device::cpu());
  ASSERT_EQ(t.dtype(), DType::U8);
  ASSERT_EQ(t.numel(), 12);
  EXPECT_EQ(std::vector<int32_t>(static_cast<const int32_t*>(t.raw_data()), static_cast<const int32_t*>(t.raw_data()) + 3),
            values);
}

}  // namespace

TEST(ScatterTokens, CopiesTheListedEntriesAndRejectsOutOfRangeIndices) {
  Tensor dst = Tensor::from_ints({10, 11, 12, 13, 14}, {5});
  const Tensor src = Tensor::from_ints({70, 71, 72}, {3});
  vllm::ops::scatter_tokens(dst, Tensor::from_ints({4, 0}, {2}), src, Tensor::from_ints({1, 2}, {2}));
  EXPECT_EQ(std::vector<int32_t>(dst.data<int32_t>(), dst.data<int32_t>() + 5), (std::vector<int32_t>{72, 11, 12, 13, 71}));
  EXPECT_THROW(vllm::ops::scatter_tokens(dst, Tensor::from_ints({5}, {1}), src, Tensor::from_ints({0}, {1})),
               vllm::Error);
  EXPECT_THROW(vllm::ops::scatter_tokens(dst, Tensor::from_ints({0}, {1}), src, Tensor::from_ints({3}, {1})),
               vllm::Error);
  EXPECT_THROW(vllm::ops::scatter_tokens(dst, Tensor::from_ints({0, 1}, {2}), src, Tensor::from_ints({0}, {1})),
               vllm::Error);
}

TEST(HostCopy, OnTheCpuCopiesAtOnce) {
  Tensor src = Tensor::from_ints({1, 2, 3}, {3});
  vllm::ops::HostCopy copy(src);
  src.data<int32_t>()[0] = 9;  // the copy was taken before
  const auto* values = static_cast<const int32_t*>(copy.wait());
  EXPECT_EQ(copy.bytes(), 3 * sizeof(int32_t));
  EXPECT_EQ(std::vector<int32_t>(values, values + 3), (std::vector<int32_t>{1, 2, 3}));
}
