#include <gtest/gtest.h>

#include "ops/ops.h"
#include "ops_test_util.h"

namespace vllm::testing {
namespace {

// out[t, n] = sum_k x[t, k] * w[n, k] (+ b[n]) in double, on the weights as stored (rounded).
std::vector<double> linear_reference(const Tensor& x, const Tensor& w, const Tensor& bias) {
  const int64_t T = x.size(0), K = x.size(1), N = w.size(0);
  std::vector<double> xs = to_doubles(x), ws = to_doubles(w);
  std::vector<double> b = bias.defined() ? to_doubles(bias) : std::vector<double>(N, 0.0);
  std::vector<double> out(static_cast<size_t>(T * N));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < N; ++n) {
      double s = b[n];
      for (int64_t k = 0; k < K; ++k) s += xs[t * K + k] * ws[n * K + k];
      out[t * N + n] = s;
    }
  return out;
}

struct LinearCase {
  int64_t tokens, in_features, out_features;
  bool bias, strided_x;
};

TEST(Linear, MatchesDoubleReferenceForEveryDtypeIsaAndShape) {
  const std::vector<LinearCase> cases = {
      {1, 64, 32, false, false},  {1, 67, 29, true, false},    {2, 130, 17, true, true},
      {3, 8, 5, false, true},     {4, 256, 48, true, false},   {5, 33, 97, false, false},
      {7, 520, 19, true, true},   {13, 1031, 37, true, false}, {1, 1, 1, true, false},
      {9, 15, 200, false, true},  {1, 2048, 70, false, false},
  };
  for (cpu::Isa isa : runnable_isas()) {
    IsaScope scope(isa);
    for (DType dtype : {DType::F32, DType::BF16, DType::F16}) {
      for (const LinearCase& c : cases) {
        const uint32_t seed = fresh_seed();
        SCOPED_TRACE(::testing::Message() << cpu::isa_name(isa) << " " << dtype_name(dtype) << " T="
                                          << c.tokens << " K=" << c.in_features
                                          << " N=" << c.out_features << " seed=" << seed);
        std::mt19937 rng(seed);
        Tensor x;
        if (c.strided_x) {  // a column slice of a wider buffer: row stride > K
          Tensor wide = random_tensor({c.tokens, c.in_features + 11}, rng);
          x = wide.slice(1, 3, 3 + c.in_features);
        } else {
          x = random_tensor({c.tokens, c.in_features}, rng);
        }
        Tensor w = random_tensor({c.out_features, c.in_features}, rng, dtype);
        Tensor b = c.bias ? random_tensor({c.out_features}, rng) : Tensor();
        Tensor out = Tensor::empty({c.tokens, c.out_features}, DType::F32);
        ops::linear(x, w, b, out);
        // fp32 accumulation of K products of magnitude <= 1: error grows like sqrt(K) ulps.
        const double atol = 2e-6 * std::sqrt(static_cast<double>(c.in_features)) + 1e-6;
        expect_close(linear_reference(x, w, b), out, atol, 1e-5, "linear");
      }
    }
  }
}

TEST(Linear, LargerProblemUsesEveryBlockPath) {
  // T above the microkernel height and K above the depth block, N not a multiple of the tile.
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 rng(seed);
  Tensor x = random_tensor({37, 1100}, rng);
  Tensor w = random_tensor({203, 1100}, rng, DType::BF16);
  Tensor b = random_tensor({203}, rng);
  std::vector<double> expected = linear_reference(x, w, b);
  for (cpu::Isa isa : runnable_isas()) {
    IsaScope scope(isa);
    Tensor out = Tensor::empty({37, 203}, DType::F32);
    ops::linear(x, w, b, out);
    expect_close(expected, out, 1e-4, 1e-5, cpu::isa_name(isa));
  }
}

TEST(Linear, RejectsBadShapesAndDtypes) {
  Tensor x = Tensor::zeros({2, 8}, DType::F32);
  Tensor w = Tensor::zeros({4, 8}, DType::BF16);
  Tensor out = Tensor::empty({2, 4}, DType::F32);
  Tensor bad_w = Tensor::zeros({4, 7}, DType::F32);
  EXPECT_VLLM_ERROR(ops::linear(x, bad_w, Tensor(), out), InvalidArgument);
  Tensor bad_out = Tensor::empty({2, 5}, DType::F32);
  EXPECT_VLLM_ERROR(ops::linear(x, w, Tensor(), bad_out), InvalidArgument);
  Tensor bad_bias = Tensor::zeros({3}, DType::F32);
  EXPECT_VLLM_ERROR(ops::linear(x, w, bad_bias, out), InvalidArgument);
  Tensor int_w = Tensor::zeros({4, 8}, DType::I32);
  EXPECT_VLLM_ERROR(ops::linear(x, int_w, Tensor(), out), InvalidArgument);
  Tensor x_t = Tensor::zeros({8, 2}, DType::F32).transpose(0, 1);  // last dim not contiguous
  EXPECT_VLLM_ERROR(ops::linear(x_t, w, Tensor(), out), InvalidArgument);
  try {
    ops::linear(x, bad_w, Tensor(), out);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("linear"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[4, 7]"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vllm::testing
