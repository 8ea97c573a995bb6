// ops::sample_tokens on the GPU: one block per row. The filters' thresholds are found by the same
// bisections as the CPU kernel (sampling_cpu.cpp), each step one block-wide count or
// double-precision mass; then every thread races its strided share of the kept tokens and a
// block-wide argmax (lowest index on ties) picks the token.
#include "backend/cuda/cuda_common.cuh"
#include "ops/sampling_noise.h"

namespace vllm::cuda {
namespace {

using namespace detail;
using ops::detail::bisect_midpoint;

constexpr int kThreads = 1024;

__device__ __forceinline__ bool better(float score, int64_t index, float best, int64_t best_index) {
  return score > best || (score == best && index < best_index);
}

// Block-wide argmax of (score, index); the winner's index in every thread.
__device__ int64_t block_argmax(float best, int64_t best_index, float* scores, int64_t* indices) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    const float other = __shfl_xor_sync(0xffffffffu, best, offset);
    const int64_t other_index = __shfl_xor_sync(0xffffffffu, best_index, offset);
    if (better(other, other_index, best, best_index)) {
      best = other;
      best_index = other_index;
    }
  }
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  if (lane == 0) {
    scores[warp] = best;
    indices[warp] = best_index;
  }
  __syncthreads();
  best = lane < warps ? scores[lane] : -INFINITY;
  best_index = lane < warps ? indices[lane] : INT64_MAX;
  for (int offset = 16; offset > 0; offset >>= 1) {
    const float other = __shfl_xor_sync(0xffffffffu, best, offset);
    const int64_t other_index = __shfl_xor_sync(0xffffffffu, best_index, offset);
    if (better(other, other_index, best, best_index)) {
      best = other;
      best_index = other_index;
    }
  }
  __syncthreads();
  return best_index;
}

struct RowView {
  const float* logits;
  int64_t vocab;
  float inverse_temperature;
  __device__ float z(int64_t i) const { return logits[i] * inverse_temperature; }
};

__device__ long long count_at_least(const RowView& row, float tau, long long* scratch) {
  long long n = 0;
  for (int64_t i = threadIdx.x; i < row.vocab; i += blockDim.x) n += row.z(i) >= tau;
  return block_sum(n, scratch);
}

__device__ double mass_at_least(const RowView& row, float tau, float max, double* scratch) {
  double m = 0.0;
  for (int64_t i = threadIdx.x; i < row.vocab; i += blockDim.x) {
    const float v = row.z(i);
    if (v >= tau) m += exp(static_cast<double>(v - max));
  }
  return block_sum(m, scratch);
}

// The largest tau in [lo, hi] whose upper set passes `keeps` (which lo passes). Every thread
// takes the same path: keeps() ends in a block-wide reduction.
template <typename Keeps>
__device__ float bisect(float lo, float hi, Keeps keeps) {
  if (keeps(hi)) return hi;
  for (int step = 0; step < 200; ++step) {
    const float mid = bisect_midpoint(lo, hi);
    if (mid <= lo || mid >= hi) break;
    if (keeps(mid)) lo = mid; else hi = mid;
  }
  return lo;
}

__global__ void __launch_bounds__(kThreads)
    sample_tokens_kernel(const float* __restrict__ logits, int64_t stride, int64_t vocab,
                         const float* __restrict__ temperatures, const int64_t* __restrict__ seeds,
                         const int32_t* __restrict__ top_ks, const float* __restrict__ top_ps,
                         const float* __restrict__ min_ps, int32_t* __restrict__ out) {
  __shared__ float float_scratch[32];
  __shared__ double double_scratch[32];
  __shared__ long long count_scratch[32];
  __shared__ int64_t index_scratch[32];
  const int64_t r = blockIdx.x;
  const float* row_logits = logits + r * stride;
  const float t = temperatures[r];
  if (!(t > 0.0f)) {  // greedy
    float best = -INFINITY;
    int64_t best_index = INT64_MAX;
    for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x)
      if (better(row_logits[i], i, best, best_index)) {
        best = row_logits[i];
        best_index = i;
      }
    const int64_t winner = block_argmax(best, best_index, float_scratch, index_scratch);
    if (threadIdx.x == 0) out[r] = static_cast<int32_t>(winner < vocab ? winner : 0);
    return;
  }
  const RowView row{row_logits, vocab, 1.0f / t};
  float max = -INFINITY, neg_min = -INFINITY;
  for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) {
    const float v = row.z(i);
    if (!isfinite(v)) continue;  // -inf: masked out, never drawn
    max = fmaxf(max, v);
    neg_min = fmaxf(neg_min, -v);
  }
  max = block_max(max, float_scratch);
  const float min = -block_max(neg_min, float_scratch);
  if (!(max >= min)) {  // nothing finite to draw from
    if (threadIdx.x == 0) out[r] = 0;
    return;
  }
  float tau = min;
  const float min_p = min_ps ? min_ps[r] : 0.0f;
  if (min_p > 0.0f) tau = fmaxf(tau, max + logf(min_p));
  const int32_t top_k = top_ks ? top_ks[r] : 0;
  if (top_k > 0 && count_at_least(row, tau, count_scratch) > top_k)
    tau = bisect(tau, max, [&](float x) { return count_at_least(row, x, count_scratch) >= top_k; });
  const float top_p = top_ps ? top_ps[r] : 1.0f;
  if (top_p < 1.0f) {
    const double target = static_cast<double>(top_p) * mass_at_least(row, tau, max, double_scratch);
    tau = bisect(tau, max, [&](float x) { return mass_at_least(row, x, max, double_scratch) >= target; });
  }
  const uint64_t seed = static_cast<uint64_t>(seeds[r]);
  float best = -INFINITY;
  int64_t best_index = INT64_MAX;
  for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) {
    const float v = row.z(i);
    if (!(v >= tau)) continue;
    const float score = v - ops::detail::race_log_exponential(seed, i);
    if (better(score, i, best, best_index)) {
      best = score;
      best_index = i;
    }
  }
  const int64_t winner = block_argmax(best, best_index, float_scratch, index_scratch);
  if (threadIdx.x == 0) out[r] = static_cast<int32_t>(winner < vocab ? winner : 0);
}

template <typename T>
const T* optional_data(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

}  // namespace

void sample_tokens(const Tensor& logits, const ops::SamplingTensors& params, Tensor& out) {
  set_device(logits.device());
  const int64_t rows = logits.size(0);
  if (rows == 0) return;
  VLLM_CHECK(rows <= 0x7fffffff, Unsupported, "sample_tokens: ", rows, " rows exceed the CUDA grid");
  sample_tokens_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream()>>>(
      logits.data<float>(), logits.stride(0), logits.size(1), params.temperatures.data<float>(),
      params.seeds.data<int64_t>(), optional_data<int32_t>(params.top_k), optional_data<float>(params.top_p),
      optional_data<float>(params.min_p), out.data<int32_t>());
  check_launch("sample_tokens_kernel");
}

}  // namespace vllm::cuda
