// One row of ops::sample_tokens on host memory: the CPU kernel's per-row draw, for host code that
// must draw exactly the token the op draws on any device from the same logits and seed (the
// engine's Sampler, after its logits processors).
#pragma once

#include <cstdint>
#include <span>

#include "backend/backend_types.h"

namespace vllm::cpu {


// The token ops::sample_tokens draws from `logits` (one row of the vocabulary) with `sampling`:
// min-p, top-k and top-p thresholds on z = logits * (1 / T), then the race over the kept tokens
// (ops/sampling.h). Token 0 when nothing is finite.
int32_t sample_token(std::span<const float> logits, const ops::RowSampling& sampling);

}  // namespace vllm::cpu
