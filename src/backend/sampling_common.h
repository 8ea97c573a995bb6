// The arithmetic the CPU and CUDA kernels of ops::sample_tokens share, so that both draw the same
// token from the same logits and seed: the exponential race's noise, the order key the filters'
// radix selects work on, and the fixed-point weights top-p sums.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

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

// Floats as unsigned keys in the same order: a < b <=> order_key(a) < order_key(b) for numbers
// (-0 and +0 share a key, as they compare equal). NaN takes key 0, below every number, so a
// threshold key never keeps it. The filters' thresholds are found on these keys one byte at a
// time, most significant first (radix select): 4 passes find any exact order statistic.
VLLM_HOST_DEVICE uint32_t order_key(float value) {
  if (value != value) return 0;
  if (value == 0.0f) value = 0.0f;
#if defined(__CUDA_ARCH__)
  const uint32_t bits = __float_as_uint(value);
#else
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
#endif
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

// Radix select: 4 passes of one byte each. Pass p looks at the tokens whose key agrees with the
// digits chosen so far (`prefix`, the top 8p bits) and counts them by their next digit.
constexpr int kRadixPasses = 4;
constexpr int kRadixBins = 256;
VLLM_HOST_DEVICE int radix_shift(int pass) { return 24 - 8 * pass; }
VLLM_HOST_DEVICE uint32_t radix_prefix_mask(int pass) { return pass == 0 ? 0u : ~0u << (32 - 8 * pass); }

// A kept token's probability weight exp(z - max) in fixed point, units of 2^-40 (at most 2^40
// each, so up to 2^23 tokens sum below 2^63). Integer sums are exact in any order, so the CPU
// and the GPU, however they split a row, find the same top-p threshold. `z` and `max` are already
// rounded to float (the CUDA kernels compute z with __fmul_rn so that no FMA changes it).
VLLM_HOST_DEVICE uint64_t mass_units(float z, float max) {
  const double weight = exp(static_cast<double>(z - max));  // z = +inf: weight 1 (clamped)
  return static_cast<uint64_t>((weight < 1.0 ? weight : 1.0) * 0x1p40);
}

// min-p's threshold on z = logits / T: z >= max + log(min_p), the log taken in double so that
// both devices round it to the same float.
VLLM_HOST_DEVICE float min_p_threshold(float max, float min_p) {
  return max + static_cast<float>(log(static_cast<double>(min_p)));
}

}  // namespace vllm::ops::detail
