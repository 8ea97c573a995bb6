// One row of ops::sample_tokens on host memory: the CPU kernel's per-row draw, for host code that
// must draw exactly the token the op draws on any device from the same logits and seed (the
// engine's Sampler, after its logits processors).
#pragma once

#include <cstdint>
#include <span>

namespace vllm::cpu {

// One sample's entries of ops::SamplingTensors.
struct RowSampling {
  float temperature = 0.0f;  // <= 0: the argmax (lowest index on ties)
  uint64_t seed = 0;         // the exponential race's seed (temperature rows)
  int32_t top_k = 0;         // <= 0: off
  float top_p = 1.0f;        // >= 1: off
  float min_p = 0.0f;        // <= 0: off
};

// The token ops::sample_tokens draws from `logits` (one row of the vocabulary) with `sampling`:
// min-p, top-k and top-p thresholds on z = logits * (1 / T), then the race over the kept tokens
// (ops/sampling.h). Token 0 when nothing is finite.
int32_t sample_token(std::span<const float> logits, const RowSampling& sampling);

}  // namespace vllm::cpu
