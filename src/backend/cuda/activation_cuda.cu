// Activations and their gated forms on the GPU, in f32 with the CPU's formulas (expf/erff/tanhf,
// not the fast intrinsics).
#include <algorithm>

#include "backend/cuda/cuda_common.cuh"

namespace vllm::cuda {
namespace {

using namespace detail;
using ops::Activation;

constexpr int kThreads = 256;

template <Activation kind>
__device__ __forceinline__ float apply(float x) {
  if constexpr (kind == Activation::Silu) {
    return x / (1.0f + expf(-x));
  } else if constexpr (kind == Activation::Gelu) {
    return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
  } else if constexpr (kind == Activation::GeluTanh) {
    const float inner = 0.79788456080286536f * (x + 0.044715f * x * x * x);
    return 0.5f * x * (1.0f + tanhf(inner));
  } else if constexpr (kind == Activation::Relu) {
    return x > 0.0f ? x : 0.0f;
  } else {
    const float r = x > 0.0f ? x : 0.0f;
    return r * r;
  }
}

template <Activation kind>
__global__ void activation_kernel(const float* x, float* out, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = apply<kind>(x[i]);
}

// x rows may be strided (x_stride), out contiguous [rows, width]: blockIdx.y strides over rows,
// the threads of the x blocks over the row's columns (no per-element index division), kVec (1 or
// 4) columns per thread: with 4, vector loads of gate and up and one vector store.
// x elements are I: f32, or the bf16/f16 a half-precision gate_up matmul wrote; out elements are
// O: f32, or bf16/f16 rounded to nearest (the next matmul's input).
template <Activation kind, WType I, WType O, int kVec>
__global__ void activation_and_mul_kernel(const typename WeightStorage<I>::type* __restrict__ x, int64_t x_stride,
                                          typename WeightStorage<O>::type* __restrict__ out, int64_t rows,
                                          int64_t width) {
  allow_dependents();  // the down projection's GEMV may start loading its weights
  for (int64_t row = blockIdx.y; row < rows; row += gridDim.y) {
    const auto* x_row = x + row * x_stride;
    auto* out_row = out + row * width;
    for (int64_t column = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * kVec; column < width;
         column += static_cast<int64_t>(gridDim.x) * blockDim.x * kVec) {
      if constexpr (kVec == 1) {
        out_row[column] = narrow<O>(apply<kind>(widen<I>(x_row[column])) * widen<I>(x_row[width + column]));
      } else {
        const float4 gate = load4<I>(x_row, column / 4);
        const float4 up = load4<I>(x_row + width, column / 4);
        const float4 v = make_float4(apply<kind>(gate.x) * up.x, apply<kind>(gate.y) * up.y,
                                     apply<kind>(gate.z) * up.z, apply<kind>(gate.w) * up.w);
        store4<O>(out_row, column / 4, v);
      }
    }
  }
}

template <Activation kind>
void launch(const Tensor& x, Tensor& out) {
  const int64_t n = x.numel();
  if (n == 0) return;
  activation_kernel<kind><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(x.data<float>(), out.data<float>(), n);
  check_launch("activation_kernel");
}

template <Activation kind>
void launch_and_mul(const Tensor& x, Tensor& out) {
  const int64_t rows = out.size(0), width = out.size(1);
  if (rows * width == 0) return;
  const auto aligned = [](const void* p, uintptr_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; };
  const bool vec4 = width % 4 == 0 && x.stride(0) % 4 == 0 && aligned(x.raw_data(), 4 * x.element_size()) &&
                    aligned(out.raw_data(), 4 * out.element_size());
  const int64_t per_row = vec4 ? width / 4 : width;
  const dim3 grid(static_cast<unsigned>(std::min<int64_t>((per_row + kThreads - 1) / kThreads, 1024)),
                  static_cast<unsigned>(std::min<int64_t>(rows, 65535)));
  dispatch_type(weight_type(x), [&](auto in_tag) {
    constexpr WType I = decltype(in_tag)::value;
    const auto* x_data = static_cast<const typename WeightStorage<I>::type*>(x.raw_data());
    dispatch_type(weight_type(out), [&](auto out_tag) {
      constexpr WType O = decltype(out_tag)::value;
      auto* out_data = static_cast<typename WeightStorage<O>::type*>(out.raw_data());
      if (vec4)
        activation_and_mul_kernel<kind, I, O, 4><<<grid, kThreads, 0, stream()>>>(x_data, x.stride(0), out_data, rows,
                                                                                  width);
      else
        activation_and_mul_kernel<kind, I, O, 1><<<grid, kThreads, 0, stream()>>>(x_data, x.stride(0), out_data, rows,
                                                                                  width);
    });
  });
  check_launch("activation_and_mul_kernel");
}

}  // namespace

void activation(Activation kind, const Tensor& x, Tensor& out) {
  set_device(x.device());
  switch (kind) {
    case Activation::Silu: return launch<Activation::Silu>(x, out);
    case Activation::Gelu: return launch<Activation::Gelu>(x, out);
    case Activation::GeluTanh: return launch<Activation::GeluTanh>(x, out);
    case Activation::Relu: return launch<Activation::Relu>(x, out);
    case Activation::Relu2: return launch<Activation::Relu2>(x, out);
  }
  fail(ErrorKind::InvalidArgument, "activation: unknown kind ", static_cast<int>(kind));
}

void activation_and_mul(Activation kind, const Tensor& x, Tensor& out) {
  set_device(x.device());
  switch (kind) {
    case Activation::Silu: return launch_and_mul<Activation::Silu>(x, out);
    case Activation::Gelu: return launch_and_mul<Activation::Gelu>(x, out);
    case Activation::GeluTanh: return launch_and_mul<Activation::GeluTanh>(x, out);
    case Activation::Relu: return launch_and_mul<Activation::Relu>(x, out);
    case Activation::Relu2: return launch_and_mul<Activation::Relu2>(x, out);
  }
  fail(ErrorKind::InvalidArgument, "activation_and_mul: unknown kind ", static_cast<int>(kind));
}

void silu_and_mul(const Tensor& x, Tensor& out) {
  cuda::activation_and_mul(Activation::Silu, x, out);
}

}  // namespace vllm::cuda
