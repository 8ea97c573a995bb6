// Elementwise activations and their gated (GLU) forms.
#pragma once

#include "backend/backend_types.h"
#include "core/tensor.h"

namespace vllm::ops {


// Elementwise; out has x's shape and may alias x.
void activation(Activation kind, const Tensor& x, Tensor& out);

// x [T, 2I] -> out [T, I] = act(x[:, :I]) * x[:, I:] (vLLM's SiluAndMul / GeluAndMul layout).
// x is f32, or on CUDA bf16/f16 (a half-precision matmul's output); out is f32, or on CUDA
// bf16/f16 (rounded to nearest, for a half-precision matmul).
void activation_and_mul(Activation kind, const Tensor& x, Tensor& out);

}  // namespace vllm::ops
