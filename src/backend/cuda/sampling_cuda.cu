// ops::sample_tokens on the GPU: one block per row, each thread scanning a strided share of the
// vocabulary for its best score, then a block-wide argmax (lowest index on ties, as the CPU).
#include "backend/cuda/cuda_common.cuh"
#include "ops/sampling_noise.h"

namespace vllm::cuda {
namespace {

using namespace detail;

constexpr int kThreads = 1024;

__device__ __forceinline__ bool better(float score, int64_t index, float best, int64_t best_index) {
  return score > best || (score == best && index < best_index);
}

__global__ void __launch_bounds__(kThreads)
    sample_tokens_kernel(const float* __restrict__ logits, int64_t stride, int64_t vocab,
                         const float* __restrict__ temperatures, const int64_t* __restrict__ seeds,
                         int32_t* __restrict__ out) {
  __shared__ float best_scores[32];
  __shared__ int64_t best_indices[32];
  const int64_t r = blockIdx.x;
  const float* row = logits + r * stride;
  const float t = temperatures[r];
  const float inverse = t > 0.0f ? 1.0f / t : 0.0f;
  const uint64_t seed = static_cast<uint64_t>(seeds[r]);
  float best = -INFINITY;
  int64_t best_index = vocab;
  for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) {
    const float score = t > 0.0f ? row[i] * inverse - ops::detail::race_log_exponential(seed, i) : row[i];
    if (better(score, i, best, best_index)) {
      best = score;
      best_index = i;
    }
  }
  for (int offset = 16; offset > 0; offset >>= 1) {
    const float other = __shfl_xor_sync(0xffffffffu, best, offset);
    const int64_t other_index = __shfl_xor_sync(0xffffffffu, best_index, offset);
    if (better(other, other_index, best, best_index)) {
      best = other;
      best_index = other_index;
    }
  }
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) {
    best_scores[warp] = best;
    best_indices[warp] = best_index;
  }
  __syncthreads();
  if (warp == 0) {
    const int warps = blockDim.x / 32;
    best = lane < warps ? best_scores[lane] : -INFINITY;
    best_index = lane < warps ? best_indices[lane] : vocab;
    for (int offset = 16; offset > 0; offset >>= 1) {
      const float other = __shfl_xor_sync(0xffffffffu, best, offset);
      const int64_t other_index = __shfl_xor_sync(0xffffffffu, best_index, offset);
      if (better(other, other_index, best, best_index)) {
        best = other;
        best_index = other_index;
      }
    }
    // A row of NaNs keeps the initial index: report token 0 rather than one past the vocabulary.
    if (lane == 0) out[r] = static_cast<int32_t>(best_index < vocab ? best_index : 0);
  }
}

}  // namespace

void sample_tokens(const Tensor& logits, const Tensor& temperatures, const Tensor& seeds, Tensor& out) {
  set_device(logits.device());
  const int64_t rows = logits.size(0);
  if (rows == 0) return;
  VLLM_CHECK(rows <= 0x7fffffff, Unsupported, "sample_tokens: ", rows, " rows exceed the CUDA grid");
  sample_tokens_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream()>>>(
      logits.data<float>(), logits.stride(0), logits.size(1), temperatures.data<float>(), seeds.data<int64_t>(),
      out.data<int32_t>());
  check_launch("sample_tokens_kernel");
}

}  // namespace vllm::cuda
