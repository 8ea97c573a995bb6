// CPU linear: splits the output columns over threads and runs the best microkernel this machine
// supports (see cpu_isa.h); the scalar instantiation below is the portable fallback.
#include <algorithm>

#include "backend/cpu/cpu_isa.h"
#include "backend/cpu/cpu_ops.h"
#include "backend/cpu/linear_cpu.h"
#include "core/parallel.h"

namespace vllm::cpu {
namespace {

struct ScalarVec {
  using V = float;
  static constexpr int kLanes = 1;
  static constexpr int kMR = 4;
  static constexpr int kNR = 4;
  static constexpr int kGemvNR = 4;
  static V zero() { return 0.0f; }
  static V load(const float* p) { return *p; }
  static V load_bf16(const uint16_t* p) { return bf16_to_float(*p); }
  static V load_f16(const uint16_t* p) { return f16_to_float(*p); }
  static V fma(V a, V b, V c) { return a * b + c; }
  static float sum(V v) { return v; }
};
using Vec = ScalarVec;

}  // namespace

#include "backend/cpu/linear_kernel.inl"

void linear_columns_scalar(const LinearArgs& args, int64_t n_begin, int64_t n_end) {
  linear_columns_any(args, n_begin, n_end);
}

void linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& out) {
  LinearArgs args{x.data<float>(),
                  x.size(0) > 1 ? x.stride(0) : x.size(1),
                  weight.raw_data(),
                  weight.dtype(),
                  bias.defined() ? bias.data<float>() : nullptr,
                  out.data<float>(),
                  x.size(0),
                  x.size(1),
                  weight.size(0)};
  if (args.tokens == 0 || args.out_features == 0) return;
  void (*columns)(const LinearArgs&, int64_t, int64_t) = linear_columns_scalar;
  switch (active_isa()) {
    case Isa::Avx512: columns = linear_columns_avx512; break;
    case Isa::Avx2: columns = linear_columns_avx2; break;
    case Isa::Scalar: break;
  }
  // Threads own contiguous slices of the output columns (weight rows), in units of 16 so that
  // tiles stay whole; each weight byte is read by one thread only.
  constexpr int64_t kUnit = 16;
  const int64_t units = (args.out_features + kUnit - 1) / kUnit;
  // Small problems are not worth waking threads for (~64K multiply-adds per thread at least).
  const int64_t work_per_unit = kUnit * args.in_features * args.tokens;
  const int64_t grain = std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(1, work_per_unit));
  parallel_for(units, grain, [&](int64_t begin, int64_t end) {
    columns(args, begin * kUnit, std::min(args.out_features, end * kUnit));
  });
}

}  // namespace vllm::cpu
