// The exponential-race noise of ops::sample_tokens, shared by the CPU and CUDA kernels so both
// draw the same token from the same seed.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define VLLM_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define VLLM_HOST_DEVICE inline
#endif

namespace vllm::ops::detail {

// log E for E = -log(u) ~ Exp(1), u in (0, 1] from splitmix64 of (seed, index). The race's score
// of token i is logits_i / T - log E_i.
VLLM_HOST_DEVICE float race_log_exponential(uint64_t seed, int64_t index) {
  uint64_t z = seed + 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(index + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  const float u = (static_cast<float>(z >> 40) + 1.0f) * (1.0f / 16777216.0f);  // (0, 1]
  const float e = -logf(u);                                                       // Exp(1)
  return logf(e > 1e-30f ? e : 1e-30f);
}

// The bisection step of the sampling filters' thresholds: the midpoint of [lo, hi] computed the
// same way on every device (halves summed, so no overflow at the float range's ends).
VLLM_HOST_DEVICE float bisect_midpoint(float lo, float hi) { return lo * 0.5f + hi * 0.5f; }

}  // namespace vllm::ops::detail
