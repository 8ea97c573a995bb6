// Token sampling on the logits' device: the engine's fast path for rows that need no logprobs
// and no penalties, bias or allowed/bad-word lists (greedy, temperature, top-k, top-p, min-p).
#pragma once

#include "core/tensor.h"

namespace vllm::ops {

// Per-row parameters, each [R] on the logits' device; an undefined tensor turns its filter off
// for every row.
struct SamplingTensors {
  Tensor temperatures;  // f32 (required): 0 takes the argmax (lowest index on ties)
  Tensor seeds;         // i64 (required): the row's random draw
  Tensor top_k;         // i32: keep the k highest logits (<= 0: off)
  Tensor top_p;         // f32: keep the smallest top set holding this much probability (>= 1: off)
  Tensor min_p;         // f32: keep tokens with p >= min_p * p_max (<= 0: off)
};

// One token per row of logits [R, V] f32 into out [R] int32. A row with temperature T > 0 is
// sampled from softmax(logits / T) restricted to the tokens that pass min-p, then top-k, then
// top-p (on what the previous filters kept, renormalised), as vLLM's sampler. Each filter keeps
// an upper set {z >= tau} of z = logits / T: tau is found by bisection on counts (top-k: exactly
// the k-th largest z, ties kept) and on probability mass summed in double (top-p). The draw is the
// exponential race: argmax over kept tokens of z_i - log E_i, E_i ~ Exp(1) from a counter-based
// hash of (seed, i), so every device draws the same token from the same seed.
void sample_tokens(const Tensor& logits, const SamplingTensors& params, Tensor& out);

}  // namespace vllm::ops
