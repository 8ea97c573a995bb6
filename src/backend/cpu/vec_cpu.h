// Vector primitives for the CPU kernels (attention, softmax), picked once per call by ISA.
#pragma once

#include <cstdint>

namespace vllm::cpu {

struct VecKernels {
  float (*dot)(const float* a, const float* b, int64_t n);
  void (*axpy)(float* y, float a, const float* x, int64_t n);  // y += a * x
  void (*scale)(float* y, float a, int64_t n);                 // y *= a
};

// The kernels for active_isa().
const VecKernels& vec_kernels();

}  // namespace vllm::cpu
