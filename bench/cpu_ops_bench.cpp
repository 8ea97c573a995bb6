// CPU op benchmark: linear at T=1 (GEMV, memory-bound: GB/s of weight bytes) and T=128
// (GFLOP/s), K = N = 4096, for f32 / bf16 / f16 weights and each ISA this machine runs.
// Usage: cpu_ops_bench [K N] (threads from OMP_NUM_THREADS). Links vllm_ops.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "backend/cpu/cpu_isa.h"
#include "core/parallel.h"
#include "ops/ops.h"

using namespace vllm;

namespace {

Tensor random_tensor(const Shape& shape, DType dtype, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> values(static_cast<size_t>(shape_numel(shape)));
  for (float& v : values) v = dist(rng);
  return Tensor::from_floats(values, shape, dtype);
}

double seconds_per_call(const Tensor& x, const Tensor& w, Tensor& out) {
  ops::linear(x, w, Tensor(), out);  // warm up
  int calls = 0;
  auto start = std::chrono::steady_clock::now();
  double elapsed = 0.0;
  while (elapsed < 0.5 || calls < 3) {
    ops::linear(x, w, Tensor(), out);
    ++calls;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  return elapsed / calls;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t K = argc > 2 ? std::atoll(argv[1]) : 4096;
  const int64_t N = argc > 2 ? std::atoll(argv[2]) : 4096;
  std::printf("linear K=%lld N=%lld, %d threads, detected ISA %s\n", static_cast<long long>(K),
              static_cast<long long>(N), cpu_threads(), cpu::isa_name(cpu::detected_isa()));
  std::vector<cpu::Isa> isas{cpu::Isa::Scalar};
  if (cpu::detected_isa() >= cpu::Isa::Avx2) isas.push_back(cpu::Isa::Avx2);
  if (cpu::detected_isa() >= cpu::Isa::Avx512) isas.push_back(cpu::Isa::Avx512);
  for (DType dtype : {DType::F32, DType::BF16, DType::F16}) {
    Tensor w = random_tensor({N, K}, dtype, 1);
    for (cpu::Isa isa : isas) {
      cpu::set_isa(isa);
      for (int64_t T : {1, 128}) {
        if (isa == cpu::Isa::Scalar && T > 1) continue;  // too slow to be interesting
        Tensor x = random_tensor({T, K}, DType::F32, 2);
        Tensor out = Tensor::empty({T, N}, DType::F32);
        const double s = seconds_per_call(x, w, out);
        const double gflops = 2.0 * T * K * N / s * 1e-9;
        const double weight_gbs = static_cast<double>(w.nbytes()) / s * 1e-9;
        std::printf("  %-8s %-7s T=%-4lld %9.3f ms  %8.1f GFLOP/s  %7.1f GB/s weights\n",
                    dtype_name(dtype), cpu::isa_name(isa), static_cast<long long>(T), s * 1e3,
                    gflops, weight_gbs);
      }
    }
  }
  return 0;
}
