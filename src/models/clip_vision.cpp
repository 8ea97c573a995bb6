#include "models/clip_vision.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "ops/elementwise.h"

namespace vllm {

ClipVisionConfig ClipVisionConfig::from_json(const nlohmann::json& vision, const std::string& source) {
  ClipVisionConfig c;
  if (!vision.is_object()) return c;
  c.hidden_size = vision.value("hidden_size", c.hidden_size);
  c.intermediate_size = vision.value("intermediate_size", c.intermediate_size);
  c.num_hidden_layers = vision.value("num_hidden_layers", c.num_hidden_layers);
  c.num_attention_heads = vision.value("num_attention_heads", c.num_attention_heads);
  c.image_size = vision.value("image_size", c.image_size);
  c.patch_size = vision.value("patch_size", c.patch_size);
  c.num_channels = vision.value("num_channels", c.num_channels);
  c.layer_norm_eps = vision.value("layer_norm_eps", c.layer_norm_eps);
  const std::string act = vision.value("hidden_act", std::string("quick_gelu"));
  c.quick_gelu = act == "quick_gelu";
  if (act == "quick_gelu") c.activation = ops::Activation::Silu;
  else if (act == "gelu") c.activation = ops::Activation::Gelu;
  else if (act == "gelu_pytorch_tanh" || act == "gelu_new") c.activation = ops::Activation::GeluTanh;
  else fail(ErrorKind::Unsupported, source, ": vision_config.hidden_act '", act, "' is not supported (quick_gelu, gelu, gelu_pytorch_tanh)");
  VLLM_CHECK(c.hidden_size % c.num_attention_heads == 0 && c.patch_size > 0 && c.image_size % c.patch_size == 0,
             InvalidArgument, source, ": vision_config sizes do not divide (hidden_size by heads, image_size by patch_size)");
  VLLM_CHECK(c.num_channels == 3, Unsupported, source, ": vision_config.num_channels must be 3");
  return c;
}

ClipVisionTower::ClipVisionTower(const ClipVisionConfig& config, int64_t num_layers, WeightLoader& loader,
                                 const std::string& prefix, Device device)
    : config_(config), device_(device) {
  const int64_t D = config.hidden_size, p = config.patch_size, C = config.num_channels;
  Tensor conv = loader.take(prefix + "embeddings.patch_embedding.weight", {D, C, p, p}, ParamStorage::Float32, device);
  patch_embedding_.weight = conv.contiguous().view({D, C * p * p});
  class_embedding_ = loader.take(prefix + "embeddings.class_embedding", {D}, ParamStorage::Float32, device).view({1, D});
  position_embedding_ = loader.take(prefix + "embeddings.position_embedding.weight", {config.num_positions(), D},
                                    ParamStorage::Float32, device);
  pre_layernorm_ = Norm::load(loader, prefix + "pre_layrnorm", D, NormKind::LayerNorm, config.layer_norm_eps, 0.0f);
  pre_layernorm_.to(device);
  AttentionSpec attention;
  attention.num_heads = attention.num_kv_heads = config.num_attention_heads;
  attention.head_dim = D / config.num_attention_heads;
  attention.scale = 1.0f / std::sqrt(static_cast<float>(attention.head_dim));
  attention.type = AttentionType::EncoderOnly;
  for (int64_t i = 0; i < num_layers; ++i) {
    const std::string at = prefix + "encoder.layers." + std::to_string(i) + ".";
    Layer layer;
    layer.norm1 = Norm::load(loader, at + "layer_norm1", D, NormKind::LayerNorm, config.layer_norm_eps, 0.0f);
    layer.norm2 = Norm::load(loader, at + "layer_norm2", D, NormKind::LayerNorm, config.layer_norm_eps, 0.0f);
    layer.norm1.to(device);
    layer.norm2.to(device);
    layer.q = Linear::load(loader, at + "self_attn.q_proj", D, D, true, device);
    layer.k = Linear::load(loader, at + "self_attn.k_proj", D, D, true, device);
    layer.v = Linear::load(loader, at + "self_attn.v_proj", D, D, true, device);
    layer.out = Linear::load(loader, at + "self_attn.out_proj", D, D, true, device);
    layer.fc1 = Linear::load(loader, at + "mlp.fc1", D, config.intermediate_size, true, device);
    layer.fc2 = Linear::load(loader, at + "mlp.fc2", config.intermediate_size, D, true, device);
    layer.attention = Attention(attention, device);
    layers_.push_back(std::move(layer));
  }
}

std::vector<Tensor> ClipVisionTower::hidden_states(const Tensor& pixel_values, const std::vector<int64_t>& wanted) const {
  const int64_t C = config_.num_channels, p = config_.patch_size, D = config_.hidden_size;
  VLLM_CHECK(pixel_values.dim() == 3 && pixel_values.size(0) == C, InvalidArgument, "CLIP vision tower: pixel values must be [",
             C, ", H, W]");
  const int64_t H = pixel_values.size(1), W = pixel_values.size(2), rows = H / p, cols = W / p, patches = rows * cols;
  VLLM_CHECK(patches + 1 == config_.num_positions(), InvalidArgument, "CLIP vision tower: a ", H, "x", W,
             " image gives ", patches, " patches; the tower was trained on ", config_.image_size, "x", config_.image_size);
  // Unfold into [patches, C * p * p] in the convolution weight's (c, kh, kw) order.
  const Tensor pixels = pixel_values.to(Device::cpu()).contiguous();
  const float* in = pixels.data<float>();
  Tensor unfolded = Tensor::empty({patches, C * p * p}, DType::F32, Device::cpu());
  float* out = unfolded.data<float>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t q = 0; q < cols; ++q)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t y = 0; y < p; ++y)
          for (int64_t x = 0; x < p; ++x)
            *out++ = in[(c * H + r * p + y) * W + q * p + x];
  const int64_t T = patches + 1;
  Tensor hidden = Tensor::empty({T, D}, DType::F32, device_);
  hidden.slice(0, 0, 1).copy_from(class_embedding_);
  hidden.slice(0, 1, T).copy_from(patch_embedding_.forward(unfolded.to(device_)));
  ops::add(hidden, position_embedding_, hidden);
  pre_layernorm_.forward_inplace(hidden);

  // One sequence of T rows attending both ways.
  BatchMetadata batch;
  batch.query_start = Tensor::from_ints({0, static_cast<int32_t>(T)}, {2}).to(device_);
  batch.seq_lens = Tensor::from_ints({static_cast<int32_t>(T)}, {1}).to(device_);
  batch.max_query_len = batch.max_seq_len = T;
  batch.num_decode_seqs = 0;

  const int64_t last = *std::max_element(wanted.begin(), wanted.end());
  VLLM_CHECK(last <= static_cast<int64_t>(layers_.size()), Internal, "CLIP vision tower: hidden state ", last,
             " asked of ", layers_.size(), " layers");
  std::vector<Tensor> states(static_cast<size_t>(last + 1));
  states[0] = hidden.clone();
  const int64_t heads = config_.num_attention_heads, head_dim = D / heads;
  for (int64_t i = 0; i < last; ++i) {
    const Layer& layer = layers_[static_cast<size_t>(i)];
    Tensor x = layer.norm1.forward(hidden);
    Tensor q = layer.q.forward(x).view({T, heads, head_dim});
    Tensor k = layer.k.forward(x).view({T, heads, head_dim});
    Tensor v = layer.v.forward(x).view({T, heads, head_dim});
    Tensor attended = layer.attention.forward(q, k, v, batch, AttentionCache{});
    ops::add(hidden, layer.out.forward(attended.view({T, D})), hidden);
    Tensor h = layer.fc1.forward(layer.norm2.forward(hidden));
    constexpr float kQuickGelu = 1.702f;
    if (config_.quick_gelu) ops::scale(h, kQuickGelu);
    ops::activation(config_.activation, h, h);
    if (config_.quick_gelu) ops::scale(h, 1.0f / kQuickGelu);
    ops::add(hidden, layer.fc2.forward(h), hidden);
    states[static_cast<size_t>(i + 1)] = hidden.clone();
  }
  std::vector<Tensor> result;
  for (int64_t index : wanted) result.push_back(states[static_cast<size_t>(index)]);
  return result;
}

}  // namespace vllm
