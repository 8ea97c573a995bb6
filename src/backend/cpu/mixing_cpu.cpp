// Elementwise products, per-token stream mixing and per-row statistics (src/ops/mixing.h).
// Row sums accumulate in double.
#include <algorithm>
#include <cmath>

#include "backend/cpu/cpu_ops.h"
#include "core/parallel.h"

namespace vllm::cpu {
namespace {

constexpr int64_t kElementGrain = 1 << 15;

int64_t row_grain(int64_t width) { return std::max<int64_t>(1, kElementGrain / std::max<int64_t>(1, width)); }

double mean_square(const float* row, int64_t n) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(row[i]) * row[i];
  return n == 0 ? 0.0 : sum / static_cast<double>(n);
}

}  // namespace

void mul(const Tensor& a, const Tensor& b, Tensor& out) {
  const float* x = a.data<float>();
  const float* y = b.data<float>();
  float* o = out.data<float>();
  parallel_for(a.numel(), kElementGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) o[i] = x[i] * y[i];
  });
}

void mix_streams(const Tensor& streams, const Tensor& coefs, Tensor& out) {
  const int64_t num_in = streams.size(0), tokens = streams.size(1), hidden = streams.size(2);
  const int64_t num_out = out.size(0);
  const float* s = streams.data<float>();
  const float* c = coefs.data<float>();
  float* o = out.data<float>();
  parallel_for(num_out * tokens, row_grain(hidden * num_in), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t k = row / tokens, t = row % tokens;
      float* out_row = o + row * hidden;
      for (int64_t j = 0; j < num_in; ++j) {
        const float w = c[(t * num_out + k) * num_in + j];
        const float* in = s + (j * tokens + t) * hidden;
        for (int64_t h = 0; h < hidden; ++h) out_row[h] += w * in[h];
      }
    }
  });
}

void match_rms(Tensor& x, const Tensor& reference, float min_mean_square) {
  const int64_t rows = x.size(0), n = x.size(1);
  float* p = x.data<float>();
  const float* r = reference.data<float>();
  parallel_for(rows, row_grain(2 * n), [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const float target = static_cast<float>(std::sqrt(mean_square(r + t * n, n)));
      const float scale =
          target / static_cast<float>(std::sqrt(std::max(mean_square(p + t * n, n), static_cast<double>(min_mean_square))));
      for (int64_t i = 0; i < n; ++i) p[t * n + i] *= scale;
    }
  });
}

void gaussian_topk(Tensor& x, float multiplier) {
  const int64_t rows = x.size(0), n = x.size(1);
  float* p = x.data<float>();
  parallel_for(rows, row_grain(3 * n), [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      float* row = p + t * n;
      double mean = 0, var = 0;
      for (int64_t i = 0; i < n; ++i) mean += row[i];
      mean /= static_cast<double>(std::max<int64_t>(n, 1));
      for (int64_t i = 0; i < n; ++i) var += (row[i] - mean) * (row[i] - mean);
      const float cutoff =
          static_cast<float>(mean + std::sqrt(var / static_cast<double>(std::max<int64_t>(n, 1))) * multiplier);
      for (int64_t i = 0; i < n; ++i) row[i] = std::max(row[i] - cutoff, 0.0f);
    }
  });
}

}  // namespace vllm::cpu
