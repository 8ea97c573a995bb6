#include "ops/rotary.h"

#include "ops/dispatch.h"

namespace vllm::ops {

using namespace detail;

void detail::check_rotary_args(const char* op, const Tensor& positions, const Tensor& query, const Tensor& key,
                               const Tensor& cos_sin_cache, int64_t rotary_dim) {
  check_dim(op, "positions", positions, 1);
  check_dtype(op, "positions", positions, DType::I32);
  check_contiguous(op, "positions", positions);
  check_dim(op, "query", query, 3);
  check_dtype(op, "query", query, DType::F32);
  check_last_dim_contiguous(op, "query", query);
  check_dim(op, "cos_sin_cache", cos_sin_cache, 2);
  check_dtype(op, "cos_sin_cache", cos_sin_cache, DType::F32);
  check_contiguous(op, "cos_sin_cache", cos_sin_cache);
  const int64_t tokens = positions.size(0), head_size = query.size(2);
  VLLM_CHECK(query.size(0) == tokens, InvalidArgument, op, ": query ", describe(query),
             " must have one row per position ", describe(positions));
  VLLM_CHECK(rotary_dim > 0 && rotary_dim % 2 == 0 && rotary_dim <= head_size, InvalidArgument,
             op, ": rotary_dim ", rotary_dim, " must be even, positive and at most the head size ",
             head_size);
  VLLM_CHECK(cos_sin_cache.size(1) == rotary_dim, InvalidArgument, op, ": cos_sin_cache ",
             describe(cos_sin_cache), " must have rotary_dim = ", rotary_dim, " columns");
  if (key.defined()) {
    check_dim(op, "key", key, 3);
    check_dtype(op, "key", key, DType::F32);
    check_last_dim_contiguous(op, "key", key);
    VLLM_CHECK(key.size(0) == tokens && key.size(2) == head_size, InvalidArgument, op, ": key ",
               describe(key), " must be [", tokens, ", num_kv_heads, ", head_size, "] like query ",
               describe(query));
  }
}

void rotary_embedding(const Tensor& positions, Tensor& query, Tensor& key,
                      const Tensor& cos_sin_cache, int64_t rotary_dim, bool is_neox) {
  const char* op = "rotary_embedding";
  check_rotary_args(op, positions, query, key, cos_sin_cache, rotary_dim);
  Device device = common_device(op, {&positions, &query, &key, &cos_sin_cache});
  VLLM_DISPATCH(op, device, rotary_embedding, positions, query, key, cos_sin_cache, rotary_dim, is_neox);
}

}  // namespace vllm::ops
