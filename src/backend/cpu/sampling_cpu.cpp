// ops::sample_tokens on the CPU, row by row: the reference the CUDA kernel must match token for
// token (same bisections, same float arithmetic, masses summed in double).
#include <cmath>
#include <limits>

#include "backend/cpu/cpu_ops.h"
#include "core/parallel.h"
#include "ops/sampling_noise.h"

namespace vllm::cpu {
namespace {

using ops::detail::bisect_midpoint;

struct Row {
  const float* logits;
  int64_t vocab;
  float inverse_temperature;
  float z(int64_t i) const { return logits[i] * inverse_temperature; }
  int64_t count_at_least(float tau) const {
    int64_t n = 0;
    for (int64_t i = 0; i < vocab; ++i) n += z(i) >= tau;
    return n;
  }
  double mass_at_least(float tau, float max) const {
    double m = 0.0;
    for (int64_t i = 0; i < vocab; ++i) {
      const float v = z(i);
      if (v >= tau) m += std::exp(static_cast<double>(v - max));
    }
    return m;
  }
};

// The largest tau in [lo, hi] whose upper set passes `keeps` (which lo passes), by bisection.
template <typename Keeps>
float bisect(float lo, float hi, Keeps keeps) {
  if (keeps(hi)) return hi;
  for (int step = 0; step < 200; ++step) {
    const float mid = bisect_midpoint(lo, hi);
    if (mid <= lo || mid >= hi) break;
    (keeps(mid) ? lo : hi) = mid;
  }
  return lo;
}

int32_t sample_row(const Row& row, uint64_t seed, int32_t top_k, float top_p, float min_p) {
  float max = -std::numeric_limits<float>::infinity(), min = std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < row.vocab; ++i) {
    const float v = row.z(i);
    if (!std::isfinite(v)) continue;  // -inf: masked out, never drawn
    max = std::fmax(max, v);
    min = std::fmin(min, v);
  }
  if (!(max >= min)) return 0;  // nothing finite to draw from
  float tau = min;
  if (min_p > 0.0f) tau = std::fmax(tau, max + std::log(min_p));
  if (top_k > 0 && row.count_at_least(tau) > top_k)
    tau = bisect(tau, max, [&](float t) { return row.count_at_least(t) >= top_k; });
  if (top_p < 1.0f) {
    const double target = static_cast<double>(top_p) * row.mass_at_least(tau, max);
    tau = bisect(tau, max, [&](float t) { return row.mass_at_least(t, max) >= target; });
  }
  float best = -std::numeric_limits<float>::infinity();
  int64_t best_index = 0;
  bool found = false;
  for (int64_t i = 0; i < row.vocab; ++i) {
    const float v = row.z(i);
    if (!(v >= tau)) continue;
    const float score = v - ops::detail::race_log_exponential(seed, i);
    if (!found || score > best) {
      best = score;
      best_index = i;
      found = true;
    }
  }
  return static_cast<int32_t>(best_index);
}

int32_t argmax_row(const float* row, int64_t vocab) {
  float best = -std::numeric_limits<float>::infinity();
  int64_t best_index = 0;
  for (int64_t i = 0; i < vocab; ++i) {
    if (row[i] > best) {
      best = row[i];
      best_index = i;
    }
  }
  return static_cast<int32_t>(best_index);
}

}  // namespace

void sample_tokens(const Tensor& logits, const ops::SamplingTensors& params, Tensor& out) {
  const int64_t rows = logits.size(0), vocab = logits.size(1), stride = logits.stride(0);
  const float* data = logits.data<float>();
  const float* temperature = params.temperatures.data<float>();
  const int64_t* seed = params.seeds.data<int64_t>();
  const int32_t* top_k = params.top_k.defined() ? params.top_k.data<int32_t>() : nullptr;
  const float* top_p = params.top_p.defined() ? params.top_p.data<float>() : nullptr;
  const float* min_p = params.min_p.defined() ? params.min_p.data<float>() : nullptr;
  int32_t* tokens = out.data<int32_t>();
  parallel_for(rows, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* row = data + r * stride;
      const float t = temperature[r];
      if (!(t > 0.0f)) {
        tokens[r] = argmax_row(row, vocab);
        continue;
      }
      tokens[r] = sample_row(Row{row, vocab, 1.0f / t}, static_cast<uint64_t>(seed[r]), top_k ? top_k[r] : 0,
                             top_p ? top_p[r] : 1.0f, min_p ? min_p[r] : 0.0f);
    }
  });
}

}  // namespace vllm::cpu
