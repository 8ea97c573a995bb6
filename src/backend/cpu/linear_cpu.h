// Internal to the CPU linear kernel: one problem description and a range function per ISA.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace vllm::cpu {

// out[T, N] = x[T, K] @ weight[N, K]^T (+ bias[N]).
struct LinearArgs {
  const float* x;        // [T, K], rows x_stride apart
  int64_t x_stride;
  const void* weight;    // [N, K] contiguous, weight_dtype
  DType weight_dtype;
  const float* bias;     // [N] or nullptr
  float* out;            // [T, N] contiguous
  int64_t tokens, in_features, out_features;
};

// Computes the output columns [n_begin, n_end) for every row of x; called by one thread each.
void linear_columns_scalar(const LinearArgs& args, int64_t n_begin, int64_t n_end);
void linear_columns_avx2(const LinearArgs& args, int64_t n_begin, int64_t n_end);
void linear_columns_avx512(const LinearArgs& args, int64_t n_begin, int64_t n_end);

}  // namespace vllm::cpu
