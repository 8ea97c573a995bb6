// Paged KV cache writes, attention over the paged cache for a flattened batch (prefill chunks and
// decodes together) and attention over packed keys/values (attention_varlen), fp32.
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

// Checks query_start (int32 [B + 1], increasing, within [0, tokens]) and returns, per query row,
// its sequence (-1: none).
std::vector<int32_t> map_tokens(const char* op, int64_t tokens, const int32_t* query_start, int64_t num_seqs) {
  std::vector<int32_t> token_seq(static_cast<size_t>(tokens), -1);
  VLLM_CHECK(num_seqs == 0 || query_start[0] >= 0, InvalidArgument, op,
             ": query_start[0] must be >= 0, got ", query_start[0]);
  for (int64_t b = 0; b < num_seqs; ++b) {
    const int64_t begin = query_start[b], end = query_start[b + 1];
    VLLM_CHECK(begin <= end && end <= tokens, InvalidArgument, op, ": sequence ", b,
               " has query rows [", begin, ", ", end, ") outside [0, ", tokens,
               "] or query_start is not increasing");
    for (int64_t t = begin; t < end; ++t) token_seq[t] = static_cast<int32_t>(b);
  }
  return token_seq;
}

// Causal attention needs a key for every query row (its queries are the last of its keys).
void check_key_count(const char* op, bool causal, int64_t b, int64_t q_len, int64_t k_len) {
  VLLM_CHECK(k_len >= 0 && (!causal || k_len >= q_len), InvalidArgument, op, ": sequence ", b, " has ", k_len,
             " keys for its ", q_len, " query tokens", causal ? " (causal attention needs at least as many)" : "");
}

// The attention of every query row of a flattened batch, one work item per (query row, kv head) so
// that the group's query heads share each K/V row load. Sequence b has query rows
// query_start[b].. and key_lens[b] keys; key_row(b, j, kv_head) / value_row(...) point at key /
// value j of kv head kv_head (a paged cache's slot or a packed key tensor's row).
template <typename KeyRow, typename ValueRow>
void attend(const char* op, const Tensor& query, const int32_t* query_start, const int32_t* key_lens,
            int64_t num_seqs, int64_t num_kv_heads, int64_t value_size, const ops::AttentionParams& params,
            KeyRow key_row, ValueRow value_row, Tensor& out) {
  const int64_t tokens = query.size(0), num_heads = query.size(1), head_size = query.size(2);
  const int64_t group = num_heads / num_kv_heads;
  const std::vector<int32_t> token_seq = map_tokens(op, tokens, query_start, num_seqs);
  for (int64_t b = 0; b < num_seqs; ++b)
    check_key_count(op, params.causal, b, query_start[b + 1] - query_start[b], key_lens[b]);

  const float* q_base = query.data<float>();
  const int64_t q_stride = query.stride(0);
  float* o_base = out.data<float>();
  const float* slopes = params.alibi_slopes.defined() ? params.alibi_slopes.data<float>() : nullptr;
  const float* sinks = params.sinks.defined() ? params.sinks.data<float>() : nullptr;
  const float cap = params.logit_softcap;
  const VecKernels& vec = vec_kernels();

  parallel_for(tokens * num_kv_heads, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scores;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t t = item / num_kv_heads, kv_head = item % num_kv_heads;
      const int32_t b = token_seq[t];
      if (b < 0) continue;
      const int64_t q_len = query_start[b + 1] - query_start[b], k_len = key_lens[b];
      const int64_t pos = k_len - q_len + (t - query_start[b]);  // this query's position
      // A window without the causal limit reaches as far past the query as before it.
      const int64_t last = params.causal ? pos
                           : params.sliding_window > 0 ? std::min<int64_t>(k_len - 1, pos + params.sliding_window - 1)
                                                       : k_len - 1;
      const int64_t first = params.sliding_window > 0
                                ? std::max<int64_t>(0, pos - params.sliding_window + 1)
                                : 0;
      const int64_t visible = std::max<int64_t>(0, last - first + 1);
      scores.resize(static_cast<size_t>(group * visible));
      const float* q_head0 = q_base + t * q_stride + kv_head * group * head_size;

      for (int64_t j = first; j <= last; ++j) {
        const float* k_row = key_row(b, j, kv_head);
        for (int64_t g = 0; g < group; ++g) {
          float s = vec.dot(q_head0 + g * head_size, k_row, head_size) * params.scale;
          if (cap > 0.0f) s = cap * std::tanh(s / cap);
          if (slopes) s += slopes[kv_head * group + g] * static_cast<float>(j - pos);
          scores[g * visible + (j - first)] = s;
        }
      }
      for (int64_t g = 0; g < group; ++g) {
        float* row = scores.data() + g * visible;
        // The sink joins the max and the denominator, and no output.
        const float sink = sinks ? sinks[kv_head * group + g] : -std::numeric_limits<float>::infinity();
        float max_score = sink;
        for (int64_t j = 0; j < visible; ++j) max_score = std::max(max_score, row[j]);
        double sum = sinks ? std::exp(sink - max_score) : 0.0;
        for (int64_t j = 0; j < visible; ++j) {
          row[j] = std::exp(row[j] - max_score);
          sum += row[j];
        }
        const float inv = static_cast<float>(1.0 / sum);
        for (int64_t j = 0; j < visible; ++j) row[j] *= inv;
        std::memset(o_base + (t * num_heads + kv_head * group + g) * value_size, 0,
                    value_size * sizeof(float));
      }
      for (int64_t j = first; j <= last; ++j) {
        const float* v_row = value_row(b, j, kv_head);
        for (int64_t g = 0; g < group; ++g)
          vec.axpy(o_base + (t * num_heads + kv_head * group + g) * value_size,
                   scores[g * visible + (j - first)], v_row, value_size);
      }
    }
  });
}

}  // namespace

void paged_attention(const Tensor& query, const Tensor& key_cache, const Tensor& value_cache,
                     const Tensor& query_start, const Tensor& seq_lens, const Tensor& block_table,
                     const ops::AttentionParams& params, Tensor& out) {
  const char* op = "paged_attention";
  const int64_t head_size = query.size(2), num_seqs = seq_lens.size(0);
  const int64_t num_kv_heads = key_cache.size(2), value_size = value_cache.size(3);
  const int64_t block_size = key_cache.size(1), num_blocks = key_cache.size(0);
  const int64_t max_blocks = block_table.size(1), table_stride = block_table.stride(0);
  const int32_t* lens = seq_lens.data<int32_t>();
  const int32_t* table = block_table.data<int32_t>();
  for (int64_t b = 0; b < num_seqs; ++b) {
    const int64_t seq_len = lens[b];
    VLLM_CHECK(seq_len <= max_blocks * block_size, InvalidArgument, op, ": sequence ", b,
               " has seq_len ", seq_len, " but block_table holds only ", max_blocks, " blocks of ",
               block_size);
    for (int64_t i = 0; i < (seq_len + block_size - 1) / block_size; ++i) {
      const int32_t block = table[b * table_stride + i];
      VLLM_CHECK(block >= 0 && block < num_blocks, InvalidArgument, op, ": block_table[", b, ", ",
                 i, "] = ", block, " is outside the cache (", num_blocks, " blocks)");
    }
  }
  const float* kc = key_cache.data<float>();
  const float* vc = value_cache.data<float>();
  auto slot = [&](int32_t b, int64_t j) {
    return static_cast<int64_t>(table[b * table_stride + j / block_size]) * block_size + j % block_size;
  };
  attend(
      op, query, query_start.data<int32_t>(), lens, num_seqs, num_kv_heads, value_size, params,
      [&](int32_t b, int64_t j, int64_t kv_head) { return kc + (slot(b, j) * num_kv_heads + kv_head) * head_size; },
      [&](int32_t b, int64_t j, int64_t kv_head) { return vc + (slot(b, j) * num_kv_heads + kv_head) * value_size; },
      out);
}

void attention_varlen(const Tensor& query, const Tensor& key, const Tensor& value, const Tensor& query_start,
                      const Tensor& key_start, const ops::AttentionParams& params, Tensor& out) {
  const char* op = "attention_varlen";
  const int64_t num_seqs = key_start.size(0) - 1, head_size = key.size(2), value_size = value.size(2);
  const int32_t* ks = key_start.data<int32_t>();
  // Each sequence's key rows [key_start[b], key_start[b+1]) lie in [0, Tk) (map_tokens checks the
  // query rows alike).
  map_tokens(op, key.size(0), ks, num_seqs);
  std::vector<int32_t> key_lens(static_cast<size_t>(num_seqs));
  for (int64_t b = 0; b < num_seqs; ++b) key_lens[b] = ks[b + 1] - ks[b];
  const float* k = key.data<float>();
  const float* v = value.data<float>();
  const int64_t k_stride = key.stride(0), v_stride = value.stride(0);
  attend(
      op, query, query_start.data<int32_t>(), key_lens.data(), num_seqs, key.size(1), value_size, params,
      [&](int32_t b, int64_t j, int64_t kv_head) { return k + (ks[b] + j) * k_stride + kv_head * head_size; },
      [&](int32_t b, int64_t j, int64_t kv_head) { return v + (ks[b] + j) * v_stride + kv_head * value_size; },
      out);
}

}  // namespace vllm::cpu
