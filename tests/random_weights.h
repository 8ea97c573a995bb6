// Seeded random tensors for the checkpoints the tests write by hand (tests/*_test_checkpoint.h).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "core/tensor.h"

namespace vllm::testing {

class RandomWeights {
 public:
  explicit RandomWeights(uint32_t seed) : rng_(seed) {}

  // Normal(center, scale) values, f32.
  Tensor normal(const Shape& shape, float scale, float center = 0.0f) {
    std::normal_distribution<float> distribution(center, scale);
    return fill(shape, distribution);
  }
  // Uniform values in [0.8, 1.2): norm weights near one.
  Tensor around_one(int64_t size) {
    std::uniform_real_distribution<float> distribution(0.8f, 1.2f);
    return fill({size}, distribution);
  }

 private:
  template <typename Distribution>
  Tensor fill(const Shape& shape, Distribution& distribution) {
    std::vector<float> values(static_cast<size_t>(shape_numel(shape)));
    for (float& v : values) v = distribution(rng_);
    return Tensor::from_floats(values, shape);
  }
  std::mt19937 rng_;
};

}  // namespace vllm::testing
