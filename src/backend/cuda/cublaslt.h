// cuBLASLt matmuls, loaded with dlopen at first use so that the binary starts (and runs on the
// CPU, or on CUDA with the backend's own kernels) where libcublasLt is not installed.
#pragma once

#include "core/tensor.h"

namespace vllm::cuda {

// True when libcublasLt could be loaded (VLLM_CUBLASLT names the library file to try first).
bool cublaslt_available();

// out[M, N] (f32, contiguous) = x[M, K] @ weight[N, K]^T (+ bias[N] f32): x and weight bf16 (or
// both f16), x with a contiguous last dim, fp32 accumulation. Requires cublaslt_available().
void cublaslt_linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& out);

}  // namespace vllm::cuda
