#include "ops/attention.h"

#include <utility>

#include "ops/dispatch.h"
#include "ops/rotary.h"

namespace vllm::ops {

using namespace detail;

namespace {

// key_cache [num_blocks, block_size, Hk, D] and value_cache [num_blocks, block_size, Hk, Dv].
void check_caches(const char* op, const Tensor& key_cache, const Tensor& value_cache) {
  check_dim(op, "key_cache", key_cache, 4);
  check_dim(op, "value_cache", value_cache, 4);
  VLLM_CHECK(key_cache.dtype() == DType::F32 || key_cache.dtype() == DType::BF16 ||
                 key_cache.dtype() == DType::F16,
             InvalidArgument, op, ": key_cache ", describe(key_cache),
             " must be f32, bf16 or f16");
  VLLM_CHECK(value_cache.dtype() == key_cache.dtype(), InvalidArgument, op, ": value_cache ",
             describe(value_cache), " must have key_cache's dtype ", dtype_name(key_cache.dtype()));
  check_contiguous(op, "key_cache", key_cache);
  check_contiguous(op, "value_cache", value_cache);
  for (int d = 0; d < 3; ++d)
    VLLM_CHECK(key_cache.size(d) == value_cache.size(d), InvalidArgument, op, ": key_cache ",
               describe(key_cache), " and value_cache ", describe(value_cache),
               " must agree on [num_blocks, block_size, num_kv_heads]");
}

// The CPU kernels keep f32 caches only (bf16/f16 caches are a CUDA feature).
void check_cpu_caches(const char* op, const Tensor& key_cache) {
  VLLM_CHECK(key_cache.dtype() == DType::F32, Unsupported, op, ": the CPU KV cache must be f32, got ",
             dtype_name(key_cache.dtype()), " (bf16/f16 caches are supported on CUDA only)");
}

// [T, H, D] with a contiguous head dim and heads packed in a row (rows may be strided, e.g. a
// view of a fused qkv output).
void check_heads_view(const char* op, const char* name, const Tensor& t) {
  check_dim(op, name, t, 3);
  check_dtype(op, name, t, DType::F32);
  VLLM_CHECK((t.stride(2) == 1 || t.size(2) == 1) &&
                 (t.stride(1) == t.size(2) || t.size(1) == 1),
             InvalidArgument, op, ": ", name, " ", describe(t), " with strides ",
             shape_to_string(t.strides()), " must have contiguous heads within each row");
}

// The AttentionParams both attention ops read; alibi_slopes and sinks are [Hq] f32.
// two_sided_window: the op takes a sliding window without the causal limit (attention_varlen).
void check_params(const char* op, const AttentionParams& params, int64_t num_heads, bool two_sided_window) {
  VLLM_CHECK(params.sliding_window >= 0, InvalidArgument, op, ": sliding_window must be >= 0, got ",
             params.sliding_window);
  VLLM_CHECK(two_sided_window || params.causal || params.sliding_window == 0, Unsupported, op, ": a sliding window (",
             params.sliding_window, ") applies to causal attention only; pass causal = true or sliding_window = 0");
  VLLM_CHECK(params.logit_softcap >= 0.0f, InvalidArgument, op,
             ": logit_softcap must be >= 0, got ", params.logit_softcap);
  for (const auto& [name, per_head] : {std::pair<const char*, const Tensor*>{"alibi_slopes", &params.alibi_slopes},
                                       {"sinks", &params.sinks}}) {
    if (!per_head->defined()) continue;
    check_dim(op, name, *per_head, 1);
    check_dtype(op, name, *per_head, DType::F32);
    check_contiguous(op, name, *per_head);
    VLLM_CHECK(per_head->size(0) == num_heads, InvalidArgument, op, ": ", name, " ", describe(*per_head),
               " must be [", num_heads, "]");
  }
  VLLM_CHECK(params.max_query_len >= -1 && params.max_seq_len >= -1, InvalidArgument, op,
             ": max_query_len / max_seq_len hints must be >= -1, got ", params.max_query_len, " / ",
             params.max_seq_len);
}

void check_cache_write(const char* op, const Tensor& key, const Tensor& value, const Tensor& key_cache,
                       const Tensor& value_cache, const Tensor& slot_mapping) {
  check_heads_view(op, "key", key);
  check_heads_view(op, "value", value);
  check_caches(op, key_cache, value_cache);
  check_dim(op, "slot_mapping", slot_mapping, 1);
  check_dtype(op, "slot_mapping", slot_mapping, DType::I32);
  check_contiguous(op, "slot_mapping", slot_mapping);
  VLLM_CHECK(key.size(0) == value.size(0) && key.size(1) == value.size(1) &&
                 key.size(0) == slot_mapping.size(0),
             InvalidArgument, op, ": key ", describe(key), ", value ", describe(value),
             " and slot_mapping ", describe(slot_mapping), " must agree on [T, num_kv_heads]");
  VLLM_CHECK(key.size(1) == key_cache.size(2) && key.size(2) == key_cache.size(3) &&
                 value.size(2) == value_cache.size(3),
             InvalidArgument, op, ": key ", describe(key), " / value ", describe(value),
             " do not match key_cache ", describe(key_cache), " / value_cache ",
             describe(value_cache));
}

}  // namespace

void reshape_and_cache(const Tensor& key, const Tensor& value, Tensor& key_cache,
                       Tensor& value_cache, const Tensor& slot_mapping) {
  const char* op = "reshape_and_cache";
  check_cache_write(op, key, value, key_cache, value_cache, slot_mapping);
  Device device = common_device(op, {&key, &value, &key_cache, &value_cache, &slot_mapping});
  if (device.is_cpu()) check_cpu_caches(op, key_cache);
  VLLM_DISPATCH(op, device, reshape_and_cache, key, value, key_cache, value_cache, slot_mapping);
}

void rotary_embedding_and_cache(const Tensor& positions, Tensor& query, Tensor& key, const Tensor& value,
                                const Tensor& cos_sin_cache, int64_t rotary_dim, bool is_neox, Tensor& key_cache,
                                Tensor& value_cache, const Tensor& slot_mapping) {
  const char* op = "rotary_embedding_and_cache";
  check_rotary_args(op, positions, query, key, cos_sin_cache, rotary_dim);
  check_cache_write(op, key, value, key_cache, value_cache, slot_mapping);
  Device device = common_device(op, {&positions, &query, &key, &value, &cos_sin_cache, &key_cache, &value_cache,
                                     &slot_mapping});
  // One kernel on CUDA; elsewhere the two ops one after the other.
  VLLM_DISPATCH_FUSED_CUDA(device, rotary_embedding_and_cache, positions, query, key, value, cos_sin_cache, rotary_dim,
                           is_neox, key_cache, value_cache, slot_mapping);
  rotary_embedding(positions, query, key, cos_sin_cache, rotary_dim, is_neox);
  reshape_and_cache(key, value, key_cache, value_cache, slot_mapping);
}

void paged_attention(const Tensor& query, const Tensor& key_cache, const Tensor& value_cache,
                     const Tensor& query_start, const Tensor& seq_lens, const Tensor& block_table,
                     const AttentionParams& params, Tensor& out) {
  const char* op = "paged_attention";
  check_heads_view(op, "query", query);
  check_caches(op, key_cache, value_cache);
  check_dim(op, "out", out, 3);
  check_dtype(op, "out", out, DType::F32);
  check_contiguous(op, "out", out);
  check_dim(op, "query_start", query_start, 1);
  check_dim(op, "seq_lens", seq_lens, 1);
  check_dim(op, "block_table", block_table, 2);
  check_dtype(op, "query_start", query_start, DType::I32);
  check_dtype(op, "seq_lens", seq_lens, DType::I32);
  check_dtype(op, "block_table", block_table, DType::I32);
  check_contiguous(op, "query_start", query_start);
  check_contiguous(op, "seq_lens", seq_lens);
  check_last_dim_contiguous(op, "block_table", block_table);
  const int64_t num_seqs = seq_lens.size(0);
  VLLM_CHECK(query_start.size(0) == num_seqs + 1 && block_table.size(0) == num_seqs,
             InvalidArgument, op, ": query_start ", describe(query_start), " must be [B + 1] and block_table ",
             describe(block_table), " [B, max_blocks] for seq_lens ", describe(seq_lens));
  const int64_t num_heads = query.size(1), num_kv_heads = key_cache.size(2);
  VLLM_CHECK(query.size(2) == key_cache.size(3), InvalidArgument, op, ": query ",
             describe(query), " head size must match key_cache ", describe(key_cache));
  VLLM_CHECK(num_kv_heads > 0 && num_heads % num_kv_heads == 0, InvalidArgument, op,
             ": query heads (", num_heads, ") must be a multiple of kv heads (", num_kv_heads, ")");
  VLLM_CHECK(out.size(0) == query.size(0) && out.size(1) == num_heads &&
                 out.size(2) == value_cache.size(3),
             InvalidArgument, op, ": out ", describe(out), " must be [", query.size(0), ", ",
             num_heads, ", ", value_cache.size(3), "]");
  check_params(op, params, num_heads, /*two_sided_window=*/false);
  Device device = common_device(op, {&query, &key_cache, &value_cache, &query_start, &seq_lens,
                                     &block_table, &params.alibi_slopes, &params.sinks, &out});
  VLLM_CHECK(params.num_decode_seqs >= -1 && params.num_decode_seqs <= seq_lens.size(0), InvalidArgument, op,
             ": num_decode_seqs ", params.num_decode_seqs, " must be in [-1, ", seq_lens.size(0), "]");
  if (device.is_cpu()) check_cpu_caches(op, key_cache);
  VLLM_DISPATCH(op, device, paged_attention, query, key_cache, value_cache, query_start, seq_lens, block_table, params,
                out);
}

void attention_varlen(const Tensor& query, const Tensor& key, const Tensor& value, const Tensor& query_start,
                      const Tensor& key_start, const AttentionParams& params, Tensor& out) {
  const char* op = "attention_varlen";
  check_heads_view(op, "query", query);
  check_heads_view(op, "key", key);
  check_heads_view(op, "value", value);
  check_dim(op, "out", out, 3);
  check_dtype(op, "out", out, DType::F32);
  check_contiguous(op, "out", out);
  for (const auto& [name, starts] : {std::pair<const char*, const Tensor*>{"query_start", &query_start},
                                     {"key_start", &key_start}}) {
    check_dim(op, name, *starts, 1);
    check_dtype(op, name, *starts, DType::I32);
    check_contiguous(op, name, *starts);
  }
  VLLM_CHECK(query_start.size(0) >= 1 && key_start.size(0) == query_start.size(0), InvalidArgument, op,
             ": query_start ", describe(query_start), " and key_start ", describe(key_start), " must both be [B + 1]");
  const int64_t num_heads = query.size(1), num_kv_heads = key.size(1);
  VLLM_CHECK(key.size(0) == value.size(0) && value.size(1) == num_kv_heads && query.size(2) == key.size(2),
             InvalidArgument, op, ": query ", describe(query), ", key ", describe(key), " and value ", describe(value),
             " must be [Tq, Hq, D], [Tk, Hk, D] and [Tk, Hk, Dv]");
  VLLM_CHECK(num_kv_heads > 0 && num_heads % num_kv_heads == 0, InvalidArgument, op,
             ": query heads (", num_heads, ") must be a multiple of kv heads (", num_kv_heads, ")");
  VLLM_CHECK(out.size(0) == query.size(0) && out.size(1) == num_heads && out.size(2) == value.size(2),
             InvalidArgument, op, ": out ", describe(out), " must be [", query.size(0), ", ", num_heads, ", ",
             value.size(2), "]");
  check_params(op, params, num_heads, /*two_sided_window=*/true);
  Device device = common_device(op, {&query, &key, &value, &query_start, &key_start, &params.alibi_slopes,
                                     &params.sinks, &out});
  VLLM_DISPATCH(op, device, attention_varlen, query, key, value, query_start, key_start, params, out);
}

}  // namespace vllm::ops
