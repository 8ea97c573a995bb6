// out[T, N] = x[T, K] @ W[N, K]^T (+ bias) on the GPU. Half-precision weights: decode-sized T
// (<= 8 rows) runs a bandwidth-bound GEMV that streams each weight row once with 16-byte loads
// against x rounded in registers; larger T goes through cuBLASLt (tensor cores, x rounded to the weight type).
// Without cuBLASLt, and for f32 weights: a tiled shared-memory f32 kernel (64x64 output tiles,
// K-steps of 16, 4x4 outputs per thread) and a warp-per-output-column kernel for small T.
// Weights are widened from bf16/f16 as they are loaded; accumulation is f32.
#include <cstdlib>
#include <string>

#include <cuda_bf16.h>

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

// Decode GEMV: one warp per output column, each lane streaming 8 weights (16 bytes) per load,
// 4 loads in flight; x rows (f32, at most kSmallRows) are read through L1. K % 8 == 0.
constexpr int kGemvWarps = 8;

template <WType W>
__device__ __forceinline__ void widen8(const uint4& packed, float (&w)[8]) {
  const uint16_t* h = reinterpret_cast<const uint16_t*>(&packed);
#pragma unroll
  for (int i = 0; i < 8; ++i) w[i] = widen<W>(h[i]);
}

// x rounded to the weight's type, as the cuBLASLt path rounds it: decode and prefill agree.
template <WType W>
__device__ __forceinline__ float round_to(float v) {
  if constexpr (W == WType::BF16) return __bfloat162float(__float2bfloat16_rn(v));
  else return __half2float(__float2half_rn(v));
}

template <WType W, int Rows>
__global__ void __launch_bounds__(kGemvWarps * 32)
    gemv_kernel(const float* __restrict__ x, int64_t x_stride, const uint16_t* __restrict__ weight,
                const float* __restrict__ bias, float* __restrict__ out, int64_t N, int64_t K) {
  const int lane = threadIdx.x % 32;
  const int64_t n = static_cast<int64_t>(blockIdx.x) * kGemvWarps + threadIdx.x / 32;
  if (n >= N) return;
  const uint4* w_row = reinterpret_cast<const uint4*>(weight + n * K);
  const int64_t chunks = K / 8;
  float acc[Rows] = {};
  constexpr int kUnroll = 4;
  for (int64_t base = 0; base < chunks; base += 32 * kUnroll) {
    uint4 packed[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t c = base + u * 32 + lane;
      packed[u] = c < chunks ? __ldg(w_row + c) : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t c = base + u * 32 + lane;
      if (c >= chunks) break;
      float w[8];
      widen8<W>(packed[u], w);
#pragma unroll
      for (int r = 0; r < Rows; ++r) {
        const float4* xr = reinterpret_cast<const float4*>(x + r * x_stride + c * 8);
        const float4 a = xr[0], b = xr[1];
        acc[r] += round_to<W>(a.x) * w[0] + round_to<W>(a.y) * w[1] + round_to<W>(a.z) * w[2] +
                  round_to<W>(a.w) * w[3] + round_to<W>(b.x) * w[4] + round_to<W>(b.y) * w[5] +
                  round_to<W>(b.z) * w[6] + round_to<W>(b.w) * w[7];
      }
    }
  }
#pragma unroll
  for (int r = 0; r < Rows; ++r) {
    const float total = warp_sum(acc[r]);
    if (lane == 0) out[r * N + n] = total + (bias ? bias[n] : 0.0f);
  }
}

template <WType W, int Rows>
void launch_gemv(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& out) {
  const int64_t N = weight.size(0), K = weight.size(1);
  const unsigned blocks = static_cast<unsigned>((N + kGemvWarps - 1) / kGemvWarps);
  gemv_kernel<W, Rows><<<blocks, kGemvWarps * 32, 0, stream()>>>(
      x.data<float>(), x.stride(0), static_cast<const uint16_t*>(weight.raw_data()),
      bias.defined() ? bias.data<float>() : nullptr, out.data<float>(), N, K);
  check_launch("gemv_kernel");
}

template <WType W>
void gemv(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& out) {
  switch (x.size(0)) {
    case 1: return launch_gemv<W, 1>(x, weight, bias, out);
    case 2: return launch_gemv<W, 2>(x, weight, bias, out);
    case 3: return launch_gemv<W, 3>(x, weight, bias, out);
    case 4: return launch_gemv<W, 4>(x, weight, bias, out);
    case 5: return launch_gemv<W, 5>(x, weight, bias, out);
    case 6: return launch_gemv<W, 6>(x, weight, bias, out);
    case 7: return launch_gemv<W, 7>(x, weight, bias, out);
    default: return launch_gemv<W, 8>(x, weight, bias, out);
  }
}

// The GEMV's alignment needs: 16-byte weight rows and x rows, K a multiple of 8.
bool gemv_fits(const Tensor& x, const Tensor& weight) {
  const int64_t K = weight.size(1);
  return x.size(0) <= kSmallRows && K % 8 == 0 && x.stride(0) % 4 == 0 &&
         reinterpret_cast<uintptr_t>(x.raw_data()) % 16 == 0 && reinterpret_cast<uintptr_t>(weight.raw_data()) % 16 == 0;
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
// VLLM_CUDA_MATMUL: unset (GEMV for decode, cuBLASLt otherwise), "cublaslt" (cuBLASLt for every
// half-precision matmul) or "builtin" (the f32 kernels only: exact f32 activations, slow).
static const std::string& matmul_mode() {
  static const std::string mode = [] {
    const char* env = std::getenv("VLLM_CUDA_MATMUL");
    return std::string(env ? env : "");
  }();
  return mode;
}

static bool use_cublaslt(const Tensor& weight) {
  return matmul_mode() != "builtin" && weight.dtype() != DType::F32 && cublaslt_available();
}

void linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& out) {
  set_device(x.device());
  const int64_t M = x.size(0), N = weight.size(0);
  if (M == 0 || N == 0) return;
  if (weight.dtype() != DType::F32 && matmul_mode().empty() && gemv_fits(x, weight)) {
    if (weight.dtype() == DType::BF16) return gemv<WType::BF16>(x, weight, bias, out);
    return gemv<WType::F16>(x, weight, bias, out);
  }
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
