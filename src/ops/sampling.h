// Token sampling on the logits' device: the engine's fast path for rows that need no logprobs
// and no logits processors (greedy, or plain temperature sampling).
#pragma once

#include "core/tensor.h"

namespace vllm::ops {

// One token per row of logits [R, V] f32 into out [R] int32. temperatures [R] f32: 0 takes the
// argmax (lowest index on ties); otherwise the row is sampled from softmax(logits / T) by the
// exponential race: argmax_i (logits_i / T - log E_i), E_i ~ Exp(1) drawn from a counter-based
// hash of (seeds[r], i). seeds [R] int64. Every device computes the same draw from the same seed.
// temperatures, seeds and out live on the logits' device.
void sample_tokens(const Tensor& logits, const Tensor& temperatures, const Tensor& seeds, Tensor& out);

}  // namespace vllm::ops
