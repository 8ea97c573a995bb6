// Paged KV cache writes and attention over the paged cache for a flattened batch (prefill chunks
// and decodes together), fp32.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "backend/cpu/cpu_ops.h"
#include "backend/cpu/vec_cpu.h"
#include "core/parallel.h"

namespace vllm::cpu {

void reshape_and_cache(const Tensor& key, const Tensor& value, Tensor& key_cache,
                       Tensor& value_cache, const Tensor& slot_mapping) {
  const int64_t tokens = key.size(0), kv_heads = key.size(1);
  const int64_t key_row = kv_heads * key.size(2), value_row = kv_heads * value.size(2);
  const int64_t num_slots = key_cache.size(0) * key_cache.size(1);
  const int32_t* slots = slot_mapping.data<int32_t>();
  for (int64_t t = 0; t < tokens; ++t)
    VLLM_CHECK(slots[t] < num_slots, InvalidArgument, "reshape_and_cache: slot ", slots[t],
               " of token ", t, " is outside the cache (", num_slots, " slots)");
  const float* k = key.data<float>();
  const float* v = value.data<float>();
  float* kc = key_cache.data<float>();
  float* vc = value_cache.data<float>();
  for (int64_t t = 0; t < tokens; ++t) {
    if (slots[t] < 0) continue;  // padding token
    std::memcpy(kc + slots[t] * key_row, k + t * key.stride(0), key_row * sizeof(float));
    std::memcpy(vc + slots[t] * value_row, v + t * value.stride(0), value_row * sizeof(float));
  }
}

namespace {

// Checks the batch metadata against the cache; returns, per query row, its sequence (-1: none).
std::vector<int32_t> map_tokens(int64_t tokens, const int32_t* query_start, const int32_t* seq_lens,
                                const int32_t* block_table, int64_t table_stride,
                                int64_t num_seqs, int64_t max_blocks, int64_t block_size,
                                int64_t num_blocks) {
  const char* op = "paged_attention";
  std::vector<int32_t> token_seq(static_cast<size_t>(tokens), -1);
  VLLM_CHECK(num_seqs == 0 || query_start[0] >= 0, InvalidArgument, op,
             ": query_start[0] must be >= 0, got ", query_start[0]);
  for (int64_t b = 0; b < num_seqs; ++b) {
    const int64_t begin = query_start[b], end = query_start[b + 1];
    VLLM_CHECK(begin <= end && end <= tokens, InvalidArgument, op, ": sequence ", b,
               " has query rows [", begin, ", ", end, ") outside [0, ", tokens,
               "] or query_start is not increasing");
    const int64_t q_len = end - begin, seq_len = seq_lens[b];
    VLLM_CHECK(seq_len >= q_len, InvalidArgument, op, ": sequence ", b, " has seq_len ", seq_len,
               " < its ", q_len, " query tokens");
    VLLM_CHECK(seq_len <= max_blocks * block_size, InvalidArgument, op, ": sequence ", b,
               " has seq_len ", seq_len, " but block_table holds only ", max_blocks, " blocks of ",
               block_size);
    for (int64_t i = 0; i < (seq_len + block_size - 1) / block_size; ++i) {
      const int32_t block = block_table[b * table_stride + i];
      VLLM_CHECK(block >= 0 && block < num_blocks, InvalidArgument, op, ": block_table[", b, ", ",
                 i, "] = ", block, " is outside the cache (", num_blocks, " blocks)");
    }
    for (int64_t t = begin; t < end; ++t) token_seq[t] = static_cast<int32_t>(b);
  }
  return token_seq;
}

}  // namespace

void paged_attention(const Tensor& query, const Tensor& key_cache, const Tensor& value_cache,
                     const Tensor& query_start, const Tensor& seq_lens, const Tensor& block_table,
                     const ops::AttentionParams& params, Tensor& out) {
  const int64_t tokens = query.size(0), num_heads = query.size(1), head_size = query.size(2);
  const int64_t num_kv_heads = key_cache.size(2), value_size = value_cache.size(3);
  const int64_t block_size = key_cache.size(1), group = num_heads / num_kv_heads;
  const int32_t* qs = query_start.data<int32_t>();
  const int32_t* lens = seq_lens.data<int32_t>();
  const int32_t* table = block_table.data<int32_t>();
  const int64_t table_stride = block_table.stride(0);
  const std::vector<int32_t> token_seq =
      map_tokens(tokens, qs, lens, table, table_stride, seq_lens.size(0), block_table.size(1),
                 block_size, key_cache.size(0));

  const float* q_base = query.data<float>();
  const int64_t q_stride = query.stride(0);
  const float* kc = key_cache.data<float>();
  const float* vc = value_cache.data<float>();
  float* o_base = out.data<float>();
  const float* slopes = params.alibi_slopes.defined() ? params.alibi_slopes.data<float>() : nullptr;
  const float cap = params.logit_softcap;
  const VecKernels& vec = vec_kernels();

  // One work item per (query row, kv head): the group's query heads share each K/V row load.
  parallel_for(tokens * num_kv_heads, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scores;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t t = item / num_kv_heads, kv_head = item % num_kv_heads;
      const int32_t b = token_seq[t];
      if (b < 0) continue;
      const int64_t q_len = qs[b + 1] - qs[b];
      const int64_t pos = lens[b] - q_len + (t - qs[b]);  // this query's position (causal limit)
      const int64_t first = params.sliding_window > 0
                                ? std::max<int64_t>(0, pos - params.sliding_window + 1)
                                : 0;
      const int64_t visible = pos - first + 1;
      scores.resize(static_cast<size_t>(group * visible));
      const int32_t* blocks = table + b * table_stride;
      const float* q_head0 = q_base + t * q_stride + kv_head * group * head_size;

      for (int64_t j = first; j <= pos; ++j) {
        const int64_t slot = static_cast<int64_t>(blocks[j / block_size]) * block_size + j % block_size;
        const float* k_row = kc + (slot * num_kv_heads + kv_head) * head_size;
        for (int64_t g = 0; g < group; ++g) {
          float s = vec.dot(q_head0 + g * head_size, k_row, head_size) * params.scale;
          if (cap > 0.0f) s = cap * std::tanh(s / cap);
          if (slopes) s += slopes[kv_head * group + g] * static_cast<float>(j - pos);
          scores[g * visible + (j - first)] = s;
        }
      }
      for (int64_t g = 0; g < group; ++g) {
        float* row = scores.data() + g * visible;
        float max_score = -std::numeric_limits<float>::infinity();
        for (int64_t j = 0; j < visible; ++j) max_score = std::max(max_score, row[j]);
        double sum = 0.0;
        for (int64_t j = 0; j < visible; ++j) {
          row[j] = std::exp(row[j] - max_score);
          sum += row[j];
        }
        const float inv = static_cast<float>(1.0 / sum);
        for (int64_t j = 0; j < visible; ++j) row[j] *= inv;
        std::memset(o_base + (t * num_heads + kv_head * group + g) * value_size, 0,
                    value_size * sizeof(float));
      }
      for (int64_t j = first; j <= pos; ++j) {
        const int64_t slot = static_cast<int64_t>(blocks[j / block_size]) * block_size + j % block_size;
        const float* v_row = vc + (slot * num_kv_heads + kv_head) * value_size;
        for (int64_t g = 0; g < group; ++g)
          vec.axpy(o_base + (t * num_heads + kv_head * group + g) * value_size,
                   scores[g * visible + (j - first)], v_row, value_size);
      }
    }
  });
}

}  // namespace vllm::cpu
