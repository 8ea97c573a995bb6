// The CPU kernels behind src/ops/. Arguments are already checked by the op entry points, so the
// kernels only assert internal invariants.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "backend/backend_types.h"
#include "backend/moe_routing.h"
#include "backend/ssm_types.h"

namespace vllm::cpu {

void linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& out);

void rms_norm(const Tensor& x, const Tensor& weight, float eps, float weight_offset, Tensor& out);
void fused_add_rms_norm(Tensor& x, Tensor& residual, const Tensor& weight, float eps,
                        float weight_offset);
void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, Tensor& out);

void rotary_embedding(const Tensor& positions, Tensor& query, Tensor& key,
                      const Tensor& cos_sin_cache, int64_t rotary_dim, bool is_neox);

void reshape_and_cache(const Tensor& key, const Tensor& value, Tensor& key_cache,
                       Tensor& value_cache, const Tensor& slot_mapping);
void paged_attention(const Tensor& query, const Tensor& key_cache, const Tensor& value_cache,
                     const Tensor& query_start, const Tensor& seq_lens, const Tensor& block_table,
                     const ops::AttentionParams& params, Tensor& out);
void attention_varlen(const Tensor& query, const Tensor& key, const Tensor& value, const Tensor& query_start,
                      const Tensor& key_start, const ops::AttentionParams& params, Tensor& out);

void activation(ops::Activation kind, const Tensor& x, Tensor& out);
void activation_and_mul(ops::Activation kind, const Tensor& x, Tensor& out);

void softmax(Tensor& x);
void log_softmax(const Tensor& x, Tensor& out);
void embedding(const Tensor& ids, const Tensor& table, Tensor& out);
void add(const Tensor& a, const Tensor& b, Tensor& out);
void scale(Tensor& x, float factor);
void clamp(Tensor& x, float lo, float hi);
void softcap(Tensor& x, float cap);
void gather_rows(const Tensor& x, const Tensor& rows, Tensor& out);
void sample_tokens(const Tensor& logits, const ops::SamplingTensors& params, Tensor& out);
void scatter_tokens(Tensor& dst, const Tensor& dst_index, const Tensor& src, const Tensor& src_index);
void apply_penalties(Tensor& logits, const ops::PenaltyTensors& penalties);
void apply_token_bitmask(Tensor& logits, const Tensor& bitmask);
void compute_logprobs(const Tensor& logits, const Tensor& rows, const Tensor& token_ids, Tensor& top_ids,
                      Tensor& top_logprobs, Tensor& ranks);

// src/ops/mixing.h
void mul(const Tensor& a, const Tensor& b, Tensor& out);
void mix_streams(const Tensor& streams, const Tensor& coefs, Tensor& out);
void match_rms(Tensor& x, const Tensor& reference, float min_mean_square);
void gaussian_topk(Tensor& x, float multiplier);

// src/ops/moe.h
void moe_topk(const Tensor& router_logits, const Tensor& correction_bias, const ops::MoERouting& routing,
              Tensor& topk_ids, Tensor& topk_weights);
void moe_experts(const Tensor& x, const Tensor& topk_ids, const Tensor& topk_weights, const Tensor& w_gate_up,
                 const Tensor& w_down, ops::Activation activation, Tensor& out, DType product_dtype);
void moe_add_gated(Tensor& out, const Tensor& shared, const Tensor& gate_logits);

// src/ops/ssm.h
void causal_conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& conv_state,
                   const ops::StateSequences& sequences, bool silu, Tensor& out);
void selective_scan(const Tensor& u, const Tensor& delta, const Tensor& A, const Tensor& B, const Tensor& C,
                    const Tensor& D, const Tensor& z, Tensor& ssm_state, const ops::StateSequences& sequences,
                    Tensor& out);
void ssd_scan(const Tensor& x, const Tensor& dt_raw, const Tensor& A, const Tensor& B, const Tensor& C,
              const Tensor& D, const Tensor& dt_bias, float dt_min, float dt_max, int64_t n_groups,
              Tensor& ssm_state, const ops::StateSequences& sequences, Tensor& out);
void gated_rms_norm(const Tensor& x, const Tensor& z, const Tensor& weight, int64_t group_size, float eps,
                    Tensor& out);

}  // namespace vllm::cpu
