// Gated activations on the GPU: out[t, i] = silu(x[t, i]) * x[t, I + i].
#include <cuda_runtime.h>

#include "backend/cuda/cuda_backend.h"
#include "core/error.h"

namespace vllm::cuda {
namespace {

__global__ void silu_and_mul_kernel(const float* __restrict__ x, float* __restrict__ out, int64_t rows, int64_t width) {
  int64_t index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= rows * width) return;
  int64_t row = index / width, column = index % width;
  float gate = x[row * 2 * width + column];
  float up = x[row * 2 * width + width + column];
  out[index] = gate / (1.0f + __expf(-gate)) * up;
}

}  // namespace

void silu_and_mul(const Tensor& x, Tensor& out) {
  VLLM_CHECK(x.device().is_cuda() && x.dtype() == DType::F32 && x.is_contiguous() && x.dim() == 2 &&
                 out.shape() == Shape({x.size(0), x.size(1) / 2}),
             InvalidArgument, "cuda::silu_and_mul: unsupported ", x.to_string(), " -> ", out.to_string());
  int64_t total = out.numel();
  int threads = 256;
  int blocks = static_cast<int>((total + threads - 1) / threads);
  if (blocks > 0) silu_and_mul_kernel<<<blocks, threads>>>(x.data<float>(), out.data<float>(), x.size(0), x.size(1) / 2);
  check(cudaGetLastError(), "silu_and_mul_kernel launch");
}

}  // namespace vllm::cuda
