// MlaAttention: DeepSeek's multi-head latent attention (DeepSeek-V2/V3). Each token's keys and
// values come from one compressed latent c = RMSNorm(kv_a(x)[:kv_lora_rank]) of kv_lora_rank
// floats, plus a rotary key part k_rot shared by every head; per head, k_nope = W_uk[h] c and
// v = W_uv[h] c (kv_b_proj).
//
// The cache holds the latent, not per-head keys and values ("absorbed" MLA): the query's no-rope
// part is folded through W_uk at load, so q_lat[h] = W_uk[h]^T q_nope[h] scores against c
// directly (q_nope . k_nope = q_lat . c), and W_uv is folded into o_proj, so attention returns
// per head a weighted sum of latents that o_proj maps out. Attention then is multi-query
// attention with one KV head: keys [c, rot(k_rot)] of kv_lora_rank + qk_rope_head_dim, values c.
// The cache holds c twice (as the key's first part and as the value), kv_lora_rank * 2 +
// qk_rope_head_dim floats a token, against the H * (qk_nope + qk_rope + v) of expanded heads.
// The folded weights are larger than the checkpoint's (q: H * (kv_lora + rope) rows instead of
// H * (nope + rope); o: H * kv_lora columns instead of H * v) and are computed once at load in
// f32; on the CPU they stay f32, on a GPU they take the checkpoint's (or --dtype's) type.
#pragma once

#include <memory>

#include "layers/attention.h"
#include "layers/attention_block.h"
#include "layers/linear.h"
#include "layers/norm.h"
#include "layers/rotary_embedding.h"

namespace vllm {

struct MlaSpec {
  int64_t hidden_size = 0;
  int64_t num_heads = 0;
  int64_t q_lora_rank = 0;  // 0: one q_proj; else q_a_proj -> q_a_layernorm -> q_b_proj
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;
  float scale = 0.0f;          // of q . k (HF's scaling, yarn's mscale^2 included)
  float norm_eps = 1e-6f;      // q_a_layernorm, kv_a_layernorm
  bool attention_bias = false; // q_a_proj, kv_a_proj_with_mqa and o_proj biases

  // The cache layer's key and value widths: [c, k_rot] and c.
  int64_t cache_key_dim() const { return kv_lora_rank + qk_rope_head_dim; }
  int64_t cache_value_dim() const { return kv_lora_rank; }
};

class MlaAttention : public AttentionBlock {
 public:
  // HF's names under `prefix` (q_proj or q_a_proj/q_a_layernorm/q_b_proj, kv_a_proj_with_mqa,
  // kv_a_layernorm, kv_b_proj, o_proj). `rotary` rotates qk_rope_head_dim dims.
  static std::unique_ptr<MlaAttention> load(WeightLoader& loader, const std::string& prefix, const MlaSpec& spec,
                                            std::shared_ptr<const RotaryEmbedding> rotary, Device device);

  Tensor forward(const Tensor& hidden, const BatchMetadata& batch, const AttentionCache& cache) const override;
  DType weight_dtype() const override { return kv_a_proj_.weight.dtype(); }
  const MlaSpec& spec() const { return spec_; }

 private:
  MlaSpec spec_;
  Linear q_a_proj_;      // q_lora_rank > 0 only
  Norm q_a_layernorm_;   // q_lora_rank > 0 only
  Linear q_latent_proj_; // [H * (kv_lora + rope), q input]: W_uk folded into q_b_proj / q_proj
  Linear kv_a_proj_;     // [kv_lora + rope, hidden]
  Norm kv_a_layernorm_;
  Linear o_latent_proj_; // [hidden, H * kv_lora]: W_uv folded into o_proj
  std::shared_ptr<const RotaryEmbedding> rotary_;
  Attention attention_;
};

}  // namespace vllm
