// Linear: y = x W^T (+ b). Weights keep the checkpoint dtype; the op widens them in the kernel.
// (Tensor-parallel sharding and LoRA hooks attach here later.)
#pragma once

#include "core/tensor.h"
#include "models/weight_loader.h"

namespace vllm {

struct Linear {
  Tensor weight;  // [out_features, in_features]
  Tensor bias;    // [out_features] f32, or undefined

  static Linear load(WeightLoader& loader, const std::string& prefix, int64_t in_features,
                     int64_t out_features, bool bias);
  int64_t out_features() const { return weight.size(0); }
  Tensor forward(const Tensor& x) const;  // x [T, in] -> [T, out] f32
};

enum class NormKind { RMSNorm, LayerNorm };

struct Norm {
  NormKind kind = NormKind::RMSNorm;
  Tensor weight;              // [hidden] f32
  Tensor bias;                // LayerNorm only, may be undefined
  float eps = 1e-6f;
  float weight_offset = 0.0f; // Gemma's (1 + w)

  static Norm load(WeightLoader& loader, const std::string& prefix, int64_t hidden, NormKind kind,
                   float eps, float weight_offset);
  void forward_inplace(Tensor& x) const;  // over the last dim
  bool defined() const { return weight.defined(); }
};

}  // namespace vllm
