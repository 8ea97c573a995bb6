// Strided-to-contiguous copies and float conversions on the GPU (Tensor::contiguous of a device
// view; the bf16 inputs of cuBLASLt matmuls).
#include <cuda_bf16.h>

#include "backend/cuda/cuda_common.cuh"

namespace vllm::cuda {
namespace {

using namespace detail;

constexpr int kThreads = 256;

struct Strided4 {
  int64_t sizes[4] = {1, 1, 1, 1};
  int64_t strides[4] = {0, 0, 0, 0};
};

template <typename T>
__global__ void copy_strided_kernel(const T* __restrict__ src, T* __restrict__ dst, Strided4 layout, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t rest = i, offset = 0;
#pragma unroll
    for (int d = 3; d >= 0; --d) {
      offset += (rest % layout.sizes[d]) * layout.strides[d];
      rest /= layout.sizes[d];
    }
    dst[i] = src[offset];
  }
}

__device__ __forceinline__ float load_float(const void* p, WType type, int64_t i) {
  return WeightRef{p, type}[i];
}

template <WType Out>
__device__ __forceinline__ void store_float(void* p, int64_t i, float v) {
  if constexpr (Out == WType::F32) {
    static_cast<float*>(p)[i] = v;
  } else if constexpr (Out == WType::BF16) {
    static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(v);
  } else {
    static_cast<__half*>(p)[i] = __float2half_rn(v);
  }
}

template <WType Out>
__global__ void cast_kernel(const void* __restrict__ src, WType in, void* __restrict__ dst, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    store_float<Out>(dst, i, load_float(src, in, i));
}

// f32 -> bf16, 4 elements per thread (the hot cast before every bf16 matmul).
__global__ void f32_to_bf16_kernel(const float4* __restrict__ src, __nv_bfloat162* __restrict__ dst, int64_t n4) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n4;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float4 v = src[i];
    dst[2 * i] = __floats2bfloat162_rn(v.x, v.y);
    dst[2 * i + 1] = __floats2bfloat162_rn(v.z, v.w);
  }
}

}  // namespace

void copy_strided(const Tensor& src, Tensor& dst) {
  set_device(dst.device());
  VLLM_CHECK(src.dim() <= 4, Unsupported, "cuda: strided copy of ", src.to_string(),
             ": at most 4 dimensions");
  const int64_t n = src.numel();
  if (n == 0) return;
  Strided4 layout;
  const int64_t offset = 4 - src.dim();
  for (int64_t d = 0; d < src.dim(); ++d) {
    layout.sizes[offset + d] = src.size(d);
    layout.strides[offset + d] = src.stride(d);
  }
  const unsigned grid = grid_for(n, kThreads);
  switch (src.element_size()) {
    case 1: copy_strided_kernel<<<grid, kThreads, 0, stream()>>>(src.data<uint8_t>(), dst.data<uint8_t>(), layout, n); break;
    case 2: copy_strided_kernel<<<grid, kThreads, 0, stream()>>>(src.data<uint16_t>(), dst.data<uint16_t>(), layout, n); break;
    case 4: copy_strided_kernel<<<grid, kThreads, 0, stream()>>>(src.data<uint32_t>(), dst.data<uint32_t>(), layout, n); break;
    case 8: copy_strided_kernel<<<grid, kThreads, 0, stream()>>>(src.data<uint64_t>(), dst.data<uint64_t>(), layout, n); break;
    default: fail(ErrorKind::Unsupported, "cuda: strided copy of ", src.to_string());
  }
  check_launch("copy_strided_kernel");
}

void cast(const Tensor& src, Tensor& dst) {
  set_device(dst.device());
  const int64_t n = src.numel();
  if (n == 0) return;
  const WType in = weight_type(src), out = weight_type(dst);
  if (in == WType::F32 && out == WType::BF16 && n % 4 == 0 &&
      reinterpret_cast<uintptr_t>(src.raw_data()) % 16 == 0 && reinterpret_cast<uintptr_t>(dst.raw_data()) % 8 == 0) {
    f32_to_bf16_kernel<<<grid_for(n / 4, kThreads), kThreads, 0, stream()>>>(
        static_cast<const float4*>(src.raw_data()), static_cast<__nv_bfloat162*>(dst.raw_data()), n / 4);
    check_launch("f32_to_bf16_kernel");
    return;
  }
  const unsigned grid = grid_for(n, kThreads);
  switch (out) {
    case WType::F32: cast_kernel<WType::F32><<<grid, kThreads, 0, stream()>>>(src.raw_data(), in, dst.raw_data(), n); break;
    case WType::BF16: cast_kernel<WType::BF16><<<grid, kThreads, 0, stream()>>>(src.raw_data(), in, dst.raw_data(), n); break;
    case WType::F16: cast_kernel<WType::F16><<<grid, kThreads, 0, stream()>>>(src.raw_data(), in, dst.raw_data(), n); break;
  }
  check_launch("cast_kernel");
}

}  // namespace vllm::cuda
