// AVX-512 (F/BW/VL) instantiation of the linear microkernel (linear_kernel.inl): 4x4 tiles of
// 16-wide accumulators, 1x8 for GEMV. Compiled everywhere, run where __builtin_cpu_supports says
// so. (AVX-512-BF16 / AMX would need bf16 activations: not used, activations stay fp32.)
// GCC 12's avx512fintrin.h self-initialises `__Y` in _mm512_undefined_* and warns about it once
// inlined (GCC PR 105593): a header false positive, silenced for this file only.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>

#include "backend/cpu/linear_cpu.h"
#include "core/error.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")

namespace vllm::cpu {
namespace {

struct Avx512Vec {
  using V = __m512;
  static constexpr int kLanes = 16;
  static constexpr int kMR = 4;
  static constexpr int kNR = 4;
  static constexpr int kGemvNR = 8;
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static V load_bf16(const uint16_t* p) {
    __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
  }
  static V load_f16(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static float sum(V v) { return _mm512_reduce_add_ps(v); }
};
using Vec = Avx512Vec;

}  // namespace

#include "backend/cpu/linear_kernel.inl"

void linear_columns_avx512(const LinearArgs& args, int64_t n_begin, int64_t n_end) {
  linear_columns_any(args, n_begin, n_end);
}

}  // namespace vllm::cpu

#pragma GCC pop_options
