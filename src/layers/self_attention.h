// SelfAttention: the projections around the Attention layer, as a decoder block holds them:
// fused qkv projection -> (clamp) -> q/k(/v) norms -> rotary -> Attention over the paged cache ->
// o projection. Weight names are the Llama layout under `prefix` (qkv_proj, o_proj, q_norm,
// k_norm, and sinks [num_heads] when spec.attention.sinks); a family's WeightMap renames and fuses
// its checkpoint into them.
#pragma once

#include <memory>

#include "layers/attention.h"
#include "layers/attention_block.h"
#include "layers/linear.h"
#include "layers/norm.h"
#include "layers/rotary_embedding.h"

namespace vllm {

// Where the q/k normalisation applies.
enum class QkNorm {
  None,
  PerHead,         // over each head's head_dim, one weight shared by the heads (Qwen3, Persimmon)
  PerHeadWeights,  // over each head's head_dim, a weight per head (Cohere, StableLM)
  Full,            // over the whole q / k projection (OLMo 2)
};

struct SelfAttentionSpec {
  AttentionSpec attention;
  int64_t hidden_size = 0;
  bool qkv_bias = false;
  bool o_bias = false;
  float clip_qkv = 0.0f;  // 0: none, else q, k, v clamped to [-clip, clip] (OLMo, MPT)
  QkNorm qk_norm = QkNorm::None;
  NormKind qk_norm_kind = NormKind::RMSNorm;
  float norm_eps = 1e-6f;
  float norm_weight_offset = 0.0f;   // Gemma's (1 + w) on the q/k norms too
  bool qk_norm_after_rotary = false; // HunYuan
  bool v_norm = false;               // Gemma 3n: RMSNorm of v over head_dim, no weight
  // The layer attends over another layer's cache and has no k/v projection of its own (Gemma
  // 3n's KV sharing): its checkpoint's k_proj, v_proj and k_norm are read and dropped.
  bool kv_shared = false;
};

class SelfAttention : public AttentionBlock {
 public:
  // `rotary` may be null (no rotary: ALiBi, learned positions, NoPE layers); layers with the
  // same rope parameters share one.
  static SelfAttention load(WeightLoader& loader, const std::string& prefix, SelfAttentionSpec spec,
                            std::shared_ptr<const RotaryEmbedding> rotary, Device device);

  const SelfAttentionSpec& spec() const { return spec_; }
  // hidden [T, H] (f32, or the qkv weight's half type on CUDA) -> [T, H] f32.
  Tensor forward(const Tensor& hidden, const BatchMetadata& batch, const AttentionCache& cache) const override;
  // The qkv (q alone when kv_shared) projection's weight dtype.
  DType weight_dtype() const override { return qkv_proj_.weight.dtype(); }

 private:
  SelfAttentionSpec spec_;
  Linear qkv_proj_, o_proj_;  // qkv_proj_ holds q_proj alone when kv_shared
  Norm q_norm_, k_norm_, v_norm_;
  std::shared_ptr<const RotaryEmbedding> rotary_;
  Attention attention_;
};

}  // namespace vllm
