// Gemma 3n's text decoder (transformers' Gemma3nTextModel; text input only for
// Gemma3nForConditionalGeneration, whose vision and audio towers are not loaded). Beyond Gemma 3:
//   - AltUp: the residual stream is `altup_num_inputs` parallel streams; each layer predicts all of
//     them from a learned mix, runs on the active one, and corrects the others with the innovation.
//   - Laurel: a low-rank residual branch beside attention.
//   - Per-layer embeddings: a second token table (hidden_size_per_layer_input per layer) plus a
//     projection of the embedding, gated into every layer's output.
//   - Activation sparsity: the MLP gate keeps only what exceeds mean + std * Phi^-1(p).
//   - KV sharing: the last num_kv_shared_layers layers read the K/V of the last earlier layer of
//     their type and own no cache.
// Norms are RMSNorm with a plain weight (no 1 + w); attention scale is 1 (q/k are normed).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "core/error.h"
#include "layers/embedding.h"
#include "layers/feed_forward.h"
#include "layers/linear.h"
#include "layers/norm.h"
#include "layers/rotary_embedding.h"
#include "layers/self_attention.h"
#include "models/decoder_spec.h"
#include "models/registry.h"
#include "ops/ops.h"

namespace vllm {
namespace {

using json = nlohmann::json;

struct Gemma3nSpec {
  std::string architecture;
  int64_t vocab_size = 0, vocab_per_layer = 0, hidden = 0, per_layer = 0, layers = 0, heads = 0, kv_heads = 0,
          head_dim = 0, max_positions = 0, streams = 4, active = 0, laurel_rank = 0, sliding_window = 0;
  float eps = 1e-6f, final_softcap = 0.0f, coef_clip = 0.0f;
  std::vector<int64_t> intermediate;
  std::vector<double> sparsity;
  std::vector<bool> sliding;
  std::vector<int64_t> kv_source;  // the layer whose K/V each layer attends over (itself unless shared)
  json rope_full, rope_sliding;
  bool tie = true;
  WeightMap weights;
};

Gemma3nSpec make_spec(const ModelConfig& outer) {
  ModelConfig config = outer.raw().contains("text_config") ? outer.text_config() : outer;
  Gemma3nSpec s;
  s.architecture = outer.architecture();
  s.vocab_size = config.vocab_size();
  s.vocab_per_layer = config.get_int("vocab_size_per_layer_input", 262144);
  s.hidden = config.hidden_size();
  s.per_layer = config.get_int("hidden_size_per_layer_input", 256);
  s.layers = config.num_hidden_layers();
  s.heads = config.num_attention_heads();
  s.kv_heads = config.num_key_value_heads();
  s.head_dim = config.head_dim();
  s.max_positions = config.max_position_embeddings().value_or(32768);
  s.streams = config.get_int("altup_num_inputs", 4);
  s.active = config.get_int("altup_active_idx", 0);
  s.laurel_rank = config.get_int("laurel_rank", 64);
  s.sliding_window = config.sliding_window().value_or(512);
  s.eps = static_cast<float>(config.get_float("rms_norm_eps", 1e-6));
  s.final_softcap = static_cast<float>(config.get_float("final_logit_softcapping", 0.0));
  s.coef_clip = static_cast<float>(config.get_float("altup_coef_clip", 0.0));
  s.tie = config.get_bool("tie_word_embeddings", true);
  VLLM_CHECK(config.get_bool("altup_correct_scale", true), Unsupported, config.source(),
             ": altup_correct_scale false is not supported");
  std::string act = config.get_string("hidden_activation", "gelu_pytorch_tanh");
  VLLM_CHECK(act == "gelu_pytorch_tanh", Unsupported, config.source(), ": hidden_activation '", act,
             "' is not supported (gelu_pytorch_tanh)");
  const json& raw = config.raw();
  if (raw.contains("intermediate_size") && raw["intermediate_size"].is_array())
    s.intermediate = raw["intermediate_size"].get<std::vector<int64_t>>();
  else
    s.intermediate.assign(static_cast<size_t>(s.layers), config.get_int("intermediate_size", 16384));
  if (raw.contains("activation_sparsity_pattern") && raw["activation_sparsity_pattern"].is_array())
    s.sparsity = raw["activation_sparsity_pattern"].get<std::vector<double>>();
  else if (raw.contains("activation_sparsity_pattern") && raw["activation_sparsity_pattern"].is_number())
    s.sparsity.assign(static_cast<size_t>(s.layers), raw["activation_sparsity_pattern"].get<double>());
  else {  // HF's default: the first 10 layers at 0.95 when there are more than 10
    s.sparsity.assign(static_cast<size_t>(s.layers), 0.0);
    if (s.layers > 10) std::fill(s.sparsity.begin(), s.sparsity.begin() + 10, 0.95);
  }
  VLLM_CHECK(static_cast<int64_t>(s.intermediate.size()) == s.layers &&
                 static_cast<int64_t>(s.sparsity.size()) == s.layers,
             InvalidArgument, config.source(), ": intermediate_size and activation_sparsity_pattern need one entry per layer");
  std::vector<std::string> types = config.layer_types();
  for (int64_t i = 0; i < s.layers; ++i) {
    bool sliding = types.empty() ? (i + 1) % 5 != 0 : types[static_cast<size_t>(i)] == "sliding_attention";
    s.sliding.push_back(sliding);
  }
  // KV sharing (Gemma3nTextAttention): layers from num_layers - num_kv_shared_layers on read the
  // last earlier layer of their own type.
  int64_t first_shared = s.layers - config.get_int("num_kv_shared_layers", 0);
  for (int64_t i = 0; i < s.layers; ++i) {
    int64_t source = i;
    if (first_shared > 0 && i >= first_shared) {
      source = -1;
      for (int64_t j = first_shared - 1; j >= 0; --j)
        if (s.sliding[static_cast<size_t>(j)] == s.sliding[static_cast<size_t>(i)]) { source = j; break; }
      VLLM_CHECK(source >= 0, InvalidArgument, config.source(), ": shared layer ", i, " has no earlier layer of its type");
    }
    s.kv_source.push_back(source);
  }
  bool per_type = raw.contains("rope_parameters") && raw["rope_parameters"].is_object() &&
                  raw["rope_parameters"].contains("sliding_attention");
  s.rope_full = rope_for_layer(config, "full_attention");
  if (per_type) {
    s.rope_sliding = rope_for_layer(config, "sliding_attention");
  } else {  // 4.x: rope_theta (default 1e6) for global layers, rope_local_base_freq (1e4) for local
    s.rope_full["rope_theta"] = config.get_float("rope_theta", 1000000.0);
    s.rope_sliding = {{"rope_type", "default"}, {"rope_theta", config.get_float("rope_local_base_freq", 10000.0)}};
  }
  s.weights = llama_weight_map();
  s.weights.renames = {{"^model.language_model.", "model."}};
  s.weights.ignored_prefixes = {"model.vision_tower.", "model.audio_tower.", "model.embed_vision.", "model.embed_audio."};
  return s;
}

// Stream k of an AltUp stack [n, T, H]: a contiguous [T, H] view into it.
Tensor stream(const Tensor& streams, int64_t k) {
  return streams.slice(0, k, k + 1).view({streams.size(1), streams.size(2)});
}

class Gemma3n : public Model {
 public:
  Gemma3n(Gemma3nSpec spec, const ModelLoadOptions& options) : spec_(std::move(spec)), device_(options.device) {
    for (int64_t i = 0; i < spec_.layers; ++i) {
      const bool sliding = spec_.sliding[static_cast<size_t>(i)];
      LayerCacheSpec cache;
      cache.kind = sliding ? CacheKind::SlidingWindow : CacheKind::FullAttention;
      cache.num_kv_heads = spec_.kv_heads;
      cache.head_dim = cache.value_head_dim = spec_.head_dim;
      cache.sliding_window = sliding ? spec_.sliding_window : 0;
      const int64_t source = spec_.kv_source[static_cast<size_t>(i)];
      if (source != i) cache.shares_cache_of = source;
      kv_cache_spec_.layers.push_back(cache);
    }
    layer_groups_ = kv_cache_spec_.layer_groups();
    load_weights(options, spec_.weights, spec_.architecture, [this](WeightLoader& loader) { load(loader); });
  }

  const KVCacheSpec& kv_cache_spec() const override { return kv_cache_spec_; }
  int64_t vocab_size() const override { return spec_.vocab_size; }
  int64_t hidden_size() const override { return spec_.hidden; }
  Tensor embed_input_ids(const Tensor& token_ids) const override { return embed_tokens_.forward(token_ids); }
  Tensor compute_logits(const Tensor& hidden_rows) const override { return lm_head_.forward(hidden_rows); }
  int64_t max_position_embeddings() const override { return spec_.max_positions; }
  const std::string& architecture() const override { return spec_.architecture; }

  Tensor forward(const ModelInputs& inputs, const BatchMetadata& batch, KVCache& cache) override {
    const Gemma3nSpec& s = spec_;
    VLLM_CHECK(inputs.token_ids.defined(), InvalidArgument, s.architecture,
               " needs the token ids (its per-layer embeddings are looked up by id)");
    VLLM_CHECK(batch.positions.dim() == 1, InvalidArgument, s.architecture, " takes [T] positions");
    const Tensor& token_ids = inputs.token_ids;
    int64_t tokens = token_ids.size(0), n = s.streams, L = s.layers, P = s.per_layer;
    const Device device = token_ids.device();
    Tensor x0 = inputs.inputs_embeds.defined() ? inputs.inputs_embeds.clone() : embed_input_ids(token_ids);
    ops::scale(x0, std::sqrt(static_cast<float>(s.hidden)));

    // Per-layer inputs [T, L * P]: (norm(project(x0) / sqrt(H)) + table(ids) * sqrt(P)) / sqrt(2).
    // Multimodal ids (>= vocab_size_per_layer_input) read row 0 through the padded table.
    Tensor per_layer_table = Tensor::empty({tokens, L * P}, DType::F32, device);
    ops::embedding(token_ids, embed_per_layer_, per_layer_table);
    ops::scale(per_layer_table, std::sqrt(static_cast<float>(P)));
    Tensor projected = per_layer_model_projection_.forward(x0);
    ops::scale(projected, 1.0f / std::sqrt(static_cast<float>(s.hidden)));
    Tensor projected_rows = projected.view({tokens * L, P});
    per_layer_projection_norm_.forward_inplace(projected_rows);
    ops::add(projected, per_layer_table, projected);
    ops::scale(projected, 1.0f / std::sqrt(2.0f));
    const Tensor& per_layer_inputs = projected;  // [T, L * P]

    // The AltUp stack [n, T, H]: x0, then each altup projection of x0 at x0's per-row RMS.
    Tensor streams = Tensor::empty({n, tokens, s.hidden}, DType::F32, device);
    Tensor first_stream = stream(streams, 0);
    first_stream.copy_from(x0);
    for (int64_t i = 1; i < n; ++i) {
      Tensor slot = stream(streams, i);
      const Linear& projection = altup_projections_[static_cast<size_t>(i - 1)];
      ops::linear(x0, projection.weight, projection.bias, slot);
      ops::match_rms(slot, x0, kMinMeanSquare);
    }

    for (int64_t l = 0; l < L; ++l) streams = layer(l, streams, per_layer_inputs, batch, cache);

    Tensor target = stream(streams, 0);
    Tensor hidden = target.clone();
    for (int64_t i = 1; i < n; ++i) {
      Tensor unembedded = altup_unembed_projections_[static_cast<size_t>(i - 1)].forward(stream(streams, i));
      ops::match_rms(unembedded, target, kMinMeanSquare);
      ops::add(hidden, unembedded, hidden);
    }
    ops::scale(hidden, 1.0f / static_cast<float>(n));
    final_norm_.forward_inplace(hidden);
    return hidden;
  }

 private:
  // Gemma3nTextModel's magnitude matching: sqrt(max(mean(x^2), 1e-5)).
  static constexpr float kMinMeanSquare = 1e-5f;

  struct AltUp {
    Linear correction_coefs;  // with a bias of ones: the correction's (coefs + 1)
    Linear prediction_coefs, modality_router;
    Norm router_norm;
  };
  struct Layer {
    AltUp altup;
    Norm input_norm, post_attention_norm, pre_feedforward_norm, post_feedforward_norm, post_per_layer_input_norm;
    Norm laurel_norm;
    SelfAttention attention;
    std::unique_ptr<DenseFeedForward> mlp;
    Linear laurel_left, laurel_right;
    Linear per_layer_input_gate;  // correct_output_scale folded into its columns
    Linear per_layer_projection;
  };

  Norm rms(WeightLoader& loader, const std::string& name, int64_t size) const {
    Norm norm = Norm::load(loader, name, size, NormKind::RMSNorm, spec_.eps, 0.0f);
    norm.to(device_);
    return norm;
  }
  Linear linear(WeightLoader& loader, const std::string& name, int64_t in, int64_t out) const {
    return Linear::load(loader, name, in, out, false, device_);
  }

  // Gemma3nModel reads row 0 of embed_tokens_per_layer for ids past its vocabulary (multimodal
  // tokens); the table gets rows up to vocab_size holding copies of row 0, so no id is clamped
  // at run time.
  Tensor padded_per_layer_table(const Tensor& table) const {
    const Gemma3nSpec& s = spec_;
    if (s.vocab_size <= s.vocab_per_layer) return table.to(device_);
    int64_t width = table.size(1), extra = s.vocab_size - s.vocab_per_layer;
    Tensor padded = Tensor::empty({s.vocab_size, width}, table.dtype(), device_);
    Tensor head = padded.slice(0, 0, s.vocab_per_layer);
    head.copy_from(table);
    Tensor row0 = table.slice(0, 0, 1).contiguous();
    Tensor copies = Tensor::empty({extra, width}, table.dtype());
    size_t row_bytes = row0.nbytes();
    for (int64_t r = 0; r < extra; ++r)
      std::memcpy(static_cast<char*>(copies.raw_data()) + static_cast<size_t>(r) * row_bytes, row0.raw_data(), row_bytes);
    Tensor tail = padded.slice(0, s.vocab_per_layer, s.vocab_size);
    tail.copy_from(copies);
    return padded;
  }

  void load(WeightLoader& loader) {
    // Parameters move to the model's device as they load; load-time folds happen on the host first.
    const Gemma3nSpec& s = spec_;
    const Device device = device_;
    int64_t H = s.hidden, n = s.streams, L = s.layers, P = s.per_layer;
    embed_tokens_ = Embedding::load(loader, "model.embed_tokens", s.vocab_size, H, device);
    embed_per_layer_ = padded_per_layer_table(
        loader.take("model.embed_tokens_per_layer.weight", {s.vocab_per_layer, L * P}, ParamStorage::Keep));
    per_layer_model_projection_ = linear(loader, "model.per_layer_model_projection", H, L * P);
    per_layer_projection_norm_ = rms(loader, "model.per_layer_projection_norm", P);
    for (int64_t i = 1; i < n; ++i) {
      altup_projections_.push_back(linear(loader, str("model.altup_projections.", i - 1), H, H));
      altup_unembed_projections_.push_back(linear(loader, str("model.altup_unembed_projections.", i - 1), H, H));
    }
    std::shared_ptr<RotaryEmbedding> rotary_full, rotary_sliding;
    for (int64_t l = 0; l < L; ++l) {
      std::string p = str("model.layers.", l, ".");
      Layer layer;
      AltUp& altup = layer.altup;
      altup.correction_coefs = Linear::load(loader, p + "altup.correction_coefs", n, n, false);
      if (s.coef_clip > 0.0f) {  // Gemma3nTextAltUp.correct clamps the weights (also in eval)
        altup.correction_coefs.weight = altup.correction_coefs.weight.to(DType::F32).contiguous();
        ops::clamp(altup.correction_coefs.weight, -s.coef_clip, s.coef_clip);
      }
      altup.correction_coefs.bias = Tensor::from_floats(std::vector<float>(static_cast<size_t>(n), 1.0f), {n}, DType::F32);
      altup.correction_coefs.to(device);
      altup.prediction_coefs = linear(loader, p + "altup.prediction_coefs", n, n * n);
      altup.modality_router = linear(loader, p + "altup.modality_router", H, n);
      altup.router_norm = rms(loader, p + "altup.router_norm", H);
      Tensor correct_output_scale = loader.take(p + "altup.correct_output_scale", {H}, ParamStorage::Float32);
      layer.input_norm = rms(loader, p + "input_layernorm", H);
      layer.post_attention_norm = rms(loader, p + "post_attention_layernorm", H);
      layer.pre_feedforward_norm = rms(loader, p + "pre_feedforward_layernorm", H);
      layer.post_feedforward_norm = rms(loader, p + "post_feedforward_layernorm", H);
      layer.post_per_layer_input_norm = rms(loader, p + "post_per_layer_input_norm", H);
      layer.laurel_left = linear(loader, p + "laurel.linear_left", H, s.laurel_rank);
      layer.laurel_right = linear(loader, p + "laurel.linear_right", s.laurel_rank, H);
      layer.laurel_norm = rms(loader, p + "laurel.post_laurel_norm", H);
      const bool sliding = s.sliding[static_cast<size_t>(l)];
      std::shared_ptr<RotaryEmbedding>& rotary = sliding ? rotary_sliding : rotary_full;
      if (!rotary) {
        rotary = std::make_shared<RotaryEmbedding>(sliding ? s.rope_sliding : s.rope_full, s.head_dim,
                                                   s.max_positions, true);
        if (device.is_cuda()) rotary->prepare_table(device, s.max_positions);
      }
      // Gemma3nTextAttention: per-head q/k norms, a weightless v norm, scale 1; the last
      // num_kv_shared_layers layers read an earlier layer's cache.
      SelfAttentionSpec attention;
      attention.attention.num_heads = s.heads;
      attention.attention.num_kv_heads = s.kv_heads;
      attention.attention.head_dim = s.head_dim;
      attention.attention.scale = 1.0f;
      attention.attention.sliding_window = sliding ? s.sliding_window : 0;
      attention.hidden_size = H;
      attention.qk_norm = QkNorm::PerHead;
      attention.norm_eps = s.eps;
      attention.v_norm = true;
      attention.kv_shared = s.kv_source[static_cast<size_t>(l)] != l;
      layer.attention = SelfAttention::load(loader, p + "self_attn.", attention, rotary, device);
      FeedForwardSpec mlp;
      mlp.hidden_size = H;
      mlp.intermediate_size = s.intermediate[static_cast<size_t>(l)];
      mlp.activation = ops::Activation::GeluTanh;
      mlp.activation_sparsity = s.sparsity[static_cast<size_t>(l)];
      layer.mlp = DenseFeedForward::load(loader, p + "mlp.", mlp, device);
      // gate(first * correct_output_scale) == first @ (W * correct_output_scale)^T: the scale is
      // folded into the gate's columns (f32) on the host.
      layer.per_layer_input_gate = Linear::load(loader, p + "per_layer_input_gate", H, P, false);
      {
        Tensor weight = layer.per_layer_input_gate.weight.to(DType::F32).contiguous().clone();  // [P, H]
        float* w = weight.data<float>();
        const float* column_scale = correct_output_scale.data<float>();
        for (int64_t r = 0; r < P; ++r)
          for (int64_t h = 0; h < H; ++h) w[r * H + h] *= column_scale[h];
        layer.per_layer_input_gate.weight = weight;
        layer.per_layer_input_gate.to(device);
      }
      layer.per_layer_projection = linear(loader, p + "per_layer_projection", P, H);
      layers_.push_back(std::move(layer));
    }
    final_norm_ = rms(loader, "model.norm", H);
    lm_head_ = LMHead::load(loader, "lm_head", s.tie ? &embed_tokens_ : nullptr, s.vocab_size, H, false, device);
    lm_head_.softcap = s.final_softcap;
  }

  // tanh(router(router_norm(x) / H)) -> [T, n]
  Tensor modalities(const AltUp& altup, const Tensor& x) const {
    Tensor normed = altup.router_norm.forward(x);
    ops::scale(normed, 1.0f / static_cast<float>(spec_.hidden));
    Tensor routed = altup.modality_router.forward(normed);
    ops::softcap(routed, 1.0f);  // 1 * tanh(x / 1)
    return routed;
  }

  // streams [n, T, H] -> the corrected streams [n, T, H].
  Tensor layer(int64_t l, const Tensor& streams, const Tensor& per_layer_inputs, const BatchMetadata& batch,
               KVCache& cache) {
    const Gemma3nSpec& s = spec_;
    const Layer& layer = layers_[static_cast<size_t>(l)];
    int64_t tokens = streams.size(1), n = s.streams, P = s.per_layer;

    // AltUp predict: prediction_k = stream_k + sum_j coefs[t, k * n + j] * stream_j.
    Tensor coefs = layer.altup.prediction_coefs.forward(modalities(layer.altup, stream(streams, s.active)));
    Tensor predictions = streams.clone();
    ops::mix_streams(streams, coefs.view({tokens, n, n}), predictions);
    Tensor active = stream(predictions, s.active);
    Tensor normed = layer.input_norm.forward(active);

    Tensor laurel = layer.laurel_right.forward(layer.laurel_left.forward(normed));
    layer.laurel_norm.forward_inplace(laurel);
    ops::add(laurel, normed, laurel);

    Tensor attn = layer.attention.forward(normed, batch, attention_cache(cache, batch, layer_groups_, l));
    layer.post_attention_norm.forward_inplace(attn);
    ops::add(attn, active, attn);
    ops::add(attn, laurel, attn);
    ops::scale(attn, 1.0f / std::sqrt(2.0f));  // attn_laurel

    Tensor ffw = layer.mlp->forward(layer.pre_feedforward_norm.forward(attn));
    layer.post_feedforward_norm.forward_inplace(ffw);
    ops::add(ffw, attn, ffw);  // the activated stream

    // AltUp correct: corrected_k = prediction_k + (activated - prediction_active) * (coefs_k + 1),
    // the + 1 being correction_coefs' bias.
    Tensor correction = layer.altup.correction_coefs.forward(modalities(layer.altup, ffw));  // [T, n]
    Tensor innovation = active.clone();
    ops::scale(innovation, -1.0f);
    ops::add(ffw, innovation, innovation);
    Tensor corrected = predictions.clone();
    ops::mix_streams(innovation.view({1, tokens, s.hidden}), correction.view({tokens, n, 1}), corrected);

    // Per-layer input: gelu(gate(first * correct_output_scale)) * per_layer_input -> projection -> norm,
    // added to streams 1..n-1.
    Tensor gate = layer.per_layer_input_gate.forward(stream(corrected, s.active));  // [T, P]
    ops::activation(ops::Activation::GeluTanh, gate, gate);
    Tensor layer_input = per_layer_inputs.slice(1, l * P, (l + 1) * P).contiguous();  // [T, P]
    ops::mul(gate, layer_input, gate);
    Tensor projected = layer.per_layer_projection.forward(gate);
    layer.post_per_layer_input_norm.forward_inplace(projected);
    for (int64_t k = 1; k < n; ++k) {
      Tensor target = stream(corrected, k);
      ops::add(target, projected, target);
    }
    return corrected;
  }

  Gemma3nSpec spec_;
  Device device_;
  KVCacheSpec kv_cache_spec_;
  std::vector<int64_t> layer_groups_;  // KV-cache group of each layer
  Embedding embed_tokens_;
  LMHead lm_head_;
  Tensor embed_per_layer_;  // [max(vocab_size, vocab_size_per_layer_input), L * P]
  Linear per_layer_model_projection_;
  Norm per_layer_projection_norm_, final_norm_;
  std::vector<Linear> altup_projections_, altup_unembed_projections_;
  std::vector<Layer> layers_;
};

json describe(const Gemma3nSpec& s) {
  json layers = json::array();
  for (int64_t l = 0; l < s.layers; ++l)
    layers.push_back({{"sliding", static_cast<bool>(s.sliding[static_cast<size_t>(l)])},
                      {"intermediate", s.intermediate[static_cast<size_t>(l)]},
                      {"activation_sparsity", s.sparsity[static_cast<size_t>(l)]},
                      {"kv_from_layer", s.kv_source[static_cast<size_t>(l)]}});
  return {{"model", "Gemma 3n text decoder (src/models/gemma3n.cpp)"}, {"vocab_size", s.vocab_size},
          {"hidden_size", s.hidden}, {"hidden_size_per_layer_input", s.per_layer}, {"num_heads", s.heads},
          {"num_kv_heads", s.kv_heads}, {"head_dim", s.head_dim}, {"altup_num_inputs", s.streams},
          {"altup_active_idx", s.active}, {"laurel_rank", s.laurel_rank}, {"sliding_window", s.sliding_window},
          {"final_logit_softcap", s.final_softcap}, {"rope_full", s.rope_full}, {"rope_sliding", s.rope_sliding},
          {"layers", layers}};
}

ArchitectureInfo gemma3n_info(const char* name) {
  return {name, "gemma3n", {Task::Generate}, {},
          [](const ModelConfig& config, const ModelLoadOptions& options) -> std::unique_ptr<Model> {
            return std::make_unique<Gemma3n>(make_spec(config), options);
          },
          [](const ModelConfig& config) { return describe(make_spec(config)); }};
}

ModelRegistrar gemma3n{gemma3n_info("Gemma3nForConditionalGeneration")};
ModelRegistrar gemma3n_causal{gemma3n_info("Gemma3nForCausalLM")};

}  // namespace
}  // namespace vllm
