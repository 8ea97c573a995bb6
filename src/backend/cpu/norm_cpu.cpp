// RMSNorm / LayerNorm over the last dim. Statistics accumulate in double (norm rows are short next
// to a matmul, so precision is cheap here); rows run in parallel.
#include <cmath>
#include <vector>

#include "backend/cpu/cpu_ops.h"
#include "backend/cpu/cpu_rows.h"
#include "core/parallel.h"

namespace vllm::cpu {
namespace {

constexpr int64_t kRowGrain = 16;

// HF's LlamaRMSNorm: x * rsqrt(mean(x^2) + eps) * weight, all in fp32; Gemma: * (1 + weight).
inline void rms_row(const float* x, float* out, const float* w, int64_t n, float eps, float offset) {
  double sum_sq = 0.0;
  for (int64_t i = 0; i < n; ++i) sum_sq += static_cast<double>(x[i]) * x[i];
  const float inv = static_cast<float>(1.0 / std::sqrt(sum_sq / static_cast<double>(n) + eps));
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * inv * (w[i] + offset);
}

}  // namespace

void rms_norm(const Tensor& x, const Tensor& weight, float eps, float weight_offset, Tensor& out) {
  Rows<float> in(x), dst(out);
  const std::vector<float> w = weight_floats(weight);
  const int64_t n = in.cols();
  parallel_for(in.count(), kRowGrain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) rms_row(in[r], dst[r], w.data(), n, eps, weight_offset);
  });
}

void fused_add_rms_norm(Tensor& x, Tensor& residual, const Tensor& weight, float eps,
                        float weight_offset) {
  Rows<float> xs(x), res(residual);
  const std::vector<float> w = weight_floats(weight);
  const int64_t n = xs.cols();
  parallel_for(xs.count(), kRowGrain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float* xr = xs[r];
      float* rr = res[r];
      for (int64_t i = 0; i < n; ++i) rr[i] += xr[i];
      rms_row(rr, xr, w.data(), n, eps, weight_offset);
    }
  });
}

void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, Tensor& out) {
  Rows<float> in(x), dst(out);
  const int64_t n = in.cols();
  const std::vector<float> w = weight.defined() ? weight_floats(weight) : std::vector<float>(n, 1.0f);
  const std::vector<float> b = bias.defined() ? weight_floats(bias) : std::vector<float>(n, 0.0f);
  parallel_for(in.count(), kRowGrain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* xr = in[r];
      float* orow = dst[r];
      double sum = 0.0;
      for (int64_t i = 0; i < n; ++i) sum += xr[i];
      const double mean = sum / static_cast<double>(n);
      double var = 0.0;
      for (int64_t i = 0; i < n; ++i) var += (xr[i] - mean) * (xr[i] - mean);
      var /= static_cast<double>(n);
      const float inv = static_cast<float>(1.0 / std::sqrt(var + eps));
      const float mean_f = static_cast<float>(mean);
      for (int64_t i = 0; i < n; ++i) orow[i] = (xr[i] - mean_f) * inv * w[i] + b[i];
    }
  });
}

}  // namespace vllm::cpu
