// ops::sample_tokens on the CPU: greedy rows take the argmax, temperature rows follow
// softmax(logits / T) (frequencies over many seeds), the same seed gives the same token.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "ops/ops.h"

using namespace vllm;

namespace {

Tensor seeds_tensor(const std::vector<int64_t>& values) {
  Tensor t = Tensor::empty({static_cast<int64_t>(values.size())}, DType::I64);
  std::copy(values.begin(), values.end(), t.data<int64_t>());
  return t;
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

}  // namespace
