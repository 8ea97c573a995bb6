// The CUDA backend's entry points. Built only when nvcc is found (VLLM_HAVE_CUDA); the same
// binary runs CPU-only where no GPU or driver is present (cudart is linked statically and
// reports "no device").
#pragma once

#include <string>

#include "core/tensor.h"

namespace vllm::cuda {

// Number of usable GPUs; 0 without a driver or device (never throws).
int device_count();
bool available();
std::string device_name(int index);

// Throws vllm::Error naming `what` and CUDA's message when `status` is an error.
void check(int status, const char* what);

// Kernels (tensors on a CUDA device, f32, contiguous), the CUDA side of the ops API.
void rms_norm(const Tensor& x, const Tensor& weight, float eps, float weight_offset, Tensor& out);
void silu_and_mul(const Tensor& x, Tensor& out);

}  // namespace vllm::cuda
