// RMSNorm on the GPU: one block per row, a block-wide sum of squares in f32.
#include <cuda_runtime.h>

#include "backend/cuda/cuda_backend.h"
#include "core/error.h"

namespace vllm::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void rms_norm_kernel(const float* __restrict__ x, const float* __restrict__ weight, float* __restrict__ out,
                                int hidden, float eps, float weight_offset) {
  const float* row = x + static_cast<size_t>(blockIdx.x) * hidden;
  float* out_row = out + static_cast<size_t>(blockIdx.x) * hidden;
  float sum = 0.0f;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) sum += row[i] * row[i];
  __shared__ float partial[kThreads / 32];
  for (int offset = 16; offset > 0; offset >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = sum;
  __syncthreads();
  if (threadIdx.x < 32) {
    sum = threadIdx.x < kThreads / 32 ? partial[threadIdx.x] : 0.0f;
    for (int offset = 16; offset > 0; offset >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    if (threadIdx.x == 0) partial[0] = sum;
  }
  __syncthreads();
  float inverse = rsqrtf(partial[0] / hidden + eps);
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) out_row[i] = row[i] * inverse * (weight[i] + weight_offset);
}

}  // namespace

void rms_norm(const Tensor& x, const Tensor& weight, float eps, float weight_offset, Tensor& out) {
  VLLM_CHECK(x.device().is_cuda() && x.dtype() == DType::F32 && x.is_contiguous() && weight.dtype() == DType::F32 &&
                 out.shape() == x.shape(),
             InvalidArgument, "cuda::rms_norm: unsupported ", x.to_string(), " / ", weight.to_string());
  int hidden = static_cast<int>(x.size(-1));
  int rows = static_cast<int>(x.numel() / hidden);
  rms_norm_kernel<<<rows, kThreads>>>(x.data<float>(), weight.data<float>(), out.data<float>(), hidden, eps,
                                      weight_offset);
  check(cudaGetLastError(), "rms_norm_kernel launch");
}

}  // namespace vllm::cuda
