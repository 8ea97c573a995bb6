// Helpers for the op tests: random tensors from fresh seeds, double-precision references, and the
// list of CPU instruction sets this machine runs (every op is tested on each).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backend/cpu/cpu_isa.h"
#include "core/error.h"
#include "core/tensor.h"

namespace vllm::testing {

// A fresh seed per call, printed on failure through SCOPED_TRACE by the callers.
inline uint32_t fresh_seed() {
  static std::random_device device;
  return device();
}

inline std::vector<float> random_floats(size_t count, std::mt19937& rng, float low = -1.0f,
                                        float high = 1.0f) {
  std::uniform_real_distribution<float> dist(low, high);
  std::vector<float> values(count);
  for (float& v : values) v = dist(rng);
  return values;
}

inline Tensor random_tensor(const Shape& shape, std::mt19937& rng, DType dtype = DType::F32,
                            float low = -1.0f, float high = 1.0f) {
  return Tensor::from_floats(random_floats(static_cast<size_t>(shape_numel(shape)), rng, low, high),
                             shape, dtype);
}

// Logical values (any host float tensor, any strides) widened to double.
inline std::vector<double> to_doubles(const Tensor& t) {
  std::vector<float> f = t.to_float_vector();
  return std::vector<double>(f.begin(), f.end());
}

inline void expect_close(const std::vector<double>& expected, const Tensor& actual, double atol,
                         double rtol, const char* what) {
  std::vector<float> got = actual.to_float_vector();
  ASSERT_EQ(expected.size(), got.size()) << what;
  int reported = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double diff = std::abs(expected[i] - got[i]);
    if (!(diff <= atol + rtol * std::abs(expected[i])) && reported++ < 5)
      ADD_FAILURE() << what << ": element " << i << " expected " << expected[i] << " got "
                    << got[i];
  }
}

// Every ISA this machine runs; a test loops over them with IsaScope.
inline std::vector<cpu::Isa> runnable_isas() {
  std::vector<cpu::Isa> isas{cpu::Isa::Scalar};
  if (cpu::detected_isa() >= cpu::Isa::Avx2) isas.push_back(cpu::Isa::Avx2);
  if (cpu::detected_isa() >= cpu::Isa::Avx512) isas.push_back(cpu::Isa::Avx512);
  return isas;
}

class IsaScope {
 public:
  explicit IsaScope(cpu::Isa isa) : saved_(cpu::active_isa()) { cpu::set_isa(isa); }
  ~IsaScope() { cpu::set_isa(saved_); }

 private:
  cpu::Isa saved_;
};

#define EXPECT_VLLM_ERROR(statement, error_kind)                                   \
  do {                                                                             \
    try {                                                                          \
      statement;                                                                   \
      ADD_FAILURE() << "expected vllm::Error from " #statement;                    \
    } catch (const ::vllm::Error& e) {                                             \
      EXPECT_EQ(e.kind(), ::vllm::ErrorKind::error_kind) << e.what();              \
    }                                                                              \
  } while (0)

}  // namespace vllm::testing
