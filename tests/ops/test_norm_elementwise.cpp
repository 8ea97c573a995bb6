#include <gtest/gtest.h>

#include <cmath>

#include "ops/ops.h"
#include "ops_test_util.h"

namespace vllm::testing {
namespace {

std::vector<double> rms_reference(const std::vector<double>& x, const std::vector<double>& w,
                                  int64_t n, double eps, double offset) {
  std::vector<double> out(x.size());
  for (size_t r = 0; r < x.size() / n; ++r) {
    double ss = 0;
    for (int64_t i = 0; i < n; ++i) ss += x[r * n + i] * x[r * n + i];
    const double inv = 1.0 / std::sqrt(ss / n + eps);
    for (int64_t i = 0; i < n; ++i) out[r * n + i] = x[r * n + i] * inv * (w[i] + offset);
  }
  return out;
}

TEST(RmsNorm, MatchesReferenceWithOffsetAndWeightDtypes) {
  for (DType dtype : {DType::F32, DType::BF16, DType::F16}) {
    for (auto [rows, n] : {std::pair<int64_t, int64_t>{1, 7}, {5, 64}, {33, 130}}) {
      for (float offset : {0.0f, 1.0f}) {
        const uint32_t seed = fresh_seed();
        SCOPED_TRACE(::testing::Message() << dtype_name(dtype) << " rows=" << rows << " n=" << n
                                          << " offset=" << offset << " seed=" << seed);
        std::mt19937 rng(seed);
        Tensor x = random_tensor({rows, n}, rng, DType::F32, -3, 3);
        Tensor w = random_tensor({n}, rng, dtype);
        std::vector<double> expected = rms_reference(to_doubles(x), to_doubles(w), n, 1e-6, offset);
        Tensor out = Tensor::empty({rows, n}, DType::F32);
        ops::rms_norm(x, w, 1e-6f, offset, out);
        expect_close(expected, out, 1e-5, 1e-5, "rms_norm");
        ops::rms_norm(x, w, 1e-6f, offset, x);  // in place
        expect_close(expected, x, 1e-5, 1e-5, "rms_norm in place");
      }
    }
  }
}

TEST(RmsNorm, PerHeadOnAStridedView) {
  // q-norm over [T, heads, D] that is a slice of a fused qkv row.
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 rng(seed);
  const int64_t T = 3, heads = 4, D = 16, row = (heads + 2) * D;
  Tensor qkv = random_tensor({T, row}, rng);
  Tensor q = qkv.slice(1, 0, heads * D).contiguous().view({T, heads, D});
  // View the fused buffer as [T, heads + 2, D] and take the first `heads`: rows are strided.
  Tensor q3 = qkv.view({T, heads + 2, D}).slice(1, 0, heads);
  ASSERT_FALSE(q3.is_contiguous());
  Tensor w = random_tensor({D}, rng);
  std::vector<double> expected = rms_reference(to_doubles(q), to_doubles(w), D, 1e-6, 0.0);
  ops::rms_norm(q3, w, 1e-6f, 0.0f, q3);
  expect_close(expected, q3, 1e-5, 1e-5, "rms_norm strided");
}

TEST(RmsNorm, FusedAddMatchesTwoSteps) {
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 rng(seed);
  Tensor x = random_tensor({6, 40}, rng), residual = random_tensor({6, 40}, rng);
  Tensor w = random_tensor({40}, rng, DType::BF16);
  std::vector<double> sum = to_doubles(x), r = to_doubles(residual);
  for (size_t i = 0; i < sum.size(); ++i) sum[i] += r[i];
  std::vector<double> expected = rms_reference(sum, to_doubles(w), 40, 1e-5, 1.0);
  Tensor x_copy = x.clone(), residual_copy = residual.clone(), out = Tensor::empty({6, 40}, DType::F32);
  ops::fused_add_rms_norm(x, residual, w, 1e-5f, 1.0f);
  expect_close(sum, residual, 1e-6, 1e-6, "residual");
  expect_close(expected, x, 1e-5, 1e-5, "normed");
  // Into a separate out: x stays as it was.
  const std::vector<float> x_before = x_copy.to_float_vector();
  ops::fused_add_rms_norm(static_cast<const Tensor&>(x_copy), residual_copy, w, 1e-5f, 1.0f, out);
  expect_close(sum, residual_copy, 1e-6, 1e-6, "residual (out)");
  expect_close(expected, out, 1e-5, 1e-5, "normed (out)");
  EXPECT_EQ(x_copy.to_float_vector(), x_before);
}

TEST(LayerNorm, MatchesReferenceWithAndWithoutAffine) {
  for (bool affine : {false, true}) {
    const uint32_t seed = fresh_seed();
    SCOPED_TRACE(::testing::Message() << "affine=" << affine << " seed=" << seed);
    std::mt19937 rng(seed);
    const int64_t rows = 9, n = 77;
    Tensor x = random_tensor({rows, n}, rng, DType::F32, -2, 5);
    Tensor w = affine ? random_tensor({n}, rng, DType::F16) : Tensor();
    Tensor b = affine ? random_tensor({n}, rng) : Tensor();
    std::vector<double> xs = to_doubles(x), ws = affine ? to_doubles(w) : std::vector<double>(n, 1),
                        bs = affine ? to_doubles(b) : std::vector<double>(n, 0), expected(xs.size());
    for (int64_t r = 0; r < rows; ++r) {
      double mean = 0, var = 0;
      for (int64_t i = 0; i < n; ++i) mean += xs[r * n + i];
      mean /= n;
      for (int64_t i = 0; i < n; ++i) var += (xs[r * n + i] - mean) * (xs[r * n + i] - mean);
      var /= n;
      for (int64_t i = 0; i < n; ++i)
        expected[r * n + i] = (xs[r * n + i] - mean) / std::sqrt(var + 1e-5) * ws[i] + bs[i];
    }
    Tensor out = Tensor::empty({rows, n}, DType::F32);
    ops::layer_norm(x, w, b, 1e-5f, out);
    expect_close(expected, out, 1e-5, 1e-5, "layer_norm");
  }
}

TEST(Norms, RejectBadShapes) {
  Tensor x = Tensor::zeros({2, 8}, DType::F32), out = Tensor::empty({2, 8}, DType::F32);
  EXPECT_VLLM_ERROR(ops::rms_norm(x, Tensor::zeros({7}, DType::F32), 1e-6f, 0, out), InvalidArgument);
  Tensor out_bad = Tensor::empty({2, 9}, DType::F32);
  EXPECT_VLLM_ERROR(ops::rms_norm(x, Tensor::zeros({8}, DType::F32), 1e-6f, 0, out_bad), InvalidArgument);
  Tensor residual = Tensor::zeros({3, 8}, DType::F32);
  EXPECT_VLLM_ERROR(ops::fused_add_rms_norm(x, residual, Tensor::zeros({8}, DType::F32), 1e-6f, 0),
                    InvalidArgument);
  EXPECT_VLLM_ERROR(ops::layer_norm(x, Tensor::zeros({8}, DType::F32), Tensor::zeros({3}, DType::F32),
                                    1e-5f, out),
                    InvalidArgument);
  // Half-precision outputs (for half matmuls) are a CUDA feature.
  Tensor half_out = Tensor::empty({2, 8}, DType::BF16);
  EXPECT_VLLM_ERROR(ops::rms_norm(x, Tensor::zeros({8}, DType::F32), 1e-6f, 0, half_out), InvalidArgument);
  Tensor residual_ok = Tensor::zeros({2, 8}, DType::F32);
  EXPECT_VLLM_ERROR(ops::fused_add_rms_norm(static_cast<const Tensor&>(x), residual_ok, Tensor::zeros({8}, DType::F32),
                                            1e-6f, 0, half_out),
                    InvalidArgument);
  EXPECT_VLLM_ERROR(ops::activation_and_mul(ops::Activation::Silu, Tensor::zeros({2, 16}, DType::F32), half_out),
                    InvalidArgument);
  Tensor bf16_x = Tensor::zeros({2, 8}, DType::BF16), logits = Tensor::empty({2, 3}, DType::F32);
  EXPECT_VLLM_ERROR(ops::linear(bf16_x, Tensor::zeros({3, 8}, DType::BF16), Tensor(), logits), InvalidArgument);
}

double act_reference(ops::Activation kind, double x) {
  switch (kind) {
    case ops::Activation::Silu: return x / (1 + std::exp(-x));
    case ops::Activation::Gelu: return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case ops::Activation::GeluTanh:
      return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case ops::Activation::Relu: return x > 0 ? x : 0;
    case ops::Activation::Relu2: return x > 0 ? x * x : 0;
  }
  return 0;
}

TEST(Activation, ElementwiseAndGatedMatchReference) {
  using ops::Activation;
  for (Activation kind : {Activation::Silu, Activation::Gelu, Activation::GeluTanh,
                          Activation::Relu, Activation::Relu2}) {
    const uint32_t seed = fresh_seed();
    SCOPED_TRACE(::testing::Message() << "kind=" << static_cast<int>(kind) << " seed=" << seed);
    std::mt19937 rng(seed);
    const int64_t T = 5, I = 37;
    Tensor x = random_tensor({T, 2 * I}, rng, DType::F32, -6, 6);
    std::vector<double> xs = to_doubles(x), expected(xs.size()), gated(T * I);
    for (size_t i = 0; i < xs.size(); ++i) expected[i] = act_reference(kind, xs[i]);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t i = 0; i < I; ++i)
        gated[t * I + i] = act_reference(kind, xs[t * 2 * I + i]) * xs[t * 2 * I + I + i];
    Tensor out = Tensor::empty({T, I}, DType::F32);
    ops::activation_and_mul(kind, x, out);
    expect_close(gated, out, 1e-5, 1e-5, "activation_and_mul");
    Tensor same = Tensor::empty({T, 2 * I}, DType::F32);
    ops::activation(kind, x, same);
    expect_close(expected, same, 1e-5, 1e-5, "activation");
    ops::activation(kind, x, x);  // in place
    expect_close(expected, x, 1e-5, 1e-5, "activation in place");
  }
  Tensor odd = Tensor::zeros({2, 5}, DType::F32), out = Tensor::empty({2, 2}, DType::F32);
  EXPECT_VLLM_ERROR(ops::activation_and_mul(Activation::Silu, odd, out), InvalidArgument);
}

TEST(Softmax, SoftmaxAndLogSoftmaxMatchReference) {
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 rng(seed);
  const int64_t rows = 4, n = 1001;
  Tensor x = random_tensor({rows, n}, rng, DType::F32, -30, 30);
  std::vector<double> xs = to_doubles(x), sm(xs.size()), lsm(xs.size());
  for (int64_t r = 0; r < rows; ++r) {
    double m = -1e300, s = 0;
    for (int64_t i = 0; i < n; ++i) m = std::max(m, xs[r * n + i]);
    for (int64_t i = 0; i < n; ++i) s += std::exp(xs[r * n + i] - m);
    for (int64_t i = 0; i < n; ++i) {
      sm[r * n + i] = std::exp(xs[r * n + i] - m) / s;
      lsm[r * n + i] = xs[r * n + i] - m - std::log(s);
    }
  }
  Tensor out = Tensor::empty({rows, n}, DType::F32);
  ops::log_softmax(x, out);
  expect_close(lsm, out, 1e-4, 1e-6, "log_softmax");
  ops::softmax(x);
  expect_close(sm, x, 1e-6, 1e-5, "softmax");
}

TEST(Embedding, LooksUpRowsOfEveryDtypeAndChecksIds) {
  for (DType dtype : {DType::F32, DType::BF16, DType::F16}) {
    const uint32_t seed = fresh_seed();
    SCOPED_TRACE(seed);
    std::mt19937 rng(seed);
    Tensor table = random_tensor({50, 24}, rng, dtype);
    Tensor ids = Tensor::from_ints({3, 0, 49, 3, 17}, {5});
    std::vector<double> t = to_doubles(table), expected;
    for (int id : {3, 0, 49, 3, 17})
      for (int64_t i = 0; i < 24; ++i) expected.push_back(t[id * 24 + i]);
    Tensor out = Tensor::empty({5, 24}, DType::F32);
    ops::embedding(ids, table, out);
    expect_close(expected, out, 0, 0, "embedding");
  }
  Tensor table = Tensor::zeros({10, 4}, DType::F32), out = Tensor::empty({1, 4}, DType::F32);
  EXPECT_VLLM_ERROR(ops::embedding(Tensor::from_ints({10}, {1}), table, out), InvalidArgument);
  EXPECT_VLLM_ERROR(ops::embedding(Tensor::from_ints({-1}, {1}), table, out), InvalidArgument);
}

TEST(Elementwise, AddScaleSoftcapGatherRows) {
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 rng(seed);
  Tensor a = random_tensor({7, 33}, rng, DType::F32, -50, 50), b = random_tensor({7, 33}, rng);
  std::vector<double> as = to_doubles(a), bs = to_doubles(b), sum(as.size()), capped(as.size());
  for (size_t i = 0; i < as.size(); ++i) sum[i] = as[i] + bs[i];
  ops::add(a, b, a);  // aliasing out = a
  expect_close(sum, a, 1e-6, 1e-6, "add");
  ops::scale(a, 0.5f);
  for (size_t i = 0; i < sum.size(); ++i) {
    sum[i] *= 0.5;
    capped[i] = 30.0 * std::tanh(sum[i] / 30.0);
  }
  expect_close(sum, a, 1e-6, 1e-6, "scale");
  ops::softcap(a, 30.0f);
  expect_close(capped, a, 1e-5, 1e-6, "softcap");

  Tensor rows = Tensor::from_ints({6, 0, 6}, {3});
  Tensor out = Tensor::empty({3, 33}, DType::F32);
  ops::gather_rows(a, rows, out);
  std::vector<double> got = to_doubles(a), expected;
  for (int r : {6, 0, 6})
    for (int64_t i = 0; i < 33; ++i) expected.push_back(got[r * 33 + i]);
  expect_close(expected, out, 0, 0, "gather_rows");
  Tensor one = Tensor::empty({1, 33}, DType::F32);
  EXPECT_VLLM_ERROR(ops::gather_rows(a, Tensor::from_ints({7}, {1}), one), InvalidArgument);
  Tensor c = Tensor::zeros({7, 32}, DType::F32);
  EXPECT_VLLM_ERROR(ops::add(a, c, a), InvalidArgument);
}

}  // namespace
}  // namespace vllm::testing
