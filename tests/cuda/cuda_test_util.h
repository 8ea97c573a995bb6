// Helpers shared by the CUDA tests: the skip without a GPU, random inputs, poisoned buffers,
// moving to the GPU and the elementwise comparison against the CPU op.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "core/tensor.h"

#define SKIP_WITHOUT_GPU() \
  if (!::vllm::cuda::available()) GTEST_SKIP() << "no CUDA device: CUDA tests need a GPU"

namespace vllm::cuda_test {

// Outputs are filled with this before a kernel runs, so unwritten elements show.
constexpr float kPoison = -7777.0f;

inline uint32_t fresh_seed() {
  static std::mt19937 seeds(std::random_device{}());
  return seeds();
}

inline std::vector<float> random_values(int64_t n, float scale = 1.0f) {
  std::mt19937 random(fresh_seed());
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> values(static_cast<size_t>(n));
  for (float& value : values) value = normal(random);
  return values;
}

inline Tensor random_tensor(const Shape& shape, DType dtype = DType::F32, float scale = 1.0f) {
  return Tensor::from_floats(random_values(shape_numel(shape), scale), shape, dtype);
}

inline Tensor filled(const Shape& shape, float value, Device device = Device::cpu()) {
  return Tensor::from_floats(std::vector<float>(static_cast<size_t>(shape_numel(shape)), value), shape).to(device);
}

inline Tensor gpu(const Tensor& t) { return t.to(Device::cuda()); }

// |gpu - cpu| <= atol + rtol |cpu| elementwise (both contiguous), NaN never passes.
inline void expect_close(const Tensor& on_gpu, const Tensor& on_cpu, float rtol, float atol, const std::string& what) {
  ASSERT_TRUE(on_gpu.device().is_cuda()) << what;
  std::vector<float> a = on_gpu.to(Device::cpu()).to_float_vector(), b = on_cpu.to_float_vector();
  ASSERT_EQ(a.size(), b.size()) << what;
  size_t bad = 0, first_bad = 0;
  double worst = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double diff = std::abs(static_cast<double>(a[i]) - b[i]);
    const bool ok = std::isfinite(a[i]) && diff <= atol + rtol * std::abs(b[i]);
    if (!ok && bad++ == 0) first_bad = i;
    if (std::isfinite(diff)) worst = std::max(worst, diff);
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << a.size() << " elements differ; first at " << first_bad
                     << ": gpu " << a[first_bad] << " cpu " << b[first_bad] << " (max abs diff " << worst << ")";
}

}  // namespace vllm::cuda_test
