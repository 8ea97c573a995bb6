// ops::sample_tokens on the CPU: greedy rows take the argmax, temperature rows follow
// softmax(logits / T) (frequencies over many seeds), the same seed gives the same token.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "ops/ops.h"

using namespace vllm;

namespace {

Tensor seeds_tensor(const std::vector<int64_t>& values) {
  Tensor t = Tensor::empty({static_cast<int64_t>(values.size())}, DType::I64);
  std::copy(values.begin(), values.end(), t.data<int64_t>());
  return t;
}

TEST(SampleTokens, GreedyRowsTakeTheArgmaxLowestIndexOnTies) {
  Tensor logits = Tensor::from_floats({0.1f, 3.0f, -1.0f, 3.0f, /**/ -5.0f, -4.0f, -6.0f, -4.5f}, {2, 4});
  Tensor out = Tensor::empty({2}, DType::I32);
  ops::sample_tokens(logits, Tensor::from_floats({0.0f, 0.0f}, {2}), seeds_tensor({1, 2}), out);
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
  ops::sample_tokens(Tensor::from_floats(values, {draws, 4}), Tensor::from_floats(temperatures, {draws}),
                     seeds_tensor(seeds), out);
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
  ops::sample_tokens(logits, Tensor::from_floats({1.0f}, {1}), seeds_tensor({42}), a);
  ops::sample_tokens(logits, Tensor::from_floats({1.0f}, {1}), seeds_tensor({42}), b);
  EXPECT_EQ(a.data<int32_t>()[0], b.data<int32_t>()[0]);
  int differs = 0;  // over a near-flat row other seeds pick other tokens
  for (int64_t seed = 0; seed < 20; ++seed) {
    ops::sample_tokens(logits, Tensor::from_floats({1.0f}, {1}), seeds_tensor({seed}), c);
    differs += c.data<int32_t>()[0] != a.data<int32_t>()[0];
  }
  EXPECT_GT(differs, 10);
}

TEST(SampleTokens, RejectsMismatchedRows) {
  Tensor out = Tensor::empty({2}, DType::I32);
  EXPECT_THROW(ops::sample_tokens(Tensor::zeros({2, 4}, DType::F32), Tensor::from_floats({1.0f}, {1}),
                                  seeds_tensor({1, 2}), out),
               Error);
}

}  // namespace
