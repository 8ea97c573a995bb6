#include "backend/cpu/cpu_isa.h"

#include <atomic>
#include <optional>
#include <string>

#include "core/env.h"

namespace vllm::cpu {
namespace {

Isa detect() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl"))
    return Isa::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("f16c"))
    return Isa::Avx2;
  return Isa::Scalar;
}

Isa clamp(Isa wanted) {
  return static_cast<int>(wanted) < static_cast<int>(detected_isa()) ? wanted : detected_isa();
}

Isa initial() {
  Isa isa = detected_isa();
  if (std::optional<std::string> wanted = env::cpu_isa()) {  // avx512: the detected level
    if (*wanted == "scalar") isa = Isa::Scalar;
    if (*wanted == "avx2") isa = clamp(Isa::Avx2);
  }
  return isa;
}

std::atomic<Isa>& active() {
  static std::atomic<Isa> isa{initial()};
  return isa;
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "unknown";
}

Isa detected_isa() {
  static const Isa isa = detect();
  return isa;
}

Isa active_isa() { return active().load(std::memory_order_relaxed); }

void set_isa(Isa isa) { active().store(clamp(isa), std::memory_order_relaxed); }

}  // namespace vllm::cpu
