// DecoderSpec: what tells one decoder-only transformer from another. A family file derives it
// from config.json and names its weights; the generic decoder turns it into a tree of shared
// parts, one per layer: layer_attention_spec() gives each layer's SelfAttention, and
// layer_feed_forward_spec() its FeedForward (layers/). Model-wide switches hold what every layer
// shares; DecoderLayerSpec holds what differs per layer.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "layers/feed_forward.h"
#include "layers/mla_attention.h"
#include "layers/moe.h"
#include "layers/norm.h"
#include "layers/self_attention.h"
#include "loader/model_config.h"
#include "loader/weight_loader.h"
#include "ops/activation.h"

namespace vllm {

struct DecoderLayerSpec {
  int64_t sliding_window = 0;  // 0: full attention; else HF's window (key visible iff p - j < window)
  nlohmann::json rope;         // transformers 5.x rope dict for this layer
  bool rotary = true;          // false: this layer's attention has no rotary (Cohere 2, EXAONE 4 global layers)
  // Layers that differ in shape (DeciLM / Nemotron-NAS): 0 takes the model-wide value.
  int64_t num_kv_heads = 0;
  int64_t intermediate_size = 0;
  bool has_attention = true;   // false: the attention and its norm are skipped (DeciLM no_op)
  bool has_mlp = true;         // false: the MLP and its norm are skipped (DeciLM no_op)
  // Set: this layer's MLP is a mixture of experts (MoEFeedForward under mlp.), else dense.
  std::optional<MoESpec> moe;
  // > 0: Arctic's dense residual MLP of this width next to the MLP (use_residual /
  // parallel_attn_mlp_res): with h = x + attn(input_layernorm(x)), the layer's output is
  // h + residual_mlp(residual_layernorm(h)) + mlp(post_attention_layernorm(x)), the MLP reading
  // the layer's input x, not h.
  int64_t residual_mlp_size = 0;
};

// Solar's "bskcn" skip connections: the stream entering layer i is saved (slot 0 / 1) when i is in
// save[slot], and replaced by saved * weight + stream * (1 - weight) when i is in mix[slot].
struct SkipConnections {
  std::vector<int64_t> save[2], mix[2];
  float weight = 0.0f;
  bool empty() const { return save[0].empty() && save[1].empty() && mix[0].empty() && mix[1].empty(); }
};

struct DecoderSpec {
  std::string architecture;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t intermediate_size = 0;
  int64_t max_position_embeddings = 0;

  // Norms.
  NormKind norm_kind = NormKind::RMSNorm;
  float norm_eps = 1e-6f;
  float norm_weight_offset = 0.0f;  // Gemma: x * (1 + w)
  bool norm_affine = true;          // false: LayerNorm without weight or bias (OLMo)
  bool pre_norms = true;            // norm each block's input (false: OLMo 2 / EXAONE 4 norm outputs only)
  bool sandwich_norms = false;      // Gemma 2/3: norm the attention and MLP outputs too
  bool qk_norm = false;             // per-head RMSNorm of q and k before rotary (Qwen3, Gemma 3)
  QkNorm qk_norm_kind = QkNorm::PerHead;  // which q/k norm when qk_norm is set
  NormKind qk_norm_norm_kind = NormKind::RMSNorm;
  bool qk_norm_after_rotary = false;      // HunYuan
  bool embedding_norm = false;      // a norm right after the embedding (Bloom)

  // Block structure.
  bool parallel_residual = false;   // x + attn(norm1(x)) + mlp(norm2(x)) (GPT-J, GPT-NeoX, Falcon, Phi, Cohere)
  bool shared_input_norm = false;   // parallel_residual with one norm feeding both branches
  bool gated_mlp = true;            // false: up -> act -> down (GPT-2, OPT, Starcoder2, Nemotron)

  // Positions.
  bool learned_positions = false;   // absolute position table model.embed_positions (GPT-2, OPT)
  int64_t position_offset = 0;      // OPT's table starts at 2
  bool alibi = false;               // ALiBi biases with alibi_slopes (Bloom, MPT)
  std::vector<float> alibi_slopes;  // [num_heads]
  float clip_qkv = 0.0f;            // 0: none, else q, k, v clamped to [-clip, clip] (OLMo, MPT)

  // Projections.
  bool qkv_bias = false;
  bool o_bias = false;
  bool mlp_bias = false;
  std::optional<bool> down_bias;    // unset: mlp_bias (TeleChat2: on down_proj alone)
  ops::Activation activation = ops::Activation::Silu;  // gated MLP: act(gate) * up

  // Set: every layer's attention is multi-head latent attention (DeepSeek-V2/V3) under
  // self_attn., with the rotary below over its qk_rope_head_dim dims; the q/k/v fields above
  // are unused.
  std::optional<MlaSpec> mla;

  // false: every layer attends both ways over each prompt's own tokens of the step, without a
  // KV cache or a sliding window (vLLM's is_causal false: GritLM and gte-Qwen2 under the pooling
  // runner). Whole prompts only.
  bool causal = true;

  // Rotary.
  int64_t rotary_dim = 0;  // head_dim * partial_rotary_factor
  bool rope_neox = true;

  // Scales.
  float attention_scale = 0.0f;      // multiplies q.k (head_dim^-0.5 by default)
  float attn_logit_softcap = 0.0f;
  float final_logit_softcap = 0.0f;
  float embedding_scale = 1.0f;      // Gemma sqrt(hidden), Granite embedding_multiplier
  float residual_multiplier = 1.0f;  // Granite
  float logits_scale = 1.0f;         // Granite 1 / logits_scaling
  bool tie_word_embeddings = false;
  bool lm_head_bias = false;         // GPT-J, Phi
  int64_t recompute_at_length = 0;   // see Model::recompute_at_length

  SkipConnections skip_connections;

  std::vector<DecoderLayerSpec> layers;
  WeightMap weights;  // checkpoint names -> the Llama-layout names the decoder asks for
};

// The fields most decoders share, read from config.json with HF's Llama defaults; a family
// adjusts the result. `default_tie` is the family config class's tie_word_embeddings default.
DecoderSpec llama_like_spec(const ModelConfig& config, bool default_tie);
// llama_like_spec for configs that name the MLP width otherwise (n_inner, ffn_dim, ...).
DecoderSpec dense_spec(const ModelConfig& config, int64_t intermediate_size, bool default_tie);

// rotary_dim from partial_rotary_factor (rope dict or top level) or rotary_pct, else
// `default_factor` (the config class's default); rotary_emb_base as the theta (GPT-NeoX 4.x).
void set_partial_rotary(DecoderSpec& spec, const ModelConfig& config, double default_factor);
// LayerNorm with the config's epsilon field.
void use_layer_norm(DecoderSpec& spec, const ModelConfig& config, const char* eps_key, double default_eps);
// 4.x configs without layer_types: every layer slides by sliding_window (when set).
void slide_every_layer(DecoderSpec& spec, const ModelConfig& config);

// HF's activation names ("silu", "gelu", "gelu_pytorch_tanh", "relu", "relu2", ...).
ops::Activation parse_activation(const ModelConfig& config, const std::string& name);
// The name `describe` shows for an activation.
const char* activation_name(ops::Activation activation);

// Layer l's rope dict for a config whose layers share one (partial_rotary_factor and
// original_max_position_embeddings lifted from the top level where the dict lacks them).
nlohmann::json rope_for_layer(const ModelConfig& config, const std::string& layer_type);

// ALiBi slopes as HF computes them: Bloom's get_alibi_slopes (also BaiChuan, Falcon) and MPT's
// build_mpt_alibi_tensor with alibi_bias_max.
std::vector<float> bloom_alibi_slopes(int64_t num_heads);
std::vector<float> mpt_alibi_slopes(int64_t num_heads, double alibi_bias_max);

// Layer `layer`'s parts: its attention (heads, scale, window, rotary placement, norms, biases)
// and its MLP.
SelfAttentionSpec layer_attention_spec(const DecoderSpec& spec, int64_t layer);
FeedForwardSpec layer_feed_forward_spec(const DecoderSpec& spec, int64_t layer);

// The spec's switches as JSON (`vllm-cpp inspect`): sizes, norms, attention, MLP, positions,
// scales and per-layer windows / rope.
nlohmann::json describe_spec(const DecoderSpec& spec);

// The standard Llama-layout weight map: fused qkv and gate_up, inv_freq buffers ignored.
WeightMap llama_weight_map();
// Adds the per-expert layout of MoE experts to `map`: experts.N.{gate_proj, up_proj, down_proj}
// stacked into experts.gate_up_proj / experts.down_proj (HF's hub layout; transformers 5.x's
// fused [E, 2I, H] / [E, H, I] tensors under those names load as they are).
void add_expert_stacking(WeightMap& map);
// An MoE block of `experts` experts of width `intermediate`, `top_k` per token, with the spec's
// hidden size and activation; the family sets the routing and shared expert. InvalidArgument
// naming the config when a count is not positive or top_k exceeds the experts.
MoESpec moe_block(const ModelConfig& config, const DecoderSpec& spec, int64_t experts, int64_t top_k,
                  int64_t intermediate);

}  // namespace vllm
