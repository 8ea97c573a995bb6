// cuBLASLt matmuls, loaded with dlopen at first use so that the binary starts (and runs on the
// CPU, or on CUDA with the backend's own kernels) where libcublasLt is not installed.
#pragma once

#include "core/tensor.h"

namespace vllm::cuda {

// True when libcublasLt could be loaded (VLLM_CUBLASLT names the library file to try first).
bool cublaslt_available();

// out[M, N] (contiguous; f32 or the weight's type) = x[M, K] @ weight[N, K]^T (+ bias[N] f32): x
// and weight bf16 (or both f16), x with a contiguous last dim, fp32 accumulation. Requires
// cublaslt_available().
// The first call of each shape picks its algorithm: the fastest of the heuristic's top candidates,
// timed on the call's operands once per bucket of row counts (VLLM_CUBLASLT_TUNE=0: the
// heuristic's first), or the heuristic's first inside a graph capture.
void cublaslt_linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& out);

// How many (bucket, shape) pairs this process has timed candidates for.
int64_t cublaslt_tunings();

}  // namespace vllm::cuda
