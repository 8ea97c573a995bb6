// Paged KV cache writes and attention over the paged cache (vLLM's reshape_and_cache and
// unified paged attention, for a flattened batch of prefill chunks and decodes), and attention
// without a cache over a flattened batch of whole sequences (flash_attn_varlen_func).
#pragma once

#include <cstdint>

#include "backend/backend_types.h"
#include "core/tensor.h"

namespace vllm::ops {

// key/value f32 [T, Hk, D] / [T, Hk, Dv] (rows may be strided); key_cache [num_blocks,
// block_size, Hk, D], value_cache [num_blocks, block_size, Hk, Dv], both of one dtype: f32, or on
// CUDA also bf16/f16 (rounded to nearest on write; the CPU keeps f32 caches only and raises
// Unsupported otherwise); slot_mapping [T] int32 (slot = block * block_size + offset; negative =
// skip, as vLLM's padding slots).
void reshape_and_cache(const Tensor& key, const Tensor& value, Tensor& key_cache,
                       Tensor& value_cache, const Tensor& slot_mapping);

// rotary_embedding (ops/rotary.h) of query and key in place, then reshape_and_cache of the rotated
// key and of value: vLLM's fused rotary + cache write, one kernel on CUDA (elsewhere the two ops).
void rotary_embedding_and_cache(const Tensor& positions, Tensor& query, Tensor& key, const Tensor& value,
                                const Tensor& cos_sin_cache, int64_t rotary_dim, bool is_neox, Tensor& key_cache,
                                Tensor& value_cache, const Tensor& slot_mapping);


// Flattened batch: sequence b owns query rows [query_start[b], query_start[b+1]) (query_start
// int32 [B+1]), which are its LAST q_len tokens of seq_lens[b] (int32 [B]) total, at positions
// seq_lens[b]-q_len .. seq_lens[b]-1 (causal; with params.causal = false each row sees keys
// 0..seq_lens[b]-1 and q_len may exceed seq_lens[b]). Keys/values come from the paged cache through
// block_table[b, :] (int32 [B, max_blocks_per_seq]). GQA/MQA: query head h reads kv head
// h / (Hq / Hk). query f32 [T, Hq, D] (rows may be strided), out [T, Hq, Dv] f32 contiguous;
// caches as for reshape_and_cache (f32 on the CPU; f32, bf16 or f16 on CUDA). Rows of `out` that
// belong to no sequence (past query_start[B]) are left untouched.
void paged_attention(const Tensor& query, const Tensor& key_cache, const Tensor& value_cache,
                     const Tensor& query_start, const Tensor& seq_lens, const Tensor& block_table,
                     const AttentionParams& params, Tensor& out);

// Attention without a paged cache over a flattened batch (vLLM's flash_attn_varlen_func, for
// encoder-only models): sequence b owns query rows [query_start[b], query_start[b+1]) and key/value
// rows [key_start[b], key_start[b+1]) (both int32 [B+1], increasing). Causal: query i of a
// sequence with q_len queries and k_len keys is at position k_len - q_len + i (bottom-right
// aligned, as paged_attention) and sees keys up to it; non-causal: every key of its sequence.
// query f32 [Tq, Hq, D], key f32 [Tk, Hk, D], value f32 [Tk, Hk, Dv] (rows may be strided, heads
// packed), out [Tq, Hq, Dv] f32 contiguous; GQA as paged_attention. params as for paged_attention
// (scale, causal, sliding_window, logit_softcap, alibi_slopes, sinks; max_query_len and max_seq_len
// bound q_len and k_len, num_decode_seqs is ignored); a sliding window also applies without the
// causal limit, on both sides (|p - j| < sliding_window: ModernBERT's local layers). Rows of `out` past query_start[B] are left
// untouched.
void attention_varlen(const Tensor& query, const Tensor& key, const Tensor& value, const Tensor& query_start,
                      const Tensor& key_start, const AttentionParams& params, Tensor& out);

}  // namespace vllm::ops
