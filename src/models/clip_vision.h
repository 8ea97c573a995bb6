// The CLIP vision transformer (transformers' CLIPVisionModel) as LLaVA-family models use it: patch
// embedding (a stride-p convolution computed as a matmul over unfolded patches), the class token and
// learned positions, pre_layrnorm, then pre-norm encoder layers (bidirectional attention, an MLP
// with quick_gelu); it returns the hidden states HF's output_hidden_states would give at the layers
// asked for. Layers past the last one asked for are not built (vLLM drops them too).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "layers/attention.h"
#include "layers/linear.h"
#include "layers/norm.h"
#include "loader/weight_loader.h"
#include "ops/activation.h"

namespace vllm {

struct ClipVisionConfig {
  int64_t hidden_size = 768;
  int64_t intermediate_size = 3072;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t image_size = 224;
  int64_t patch_size = 32;
  int64_t num_channels = 3;
  float layer_norm_eps = 1e-5f;
  // quick_gelu, x * sigmoid(1.702 x), is computed as silu(1.702 x) / 1.702 (the same function).
  bool quick_gelu = true;
  ops::Activation activation = ops::Activation::Silu;

  // A vision_config object with CLIPVisionConfig's defaults for absent fields; InvalidArgument or
  // Unsupported naming `source` for a field it cannot serve.
  static ClipVisionConfig from_json(const nlohmann::json& vision, const std::string& source);
  int64_t num_positions() const { return (image_size / patch_size) * (image_size / patch_size) + 1; }
};

class ClipVisionTower {
 public:
  ClipVisionTower() = default;
  // Builds layers 0 .. num_layers - 1 and loads them from `prefix` ("vision_tower.vision_model.").
  ClipVisionTower(const ClipVisionConfig& config, int64_t num_layers, WeightLoader& loader, const std::string& prefix,
                  Device device);

  // pixel_values [3, H, W] f32 (host) -> HF's hidden_states[i] for each i of `layers` (0: the
  // embeddings after pre_layrnorm; i: after layer i; 1 <= i <= num_layers), each [1 + patches, D].
  std::vector<Tensor> hidden_states(const Tensor& pixel_values, const std::vector<int64_t>& layers) const;

 private:
  struct Layer {
    Norm norm1, norm2;
    Linear q, k, v, out, fc1, fc2;
    Attention attention;
  };
  ClipVisionConfig config_;
  Device device_ = Device::cpu();
  Linear patch_embedding_;  // [D, C * p * p], no bias
  Tensor class_embedding_;   // [1, D]
  Tensor position_embedding_;  // [num_positions, D]
  Norm pre_layernorm_;
  std::vector<Layer> layers_;
};

}  // namespace vllm
