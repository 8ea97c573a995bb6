// Dense projection: out = x @ weight^T (+ bias), the matmul behind every Linear layer.
#pragma once

#include "core/tensor.h"

namespace vllm::ops {

// out[T, N] = x[T, K] @ weight[N, K]^T (+ bias[N]).
// weight: f32, bf16 or f16 (half weights are widened inside the kernel, never copied whole);
// bias: f32 [N] or an undefined Tensor(). x may be a row-strided view (stride(1) == 1); it is
// f32, or on CUDA the weight's bf16/f16 (half weights round an f32 x to their type on CUDA);
// out is contiguous [T, N], preallocated by the caller, and must not overlap x: f32, or on CUDA
// the weight's bf16/f16 (the product rounded to nearest, for a consumer that reads half inputs).
void linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& out);

}  // namespace vllm::ops
