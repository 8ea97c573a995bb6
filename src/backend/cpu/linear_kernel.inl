// The linear microkernel, written once over a vector type `Vec` that the including file defines
// (ScalarVec, Avx2Vec, Avx512Vec) after switching the instruction set on with
// `#pragma GCC target`. Everything here has internal linkage, so each ISA gets its own copy.
//
// Layout: the weight stays as published, [N, K] row-major (no packing step, no f32 copy). A tile
// is MR rows of x times NR rows of weight; each of the MR*NR accumulators is a vector of partial
// dot products along K, reduced horizontally once per K block. Half-precision weights are widened
// in registers (bf16: zero-extend and shift left 16; f16: vcvtph2ps).
//
// Blocking (per thread, over its own output columns): columns in blocks of kColumnBlock weight
// rows, K in blocks of kDepthBlock so that a weight panel stays in L2 while every row of x streams
// over it; for T <= MR the whole K is one block (GEMV: memory-bound, one pass over the weights).

namespace {

template <DType WD>
struct WeightElement {
  using type = uint16_t;
};
template <>
struct WeightElement<DType::F32> {
  using type = float;
};

template <DType WD>
inline float widen_scalar(typename WeightElement<WD>::type w) {
  if constexpr (WD == DType::F32) {
    return w;
  } else if constexpr (WD == DType::BF16) {
    return bf16_to_float(w);
  } else {
    return f16_to_float(w);
  }
}

template <DType WD>
inline typename Vec::V load_weight(const typename WeightElement<WD>::type* p) {
  if constexpr (WD == DType::F32) {
    return Vec::load(p);
  } else if constexpr (WD == DType::BF16) {
    return Vec::load_bf16(p);
  } else {
    return Vec::load_f16(p);
  }
}

// sums[i * NR + j] = dot(x row i, weight row j) over k_len elements.
template <int MR, int NR, DType WD>
inline void dot_tile(const float* x, int64_t x_stride, const typename WeightElement<WD>::type* w,
                     int64_t w_stride, int64_t k_len, float* sums) {
  using V = typename Vec::V;
  constexpr int L = Vec::kLanes;
  V acc[MR][NR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) acc[i][j] = Vec::zero();
  int64_t k = 0;
  for (; k + L <= k_len; k += L) {
    V wv[NR];
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) wv[j] = load_weight<WD>(w + j * w_stride + k);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      V xv = Vec::load(x + i * x_stride + k);
#pragma GCC unroll 8
      for (int j = 0; j < NR; ++j) acc[i][j] = Vec::fma(xv, wv[j], acc[i][j]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NR; ++j) sums[i * NR + j] = Vec::sum(acc[i][j]);
  for (; k < k_len; ++k)
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j)
        sums[i * NR + j] += x[i * x_stride + k] * widen_scalar<WD>(w[j * w_stride + k]);
}

template <int MR, int NR, DType WD>
inline void tile_to_out(const LinearArgs& a, int64_t t0, int64_t n, int64_t k0, int64_t k_len) {
  using WT = typename WeightElement<WD>::type;
  const WT* w = static_cast<const WT*>(a.weight) + n * a.in_features + k0;
  float sums[MR * NR];
  dot_tile<MR, NR, WD>(a.x + t0 * a.x_stride + k0, a.x_stride, w, a.in_features, k_len, sums);
  for (int i = 0; i < MR; ++i) {
    float* out_row = a.out + (t0 + i) * a.out_features + n;
    for (int j = 0; j < NR; ++j) {
      if (k0 == 0)
        out_row[j] = (a.bias ? a.bias[n + j] : 0.0f) + sums[i * NR + j];
      else
        out_row[j] += sums[i * NR + j];
    }
  }
}

// One tile row (MR rows of x) across the columns [n_begin, n_end).
template <int MR, DType WD>
inline void row_tiles(const LinearArgs& a, int64_t t0, int64_t n_begin, int64_t n_end, int64_t k0,
                      int64_t k_len) {
  constexpr int NR = MR == 1 ? Vec::kGemvNR : Vec::kNR;
  int64_t n = n_begin;
  for (; n + NR <= n_end; n += NR) tile_to_out<MR, NR, WD>(a, t0, n, k0, k_len);
  for (; n < n_end; ++n) tile_to_out<MR, 1, WD>(a, t0, n, k0, k_len);
}

template <DType WD>
void linear_columns(const LinearArgs& a, int64_t n_begin, int64_t n_end) {
  constexpr int MR = Vec::kMR;
  constexpr int64_t kColumnBlock = 96;
  constexpr int64_t kDepthBlock = 512;
  const int64_t depth_block = a.tokens <= MR ? a.in_features : kDepthBlock;
  for (int64_t nb = n_begin; nb < n_end; nb += kColumnBlock) {
    const int64_t nb_end = std::min(n_end, nb + kColumnBlock);
    for (int64_t k0 = 0; k0 < a.in_features || k0 == 0; k0 += depth_block) {
      const int64_t k_len = std::min(depth_block, a.in_features - k0);
      int64_t t = 0;
      for (; t + MR <= a.tokens; t += MR) row_tiles<MR, WD>(a, t, nb, nb_end, k0, k_len);
      const int64_t rest = a.tokens - t;
      if constexpr (MR > 3) {
        if (rest == 3) row_tiles<3, WD>(a, t, nb, nb_end, k0, k_len);
      }
      if constexpr (MR > 2) {
        if (rest == 2) row_tiles<2, WD>(a, t, nb, nb_end, k0, k_len);
      }
      if (rest == 1) row_tiles<1, WD>(a, t, nb, nb_end, k0, k_len);
      if (a.in_features == 0) break;
    }
  }
}

inline void linear_columns_any(const LinearArgs& a, int64_t n_begin, int64_t n_end) {
  switch (a.weight_dtype) {
    case DType::F32: return linear_columns<DType::F32>(a, n_begin, n_end);
    case DType::BF16: return linear_columns<DType::BF16>(a, n_begin, n_end);
    case DType::F16: return linear_columns<DType::F16>(a, n_begin, n_end);
    default: VLLM_ASSERT(false, "linear: weight dtype ", dtype_name(a.weight_dtype));
  }
}

}  // namespace
