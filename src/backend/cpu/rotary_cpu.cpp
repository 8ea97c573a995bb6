// Rotary embedding in place over [T, H, D] views (vLLM's rotary_embedding kernel).
#include "backend/cpu/cpu_ops.h"
#include "core/parallel.h"

namespace vllm::cpu {
namespace {

// Rotates the first rotary_dim dims of one head with cos/sin (rotary_dim/2 each).
inline void rotate_head(float* x, const float* cos, const float* sin, int64_t rotary_dim,
                        bool is_neox) {
  const int64_t half = rotary_dim / 2;
  if (is_neox) {  // HF's rotate_half: pairs (x[i], x[i + half])
    for (int64_t i = 0; i < half; ++i) {
      const float x1 = x[i], x2 = x[i + half];
      x[i] = x1 * cos[i] - x2 * sin[i];
      x[i + half] = x2 * cos[i] + x1 * sin[i];
    }
  } else {  // GPT-J interleaved pairs (x[2i], x[2i + 1])
    for (int64_t i = 0; i < half; ++i) {
      const float x1 = x[2 * i], x2 = x[2 * i + 1];
      x[2 * i] = x1 * cos[i] - x2 * sin[i];
      x[2 * i + 1] = x2 * cos[i] + x1 * sin[i];
    }
  }
}

void rotate_all(Tensor& t, const int32_t* positions, const float* cache, int64_t rotary_dim,
                bool is_neox) {
  float* base = t.data<float>();
  const int64_t tokens = t.size(0), heads = t.size(1);
  const int64_t token_stride = t.stride(0), head_stride = t.stride(1);
  parallel_for(tokens, 8, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float* cos = cache + static_cast<int64_t>(positions[i]) * rotary_dim;
      const float* sin = cos + rotary_dim / 2;
      for (int64_t h = 0; h < heads; ++h)
        rotate_head(base + i * token_stride + h * head_stride, cos, sin, rotary_dim, is_neox);
    }
  });
}

}  // namespace

void rotary_embedding(const Tensor& positions, Tensor& query, Tensor& key,
                      const Tensor& cos_sin_cache, int64_t rotary_dim, bool is_neox) {
  const int32_t* pos = positions.data<int32_t>();
  const int64_t max_position = cos_sin_cache.size(0);
  for (int64_t i = 0; i < positions.size(0); ++i)
    VLLM_CHECK(pos[i] >= 0 && pos[i] < max_position, InvalidArgument, "rotary_embedding: position ",
               pos[i], " of token ", i, " is outside the cos_sin_cache (", max_position, " rows)");
  const float* cache = cos_sin_cache.data<float>();
  rotate_all(query, pos, cache, rotary_dim, is_neox);
  if (key.defined()) rotate_all(key, pos, cache, rotary_dim, is_neox);
}

}  // namespace vllm::cpu
