// out[T, N] = x[T, K] @ W[N, K]^T (+ bias) on the GPU without cuBLAS: a tiled shared-memory f32
// kernel (64x64 output tiles, K-steps of 16, 4x4 outputs per thread) for prefill-sized T, and a
// warp-per-output-column kernel for decode-sized T (W is read once for all rows). Weights are
// widened from bf16/f16 as they are loaded; accumulation is f32.
#include <cstdlib>
#include <string>

#include "backend/cuda/cublaslt.h"
#include "backend/cuda/cuda_common.cuh"

namespace vllm::cuda {
namespace {

using namespace detail;

constexpr int kTileM = 64, kTileN = 64, kTileK = 16, kThreads = 256;
constexpr int kSmallRows = 8;  // up to this many rows: the column kernel
constexpr int kColumnWarps = 8;

template <WType W>
__global__ void __launch_bounds__(kThreads)
    linear_tiled_kernel(const float* __restrict__ x, int64_t x_stride,
                        const typename WeightStorage<W>::type* __restrict__ weight,
                        const float* __restrict__ bias, float* __restrict__ out, int64_t M,
                        int64_t N, int64_t K) {
  __shared__ float a_tile[kTileK][kTileM + 4];
  __shared__ float b_tile[kTileK][kTileN + 4];
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kTileM;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * kTileN;
  // Loader mapping: 64 rows x 16 k per tile, 4 consecutive k per thread.
  const int load_row = tid / 4, load_k = (tid % 4) * 4;
  float acc[4][4] = {};
  for (int64_t k0 = 0; k0 < K; k0 += kTileK) {
    const int64_t a_row = m0 + load_row, b_row = n0 + load_row;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int64_t k = k0 + load_k + i;
      a_tile[load_k + i][load_row] = (a_row < M && k < K) ? x[a_row * x_stride + k] : 0.0f;
      b_tile[load_k + i][load_row] = (b_row < N && k < K) ? widen<W>(weight[b_row * K + k]) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTileK; ++kk) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = a_tile[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) b[j] = b_tile[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t m = m0 + ty + 16 * i;
    if (m >= M) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t n = n0 + tx + 16 * j;
      if (n < N) out[m * N + n] = acc[i][j] + (bias ? bias[n] : 0.0f);
    }
  }
}

// One warp per output column n, all M (<= kSmallRows) rows at once.
template <WType W>
__global__ void __launch_bounds__(kColumnWarps * 32)
    linear_columns_kernel(const float* __restrict__ x, int64_t x_stride,
                          const typename WeightStorage<W>::type* __restrict__ weight,
                          const float* __restrict__ bias, float* __restrict__ out, int64_t M,
                          int64_t N, int64_t K) {
  const int lane = threadIdx.x % 32;
  const int64_t n = static_cast<int64_t>(blockIdx.x) * kColumnWarps + threadIdx.x / 32;
  if (n >= N) return;
  const auto* w_row = weight + n * K;
  float acc[kSmallRows] = {};
  for (int64_t k = lane; k < K; k += 32) {
    const float w = widen<W>(w_row[k]);
#pragma unroll
    for (int r = 0; r < kSmallRows; ++r)
      if (r < M) acc[r] = fmaf(x[r * x_stride + k], w, acc[r]);
  }
#pragma unroll
  for (int r = 0; r < kSmallRows; ++r) {
    if (r >= M) break;
    const float total = warp_sum(acc[r]);
    if (lane == 0) out[r * N + n] = total + (bias ? bias[n] : 0.0f);
  }
}

template <WType W>
void launch(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& out) {
  const int64_t M = x.size(0), K = x.size(1), N = weight.size(0);
  const auto* w = static_cast<const typename WeightStorage<W>::type*>(weight.raw_data());
  const float* b = bias.defined() ? bias.data<float>() : nullptr;
  if (M <= kSmallRows) {
    const unsigned blocks = static_cast<unsigned>((N + kColumnWarps - 1) / kColumnWarps);
    linear_columns_kernel<W><<<blocks, kColumnWarps * 32, 0, stream()>>>(x.data<float>(), x.stride(0), w, b,
                                                           out.data<float>(), M, N, K);
    check_launch("linear_columns_kernel");
    return;
  }
  const int64_t grid_m = (M + kTileM - 1) / kTileM;
  VLLM_CHECK(grid_m <= 65535, Unsupported, "linear: ", M, " rows exceed the CUDA kernel's grid");
  const dim3 grid(static_cast<unsigned>((N + kTileN - 1) / kTileN), static_cast<unsigned>(grid_m));
  linear_tiled_kernel<W><<<grid, kThreads, 0, stream()>>>(x.data<float>(), x.stride(0), w, b, out.data<float>(),
                                             M, N, K);
  check_launch("linear_tiled_kernel");
}

}  // namespace

// Half-precision weights go through cuBLASLt (tensor cores, fp32 accumulation) with x rounded to
// the weight's type, as vLLM computes in the model dtype; VLLM_CUDA_MATMUL=builtin keeps the
// backend's own f32 kernels (exact f32 activations, much slower).
static bool use_cublaslt(const Tensor& weight) {
  static const bool builtin = [] {
    const char* env = std::getenv("VLLM_CUDA_MATMUL");
    return env && std::string(env) == "builtin";
  }();
  return !builtin && weight.dtype() != DType::F32 && cublaslt_available();
}

void linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& out) {
  set_device(x.device());
  const int64_t M = x.size(0), N = weight.size(0);
  if (M == 0 || N == 0) return;
  if (use_cublaslt(weight)) {
    Tensor half = Tensor::empty(x.shape(), weight.dtype(), x.device());
    cast(x.contiguous(), half);
    return cublaslt_linear(half, weight, bias, out);
  }
  switch (weight_type(weight)) {
    case WType::F32: return launch<WType::F32>(x, weight, bias, out);
    case WType::BF16: return launch<WType::BF16>(x, weight, bias, out);
    case WType::F16: return launch<WType::F16>(x, weight, bias, out);
  }
}

}  // namespace vllm::cuda
