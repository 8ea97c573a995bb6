// The state-space ops (ops/ssm.h) against straightforward double-precision references written
// here: the convolution as a dot product over the zero- or state-padded sequence, the scans as
// their per-token recurrences. Sequences of a batch start from zero or continue from their slot;
// a sequence fed whole, in chunks or one token at a time gives the same rows and final state.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "ops/ssm.h"
#include "ops_test_util.h"

namespace vllm {
namespace {

using testing::fresh_seed;
using testing::random_tensor;
using testing::to_doubles;

double silu(double x) { return x / (1.0 + std::exp(-x)); }
double softplus(double x) { return x > 20.0 ? x : std::log1p(std::exp(x)); }

// A batch of sequences: lengths, the position each starts at (> 0: continue from its slot), slots.
struct Layout {
  std::vector<int32_t> lengths, starts, slots;
  ops::StateSequences sequences() const {
    std::vector<int32_t> query_start{0}, positions;
    for (size_t b = 0; b < lengths.size(); ++b) {
      query_start.push_back(query_start.back() + lengths[b]);
      for (int32_t i = 0; i < lengths[b]; ++i) positions.push_back(starts[b] + i);
    }
    return {Tensor::from_ints(query_start, {static_cast<int64_t>(query_start.size())}),
            Tensor::from_ints(positions, {static_cast<int64_t>(positions.size())}),
            Tensor::from_ints(slots, {static_cast<int64_t>(slots.size())})};
  }
  int64_t tokens() const {
    int64_t total = 0;
    for (int32_t n : lengths) total += n;
    return total;
  }
  int64_t first_row(size_t b) const {
    int64_t row = 0;
    for (size_t i = 0; i < b; ++i) row += lengths[i];
    return row;
  }
};

// Three sequences: a new prompt, a continuing decode token, a continuing chunk.
const Layout kLayout{{5, 1, 7}, {0, 9, 3}, {2, 0, 1}};

void expect_near(const std::vector<float>& got, const std::vector<double>& want, double tolerance, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], tolerance * (1.0 + std::abs(want[i]))) << what << " element " << i;
}

TEST(SsmOps, CausalConv1dMatchesTheStatePaddedConvolution) {
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 rng(seed);
  const int64_t channels = 6, kernel = 4, slots = 3, T = kLayout.tokens();
  // x is a strided slice of a wider projection, as the mixers pass it.
  Tensor wide = random_tensor({T, channels + 3}, rng);
  Tensor x = wide.slice(1, 2, 2 + channels);
  Tensor weight = random_tensor({channels, kernel}, rng, DType::BF16);
  Tensor bias = random_tensor({channels}, rng);
  Tensor state = random_tensor({slots, channels, kernel - 1}, rng);
  const std::vector<double> xs = to_doubles(x), w = to_doubles(weight), b = to_doubles(bias), s0 = to_doubles(state);
  Tensor out = Tensor::empty({T, channels}, DType::F32);
  ops::causal_conv1d(x, weight, bias, state, kLayout.sequences(), true, out);

  std::vector<double> want(static_cast<size_t>(T * channels)), want_state = s0;
  for (size_t q = 0; q < kLayout.lengths.size(); ++q) {
    const int64_t first = kLayout.first_row(q), n = kLayout.lengths[q], slot = kLayout.slots[q];
    for (int64_t c = 0; c < channels; ++c) {
      std::vector<double> padded;  // K - 1 earlier inputs, then the sequence's own
      for (int64_t k = 0; k < kernel - 1; ++k)
        padded.push_back(kLayout.starts[q] > 0 ? s0[(slot * channels + c) * (kernel - 1) + k] : 0.0);
      for (int64_t t = 0; t < n; ++t) padded.push_back(xs[(first + t) * channels + c]);
      for (int64_t t = 0; t < n; ++t) {
        double sum = b[c];
        for (int64_t k = 0; k < kernel; ++k) sum += w[c * kernel + k] * padded[t + k];
        want[(first + t) * channels + c] = silu(sum);
      }
      for (int64_t k = 0; k < kernel - 1; ++k)
        want_state[(slot * channels + c) * (kernel - 1) + k] = padded[padded.size() - (kernel - 1) + k];
    }
  }
  expect_near(out.to_float_vector(), want, 1e-5, "out");
  expect_near(state.to_float_vector(), want_state, 1e-6, "conv_state");
}

TEST(SsmOps, SelectiveScanMatchesTheRecurrence) {
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 rng(seed);
  const int64_t dim = 5, N = 4, slots = 3, T = kLayout.tokens();
  Tensor u = random_tensor({T, dim}, rng), delta = random_tensor({T, dim}, rng, DType::F32, -2.0f, 1.0f);
  Tensor A = random_tensor({dim, N}, rng, DType::F32, -2.0f, -0.1f);
  Tensor bc = random_tensor({T, 2 * N}, rng);  // B | C, strided views
  Tensor D = random_tensor({dim}, rng), z = random_tensor({T, dim}, rng);
  Tensor state = random_tensor({slots, dim, N}, rng);
  const std::vector<double> us = to_doubles(u), ds = to_doubles(delta), as = to_doubles(A), bcs = to_doubles(bc),
                            dd = to_doubles(D), zs = to_doubles(z), s0 = to_doubles(state);
  Tensor out = Tensor::empty({T, dim}, DType::F32);
  ops::selective_scan(u, delta, A, bc.slice(1, 0, N), bc.slice(1, N, 2 * N), D, z, state, kLayout.sequences(), out);

  std::vector<double> want(static_cast<size_t>(T * dim)), want_state = s0;
  for (size_t q = 0; q < kLayout.lengths.size(); ++q) {
    const int64_t first = kLayout.first_row(q), slot = kLayout.slots[q];
    for (int64_t c = 0; c < dim; ++c) {
      std::vector<double> h(N);
      for (int64_t n = 0; n < N; ++n) h[n] = kLayout.starts[q] > 0 ? s0[(slot * dim + c) * N + n] : 0.0;
      for (int64_t t = first; t < first + kLayout.lengths[q]; ++t) {
        const double dt = softplus(ds[t * dim + c]), x = us[t * dim + c];
        double y = 0;
        for (int64_t n = 0; n < N; ++n) {
          h[n] = std::exp(as[c * N + n] * dt) * h[n] + dt * bcs[t * 2 * N + n] * x;
          y += h[n] * bcs[t * 2 * N + N + n];
        }
        want[t * dim + c] = (y + dd[c] * x) * silu(zs[t * dim + c]);
      }
      for (int64_t n = 0; n < N; ++n) want_state[(slot * dim + c) * N + n] = h[n];
    }
  }
  expect_near(out.to_float_vector(), want, 1e-4, "out");
  expect_near(state.to_float_vector(), want_state, 1e-4, "ssm_state");
}

struct SsdCase {
  int64_t heads = 4, head_dim = 3, N = 5, groups = 2;
  float dt_min = 0.0f, dt_max = INFINITY;
};

// ssd_scan's output and final state for `layout`, against the recurrence in double.
void check_ssd(const SsdCase& c, uint32_t seed) {
  std::mt19937 rng(seed);
  const int64_t T = kLayout.tokens(), width = c.heads * c.head_dim, gn = c.groups * c.N;
  Tensor x = random_tensor({T, width}, rng), dt = random_tensor({T, c.heads}, rng, DType::F32, -3.0f, 2.0f);
  Tensor A = random_tensor({c.heads}, rng, DType::F32, -3.0f, -0.2f), D = random_tensor({c.heads}, rng);
  Tensor dt_bias = random_tensor({c.heads}, rng), bc = random_tensor({T, 2 * gn}, rng);
  Tensor state = random_tensor({3, c.heads, c.head_dim, c.N}, rng);
  const std::vector<double> xs = to_doubles(x), dts = to_doubles(dt), as = to_doubles(A), dd = to_doubles(D),
                            bias = to_doubles(dt_bias), bcs = to_doubles(bc), s0 = to_doubles(state);
  Tensor out = Tensor::empty({T, width}, DType::F32);
  ops::ssd_scan(x, dt, A, bc.slice(1, 0, gn), bc.slice(1, gn, 2 * gn), D, dt_bias, c.dt_min, c.dt_max, c.groups, state,
                kLayout.sequences(), out);

  std::vector<double> want(static_cast<size_t>(T * width)), want_state = s0;
  const int64_t per_group = c.heads / c.groups, hs = c.head_dim * c.N;
  for (size_t q = 0; q < kLayout.lengths.size(); ++q) {
    const int64_t first = kLayout.first_row(q), slot = kLayout.slots[q];
    for (int64_t h = 0; h < c.heads; ++h) {
      const int64_t g = h / per_group;
      std::vector<double> s(static_cast<size_t>(hs));
      for (int64_t i = 0; i < hs; ++i) s[i] = kLayout.starts[q] > 0 ? s0[(slot * c.heads + h) * hs + i] : 0.0;
      for (int64_t t = first; t < first + kLayout.lengths[q]; ++t) {
        const double step =
            std::min<double>(std::max<double>(softplus(dts[t * c.heads + h] + bias[h]), c.dt_min), c.dt_max);
        for (int64_t p = 0; p < c.head_dim; ++p) {
          const double xv = xs[t * width + h * c.head_dim + p];
          double y = 0;
          for (int64_t n = 0; n < c.N; ++n) {
            double& sv = s[p * c.N + n];
            sv = std::exp(as[h] * step) * sv + step * bcs[t * 2 * gn + g * c.N + n] * xv;
            y += sv * bcs[t * 2 * gn + gn + g * c.N + n];
          }
          want[t * width + h * c.head_dim + p] = y + dd[h] * xv;
        }
      }
      for (int64_t i = 0; i < hs; ++i) want_state[(slot * c.heads + h) * hs + i] = s[i];
    }
  }
  expect_near(out.to_float_vector(), want, 1e-4, "out");
  expect_near(state.to_float_vector(), want_state, 1e-4, "ssm_state");
}

TEST(SsmOps, SsdScanMatchesTheRecurrence) {
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  check_ssd(SsdCase{}, seed);
  check_ssd(SsdCase{.heads = 2, .head_dim = 4, .N = 3, .groups = 1}, seed + 1);
  check_ssd(SsdCase{.heads = 4, .head_dim = 2, .N = 2, .groups = 4, .dt_min = 0.3f, .dt_max = 0.9f}, seed + 2);
}

TEST(SsmOps, GatedRmsNormPerGroup) {
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 rng(seed);
  const int64_t T = 3, dim = 8;
  for (int64_t group : {8, 4, 2}) {
    Tensor x = random_tensor({T, dim}, rng), gates = random_tensor({T, dim + 2}, rng), w = random_tensor({dim}, rng);
    Tensor z = gates.slice(1, 1, 1 + dim);
    const std::vector<double> xs = to_doubles(x), zs = to_doubles(z), ws = to_doubles(w);
    std::vector<double> want(static_cast<size_t>(T * dim));
    for (int64_t t = 0; t < T; ++t)
      for (int64_t g = 0; g < dim; g += group) {
        double sum = 0;
        for (int64_t i = g; i < g + group; ++i) sum += std::pow(xs[t * dim + i] * silu(zs[t * dim + i]), 2);
        const double scale = 1.0 / std::sqrt(sum / static_cast<double>(group) + 1e-5);
        for (int64_t i = g; i < g + group; ++i) want[t * dim + i] = xs[t * dim + i] * silu(zs[t * dim + i]) * scale * ws[i];
      }
    ops::gated_rms_norm(x, z, w, group, 1e-5f, x);  // in place
    expect_near(x.to_float_vector(), want, 1e-5, "out");
  }
}

// One sequence fed whole, then in chunks of 3, 1 and the rest through a slot: the same rows.
TEST(SsmOps, ChunksThroughASlotEqualTheWholeSequence) {
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 rng(seed);
  const int64_t T = 9, heads = 2, head_dim = 2, N = 3, width = heads * head_dim, kernel = 3;
  Tensor x = random_tensor({T, width}, rng), dt = random_tensor({T, heads}, rng), bc = random_tensor({T, 2 * N}, rng);
  Tensor A = random_tensor({heads}, rng, DType::F32, -2.0f, -0.5f), D = random_tensor({heads}, rng);
  Tensor dt_bias = random_tensor({heads}, rng), weight = random_tensor({width, kernel}, rng);
  auto run = [&](const std::vector<int32_t>& chunks) {
    Tensor conv_state = Tensor::zeros({2, width, kernel - 1}, DType::F32), ssm_state = Tensor::zeros({2, heads, head_dim, N}, DType::F32);
    std::vector<float> rows;
    int32_t start = 0;
    for (int32_t n : chunks) {
      Layout layout{{n}, {start}, {1}};
      Tensor conv = Tensor::empty({n, width}, DType::F32), out = Tensor::empty({n, width}, DType::F32);
      ops::causal_conv1d(x.slice(0, start, start + n), weight, Tensor(), conv_state, layout.sequences(), true, conv);
      Tensor part = bc.slice(0, start, start + n);
      ops::ssd_scan(conv, dt.slice(0, start, start + n), A, part.slice(1, 0, N), part.slice(1, N, 2 * N), D, dt_bias,
                    0.0f, INFINITY, 1, ssm_state, layout.sequences(), out);
      std::vector<float> values = out.to_float_vector();
      rows.insert(rows.end(), values.begin(), values.end());
      start += n;
    }
    return rows;
  };
  const std::vector<float> whole = run({9});
  for (const std::vector<int32_t>& chunks : {std::vector<int32_t>{3, 1, 5}, std::vector<int32_t>(9, 1)}) {
    const std::vector<float> chunked = run(chunks);
    ASSERT_EQ(chunked.size(), whole.size());
    for (size_t i = 0; i < whole.size(); ++i) EXPECT_NEAR(chunked[i], whole[i], 1e-5) << i;
  }
}

TEST(SsmOps, BadSlotsAndShapesAreRefused) {
  std::mt19937 rng(1);
  Tensor x = random_tensor({3, 4}, rng), weight = random_tensor({4, 3}, rng), out = Tensor::empty({3, 4}, DType::F32);
  Tensor state = Tensor::zeros({2, 4, 2}, DType::F32);
  Layout outside{{3}, {0}, {2}};  // slot 2 of 2
  EXPECT_THROW(ops::causal_conv1d(x, weight, Tensor(), state, outside.sequences(), true, out), Error);
  Layout fine{{3}, {0}, {1}};
  Tensor wrong_state = Tensor::zeros({2, 4, 3}, DType::F32);
  EXPECT_THROW(ops::causal_conv1d(x, weight, Tensor(), wrong_state, fine.sequences(), true, out), Error);
  Layout short_batch{{2}, {0}, {1}};  // query_start ends at 2 of 3 rows
  EXPECT_THROW(ops::causal_conv1d(x, weight, Tensor(), state, short_batch.sequences(), true, out), Error);
  ops::causal_conv1d(x, weight, Tensor(), state, fine.sequences(), true, out);  // the good call runs
}

}  // namespace
}  // namespace vllm
