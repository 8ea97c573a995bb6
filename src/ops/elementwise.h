// Small row-wise and elementwise ops: softmax, embedding lookup, residual adds, scaling,
// soft-capping, dtype casts, row gathers.
#pragma once

#include "core/tensor.h"

namespace vllm::ops {

// In place over the last dim of a contiguous f32 [rows, n] tensor.
void softmax(Tensor& x);
// out = log_softmax(x) over the last dim; out may alias x.
void log_softmax(const Tensor& x, Tensor& out);

// ids [T] int32 (each in [0, V), else InvalidArgument naming the id), table [V, H] f32/bf16/f16
// -> out [T, H] f32.
void embedding(const Tensor& ids, const Tensor& table, Tensor& out);

// out = a + b, same shape; out may alias a or b.
void add(const Tensor& a, const Tensor& b, Tensor& out);
// x *= factor, in place.
void scale(Tensor& x, float factor);
// x = min(max(x, lo), hi), in place (clip_qkv of OLMo and MPT).
void clamp(Tensor& x, float lo, float hi);
// x = cap * tanh(x / cap), in place (Gemma 2 final logits).
void softcap(Tensor& x, float cap);

// out = x converted between f32, bf16 and f16 (round to nearest even), same shape, both
// contiguous on one device (weights converted on the GPU after the upload, for --dtype).
void cast(const Tensor& x, Tensor& out);

// out[i] = x[rows[i]]: x [R, N] (rows may be strided), rows [M] int32, out [M, N] (picks the
// logits rows).
void gather_rows(const Tensor& x, const Tensor& rows, Tensor& out);

}  // namespace vllm::ops
