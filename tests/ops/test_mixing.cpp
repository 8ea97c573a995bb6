// mul, mix_streams, match_rms and gaussian_topk (src/ops/mixing.h) against double references.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "ops/ops.h"
#include "ops_test_util.h"

namespace vllm::testing {
namespace {

void expect_near(const std::vector<float>& got, const std::vector<double>& want, double tolerance) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], tolerance) << "at " << i;
}

TEST(Mixing, MulMatchesReference) {
  uint32_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 rng(seed);
  Tensor a = random_tensor({5, 37}, rng), b = random_tensor({5, 37}, rng);
  std::vector<double> x = to_doubles(a), y = to_doubles(b), want(x.size());
  for (size_t i = 0; i < x.size(); ++i) want[i] = x[i] * y[i];
  Tensor out = Tensor::empty({5, 37}, DType::F32);
  ops::mul(a, b, out);
  expect_near(out.to_float_vector(), want, 1e-6);
  ops::mul(a, b, a);  // in place
  expect_near(a.to_float_vector(), want, 1e-6);
}

TEST(Mixing, MixStreamsAccumulatesPerTokenCombinations) {
  uint32_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 rng(seed);
  for (auto [J, K] : {std::pair<int64_t, int64_t>{4, 4}, {1, 4}, {3, 2}}) {
    const int64_t T = 6, H = 33;
    Tensor streams = random_tensor({J, T, H}, rng), coefs = random_tensor({T, K, J}, rng);
    Tensor out = random_tensor({K, T, H}, rng);
    std::vector<double> s = to_doubles(streams), c = to_doubles(coefs), want = to_doubles(out);
    for (int64_t k = 0; k < K; ++k)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t j = 0; j < J; ++j)
            want[(k * T + t) * H + h] += c[(t * K + k) * J + j] * s[(j * T + t) * H + h];
    ops::mix_streams(streams, coefs, out);
    expect_near(out.to_float_vector(), want, 1e-5);
  }
  Tensor streams = Tensor::zeros({2, 3, 4}, DType::F32);
  Tensor bad_coefs = Tensor::zeros({3, 2, 3}, DType::F32), out = Tensor::zeros({2, 3, 4}, DType::F32);
  EXPECT_THROW(ops::mix_streams(streams, bad_coefs, out), Error);
  EXPECT_THROW(ops::mix_streams(streams, Tensor::zeros({3, 2, 2}, DType::F32), streams), Error);
}

TEST(Mixing, MatchRmsScalesRowsToTheReference) {
  uint32_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 rng(seed);
  const int64_t T = 5, H = 300;
  Tensor x = random_tensor({T, H}, rng, DType::F32, -3.0f, 3.0f), reference = random_tensor({T, H}, rng);
  // A row whose mean square is under the floor: divided by sqrt(1e-5), not its own RMS.
  std::vector<float> values = x.to_float_vector();
  for (int64_t h = 0; h < H; ++h) values[static_cast<size_t>(2 * H + h)] = 1e-4f;
  x = Tensor::from_floats(values, {T, H});
  std::vector<double> v = to_doubles(x), r = to_doubles(reference), want(v.size());
  for (int64_t t = 0; t < T; ++t) {
    double ms = 0, rs = 0;
    for (int64_t h = 0; h < H; ++h) ms += v[t * H + h] * v[t * H + h], rs += r[t * H + h] * r[t * H + h];
    double scale = std::sqrt(rs / H) / std::sqrt(std::max(ms / H, 1e-5));
    for (int64_t h = 0; h < H; ++h) want[t * H + h] = v[t * H + h] * scale;
  }
  ops::match_rms(x, reference, 1e-5f);
  expect_near(x.to_float_vector(), want, 1e-5);
}

TEST(Mixing, GaussianTopkKeepsWhatExceedsMeanPlusStd) {
  uint32_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 rng(seed);
  const int64_t T = 4, N = 1000;
  const float multiplier = 1.6448536f;  // Phi^-1(0.95)
  Tensor x = random_tensor({T, N}, rng, DType::F32, -2.0f, 2.0f);
  std::vector<double> v = to_doubles(x), want(v.size());
  int64_t kept = 0;
  for (int64_t t = 0; t < T; ++t) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < N; ++i) mean += v[t * N + i];
    mean /= N;
    for (int64_t i = 0; i < N; ++i) var += (v[t * N + i] - mean) * (v[t * N + i] - mean);
    double cutoff = mean + std::sqrt(var / N) * multiplier;
    for (int64_t i = 0; i < N; ++i) {
      want[t * N + i] = std::max(v[t * N + i] - cutoff, 0.0);
      kept += want[t * N + i] > 0;
    }
  }
  EXPECT_GT(kept, 0);
  EXPECT_LT(kept, T * N / 5);
  ops::gaussian_topk(x, multiplier);
  expect_near(x.to_float_vector(), want, 1e-5);
}

}  // namespace
}  // namespace vllm::testing
