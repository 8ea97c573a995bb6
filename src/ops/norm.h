// Normalisations over the last dimension.
#pragma once

#include "core/tensor.h"

namespace vllm::ops {

// out = x / rms(x) * (weight + weight_offset), over the last dim of x ([T, H] or [T, heads, D]).
// weight_offset = 1 gives Gemma's (1 + w). out may alias x. weight is f32/bf16/f16 [last dim].
// x is f32; out is f32, or on CUDA bf16/f16 (rounded to nearest: the input of a half-precision
// matmul, which would round it anyway).
void rms_norm(const Tensor& x, const Tensor& weight, float eps, float weight_offset, Tensor& out);

// vLLM's fused_add_rms_norm, both in place: residual += x; x = rms_norm(residual).
void fused_add_rms_norm(Tensor& x, Tensor& residual, const Tensor& weight, float eps,
                        float weight_offset);
// The same with the normed sum written to out (f32, or on CUDA bf16/f16 as rms_norm's out); x is
// read only (out may alias it).
void fused_add_rms_norm(const Tensor& x, Tensor& residual, const Tensor& weight, float eps,
                        float weight_offset, Tensor& out);

// out = (x - mean) / sqrt(var + eps) * weight + bias over the last dim; weight and bias may be
// undefined (no affine). out may alias x.
void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, Tensor& out);

}  // namespace vllm::ops
