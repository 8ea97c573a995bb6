// OLMo (non-parametric LayerNorm, clip_qkv), OLMo 2 and EXAONE 4 (norms on the block outputs
// only, q/k RMSNorm), Cohere and Cohere 2 (one LayerNorm feeding parallel attention and MLP,
// GPT-J rotary, logit scale; Cohere 2 rotates only its sliding-window layers), and OLMoE
// (q/k RMSNorm over the whole projections, every MLP a mixture of experts).
#include <string>

#include "core/error.h"
#include "models/generic_decoder.h"

namespace vllm {
namespace {

// 4.x configs: `pattern` (an int, every pattern-th layer global; or "LLLG") to per-layer windows.
void pattern_layers(DecoderSpec& spec, const ModelConfig& config, const nlohmann::json& pattern) {
  if (!config.layer_types().empty()) return;
  int64_t window = config.sliding_window().value_or(0);
  if (window <= 0) return;
  for (int64_t i = 0; i < spec.num_layers; ++i) {
    bool global = false;
    if (pattern.is_number_integer()) {
      global = (i + 1) % pattern.get<int64_t>() == 0;
    } else if (pattern.is_string() && !pattern.get<std::string>().empty()) {
      const std::string text = pattern.get<std::string>();
      global = text[static_cast<size_t>(i) % text.size()] == 'G';
    }
    spec.layers[i].sliding_window = global ? 0 : window;
  }
}

// Cohere 2 and EXAONE 4: with sliding windows, only sliding layers rotate.
void rotate_sliding_layers_only(DecoderSpec& spec) {
  bool any = false;
  for (const DecoderLayerSpec& layer : spec.layers) any = any || layer.sliding_window > 0;
  if (!any) return;
  for (DecoderLayerSpec& layer : spec.layers) layer.rotary = layer.sliding_window > 0;
}

DecoderSpec olmo_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  spec.norm_kind = NormKind::LayerNorm;
  spec.norm_affine = false;
  spec.norm_eps = 1e-5f;
  spec.clip_qkv = static_cast<float>(config.find_float("clip_qkv").value_or(0.0));
  return spec;
}

DecoderSpec olmo2_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  spec.pre_norms = false;
  spec.sandwich_norms = true;
  spec.qk_norm = true;
  spec.qk_norm_kind = QkNorm::Full;
  return spec;
}

// OLMo 3: OLMo 2 with sliding windows on three layers of four (layer_types; configs without them
// get transformers' default pattern and a 4096-token window).
DecoderSpec olmo3_spec(const ModelConfig& config) {
  DecoderSpec spec = olmo2_spec(config);
  if (config.layer_types().empty()) {
    const int64_t window = config.sliding_window().value_or(4096);
    for (int64_t i = 0; i < spec.num_layers; ++i) spec.layers[i].sliding_window = (i + 1) % 4 != 0 ? window : 0;
  }
  return spec;
}

// OLMoE (OlmoeForCausalLM): Llama blocks with q_norm / k_norm over the whole q and k projections
// and Qwen2-MoE's router (softmax top-k, renormalised when norm_topk_prob) over num_experts
// experts of intermediate_size on every layer.
DecoderSpec olmoe_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  spec.norm_eps = static_cast<float>(config.get_float("rms_norm_eps", 1e-5));
  spec.qk_norm = true;
  spec.qk_norm_kind = QkNorm::Full;
  // HF clamps q, k and v after the q/k norms; the shared attention clamps before them.
  VLLM_CHECK(!config.has("clip_qkv"), Unsupported, config.source(),
             ": OLMoE with clip_qkv is not supported (its clamp follows the q/k norms)");
  MoESpec moe = moe_block(config, spec, config.get_int("num_experts", 64), config.get_int("num_experts_per_tok", 8),
                          spec.intermediate_size);
  moe.routing.scoring = ops::MoEScoring::Softmax;
  moe.routing.renormalize = config.get_bool("norm_topk_prob", false);
  for (DecoderLayerSpec& layer : spec.layers) layer.moe = moe;
  add_expert_stacking(spec.weights);
  return spec;
}

DecoderSpec exaone4_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  spec.pre_norms = false;
  spec.sandwich_norms = true;
  spec.qk_norm = true;
  pattern_layers(spec, config, config.raw().value("sliding_window_pattern", nlohmann::json()));
  rotate_sliding_layers_only(spec);
  return spec;
}

DecoderSpec cohere_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/true);
  use_layer_norm(spec, config, "layer_norm_eps", 1e-5);
  spec.parallel_residual = spec.shared_input_norm = true;
  spec.rope_neox = false;
  spec.logits_scale = static_cast<float>(config.get_float("logit_scale", 0.0625));
  if (config.get_bool("use_qk_norm", false)) {
    spec.qk_norm = true;
    spec.qk_norm_kind = QkNorm::PerHeadWeights;
    spec.qk_norm_norm_kind = NormKind::LayerNorm;
  }
  return spec;
}

DecoderSpec cohere2_spec(const ModelConfig& config) {
  DecoderSpec spec = cohere_spec(config);
  pattern_layers(spec, config, config.raw().value("sliding_window_pattern", nlohmann::json(4)));
  rotate_sliding_layers_only(spec);
  return spec;
}

ModelRegistrar olmo{decoder_architecture("OlmoForCausalLM", "olmo", olmo_spec)};
ModelRegistrar olmo_upper{decoder_architecture("OLMoForCausalLM", "olmo", olmo_spec)};
ModelRegistrar olmo2{decoder_architecture("Olmo2ForCausalLM", "olmo2", olmo2_spec)};
// vLLM's supported-models list spells it OLMo2 (as OLMo above); checkpoints say Olmo2.
ModelRegistrar olmo2_upper{decoder_architecture("OLMo2ForCausalLM", "olmo2", olmo2_spec)};
ModelRegistrar olmo3{decoder_architecture("Olmo3ForCausalLM", "olmo3", olmo3_spec)};
ModelRegistrar exaone4{decoder_architecture("Exaone4ForCausalLM", "exaone4", exaone4_spec)};
ModelRegistrar cohere{decoder_architecture("CohereForCausalLM", "cohere", cohere_spec)};
ModelRegistrar cohere2{decoder_architecture("Cohere2ForCausalLM", "cohere2", cohere2_spec)};
ModelRegistrar olmoe{decoder_architecture("OlmoeForCausalLM", "olmoe", olmoe_spec)};
ModelRegistrar olmoe_alias{decoder_architecture("OLMoEForCausalLM", "olmoe", olmoe_spec)};

}  // namespace
}  // namespace vllm
