// Llama-derived decoders whose layers differ from one another, as generic-decoder specs with
// per-layer entries (DecoderLayerSpec) and skip connections:
//   DeciLM / Nemotron-NAS (nvidia modeling_decilm.py, vLLM's nemotron_nas.py): each block's kv
//     heads (num_heads / n_heads_in_group) and FFN width (ffn_mult) vary; a block's attention or
//     FFN may be a no-op, skipped with its norm.
//   Solar (upstage modeling_solar.py, vLLM's solar.py): Llama plus "bskcn" skip connections: the
//     stream entering layer i is saved when i is in bskcn_1 / bskcn_2 and replaced by
//     saved * tv + stream * (1 - tv) when i is in bskcn_3 / bskcn_4 (tv = bskcn_tv[1] at inference).
//   TeleChat2 (Tele-AI modeling_telechat2.py, vLLM's telechat2.py): Llama blocks with a bias on the
//     attention output (`dense`) and the down projection only; key_value fused per kv head.
#include <cstring>

#include "core/error.h"
#include "models/decoder_spec.h"
#include "models/generic_decoder.h"
#include "models/registry.h"

namespace vllm {
namespace {

using json = nlohmann::json;

// Llama's spec with silu only (these families' modeling code hard-codes it), no attention or MLP
// biases whatever config.json says, and every layer full attention.
DecoderSpec llama_base(const ModelConfig& config, int64_t intermediate, bool default_tie) {
  DecoderSpec spec = dense_spec(config, intermediate, default_tie);
  spec.qkv_bias = spec.o_bias = spec.mlp_bias = false;
  for (DecoderLayerSpec& layer : spec.layers) layer.sliding_window = 0;
  std::string act = config.get_string("hidden_act", "silu");
  VLLM_CHECK(act == "silu", Unsupported, config.source(), ": hidden_act '", act, "' is not supported for ",
             spec.architecture, " (silu only)");
  return spec;
}

// modeling_decilm.py's _ffn_mult_to_intermediate_size: int(2 * ffn_mult * hidden / 3) rounded up
// to a multiple of 256.
int64_t decilm_intermediate_size(double ffn_mult, int64_t hidden) {
  int64_t size = static_cast<int64_t>(2.0 * ffn_mult * static_cast<double>(hidden) / 3.0);
  return size % 256 == 0 ? size : size + 256 - size % 256;
}

DecoderSpec decilm_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_base(config, 0, /*default_tie=*/false);
  VLLM_CHECK(config.raw().contains("block_configs") && config.raw()["block_configs"].is_array(), InvalidArgument,
             config.source(), ": DeciLMForCausalLM needs block_configs");
  const json& blocks = config.raw()["block_configs"];
  VLLM_CHECK(static_cast<int64_t>(blocks.size()) == config.num_hidden_layers(), InvalidArgument, config.source(),
             ": block_configs has ", blocks.size(), " entries for ", config.num_hidden_layers(), " layers");
  auto flag = [](const json& part, const char* key) { return part.contains(key) && part[key].is_boolean() && part[key].get<bool>(); };
  for (size_t i = 0; i < blocks.size(); ++i) {
    const json& attention = blocks[i].value("attention", json::object());
    const json& ffn = blocks[i].value("ffn", json::object());
    VLLM_CHECK(!flag(attention, "replace_with_linear") && !flag(ffn, "replace_with_linear"), Unsupported,
               config.source(), ": block_configs[", i, "] replace_with_linear is not supported (nor by vLLM)");
    VLLM_CHECK(!attention.contains("window_length") || attention["window_length"].is_null(), Unsupported,
               config.source(), ": block_configs[", i, "].attention.window_length is not supported");
    DecoderLayerSpec& layer = spec.layers[i];
    layer.has_attention = !flag(attention, "no_op");
    if (layer.has_attention) layer.num_kv_heads = spec.num_heads / attention.at("n_heads_in_group").get<int64_t>();
    layer.has_mlp = !flag(ffn, "no_op");
    if (layer.has_mlp) layer.intermediate_size = decilm_intermediate_size(ffn.at("ffn_mult").get<double>(), spec.hidden_size);
  }
  return spec;
}

DecoderSpec solar_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_base(config, config.get_int("intermediate_size"), /*default_tie=*/false);
  auto list = [&](const char* key) {
    return config.raw().contains(key) && config.raw()[key].is_array() ? config.raw()[key].get<std::vector<int64_t>>()
                                                                       : std::vector<int64_t>{};
  };
  SkipConnections& skip = spec.skip_connections;
  skip.save[0] = list("bskcn_1");
  skip.save[1] = list("bskcn_2");
  skip.mix[0] = list("bskcn_3");
  skip.mix[1] = list("bskcn_4");
  if (config.raw().contains("bskcn_tv") && config.raw()["bskcn_tv"].is_array()) {
    const json& tv = config.raw()["bskcn_tv"];
    skip.weight = tv.at(tv.size() > 1 ? 1 : 0).get<float>();  // [training, inference]
  }
  return spec;
}

// TeleChat2: key_value rows grouped per kv head as [k_h; v_h]; q | k | v after the reorder.
DecoderSpec telechat2_spec(const ModelConfig& config) {
  ModelConfig c = config;
  DecoderSpec spec = llama_base(c, c.get_int("ffn_hidden_size"), /*default_tie=*/false);
  spec.norm_eps = static_cast<float>(c.get_float("layer_norm_epsilon", 1e-5));
  spec.o_bias = true;
  spec.down_bias = true;
  spec.weights.renames = {{"^transformer.word_embeddings.", "model.embed_tokens."},
                          {"^transformer.h.", "model.layers."},
                          {"^transformer.ln_f.", "model.norm."},
                          {".self_attention.query.", ".self_attn.q_proj."},
                          {".self_attention.key_value.", ".self_attn.kv_proj."},
                          {".self_attention.dense.", ".self_attn.o_proj."}};
  spec.weights.packed = {{"qkv_proj", {"q_proj", "kv_proj"}}, {"gate_up_proj", {"gate_proj", "up_proj"}}};
  int64_t q_rows = spec.num_heads * spec.head_dim, kv_heads = spec.num_kv_heads, head_dim = spec.head_dim;
  spec.weights.transforms = {{"qkv_proj.weight", [q_rows, kv_heads, head_dim](const Tensor& t) {
                                Tensor kv = deinterleave_qkv(t.slice(0, q_rows, t.size(0)).contiguous(), kv_heads, 0, head_dim);
                                Tensor out = t.contiguous().clone();
                                size_t offset = static_cast<size_t>(q_rows) * (out.nbytes() / static_cast<size_t>(out.size(0)));
                                std::memcpy(static_cast<char*>(out.raw_data()) + offset, kv.raw_data(), kv.nbytes());
                                return out;
                              }}};
  return spec;
}

ModelRegistrar decilm{decoder_architecture("DeciLMForCausalLM", "nemotron_nas", decilm_spec)};
ModelRegistrar solar{decoder_architecture("SolarForCausalLM", "solar", solar_spec)};
ModelRegistrar telechat2{decoder_architecture("TeleChat2ForCausalLM", "telechat2", telechat2_spec)};

}  // namespace
}  // namespace vllm
