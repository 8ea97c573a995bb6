// Helpers shared by the CUDA kernels: weight widening, strided row addressing, block reductions
// and launch sizing.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <utility>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_stream.h"
#include "core/env.h"
#include "core/error.h"

namespace vllm::cuda::detail {

// Weight element types as kernel template arguments.
enum class WType : int { F32, BF16, F16 };

inline WType weight_type(const Tensor& w) {
  switch (w.dtype()) {
    case DType::F32: return WType::F32;
    case DType::BF16: return WType::BF16;
    case DType::F16: return WType::F16;
    default: fail(ErrorKind::InvalidArgument, "cuda: weight dtype ", dtype_name(w.dtype()),
                  " is not a float type");
  }
}

template <WType W>
struct WeightStorage;
template <>
struct WeightStorage<WType::F32> { using type = float; };
template <>
struct WeightStorage<WType::BF16> { using type = uint16_t; };
template <>
struct WeightStorage<WType::F16> { using type = uint16_t; };

template <WType W>
__device__ __forceinline__ float widen(typename WeightStorage<W>::type v) {
  if constexpr (W == WType::F32) {
    return v;
  } else if constexpr (W == WType::BF16) {
    return __uint_as_float(static_cast<uint32_t>(v) << 16);
  } else {
    return __half2float(__ushort_as_half(v));
  }
}

// Rounds to nearest into a cache or weight element type.
template <WType W>
__device__ __forceinline__ typename WeightStorage<W>::type narrow(float v) {
  if constexpr (W == WType::F32) return v;
  else if constexpr (W == WType::BF16) return __bfloat16_as_ushort(__float2bfloat16_rn(v));
  else return __half_as_ushort(__float2half_rn(v));
}

// Calls fn(std::integral_constant<WType, T>{}) for the runtime type T: kernels templated on an
// element type are instantiated once per type and picked here.
template <typename Fn>
void dispatch_type(WType type, Fn&& fn) {
  switch (type) {
    case WType::F32: return fn(std::integral_constant<WType, WType::F32>{});
    case WType::BF16: return fn(std::integral_constant<WType, WType::BF16>{});
    case WType::F16: return fn(std::integral_constant<WType, WType::F16>{});
  }
}

// Stores 4 floats at element 4 * i of an O-typed row (16 bytes for f32; 8 for bf16/f16, rounded
// to nearest).
template <WType O>
__device__ __forceinline__ void store4(void* row, int64_t i, float4 v) {
  if constexpr (O == WType::F32) {
    reinterpret_cast<float4*>(row)[i] = v;
  } else {
    uint2 packed;
    uint16_t* h = reinterpret_cast<uint16_t*>(&packed);
    h[0] = narrow<O>(v.x);
    h[1] = narrow<O>(v.y);
    h[2] = narrow<O>(v.z);
    h[3] = narrow<O>(v.w);
    reinterpret_cast<uint2*>(row)[i] = packed;
  }
}

// Loads 4 elements at element 4 * i of an I-typed row (16 bytes for f32, 8 for bf16/f16) as floats.
template <WType I>
__device__ __forceinline__ float4 load4(const void* row, int64_t i) {
  if constexpr (I == WType::F32) {
    return reinterpret_cast<const float4*>(row)[i];
  } else {
    const uint2 packed = reinterpret_cast<const uint2*>(row)[i];
    const uint16_t* h = reinterpret_cast<const uint16_t*>(&packed);
    return make_float4(widen<I>(h[0]), widen<I>(h[1]), widen<I>(h[2]), widen<I>(h[3]));
  }
}

// Runtime-typed weight read (small 1-D weights: norm scales, biases, embedding rows).
struct WeightRef {
  const void* data = nullptr;
  WType type = WType::F32;
  __device__ __forceinline__ float operator[](int64_t i) const {
    switch (type) {
      case WType::BF16: return widen<WType::BF16>(static_cast<const uint16_t*>(data)[i]);
      case WType::F16: return widen<WType::F16>(static_cast<const uint16_t*>(data)[i]);
      default: return static_cast<const float*>(data)[i];
    }
  }
};

inline WeightRef weight_ref(const Tensor& w) {
  if (!w.defined()) return {};
  return {w.raw_data(), weight_type(w)};
}

// Rows of a tensor along its last dim, whose up to 3 leading dims may be strided (the CPU's Rows).
struct RowLayout {
  int leading = 0;
  int64_t sizes[3] = {1, 1, 1};
  int64_t strides[3] = {0, 0, 0};
  __device__ __forceinline__ int64_t offset(int64_t row) const {
    int64_t off = 0;
    for (int d = leading - 1; d >= 0; --d) {
      off += (row % sizes[d]) * strides[d];
      row /= sizes[d];
    }
    return off;
  }
};

inline RowLayout row_layout(const Tensor& t) {
  RowLayout layout;
  layout.leading = static_cast<int>(t.dim() - 1);
  VLLM_CHECK(layout.leading <= 3, InvalidArgument, "cuda: at most 4 dimensions, got ", t.to_string());
  for (int d = 0; d < layout.leading; ++d) {
    layout.sizes[d] = t.size(d);
    layout.strides[d] = t.stride(d);
  }
  return layout;
}

inline int64_t row_count(const Tensor& t) {
  int64_t rows = 1;
  for (int64_t d = 0; d + 1 < t.dim(); ++d) rows *= t.size(d);
  return rows;
}

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Block-wide sum, result in every thread. blockDim.x a multiple of 32, at most 1024. `scratch`
// holds 32 values; the call ends with a barrier so scratch can be reused.
template <typename T>
__device__ T block_sum(T v, T* scratch) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = warp_sum(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  T total = lane < warps ? scratch[lane] : T(0);
  total = warp_sum(total);
  __syncthreads();
  return total;
}

__device__ inline float block_max(float v, float* scratch) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = warp_max(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float total = lane < warps ? scratch[lane] : -INFINITY;
  total = warp_max(total);
  __syncthreads();
  return total;
}

// Programmatic dependent launch (Hopper): a kernel launched with launch_dependent() may start while
// the kernel before it in the stream still runs, and must call wait_for_producer() before it reads
// anything that kernel wrote (the wait returns once the producer has finished and its writes are
// visible). What comes before the wait (loading weights) overlaps the producer's tail and the
// launch gap; decode's GEMVs use it. Producers call allow_dependents() to let the dependent
// start early. VLLM_CUDA_PDL=0 turns it off (plain launches).
__device__ __forceinline__ void wait_for_producer() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void allow_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::);
#endif
}

inline bool programmatic_launch_enabled() {
  static const bool enabled = [] {
    if (!env::cuda_pdl()) return false;
    int device = 0, major = 0;
    check(cudaGetDevice(&device), "cudaGetDevice");
    check(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device), "cudaDeviceGetAttribute");
    return major >= 9;
  }();
  return enabled;
}

template <typename... Params, typename... Args>
void launch_dependent(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes, Args&&... args) {
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = shared_bytes;
  config.stream = stream();
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  config.attrs = &attribute;
  config.numAttrs = programmatic_launch_enabled() ? 1 : 0;
  check(cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...), "cudaLaunchKernelEx");
}

// Threads per block for a row of `n` elements: a multiple of 32 in [32, 1024].
inline int row_threads(int64_t n) {
  int threads = 32;
  while (threads < 1024 && threads < n) threads *= 2;
  return threads;
}

// Blocks for a grid-stride elementwise loop over n elements.
inline unsigned grid_for(int64_t n, int threads) {
  int64_t blocks = (n + threads - 1) / threads;
  if (blocks > 65535LL * 32) blocks = 65535LL * 32;
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

}  // namespace vllm::cuda::detail
