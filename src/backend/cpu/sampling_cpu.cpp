#include <cmath>
#include <limits>

#include "backend/cpu/cpu_ops.h"
#include "core/parallel.h"
#include "ops/sampling_noise.h"

namespace vllm::cpu {

void sample_tokens(const Tensor& logits, const Tensor& temperatures, const Tensor& seeds, Tensor& out) {
  const int64_t rows = logits.size(0), vocab = logits.size(1), stride = logits.stride(0);
  const float* data = logits.data<float>();
  const float* temperature = temperatures.data<float>();
  const int64_t* seed = seeds.data<int64_t>();
  int32_t* tokens = out.data<int32_t>();
  parallel_for(rows, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* row = data + r * stride;
      const float t = temperature[r];
      const float inverse = t > 0.0f ? 1.0f / t : 0.0f;
      float best = -std::numeric_limits<float>::infinity();
      int64_t best_index = 0;
      for (int64_t i = 0; i < vocab; ++i) {
        const float score = t > 0.0f ? row[i] * inverse - ops::detail::race_log_exponential(static_cast<uint64_t>(seed[r]), i)
                                     : row[i];
        if (score > best) {
          best = score;
          best_index = i;
        }
      }
      tokens[r] = static_cast<int32_t>(best_index);
    }
  });
}

}  // namespace vllm::cpu
