// DecoderSpec: the switches that tell one decoder-only transformer from another. The generic
// decoder runs any spec; a family file derives the spec from config.json and names its weights.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "layers/linear.h"
#include "loader/model_config.h"
#include "models/weight_loader.h"
#include "ops/activation.h"

namespace vllm {

struct DecoderLayerSpec {
  int64_t sliding_window = 0;  // 0: full attention; else HF's window (key visible iff p - j < window)
  nlohmann::json rope;         // transformers 5.x rope dict for this layer
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
  bool sandwich_norms = false;      // Gemma 2/3: norm the attention and MLP outputs too
  bool qk_norm = false;             // per-head RMSNorm of q and k before rotary (Qwen3, Gemma 3)

  // Projections.
  bool qkv_bias = false;
  bool o_bias = false;
  bool mlp_bias = false;
  ops::Activation activation = ops::Activation::Silu;  // gated MLP: act(gate) * up

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
  int64_t recompute_at_length = 0;   // see Model::recompute_at_length

  std::vector<DecoderLayerSpec> layers;
  WeightMap weights;  // checkpoint names -> the Llama-layout names the decoder asks for
};

// The fields most decoders share, read from config.json with HF's Llama defaults; a family
// adjusts the result. `default_tie` is the family config class's tie_word_embeddings default.
DecoderSpec llama_like_spec(const ModelConfig& config, bool default_tie);

// HF's activation names ("silu", "gelu", "gelu_pytorch_tanh", "relu", "relu2", ...).
ops::Activation parse_activation(const ModelConfig& config, const std::string& name);

// Layer l's rope dict for a config whose layers share one (partial_rotary_factor and
// original_max_position_embeddings lifted from the top level where the dict lacks them).
nlohmann::json rope_for_layer(const ModelConfig& config, const std::string& layer_type);

// The standard Llama-layout weight map: fused qkv and gate_up, inv_freq buffers ignored.
WeightMap llama_weight_map();

}  // namespace vllm
