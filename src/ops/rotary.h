// Rotary position embedding applied in place (the kernel; frequencies live in
// layers/rotary_embedding.h).
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace vllm::ops {

// query [T, Hq, D], key [T, Hk, D] (key may be undefined); positions [T] int32 index rows of
// cos_sin_cache [P, rotary_dim] f32 (first rotary_dim/2 columns cos, the rest sin). Only the first
// rotary_dim dims of each head rotate (partial rotary). is_neox: pairs (x[i], x[i + rd/2]) as HF's
// rotate_half; else GPT-J interleaved pairs (x[2i], x[2i+1]).
void rotary_embedding(const Tensor& positions, Tensor& query, Tensor& key,
                      const Tensor& cos_sin_cache, int64_t rotary_dim, bool is_neox);

}  // namespace vllm::ops
