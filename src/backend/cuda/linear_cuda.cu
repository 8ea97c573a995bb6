// out[T, N] = x[T, K] @ W[N, K]^T (+ bias) on the GPU. Half-precision weights: decode-sized T
// (<= 8 rows) runs a bandwidth-bound GEMV that streams each weight row once with 16-byte loads
// against x rounded in registers; larger T goes through cuBLASLt (tensor cores, x rounded to the weight type).
// Without cuBLASLt, and for f32 weights: a tiled shared-memory f32 kernel (64x64 output tiles,
// K-steps of 16, 4x4 outputs per thread) and a warp-per-output-column kernel for small T.
// Weights are widened from bf16/f16 as they are loaded; accumulation is f32.
#include <algorithm>
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

// Decode GEMV: each output column n is summed by `Split` warps, each over its share of K, every
// lane streaming 8 weights (16 bytes) per load with 4 loads in flight; the warps' partial sums
// meet in shared memory (fixed order). Split (up to 4) grows for small N so that about 32K warps
// stream at once: with one warp per column, a 4096-column matrix leaves the memory system
// underfed. x rows (f32, at most kSmallRows) are read through L1. K % 8 == 0.
constexpr int kGemvWarps = 8;
constexpr int kGemvWarpsWanted = 32768;  // H200 sweep of 4K..128K at batch 1: 32K best (docs/benchmarks.md)

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

// x elements: f32 (rounded to W in registers) or, with kHalfX, already W (16-byte loads of 8).
template <WType W, bool kHalfX>
__device__ __forceinline__ float dot8(const void* x, int64_t offset, const float (&w)[8]) {
  if constexpr (kHalfX) {
    const uint4 packed = *reinterpret_cast<const uint4*>(static_cast<const uint16_t*>(x) + offset);
    float v[8];
    widen8<W>(packed, v);
    return v[0] * w[0] + v[1] * w[1] + v[2] * w[2] + v[3] * w[3] + v[4] * w[4] + v[5] * w[5] + v[6] * w[6] +
           v[7] * w[7];
  } else {
    const float4* xr = reinterpret_cast<const float4*>(static_cast<const float*>(x) + offset);
    const float4 a = xr[0], b = xr[1];
    return round_to<W>(a.x) * w[0] + round_to<W>(a.y) * w[1] + round_to<W>(a.z) * w[2] + round_to<W>(a.w) * w[3] +
           round_to<W>(b.x) * w[4] + round_to<W>(b.y) * w[5] + round_to<W>(b.z) * w[6] + round_to<W>(b.w) * w[7];
  }
}

// out elements are O: f32, or W rounded to nearest.
template <WType W, int Rows, int Split, bool kHalfX, WType O>
__global__ void __launch_bounds__(kGemvWarps * 32)
    gemv_kernel(const void* __restrict__ x, int64_t x_stride, const uint16_t* __restrict__ weight,
                const float* __restrict__ bias, typename WeightStorage<O>::type* __restrict__ out, int64_t N,
                int64_t K) {
  constexpr int kColumnsPerBlock = kGemvWarps / Split;
  __shared__ float partial[kGemvWarps][Rows];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, part = warp % Split;
  const int64_t n = static_cast<int64_t>(blockIdx.x) * kColumnsPerBlock + warp / Split;
  const int64_t chunks = K / 8, share = (chunks + Split - 1) / Split;
  const int64_t begin = part * share, end = n < N ? min(chunks, begin + share) : begin;
  const uint4* w_row = reinterpret_cast<const uint4*>(weight + n * K);
  float acc[Rows] = {};
  constexpr int kUnroll = 4;
  uint4 packed[kUnroll];
  auto load = [&](int64_t base) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t c = base + u * 32 + lane;
      packed[u] = c < end ? __ldg(w_row + c) : make_uint4(0, 0, 0, 0);
    }
  };
  load(begin);          // the first weights stream in while the producer of x finishes
  wait_for_producer();  // launched with launch_dependent: x is ready only after this
  for (int64_t base = begin; base < end; base += 32 * kUnroll) {
    if (base != begin) load(base);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t c = base + u * 32 + lane;
      if (c >= end) break;
      float w[8];
      widen8<W>(packed[u], w);
#pragma unroll
      for (int r = 0; r < Rows; ++r) acc[r] += dot8<W, kHalfX>(x, r * x_stride + c * 8, w);
    }
  }
#pragma unroll
  for (int r = 0; r < Rows; ++r) acc[r] = warp_sum(acc[r]);
  if constexpr (Split == 1) {
    if (lane == 0 && n < N)
#pragma unroll
      for (int r = 0; r < Rows; ++r) out[r * N + n] = narrow<O>(acc[r] + (bias ? bias[n] : 0.0f));
  } else {
    if (lane == 0)
#pragma unroll
      for (int r = 0; r < Rows; ++r) partial[warp][r] = acc[r];
    __syncthreads();
    if (part == 0 && lane < Rows && n < N) {
      float total = 0.0f;
#pragma unroll
      for (int s = 0; s < Split; ++s) total += partial[warp + s][lane];
      out[lane * N + n] = narrow<O>(total + (bias ? bias[n] : 0.0f));
    }
  }
}

template <WType W, int Rows, int Split>
void launch_gemv(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& out) {
  const int64_t N = weight.size(0), K = weight.size(1);
  constexpr int kColumnsPerBlock = kGemvWarps / Split;
  const unsigned blocks = static_cast<unsigned>((N + kColumnsPerBlock - 1) / kColumnsPerBlock);
  auto run = [&](auto kernel, auto* out_data) {
    launch_dependent(kernel, dim3(blocks), dim3(kGemvWarps * 32), 0, static_cast<const void*>(x.raw_data()),
                     x.stride(0), static_cast<const uint16_t*>(weight.raw_data()),
                     bias.defined() ? bias.data<float>() : nullptr, out_data, N, K);
  };
  const bool half_x = x.dtype() != DType::F32;
  if (out.dtype() == DType::F32) {
    float* out_data = out.data<float>();
    if (half_x) run(gemv_kernel<W, Rows, Split, true, WType::F32>, out_data);
    else run(gemv_kernel<W, Rows, Split, false, WType::F32>, out_data);
  } else {  // the weight's half type (ops::linear checked)
    uint16_t* out_data = static_cast<uint16_t*>(out.raw_data());
    if (half_x) run(gemv_kernel<W, Rows, Split, true, W>, out_data);
    else run(gemv_kernel<W, Rows, Split, false, W>, out_data);
  }
  check_launch("gemv_kernel");
}

template <WType W, int Rows>
void gemv_split(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& out) {
  // At most 4 warps per column: Llama-8B's qkv (6144 x 4096) ran 16.1 us with 4, 18.0 with 8.
  const int64_t N = weight.size(0), wanted = kGemvWarpsWanted;
  if (N * 2 < wanted) return launch_gemv<W, Rows, 4>(x, weight, bias, out);
  if (N < wanted) return launch_gemv<W, Rows, 2>(x, weight, bias, out);
  return launch_gemv<W, Rows, 1>(x, weight, bias, out);
}

template <WType W>
void gemv(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& out) {
  switch (x.size(0)) {
    case 1: return gemv_split<W, 1>(x, weight, bias, out);
    case 2: return gemv_split<W, 2>(x, weight, bias, out);
    case 3: return gemv_split<W, 3>(x, weight, bias, out);
    case 4: return gemv_split<W, 4>(x, weight, bias, out);
    case 5: return gemv_split<W, 5>(x, weight, bias, out);
    case 6: return gemv_split<W, 6>(x, weight, bias, out);
    case 7: return gemv_split<W, 7>(x, weight, bias, out);
    default: return gemv_split<W, 8>(x, weight, bias, out);
  }
}

// The GEMV's alignment needs: 16-byte weight rows and x rows, K a multiple of 8.
bool gemv_fits(const Tensor& x, const Tensor& weight) {
  const int64_t K = weight.size(1);
  const int64_t x_alignment = x.dtype() == DType::F32 ? 4 : 8;  // elements per 16 bytes
  return x.size(0) <= kSmallRows && K % 8 == 0 && x.stride(0) % x_alignment == 0 &&
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
// the weight's type, as vLLM computes in the model dtype, and up to kSmallRows rows through the
// GEMV above. VLLM_CUDA_MATMUL (core/env.h): auto (that), cublaslt (cuBLASLt for every
// half-precision matmul) or builtin (the f32 kernels only: exact f32 activations, slow).
static bool use_cublaslt(const Tensor& weight) {
  return env::cuda_matmul() != env::CudaMatmul::Builtin && weight.dtype() != DType::F32 && cublaslt_available();
}

void linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& out) {
  set_device(x.device());
  const int64_t M = x.size(0), N = weight.size(0);
  if (M == 0 || N == 0) return;
  if (weight.dtype() != DType::F32 && env::cuda_matmul() == env::CudaMatmul::Auto && gemv_fits(x, weight)) {
    if (weight.dtype() == DType::BF16) return gemv<WType::BF16>(x, weight, bias, out);
    return gemv<WType::F16>(x, weight, bias, out);
  }
  if (out.dtype() != DType::F32 && (bias.defined() || !use_cublaslt(weight))) {
    // A half out from the f32 kernels or with a bias (cuBLASLt's bias epilogue is set up for f32
    // outputs): the f32 product, rounded.
    Tensor wide = Tensor::empty(out.shape(), DType::F32, out.device());
    linear(x, weight, bias, wide);
    return cast(wide, out);
  }
  if (x.dtype() != DType::F32) {  // already the weight's half type (ops::linear checked)
    if (use_cublaslt(weight)) return cublaslt_linear(x.contiguous(), weight, bias, out);
    Tensor widened = Tensor::empty(x.shape(), DType::F32, x.device());  // builtin kernels: exact in f32
    cast(x.contiguous(), widened);
    return linear(widened, weight, bias, out);
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
