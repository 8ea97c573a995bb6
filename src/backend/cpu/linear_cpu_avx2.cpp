// AVX2 + FMA + F16C instantiation of the linear microkernel (linear_kernel.inl): 4x3 tiles of
// 8-wide accumulators (12 of the 16 ymm registers), 1x8 for GEMV.
#include <immintrin.h>

#include <algorithm>

#include "backend/cpu/linear_cpu.h"
#include "core/error.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

namespace vllm::cpu {
namespace {

struct Avx2Vec {
  using V = __m256;
  static constexpr int kLanes = 8;
  static constexpr int kMR = 4;
  static constexpr int kNR = 3;
  static constexpr int kGemvNR = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static V load_bf16(const uint16_t* p) {
    __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
  }
  static V load_f16(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static float sum(V v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};
using Vec = Avx2Vec;

}  // namespace

#include "backend/cpu/linear_kernel.inl"

void linear_columns_avx2(const LinearArgs& args, int64_t n_begin, int64_t n_end) {
  linear_columns_any(args, n_begin, n_end);
}

}  // namespace vllm::cpu

#pragma GCC pop_options
