// Architectures that are the Llama (or Qwen2) layout with a switch or two: GLM and GLM-4
// (GPT-J rotary on half the head, fused gate_up; GLM-4 adds output norms), Arcee (ReLU^2
// without gating), ERNIE 4.5, HunYuan dense (q/k norm after rotary), and the authors'-code
// names whose weights are Llama's: Aquila, Xverse, InternLM, InternLM3, GritLM, MiMo, Orion
// (LayerNorm), TeleFLM (muP multipliers) and fairseq2's Llama checkpoints. The mixtures of
// experts on these attentions: ERNIE 4.5 MoE and HunYuan MoE. Newer ones: Helium (GPT-J rotary),
// Seed-OSS (q/k/v biases only) and SmolLM3 (NoPE layers).
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "models/generic_decoder.h"

namespace vllm {
namespace {

// `config` with `defaults` filled in where the config does not give them (a family's own defaults
// for fields the common readers default differently).
ModelConfig with_defaults(const ModelConfig& config, const nlohmann::json& defaults) {
  nlohmann::json raw = config.raw();
  for (const auto& [key, value] : defaults.items())
    if (!raw.contains(key) || raw[key].is_null()) raw[key] = value;
  return ModelConfig::from_json(std::move(raw), config.source());
}

// Helium (kyutai): Llama with interleaved (GPT-J) rotary pairs and no o_proj bias; head_dim 128
// and rms_norm_eps 1e-8 by default.
DecoderSpec helium_spec(const ModelConfig& given) {
  const ModelConfig config = with_defaults(given, {{"head_dim", 128}, {"rms_norm_eps", 1e-8}});
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  spec.rope_neox = false;
  spec.o_bias = false;
  return spec;
}

// Seed-OSS: Llama with q/k/v biases (attention_bias, default on) apart from the output's
// (attention_out_bias, default off); head_dim 128 by default.
DecoderSpec seed_oss_spec(const ModelConfig& given) {
  const ModelConfig config = with_defaults(given, {{"head_dim", 128}, {"attention_bias", true}});
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  spec.qkv_bias = config.get_bool("attention_bias", true);
  spec.o_bias = config.get_bool("attention_out_bias", false);
  return spec;
}

// SmolLM3: Llama with NoPE layers. no_rope_layers[i] 0 drops layer i's rotary (without the list,
// every no_rope_layer_interval-th layer, 4 by default); 4.x configs without layer_types slide the
// NoPE layers when use_sliding_window and sliding_window are set. Tied embeddings and rope_theta
// 2e6 by default.
DecoderSpec smollm3_spec(const ModelConfig& given) {
  const bool has_theta = given.raw().contains("rope_theta") || given.raw().contains("rope_parameters");
  const ModelConfig config = has_theta ? given : with_defaults(given, {{"rope_theta", 2000000.0}});
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/true);
  const int64_t n = spec.num_layers;
  std::vector<int64_t> rope(static_cast<size_t>(n));
  const nlohmann::json& raw = config.raw();
  if (raw.contains("no_rope_layers") && !raw["no_rope_layers"].is_null()) {
    VLLM_CHECK(raw["no_rope_layers"].is_array() && static_cast<int64_t>(raw["no_rope_layers"].size()) >= n,
               InvalidArgument, config.source(), ": no_rope_layers must list at least num_hidden_layers (", n,
               ") entries");
    for (int64_t i = 0; i < n; ++i) rope[static_cast<size_t>(i)] = raw["no_rope_layers"][static_cast<size_t>(i)].get<int64_t>();
  } else {
    const int64_t interval = config.get_int("no_rope_layer_interval", 4);
    VLLM_CHECK(interval > 0, InvalidArgument, config.source(), ": no_rope_layer_interval must be positive");
    for (int64_t i = 0; i < n; ++i) rope[static_cast<size_t>(i)] = (i + 1) % interval != 0 ? 1 : 0;
  }
  const bool slide = config.layer_types().empty() && config.get_bool("use_sliding_window", false);
  const int64_t window = config.sliding_window().value_or(0);
  for (int64_t i = 0; i < n; ++i) {
    DecoderLayerSpec& layer = spec.layers[static_cast<size_t>(i)];
    layer.rotary = rope[static_cast<size_t>(i)] != 0;
    if (slide && window > 0 && !layer.rotary) layer.sliding_window = window;
  }
  return spec;
}

DecoderSpec glm_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  spec.qkv_bias = config.get_bool("attention_bias", true);
  spec.o_bias = false;
  spec.rope_neox = false;
  set_partial_rotary(spec, config, 0.5);
  return spec;
}

DecoderSpec glm4_spec(const ModelConfig& config) {
  DecoderSpec spec = glm_spec(config);
  spec.sandwich_norms = true;
  spec.weights.renames = {{".post_attention_layernorm.", ".pre_feedforward_layernorm."},
                          {".post_self_attn_layernorm.", ".post_attention_layernorm."},
                          {".post_mlp_layernorm.", ".post_feedforward_layernorm."}};
  return spec;
}

DecoderSpec arcee_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  spec.activation = parse_activation(config, config.get_string("hidden_act", "relu2"));
  spec.gated_mlp = false;
  return spec;
}

DecoderSpec ernie4_5_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/true);
  spec.qkv_bias = spec.o_bias = spec.mlp_bias = config.get_bool("use_bias", false);
  spec.rope_neox = false;
  return spec;
}

DecoderSpec hunyuan_dense_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  if (config.get_bool("use_qk_norm", true)) {
    spec.qk_norm = true;
    spec.qk_norm_after_rotary = true;
  }
  // HunYuan's DynamicNTKAlphaRotary: rope_scaling {"type": "dynamic", "alpha": a} is the default
  // rotary with base theta * a^(d / (d - 2)) (d = head_dim) up to max_position_embeddings.
  for (DecoderLayerSpec& layer : spec.layers) {
    if (layer.rope.value("rope_type", "default") != "dynamic" || !layer.rope.contains("alpha") ||
        !layer.rope["alpha"].is_number() || layer.rope["alpha"].get<double>() == 0.0)
      continue;
    const double d = static_cast<double>(spec.head_dim);
    const double base = layer.rope.value("rope_theta", 10000.0) * std::pow(layer.rope["alpha"].get<double>(), d / (d - 2));
    layer.rope = {{"rope_type", "default"}, {"rope_theta", base}};
  }
  spec.weights.renames = {{".self_attn.query_layernorm.", ".self_attn.q_norm."},
                          {".self_attn.key_layernorm.", ".self_attn.k_norm."}};
  return spec;
}

// ERNIE 4.5 MoE (Ernie4_5_MoeSparseMoeBlock): softmax scores, the choice on scores +
// e_score_correction_bias (moe_statics, stored [1, E]), weights renormalised with the sum
// clamped at moe_norm_min; moe_num_shared_experts shared experts; MoE on layer i when
// (i + 1) % moe_layer_interval == 0 and moe_layer_start_index <= i <= moe_layer_end_index.
DecoderSpec ernie4_5_moe_spec(const ModelConfig& config) {
  DecoderSpec spec = ernie4_5_spec(config);
  spec.norm_eps = static_cast<float>(config.get_float("rms_norm_eps", 1e-5));
  const int64_t experts = config.get_int("moe_num_experts", config.get_int("num_experts", 64));
  MoESpec moe = moe_block(config, spec, experts, config.get_int("moe_k", config.get_int("num_experts_per_tok", 6)),
                          config.get_int("moe_intermediate_size", 1536));
  VLLM_CHECK(!config.get_bool("use_bias", false), Unsupported, config.source(),
             ": ERNIE 4.5 MoE with use_bias (biases on the experts) is not supported");
  moe.routing.scoring = ops::MoEScoring::Softmax;
  moe.routing.renormalize = true;
  moe.routing.renormalize_min = static_cast<float>(config.get_float("moe_norm_min", 1e-12));
  moe.correction_bias = true;
  moe.shared_intermediate_size = config.get_int("moe_num_shared_experts", 2) * moe.intermediate_size;
  const int64_t start = config.get_int("moe_layer_start_index", 1), interval = config.get_int("moe_layer_interval", 1);
  int64_t end = config.get_int("moe_layer_end_index", -1);
  if (end == -1) end = spec.num_layers - 1;
  for (int64_t i = start; i <= end && i < spec.num_layers; ++i)
    if (interval > 0 && (i + 1) % interval == 0) spec.layers[i].moe = moe;
  spec.weights.renames = {{".mlp.moe_statics.e_score_correction_bias", ".mlp.gate.e_score_correction_bias"},
                          {".mlp.shared_experts.", ".mlp.shared_expert."}};
  spec.weights.transforms.push_back(
      {"gate.e_score_correction_bias", [](const Tensor& t) { return t.contiguous().view({t.numel()}); }});
  spec.weights.ignored_prefixes = {"model.mtp_"};  // multi-token prediction, unused
  add_expert_stacking(spec.weights);
  return spec;
}

// HunYuan MoE (HunYuanMoEV1Moe): the dense model's attention; every layer a softmax top-k
// router (renormalised) over num_experts experts (both may be per-layer lists, as moe_topk)
// plus an always-on shared MLP. transformers builds the experts and the shared MLP with
// intermediate_size, which is what it computes and what this reads.
DecoderSpec hunyuan_moe_spec(const ModelConfig& config) {
  DecoderSpec spec = hunyuan_dense_spec(config);
  spec.norm_eps = static_cast<float>(config.get_float("rms_norm_eps", 1e-5));
  auto per_layer = [&](const char* key, int64_t layer) -> int64_t {
    const nlohmann::json& raw = config.raw();
    if (raw.contains(key) && raw[key].is_array()) {
      VLLM_CHECK(static_cast<int64_t>(raw[key].size()) > layer && raw[key][layer].is_number_integer(), InvalidArgument,
                 config.source(), ": '", key, "' lists no integer for layer ", layer);
      return raw[key][layer].get<int64_t>();
    }
    return config.get_int(key, 1);
  };
  for (int64_t i = 0; i < spec.num_layers; ++i) {
    MoESpec moe = moe_block(config, spec, per_layer("num_experts", i), per_layer("moe_topk", i), spec.intermediate_size);
    moe.routing.scoring = ops::MoEScoring::Softmax;
    moe.routing.renormalize = true;
    moe.shared_intermediate_size = spec.intermediate_size;
    spec.layers[i].moe = moe;
  }
  spec.weights.renames.push_back({".mlp.gate.wg.", ".mlp.gate."});
  spec.weights.renames.push_back({".mlp.shared_mlp.", ".mlp.shared_expert."});
  add_expert_stacking(spec.weights);
  return spec;
}

DecoderSpec llama_spec(const ModelConfig& config) { return llama_like_spec(config, /*default_tie=*/false); }

// InternLM: `bias` puts a bias on q, k, v and o.
DecoderSpec internlm_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, false);
  spec.qkv_bias = spec.o_bias = config.get_bool("bias", true);
  return spec;
}

// InternLM3: `qkv_bias` on q, k, v; `bias` on o.
DecoderSpec internlm3_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, false);
  spec.qkv_bias = config.get_bool("qkv_bias", false);
  spec.o_bias = config.get_bool("bias", false);
  return spec;
}

// MiMo: Qwen2 with multi-token-prediction layers (unused for plain generation).
DecoderSpec mimo_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, false);
  spec.qkv_bias = true;
  spec.o_bias = false;
  spec.weights.ignored_prefixes = {"model.mtp_layers."};
  return spec;
}

// Orion: Llama with nn.LayerNorm (weight and bias) under rms_norm_eps (vLLM's orion.py).
DecoderSpec orion_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  use_layer_norm(spec, config, "rms_norm_eps", 1e-5);
  return spec;
}

// TeleFLM: Llama with muP: embeddings x input_mult, logits x output_mult / mup_scale_factor.
DecoderSpec teleflm_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  if (config.get_bool("use_mup", false)) {
    spec.embedding_scale = static_cast<float>(config.get_float("input_mult"));
    spec.logits_scale = static_cast<float>(config.get_float("output_mult") / config.get_float("mup_scale_factor"));
  }
  return spec;
}

// fairseq2 stores each q/k head's rows in interleaved-pair rotary order (x0, x1 rotate
// together); Llama's rotate_half pairs row i with row i + head_dim / 2. Row h*d + a*d/2 + i of the
// result is row h*d + 2i + a of the checkpoint (vLLM's reshape_fairseq2_weights permute).
Tensor fairseq2_rotary_rows(const Tensor& fused, int64_t q_heads, int64_t kv_heads, int64_t head_dim) {
  Tensor source = fused.contiguous();
  Tensor out = source.clone();
  size_t row_bytes = source.nbytes() / static_cast<size_t>(source.size(0));
  const char* in = static_cast<const char*>(source.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  for (int64_t h = 0; h < q_heads + kv_heads; ++h)  // q heads, then k heads; v rows stay
    for (int64_t a = 0; a < 2; ++a)
      for (int64_t i = 0; i < head_dim / 2; ++i)
        std::memcpy(dst + static_cast<size_t>(h * head_dim + a * head_dim / 2 + i) * row_bytes,
                    in + static_cast<size_t>(h * head_dim + 2 * i + a) * row_bytes, row_bytes);
  return out;
}

// Fairseq2LlamaForCausalLM: Llama under fairseq2's names. fairseq2 saves `model.pt` (a pickled
// {"model_key": name, name: state_dict}); vllm-cpp reads safetensors, so such a checkpoint is
// converted to safetensors first (names and layouts kept).
DecoderSpec fairseq2_llama_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  spec.weights.renames = {{"^decoder_frontend.embed.", "model.embed_tokens."},
                          {"^final_proj.", "lm_head."},
                          {"^decoder.layer_norm.", "model.norm."},
                          {"^decoder.", "model."},
                          {".self_attn_layer_norm.", ".input_layernorm."},
                          {".ffn_layer_norm.", ".post_attention_layernorm."},
                          {".self_attn.output_proj.", ".self_attn.o_proj."},
                          {".ffn.gate_proj.", ".mlp.gate_proj."},
                          {".ffn.inner_proj.", ".mlp.up_proj."},
                          {".ffn.output_proj.", ".mlp.down_proj."}};
  int64_t heads = spec.num_heads, kv_heads = spec.num_kv_heads, head_dim = spec.head_dim;
  spec.weights.transforms = {{"qkv_proj.weight", [heads, kv_heads, head_dim](const Tensor& t) {
                                return fairseq2_rotary_rows(t, heads, kv_heads, head_dim);
                              }}};
  return spec;
}

ModelRegistrar glm{decoder_architecture("GlmForCausalLM", "glm", glm_spec)};
ModelRegistrar glm4{decoder_architecture("Glm4ForCausalLM", "glm4", glm4_spec)};
ModelRegistrar arcee{decoder_architecture("ArceeForCausalLM", "arcee", arcee_spec)};
ModelRegistrar ernie{decoder_architecture("Ernie4_5_ForCausalLM", "ernie4_5", ernie4_5_spec)};
ModelRegistrar ernie_hf{decoder_architecture("Ernie4_5ForCausalLM", "ernie4_5", ernie4_5_spec)};
ModelRegistrar hunyuan{decoder_architecture("HunYuanDenseV1ForCausalLM", "hunyuan_v1_dense", hunyuan_dense_spec)};
ModelRegistrar ernie_moe{decoder_architecture("Ernie4_5_MoeForCausalLM", "ernie4_5_moe", ernie4_5_moe_spec)};
ModelRegistrar hunyuan_moe{decoder_architecture("HunYuanMoEV1ForCausalLM", "hunyuan_v1_moe", hunyuan_moe_spec)};
ModelRegistrar aquila{decoder_architecture("AquilaForCausalLM", "llama", llama_spec)};
ModelRegistrar aquila_model{decoder_architecture("AquilaModel", "llama", llama_spec)};
ModelRegistrar xverse{decoder_architecture("XverseForCausalLM", "llama", llama_spec)};
ModelRegistrar helium{decoder_architecture("HeliumForCausalLM", "helium", helium_spec)};
ModelRegistrar seed_oss{decoder_architecture("SeedOssForCausalLM", "seed_oss", seed_oss_spec)};
ModelRegistrar smollm3{decoder_architecture("SmolLM3ForCausalLM", "smollm3", smollm3_spec)};
ModelRegistrar internlm{decoder_architecture("InternLMForCausalLM", "internlm", internlm_spec)};
ModelRegistrar internlm3{decoder_architecture("InternLM3ForCausalLM", "internlm3", internlm3_spec)};
ModelRegistrar orion{decoder_architecture("OrionForCausalLM", "orion", orion_spec)};
ModelRegistrar teleflm{decoder_architecture("TeleFLMForCausalLM", "teleflm", teleflm_spec)};
ModelRegistrar fairseq2{decoder_architecture("Fairseq2LlamaForCausalLM", "fairseq2_llama", fairseq2_llama_spec)};
ModelRegistrar mimo{decoder_architecture("MiMoForCausalLM", "mimo", mimo_spec)};

}  // namespace
}  // namespace vllm
