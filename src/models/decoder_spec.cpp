#include "models/decoder_spec.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace vllm {

ops::Activation parse_activation(const ModelConfig& config, const std::string& name) {
  if (name == "silu" || name == "swish") return ops::Activation::Silu;
  if (name == "gelu") return ops::Activation::Gelu;
  if (name == "gelu_pytorch_tanh" || name == "gelu_new" || name == "gelu_fast" || name == "gelu_tanh")
    return ops::Activation::GeluTanh;
  if (name == "relu") return ops::Activation::Relu;
  if (name == "relu2") return ops::Activation::Relu2;
  fail(ErrorKind::Unsupported, config.source(), ": activation '", name,
       "' is not supported (known: silu, gelu, gelu_pytorch_tanh, gelu_new, relu, relu2)");
}

nlohmann::json rope_for_layer(const ModelConfig& config, const std::string& layer_type) {
  nlohmann::json rope = config.rope_parameters(layer_type);
  for (const char* key : {"partial_rotary_factor", "original_max_position_embeddings"}) {
    if (!rope.contains(key) && config.has(key)) rope[key] = config.raw()[key];
  }
  return rope;
}

std::vector<float> bloom_alibi_slopes(int64_t num_heads) {
  int64_t closest = int64_t{1} << static_cast<int>(std::floor(std::log2(static_cast<double>(num_heads))));
  double base = std::pow(2.0, -std::pow(2.0, -(std::log2(static_cast<double>(closest)) - 3)));
  std::vector<float> slopes;
  for (int64_t i = 1; i <= closest; ++i) slopes.push_back(static_cast<float>(std::pow(base, static_cast<double>(i))));
  if (closest != num_heads) {
    double extra_base = std::pow(2.0, -std::pow(2.0, -(std::log2(static_cast<double>(2 * closest)) - 3)));
    int64_t remaining = std::min(closest, num_heads - closest);
    for (int64_t i = 0; i < remaining; ++i)
      slopes.push_back(static_cast<float>(std::pow(extra_base, static_cast<double>(1 + 2 * i))));
  }
  return slopes;
}

std::vector<float> mpt_alibi_slopes(int64_t num_heads, double alibi_bias_max) {
  int64_t power = int64_t{1} << static_cast<int>(std::ceil(std::log2(static_cast<double>(num_heads))));
  std::vector<float> all;
  for (int64_t i = 1; i <= power; ++i)
    all.push_back(static_cast<float>(1.0 / std::pow(2.0, static_cast<double>(i) * alibi_bias_max / power)));
  if (power == num_heads) return all;
  std::vector<float> slopes;
  for (int64_t i = 1; i < power; i += 2) slopes.push_back(all[i]);
  for (int64_t i = 0; i < power; i += 2) slopes.push_back(all[i]);
  slopes.resize(num_heads);
  return slopes;
}

const char* activation_name(ops::Activation activation) {
  switch (activation) {
    case ops::Activation::Silu: return "silu";
    case ops::Activation::Gelu: return "gelu";
    case ops::Activation::GeluTanh: return "gelu_tanh";
    case ops::Activation::Relu: return "relu";
    case ops::Activation::Relu2: return "relu2";
  }
  return "unknown";
}

namespace {
const char* qk_norm_name(const DecoderSpec& spec) {
  if (!spec.qk_norm) return "none";
  switch (spec.qk_norm_kind) {
    case QkNorm::None: return "none";
    case QkNorm::PerHead: return "per_head";
    case QkNorm::PerHeadWeights: return "per_head_weights";
    case QkNorm::Full: return "full_projection";
  }
  return "unknown";
}
}  // namespace

nlohmann::json describe_spec(const DecoderSpec& spec) {
  using json = nlohmann::json;
  json layers = json::array();
  for (const DecoderLayerSpec& layer : spec.layers) {
    json entry = {{"sliding_window", layer.sliding_window},
                  {"rope", spec.rotary_dim > 0 && layer.rotary ? layer.rope : json()}};
    if (layer.num_kv_heads > 0) entry["kv_heads"] = layer.num_kv_heads;
    if (layer.intermediate_size > 0) entry["intermediate"] = layer.intermediate_size;
    if (!layer.has_attention) entry["attention"] = "no_op";
    if (!layer.has_mlp) entry["mlp"] = "no_op";
    if (layer.residual_mlp_size > 0) entry["residual_mlp"] = layer.residual_mlp_size;
    if (layer.moe) {
      entry["mlp"] = "moe";
      entry["experts"] = layer.moe->num_experts;
      entry["top_k"] = layer.moe->routing.top_k;
    }
    layers.push_back(entry);
  }
  // The first MoE layer's block (per-layer expert counts are in "layers"), which layers have one,
  // and the expert parameters a token leaves unread: (experts - top_k) experts per MoE layer.
  json moe;
  int64_t inactive = 0;
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const std::optional<MoESpec>& block = spec.layers[i].moe;
    if (!block) continue;
    if (moe.is_null()) moe = describe_moe(*block);
    moe["layers"].push_back(i);
    inactive += (block->num_experts - block->routing.top_k) * 3 * block->hidden_size * block->intermediate_size;
  }
  if (!moe.is_null()) moe["inactive_parameters_per_token"] = inactive;
  std::string norm = spec.norm_kind == NormKind::RMSNorm ? "rms_norm" : "layer_norm";
  if (!spec.norm_affine) norm += " (no affine)";
  return {
      {"sizes", {{"vocab", spec.vocab_size}, {"hidden", spec.hidden_size}, {"layers", spec.num_layers},
                 {"heads", spec.num_heads}, {"kv_heads", spec.num_kv_heads}, {"head_dim", spec.head_dim},
                 {"intermediate", spec.intermediate_size}, {"max_positions", spec.max_position_embeddings}}},
      {"norm", {{"kind", norm}, {"eps", spec.norm_eps}, {"weight_offset", spec.norm_weight_offset},
                {"pre_norms", spec.pre_norms}, {"output_norms", spec.sandwich_norms},
                {"embedding_norm", spec.embedding_norm}, {"qk_norm", qk_norm_name(spec)},
                {"qk_norm_after_rotary", spec.qk_norm_after_rotary}}},
      {"block", {{"parallel_residual", spec.parallel_residual}, {"shared_input_norm", spec.shared_input_norm},
                 {"gated_mlp", spec.gated_mlp}, {"activation", activation_name(spec.activation)},
                 {"qkv_bias", spec.qkv_bias}, {"o_bias", spec.o_bias}, {"mlp_bias", spec.mlp_bias},
                 {"down_bias", spec.down_bias.value_or(spec.mlp_bias)},
                 {"clip_qkv", spec.clip_qkv}}},
      {"positions", {{"rotary_dim", spec.rotary_dim}, {"rope_style", spec.rope_neox ? "neox" : "gptj"},
                     {"learned", spec.learned_positions}, {"learned_offset", spec.position_offset},
                     {"alibi_slopes", spec.alibi ? json(spec.alibi_slopes) : json()}}},
      {"scales", {{"attention", spec.attention_scale}, {"attn_logit_softcap", spec.attn_logit_softcap},
                  {"final_logit_softcap", spec.final_logit_softcap}, {"embedding", spec.embedding_scale},
                  {"residual", spec.residual_multiplier}, {"logits", spec.logits_scale}}},
      {"lm_head", {{"tied", spec.tie_word_embeddings}, {"bias", spec.lm_head_bias}}},
      {"skip_connections", spec.skip_connections.empty()
                               ? json()
                               : json{{"save", {spec.skip_connections.save[0], spec.skip_connections.save[1]}},
                                      {"mix", {spec.skip_connections.mix[0], spec.skip_connections.mix[1]}},
                                      {"weight", spec.skip_connections.weight}}},
      {"moe", moe},
      {"mla", spec.mla ? json{{"q_lora_rank", spec.mla->q_lora_rank}, {"kv_lora_rank", spec.mla->kv_lora_rank},
                              {"qk_nope_head_dim", spec.mla->qk_nope_head_dim},
                              {"qk_rope_head_dim", spec.mla->qk_rope_head_dim}, {"v_head_dim", spec.mla->v_head_dim},
                              {"scale", spec.mla->scale},
                              {"cached_floats_per_token", spec.mla->cache_key_dim() + spec.mla->cache_value_dim()}}
                       : json()},
      {"attention", spec.causal ? "causal" : "bidirectional (no KV cache)"},
      {"layers", layers},
  };
}

SelfAttentionSpec layer_attention_spec(const DecoderSpec& spec, int64_t layer) {
  const DecoderLayerSpec& l = spec.layers[static_cast<size_t>(layer)];
  SelfAttentionSpec s;
  AttentionSpec& a = s.attention;
  a.num_heads = spec.num_heads;
  a.num_kv_heads = l.num_kv_heads > 0 ? l.num_kv_heads : spec.num_kv_heads;
  a.head_dim = spec.head_dim;
  a.scale = spec.attention_scale;
  a.sliding_window = spec.causal ? l.sliding_window : 0;
  if (!spec.causal) a.type = AttentionType::EncoderOnly;
  a.logit_softcap = spec.attn_logit_softcap;
  if (spec.alibi) a.alibi_slopes = spec.alibi_slopes;
  s.hidden_size = spec.hidden_size;
  s.qkv_bias = spec.qkv_bias;
  s.o_bias = spec.o_bias;
  s.clip_qkv = spec.clip_qkv;
  s.qk_norm = spec.qk_norm ? spec.qk_norm_kind : QkNorm::None;
  s.qk_norm_kind = spec.qk_norm_norm_kind;
  s.norm_eps = spec.norm_eps;
  s.norm_weight_offset = spec.norm_weight_offset;
  s.qk_norm_after_rotary = spec.qk_norm_after_rotary;
  return s;
}

FeedForwardSpec layer_feed_forward_spec(const DecoderSpec& spec, int64_t layer) {
  const DecoderLayerSpec& l = spec.layers[static_cast<size_t>(layer)];
  FeedForwardSpec s;
  s.hidden_size = spec.hidden_size;
  s.intermediate_size = l.intermediate_size > 0 ? l.intermediate_size : spec.intermediate_size;
  s.gated = spec.gated_mlp;
  s.activation = spec.activation;
  s.up_bias = spec.mlp_bias;
  s.down_bias = spec.down_bias.value_or(spec.mlp_bias);
  return s;
}

void add_expert_stacking(WeightMap& map) {
  map.stacked.push_back({"experts.gate_up_proj", {"experts.$.gate_proj.weight", "experts.$.up_proj.weight"}});
  map.stacked.push_back({"experts.down_proj", {"experts.$.down_proj.weight"}});
}

MoESpec moe_block(const ModelConfig& config, const DecoderSpec& spec, int64_t experts, int64_t top_k,
                  int64_t intermediate) {
  VLLM_CHECK(experts > 0 && intermediate > 0 && top_k >= 1 && top_k <= experts, InvalidArgument, config.source(),
             ": a mixture of experts needs experts (", experts, ") and their width (", intermediate,
             ") positive and experts per token (", top_k, ") in [1, experts]");
  MoESpec moe;
  moe.hidden_size = spec.hidden_size;
  moe.num_experts = experts;
  moe.intermediate_size = intermediate;
  moe.activation = spec.activation;
  moe.routing.top_k = static_cast<int32_t>(top_k);
  return moe;
}

WeightMap llama_weight_map() {
  WeightMap map;
  map.packed = {{"qkv_proj", {"q_proj", "k_proj", "v_proj"}}, {"gate_up_proj", {"gate_proj", "up_proj"}}};
  map.ignored_suffixes = {"rotary_emb.inv_freq"};
  return map;
}

DecoderSpec llama_like_spec(const ModelConfig& config, bool default_tie) {
  return dense_spec(config, config.get_int("intermediate_size"), default_tie);
}

void set_partial_rotary(DecoderSpec& spec, const ModelConfig& config, double default_factor) {
  double factor = default_factor;
  if (config.has("rotary_pct")) factor = config.get_float("rotary_pct");
  if (config.has("partial_rotary_factor")) factor = config.get_float("partial_rotary_factor");
  if (!spec.layers.empty() && spec.layers.front().rope.contains("partial_rotary_factor"))
    factor = spec.layers.front().rope["partial_rotary_factor"].get<double>();
  spec.rotary_dim = static_cast<int64_t>(static_cast<double>(spec.head_dim) * factor);
  if (config.has("rotary_emb_base"))
    for (DecoderLayerSpec& layer : spec.layers)
      if (!config.raw().contains("rope_parameters") && !config.has("rope_theta"))
        layer.rope["rope_theta"] = config.get_float("rotary_emb_base");
}

void use_layer_norm(DecoderSpec& spec, const ModelConfig& config, const char* eps_key, double default_eps) {
  spec.norm_kind = NormKind::LayerNorm;
  spec.norm_eps = static_cast<float>(config.get_float(eps_key, default_eps));
}

void slide_every_layer(DecoderSpec& spec, const ModelConfig& config) {
  if (!config.layer_types().empty()) return;
  for (DecoderLayerSpec& layer : spec.layers) layer.sliding_window = config.sliding_window().value_or(0);
}

DecoderSpec dense_spec(const ModelConfig& config, int64_t intermediate_size, bool default_tie) {
  DecoderSpec spec;
  spec.architecture = config.architecture();
  spec.vocab_size = config.vocab_size();
  spec.hidden_size = config.hidden_size();
  spec.num_layers = config.num_hidden_layers();
  spec.num_heads = config.num_attention_heads();
  spec.num_kv_heads = config.num_key_value_heads();
  spec.head_dim = config.head_dim();
  spec.intermediate_size = intermediate_size;
  spec.max_position_embeddings = config.max_position_embeddings().value_or(2048);
  VLLM_CHECK(spec.num_heads > 0 && spec.num_kv_heads > 0 && spec.num_heads % spec.num_kv_heads == 0,
             InvalidArgument, config.source(), ": num_attention_heads (", spec.num_heads,
             ") must be a positive multiple of num_key_value_heads (", spec.num_kv_heads, ")");

  spec.norm_eps = static_cast<float>(config.get_float("rms_norm_eps", 1e-6));
  spec.activation = parse_activation(config, config.get_string("hidden_act", "silu"));
  spec.qkv_bias = spec.o_bias = config.get_bool("attention_bias", false);
  spec.mlp_bias = config.get_bool("mlp_bias", false);
  spec.attention_scale = 1.0f / std::sqrt(static_cast<float>(spec.head_dim));
  spec.tie_word_embeddings = config.get_bool("tie_word_embeddings", default_tie);

  nlohmann::json rope = rope_for_layer(config, "full_attention");
  double partial = rope.value("partial_rotary_factor", 1.0);
  spec.rotary_dim = static_cast<int64_t>(static_cast<double>(spec.head_dim) * partial);

  // 5.x names every layer's kind; 4.x families derive it (their spec functions override).
  std::vector<std::string> layer_types = config.layer_types();
  VLLM_CHECK(layer_types.empty() || static_cast<int64_t>(layer_types.size()) == spec.num_layers,
             InvalidArgument, config.source(), ": layer_types has ", layer_types.size(),
             " entries but num_hidden_layers is ", spec.num_layers);
  int64_t window = config.sliding_window().value_or(0);
  for (int64_t i = 0; i < spec.num_layers; ++i) {
    DecoderLayerSpec layer;
    std::string type = layer_types.empty() ? "full_attention" : layer_types[i];
    if (type == "sliding_attention") {
      VLLM_CHECK(window > 0, InvalidArgument, config.source(), ": layer ", i,
                 " is sliding_attention but sliding_window is not set");
      layer.sliding_window = window;
    } else {
      VLLM_CHECK(type == "full_attention", Unsupported, config.source(), ": layer type '", type,
                 "' is not supported by the generic decoder (known: full_attention, sliding_attention)");
    }
    layer.rope = rope_for_layer(config, type);
    spec.layers.push_back(layer);
  }
  spec.weights = llama_weight_map();
  return spec;
}

}  // namespace vllm
