// Llama-derived decoders whose layers differ from one another, which the generic decoder's one
// spec for every layer cannot say:
//   DeciLM / Nemotron-NAS (nvidia modeling_decilm.py, vLLM's nemotron_nas.py): each block's kv
//     heads (num_heads / n_heads_in_group) and FFN width (ffn_mult) vary; a block's attention or
//     FFN may be a no-op, skipped with its norm.
//   Solar (upstage modeling_solar.py, vLLM's solar.py): Llama plus "bskcn" skip connections: the
//     stream entering layer i is saved when i is in bskcn_1 / bskcn_2 and replaced by
//     saved * tv + stream * (1 - tv) when i is in bskcn_3 / bskcn_4 (tv = bskcn_tv[1] at inference).
//   TeleChat2 (Tele-AI modeling_telechat2.py, vLLM's telechat2.py): Llama blocks with a bias on the
//     attention output (`dense`) and the down projection only; key_value fused per kv head.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "core/error.h"
#include "layers/linear.h"
#include "layers/rotary_embedding.h"
#include "loader/safetensors.h"
#include "models/decoder_spec.h"
#include "models/registry.h"
#include "ops/ops.h"

namespace vllm {
namespace {

using json = nlohmann::json;

struct BlockPlan {
  int64_t kv_heads = 0;      // 0: no attention (DeciLM no_op)
  int64_t intermediate = 0;  // 0: no FFN (DeciLM no_op)
};

struct LayerwiseSpec {
  std::string architecture;
  int64_t vocab_size = 0, hidden_size = 0, num_heads = 0, head_dim = 0, max_position_embeddings = 0;
  float norm_eps = 1e-5f;
  json rope;
  std::vector<BlockPlan> blocks;
  bool o_bias = false, down_bias = false, tie_word_embeddings = false;
  // Solar's bskcn: layer indices that save the stream (slot 0 / 1) and that mix it back in.
  std::vector<int64_t> save[2], mix[2];
  float skip_weight = 0.0f;
  WeightMap weights;
};

bool contains(const std::vector<int64_t>& list, int64_t value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

class LayerwiseLlama : public Model {
 public:
  LayerwiseLlama(LayerwiseSpec spec, const ModelLoadOptions& options) : spec_(std::move(spec)), device_(options.device) {
    for (const BlockPlan& block : spec_.blocks) {
      cache_index_.push_back(block.kv_heads ? static_cast<int64_t>(kv_cache_spec_.layers.size()) : -1);
      if (block.kv_heads) kv_cache_spec_.layers.push_back({block.kv_heads, spec_.head_dim, spec_.head_dim, 0});
    }
    load_weights(options, spec_.weights, spec_.architecture, [this](WeightLoader& loader) { load(loader); });
  }

  const KVCacheSpec& kv_cache_spec() const override { return kv_cache_spec_; }
  int64_t vocab_size() const override { return spec_.vocab_size; }
  int64_t max_position_embeddings() const override { return spec_.max_position_embeddings; }
  const std::string& architecture() const override { return spec_.architecture; }

  Tensor forward(const Tensor& token_ids, const BatchMetadata& batch, KVCache& cache) override {
    const LayerwiseSpec& s = spec_;
    int64_t tokens = token_ids.size(0);
    Tensor hidden = Tensor::empty({tokens, s.hidden_size}, DType::F32, token_ids.device());  // residual stream
    ops::embedding(token_ids, embed_tokens_, hidden);
    Tensor saved[2];
    for (size_t i = 0; i < layers_.size(); ++i) {
      const Layer& layer = layers_[i];
      int64_t index = static_cast<int64_t>(i);
      for (int slot = 0; slot < 2; ++slot)
        if (contains(s.save[slot], index)) saved[slot] = hidden.clone();
      for (int slot = 0; slot < 2; ++slot) {
        if (!contains(s.mix[slot], index)) continue;
        VLLM_CHECK(saved[slot].defined(), InvalidArgument, s.architecture, ": bskcn mixes at layer ", index,
                   " a stream no earlier layer saved");
        Tensor kept = saved[slot].clone();
        ops::scale(kept, s.skip_weight);
        ops::scale(hidden, 1.0f - s.skip_weight);
        ops::add(hidden, kept, hidden);
      }
      if (layer.kv_heads) {
        Tensor normed = layer.input_norm.forward(hidden);
        int64_t slot = cache_index_[i];
        Tensor out = attention(layer, normed, batch, cache.key[slot], cache.value[slot]);
        ops::add(hidden, out, hidden);
      }
      if (layer.intermediate) {
        Tensor normed = layer.mlp_norm.forward(hidden);
        Tensor gate_up = layer.gate_up_proj.forward(normed);  // [T, 2 I]
        Tensor activated = Tensor::empty({tokens, layer.intermediate}, DType::F32, hidden.device());
        ops::activation_and_mul(ops::Activation::Silu, gate_up, activated);
        ops::add(hidden, layer.down_proj.forward(activated), hidden);
      }
    }
    Tensor rows = Tensor::empty({batch.logits_rows.size(0), s.hidden_size}, DType::F32, hidden.device());
    ops::gather_rows(hidden, batch.logits_rows, rows);
    final_norm_.forward_inplace(rows);
    Tensor logits = Tensor::empty({rows.size(0), s.vocab_size}, DType::F32, hidden.device());
    ops::linear(rows, lm_head_, Tensor(), logits);
    return logits;
  }

 private:
  struct Layer {
    int64_t kv_heads = 0, intermediate = 0;
    Norm input_norm, mlp_norm;
    Linear qkv_proj, o_proj, gate_up_proj, down_proj;
    std::shared_ptr<RotaryEmbedding> rotary;  // one for every layer (same rope parameters)
  };

  void load(WeightLoader& loader) {
    // Parameters load onto the model's device as they are read (matmul weights straight from the
    // checkpoint mapping, see WeightLoader::take).
    const LayerwiseSpec& s = spec_;
    const Device device = device_;
    embed_tokens_ = loader.take("model.embed_tokens.weight", {s.vocab_size, s.hidden_size}, ParamStorage::Keep, device);
    std::shared_ptr<RotaryEmbedding> rotary;
    int64_t q_size = s.num_heads * s.head_dim;
    for (size_t i = 0; i < s.blocks.size(); ++i) {
      std::string prefix = str("model.layers.", i, ".");
      Layer layer;
      layer.kv_heads = s.blocks[i].kv_heads;
      layer.intermediate = s.blocks[i].intermediate;
      if (layer.kv_heads) {
        layer.input_norm = Norm::load(loader, prefix + "input_layernorm", s.hidden_size, NormKind::RMSNorm, s.norm_eps, 0.0f);
        layer.qkv_proj = Linear::load(loader, prefix + "self_attn.qkv_proj", s.hidden_size,
                                      q_size + 2 * layer.kv_heads * s.head_dim, false, device);
        layer.o_proj = Linear::load(loader, prefix + "self_attn.o_proj", q_size, s.hidden_size, s.o_bias, device);
        if (!rotary) {
          rotary = std::make_shared<RotaryEmbedding>(s.rope, s.head_dim, s.max_position_embeddings, true);
          if (device.is_cuda()) rotary->prepare_table(device, s.max_position_embeddings);
        }
        layer.rotary = rotary;
      }
      if (layer.intermediate) {
        layer.mlp_norm = Norm::load(loader, prefix + "post_attention_layernorm", s.hidden_size, NormKind::RMSNorm,
                                    s.norm_eps, 0.0f);
        layer.gate_up_proj =
            Linear::load(loader, prefix + "mlp.gate_up_proj", s.hidden_size, 2 * layer.intermediate, false, device);
        layer.down_proj =
            Linear::load(loader, prefix + "mlp.down_proj", layer.intermediate, s.hidden_size, s.down_bias, device);
      }
      for (Norm* norm : {&layer.input_norm, &layer.mlp_norm}) norm->to(device);
      layers_.push_back(std::move(layer));
    }
    final_norm_ = Norm::load(loader, "model.norm", s.hidden_size, NormKind::RMSNorm, s.norm_eps, 0.0f);
    final_norm_.to(device);
    if (s.tie_word_embeddings) {
      lm_head_ = embed_tokens_;
      loader.skip("lm_head.weight");
    } else {
      lm_head_ = loader.take("lm_head.weight", {s.vocab_size, s.hidden_size}, ParamStorage::Keep, device);
    }
  }

  Tensor attention(const Layer& layer, const Tensor& hidden, const BatchMetadata& batch, Tensor& key_cache,
                   Tensor& value_cache) const {
    const LayerwiseSpec& s = spec_;
    int64_t tokens = hidden.size(0);
    int64_t q_size = s.num_heads * s.head_dim, kv_size = layer.kv_heads * s.head_dim;
    Tensor qkv = layer.qkv_proj.forward(hidden);  // [T, q_size + 2 kv_size]
    Tensor query = qkv.slice(1, 0, q_size).contiguous().view({tokens, s.num_heads, s.head_dim});
    Tensor key = qkv.slice(1, q_size, q_size + kv_size).contiguous().view({tokens, layer.kv_heads, s.head_dim});
    Tensor value =
        qkv.slice(1, q_size + kv_size, q_size + 2 * kv_size).contiguous().view({tokens, layer.kv_heads, s.head_dim});
    layer.rotary->forward(batch.positions, batch.token_seq_lens, query, key);
    ops::reshape_and_cache(key, value, key_cache, value_cache, batch.slot_mappings[0]);
    ops::AttentionParams params;
    params.scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
    params.max_query_len = batch.max_query_len;
    params.num_decode_seqs = batch.num_decode_seqs;
    params.max_seq_len = batch.max_seq_len;
    Tensor out = Tensor::empty({tokens, s.num_heads, s.head_dim}, DType::F32, hidden.device());
    ops::paged_attention(query, key_cache, value_cache, batch.query_start, batch.seq_lens, batch.block_tables[0],
                         params, out);
    return layer.o_proj.forward(out.view({tokens, q_size}));
  }

  LayerwiseSpec spec_;
  Device device_;
  KVCacheSpec kv_cache_spec_;
  std::vector<int64_t> cache_index_;  // KV cache of each layer; -1 where its attention is a no-op
  Tensor embed_tokens_, lm_head_;
  std::vector<Layer> layers_;
  Norm final_norm_;
};

LayerwiseSpec llama_base(const ModelConfig& config, int64_t intermediate, bool default_tie) {
  LayerwiseSpec spec;
  spec.architecture = config.architecture();
  spec.vocab_size = config.vocab_size();
  spec.hidden_size = config.hidden_size();
  spec.num_heads = config.num_attention_heads();
  spec.head_dim = config.head_dim();
  spec.max_position_embeddings = config.max_position_embeddings().value_or(2048);
  spec.norm_eps = static_cast<float>(config.get_float("rms_norm_eps", 1e-6));
  spec.rope = rope_for_layer(config, "full_attention");
  spec.tie_word_embeddings = config.get_bool("tie_word_embeddings", default_tie);
  spec.blocks.assign(static_cast<size_t>(config.num_hidden_layers()), {config.num_key_value_heads(), intermediate});
  spec.weights = llama_weight_map();
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

LayerwiseSpec decilm_spec(const ModelConfig& config) {
  LayerwiseSpec spec = llama_base(config, 0, /*default_tie=*/false);
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
    BlockPlan& block = spec.blocks[i];
    block.kv_heads = flag(attention, "no_op") ? 0 : spec.num_heads / attention.at("n_heads_in_group").get<int64_t>();
    block.intermediate = flag(ffn, "no_op") ? 0 : decilm_intermediate_size(ffn.at("ffn_mult").get<double>(), spec.hidden_size);
  }
  return spec;
}

LayerwiseSpec solar_spec(const ModelConfig& config) {
  LayerwiseSpec spec = llama_base(config, config.get_int("intermediate_size"), /*default_tie=*/false);
  auto list = [&](const char* key) {
    return config.raw().contains(key) && config.raw()[key].is_array() ? config.raw()[key].get<std::vector<int64_t>>()
                                                                       : std::vector<int64_t>{};
  };
  spec.save[0] = list("bskcn_1");
  spec.save[1] = list("bskcn_2");
  spec.mix[0] = list("bskcn_3");
  spec.mix[1] = list("bskcn_4");
  if (config.raw().contains("bskcn_tv") && config.raw()["bskcn_tv"].is_array()) {
    const json& tv = config.raw()["bskcn_tv"];
    spec.skip_weight = tv.at(tv.size() > 1 ? 1 : 0).get<float>();  // [training, inference]
  }
  return spec;
}

// TeleChat2: key_value rows grouped per kv head as [k_h; v_h]; q | k | v after the reorder.
LayerwiseSpec telechat2_spec(const ModelConfig& config) {
  ModelConfig c = config;
  LayerwiseSpec spec = llama_base(c, c.get_int("ffn_hidden_size"), /*default_tie=*/false);
  spec.norm_eps = static_cast<float>(c.get_float("layer_norm_epsilon", 1e-5));
  spec.o_bias = spec.down_bias = true;
  spec.weights.renames = {{"^transformer.word_embeddings.", "model.embed_tokens."},
                          {"^transformer.h.", "model.layers."},
                          {"^transformer.ln_f.", "model.norm."},
                          {".self_attention.query.", ".self_attn.q_proj."},
                          {".self_attention.key_value.", ".self_attn.kv_proj."},
                          {".self_attention.dense.", ".self_attn.o_proj."}};
  spec.weights.packed = {{"qkv_proj", {"q_proj", "kv_proj"}}, {"gate_up_proj", {"gate_proj", "up_proj"}}};
  int64_t q_rows = spec.num_heads * spec.head_dim, kv_heads = spec.blocks.front().kv_heads, head_dim = spec.head_dim;
  spec.weights.transforms = {{"qkv_proj.weight", [q_rows, kv_heads, head_dim](const Tensor& t) {
                                Tensor kv = deinterleave_qkv(t.slice(0, q_rows, t.size(0)).contiguous(), kv_heads, 0, head_dim);
                                Tensor out = t.contiguous().clone();
                                size_t offset = static_cast<size_t>(q_rows) * (out.nbytes() / static_cast<size_t>(out.size(0)));
                                std::memcpy(static_cast<char*>(out.raw_data()) + offset, kv.raw_data(), kv.nbytes());
                                return out;
                              }}};
  return spec;
}

json describe(const LayerwiseSpec& s) {
  json blocks = json::array();
  for (const BlockPlan& block : s.blocks) blocks.push_back({{"kv_heads", block.kv_heads}, {"intermediate", block.intermediate}});
  return {{"model", "layerwise Llama (src/models/layerwise_llama.cpp)"},
          {"vocab_size", s.vocab_size}, {"hidden_size", s.hidden_size}, {"num_heads", s.num_heads},
          {"head_dim", s.head_dim}, {"norm_eps", s.norm_eps}, {"rope", s.rope}, {"o_bias", s.o_bias},
          {"down_bias", s.down_bias}, {"tie_word_embeddings", s.tie_word_embeddings}, {"layers", blocks},
          {"bskcn", {{"save", {s.save[0], s.save[1]}}, {"mix", {s.mix[0], s.mix[1]}}, {"tv", s.skip_weight}}}};
}

template <LayerwiseSpec (*MakeSpec)(const ModelConfig&)>
ArchitectureInfo layerwise(const char* name, const char* family) {
  return {name, family, {Task::Generate}, {},
          [](const ModelConfig& config, const ModelLoadOptions& options) -> std::unique_ptr<Model> {
            return std::make_unique<LayerwiseLlama>(MakeSpec(config), options);
          },
          [](const ModelConfig& config) { return describe(MakeSpec(config)); }};
}

ModelRegistrar decilm{layerwise<decilm_spec>("DeciLMForCausalLM", "nemotron_nas")};
ModelRegistrar solar{layerwise<solar_spec>("SolarForCausalLM", "solar")};
ModelRegistrar telechat2{layerwise<telechat2_spec>("TeleChat2ForCausalLM", "telechat2")};

}  // namespace
}  // namespace vllm
