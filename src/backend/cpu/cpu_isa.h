// Which SIMD instruction set the CPU kernels use. The portable code is compiled without -march;
// the AVX2 and AVX-512 kernels are compiled with per-function target attributes and chosen here
// at run time (__builtin_cpu_supports), with a scalar fallback.
#pragma once

namespace vllm::cpu {

enum class Isa { Scalar, Avx2, Avx512 };

const char* isa_name(Isa isa);  // "scalar", "avx2", "avx512"
// The best this machine runs: AVX-512 needs avx512f+bw+vl, AVX2 needs avx2+fma+f16c.
Isa detected_isa();
// What the kernels use now: detected_isa(), lowered by VLLM_CPU_ISA=scalar|avx2 or set_isa().
Isa active_isa();
// Forces a lower ISA (tests run every path the machine can); a higher one than detected_isa()
// is clamped.
void set_isa(Isa isa);

}  // namespace vllm::cpu
