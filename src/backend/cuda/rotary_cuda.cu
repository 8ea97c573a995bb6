// Rotary embedding in place over [T, H, D] views on the GPU: one block per token, one thread per
// rotated pair (query heads, then key heads). Neox pairs (x[i], x[i + rd/2]); GPT-J pairs
// (x[2i], x[2i+1]); dims past rotary_dim are untouched.
#include "backend/cuda/cuda_common.cuh"

namespace vllm::cuda {
namespace {

using namespace detail;

struct HeadsView {
  float* data = nullptr;
  int64_t heads = 0;
  int64_t token_stride = 0;
  int64_t head_stride = 0;
};

__device__ __forceinline__ void rotate_pair(float* head, const float* cos, const float* sin,
                                            int64_t i, int64_t half, bool is_neox) {
  const int64_t a = is_neox ? i : 2 * i, b = is_neox ? i + half : 2 * i + 1;
  const float x1 = head[a], x2 = head[b];
  head[a] = x1 * cos[i] - x2 * sin[i];
  head[b] = x2 * cos[i] + x1 * sin[i];
}

// A position outside the cache leaves the token unrotated (the CPU raises InvalidArgument).
__global__ void rotary_kernel(const int32_t* __restrict__ positions, HeadsView query, HeadsView key,
                              const float* __restrict__ cache, int64_t max_position,
                              int64_t rotary_dim, bool is_neox) {
  const int64_t t = blockIdx.x;
  const int32_t pos = positions[t];
  if (pos < 0 || pos >= max_position) return;
  const int64_t half = rotary_dim / 2;
  const float* cos = cache + static_cast<int64_t>(pos) * rotary_dim;
  const float* sin = cos + half;
  const int64_t q_pairs = query.heads * half, total = q_pairs + key.heads * half;
  for (int64_t p = threadIdx.x; p < total; p += blockDim.x) {
    const bool is_query = p < q_pairs;
    const HeadsView& view = is_query ? query : key;
    const int64_t local = is_query ? p : p - q_pairs;
    const int64_t h = local / half, i = local % half;
    rotate_pair(view.data + t * view.token_stride + h * view.head_stride, cos, sin, i, half,
                is_neox);
  }
}

HeadsView heads_view(Tensor& t) {
  if (!t.defined()) return {};
  return {t.data<float>(), t.size(1), t.stride(0), t.stride(1)};
}

}  // namespace

void rotary_embedding(const Tensor& positions, Tensor& query, Tensor& key,
                      const Tensor& cos_sin_cache, int64_t rotary_dim, bool is_neox) {
  set_device(query.device());
  const int64_t tokens = positions.size(0);
  if (tokens == 0) return;
  const HeadsView q = heads_view(query), k = heads_view(key);
  const int64_t pairs = (q.heads + k.heads) * (rotary_dim / 2);
  if (pairs == 0) return;
  rotary_kernel<<<static_cast<unsigned>(tokens), row_threads(pairs), 0, stream()>>>(
      positions.data<int32_t>(), q, k, cos_sin_cache.data<float>(), cos_sin_cache.size(0),
      rotary_dim, is_neox);
  check_launch("rotary_kernel");
}

}  // namespace vllm::cuda
