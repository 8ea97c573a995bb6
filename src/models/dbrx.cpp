// DBRX (transformers' modeling_dbrx, vLLM's dbrx.py): every layer is LayerNorm (weight only) ->
// attention with one fused Wqkv clamped to [-clip_qkv, clip_qkv] -> LayerNorm -> a mixture of
// moe_num_experts SwiGLU experts, moe_top_k per token. The config nests its fields:
//   top level:   d_model, n_heads, n_layers, max_seq_len, vocab_size
//   attn_config: kv_n_heads (default 1), rope_theta (10000), clip_qkv (null: none)
//   ffn_config:  ffn_hidden_size (3584), moe_num_experts (4), moe_top_k (1), ffn_act_fn ({"name":
//                "silu"}), moe_normalize_expert_weights (1: renormalise; null: plain softmax)
// The experts are three bare parameters per layer, ffn.experts.mlp.{w1, v1, w2}, each
// [E * ffn_hidden_size, d_model]: w1 (gate) and v1 (up) expert e's rows e*I..(e+1)*I, and w2 the
// down projection transposed (HF multiplies by w2[e], not w2[e]^T). They are restacked at load
// into experts.gate_up_proj [E, 2I, H] and experts.down_proj [E, H, I].
#include "core/error.h"
#include "models/generic_decoder.h"

namespace vllm {
namespace {

using json = nlohmann::json;

// [2 * E * I, H] (w1 of every expert, then v1 of every expert, as the packed map concatenates
// them) -> [E, 2I, H] (expert e's gate rows, then its up rows). A 3-D tensor is already stacked.
Tensor stack_gate_up(const Tensor& fused, int64_t experts, int64_t inter) {
  if (fused.dim() == 3) return fused;
  VLLM_CHECK(fused.dim() == 2 && fused.size(0) == 2 * experts * inter, InvalidArgument,
             "DBRX experts w1 | v1 of shape ", shape_to_string(fused.shape()), " are not [2 x ", experts, " x ", inter,
             ", d_model]");
  const int64_t hidden = fused.size(1);
  return fused.contiguous().view({2, experts, inter, hidden}).transpose(0, 1).contiguous().view(
      {experts, 2 * inter, hidden});
}

// w2 [E * I, H] -> [E, H, I]: each expert's block transposed into the down projection.
Tensor stack_down(const Tensor& w2, int64_t experts, int64_t inter) {
  if (w2.dim() == 3) return w2;
  VLLM_CHECK(w2.dim() == 2 && w2.size(0) == experts * inter, InvalidArgument, "DBRX experts w2 of shape ",
             shape_to_string(w2.shape()), " is not [", experts, " x ", inter, ", d_model]");
  return w2.contiguous().view({experts, inter, w2.size(1)}).transpose(1, 2).contiguous();
}

// attn_config / ffn_config (absent or null: the config classes' defaults).
json sub_config(const ModelConfig& config, const char* key) {
  const json& raw = config.raw();
  if (!raw.contains(key) || raw[key].is_null()) return json::object();
  VLLM_CHECK(raw[key].is_object(), InvalidArgument, config.source(), ": ", key, " must be an object");
  return raw[key];
}

// A nested field that is null counts as absent.
json nested(const json& object, const char* key, json fallback) {
  return object.contains(key) && !object[key].is_null() ? object[key] : fallback;
}

DecoderSpec dbrx_spec(const ModelConfig& raw_config) {
  const json attn = sub_config(raw_config, "attn_config"), ffn = sub_config(raw_config, "ffn_config");
  VLLM_CHECK(!raw_config.get_bool("tie_word_embeddings", false), Unsupported, raw_config.source(),
             ": DBRX with tie_word_embeddings is not supported (DbrxConfig refuses it too)");
  // The nested fields in the names llama_like_spec reads.
  json flat = raw_config.raw();
  flat["num_key_value_heads"] = nested(attn, "kv_n_heads", 1);
  if (!flat.contains("rope_parameters") && !flat.contains("rope_theta"))
    flat["rope_theta"] = nested(attn, "rope_theta", 10000.0);
  flat["intermediate_size"] = nested(ffn, "ffn_hidden_size", 3584);
  const ModelConfig config = ModelConfig::from_json(flat, raw_config.source());

  DecoderSpec spec = llama_like_spec(config, /*default_tie=*/false);
  spec.norm_kind = NormKind::LayerNorm;  // nn.LayerNorm(d_model, bias=False): eps 1e-5
  spec.norm_eps = 1e-5f;
  const json clip = nested(attn, "clip_qkv", json());
  if (!clip.is_null()) {
    VLLM_CHECK(clip.is_number() && clip.get<double>() > 0.0, InvalidArgument, raw_config.source(),
               ": attn_config.clip_qkv must be a positive number or null");
    spec.clip_qkv = clip.get<float>();
  }

  // ffn_act_fn: {"name": ...} and nothing else (HF raises on other keys).
  const json act = nested(ffn, "ffn_act_fn", json{{"name", "silu"}});
  VLLM_CHECK(act.is_object() && act.size() <= 1 && (act.empty() || act.contains("name")), Unsupported,
             raw_config.source(), ": ffn_config.ffn_act_fn ", act.dump(),
             " is not supported (only {\"name\": <activation>})");
  spec.activation = parse_activation(config, act.value("name", std::string("silu")));

  MoESpec moe = moe_block(config, spec, nested(ffn, "moe_num_experts", 4).get<int64_t>(),
                          nested(ffn, "moe_top_k", 1).get<int64_t>(), spec.intermediate_size);
  moe.routing.scoring = ops::MoEScoring::Softmax;
  // DbrxFFN divides the top-k softmax weights by their p-norm; for p = 1 (every published
  // checkpoint) that is their sum.
  // An explicit null turns the normalisation off (absent: the default 1).
  const json p = ffn.contains("moe_normalize_expert_weights") ? ffn["moe_normalize_expert_weights"] : json(1.0);
  if (!p.is_null()) {
    VLLM_CHECK(p.is_number() && p.get<double>() == 1.0, Unsupported, raw_config.source(),
               ": ffn_config.moe_normalize_expert_weights ", p.dump(),
               " is not supported (known: 1, the sum of the top-k weights, or null)");
    moe.routing.renormalize = true;
  }
  for (DecoderLayerSpec& layer : spec.layers) layer.moe = moe;

  const int64_t experts = moe.num_experts, inter = moe.intermediate_size;
  spec.weights.renames = {{"^transformer.wte.", "model.embed_tokens."},
                          {"^transformer.blocks.", "model.layers."},
                          {"^transformer.norm_f.", "model.norm."},
                          {".norm_attn_norm.norm_1.", ".input_layernorm."},
                          {".norm_attn_norm.norm_2.", ".post_attention_layernorm."},
                          {".norm_attn_norm.attn.Wqkv.", ".self_attn.qkv_proj."},
                          {".norm_attn_norm.attn.out_proj.", ".self_attn.o_proj."},
                          {".ffn.router.layer.", ".mlp.gate."},
                          {".ffn.experts.mlp.w2", ".mlp.experts.down_proj"},
                          {".ffn.experts.mlp.", ".mlp.experts."}};
  spec.weights.packed.push_back({"gate_up_proj", {"w1", "v1"}});
  spec.weights.transforms = {
      {"mlp.experts.gate_up_proj", [experts, inter](const Tensor& t) { return stack_gate_up(t, experts, inter); }},
      {"mlp.experts.down_proj", [experts, inter](const Tensor& t) { return stack_down(t, experts, inter); }}};
  return spec;
}

ModelRegistrar dbrx{decoder_architecture("DbrxForCausalLM", "dbrx", dbrx_spec)};

}  // namespace
}  // namespace vllm
