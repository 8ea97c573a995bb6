// Elementwise activations and their gated (GLU) forms.
#pragma once

#include "core/tensor.h"

namespace vllm::ops {

enum class Activation {
  Silu,      // x * sigmoid(x)
  Gelu,      // exact: 0.5 x (1 + erf(x / sqrt(2)))
  GeluTanh,  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), HF's gelu_pytorch_tanh
  Relu,
  Relu2,     // relu(x)^2
};

// Elementwise; out has x's shape and may alias x.
void activation(Activation kind, const Tensor& x, Tensor& out);

// x [T, 2I] -> out [T, I] = act(x[:, :I]) * x[:, I:] (vLLM's SiluAndMul / GeluAndMul layout).
// x is f32, or on CUDA bf16/f16 (a half-precision matmul's output); out is f32, or on CUDA
// bf16/f16 (rounded to nearest, for a half-precision matmul).
void activation_and_mul(Activation kind, const Tensor& x, Tensor& out);

}  // namespace vllm::ops
