// Norm: RMSNorm and LayerNorm over the last dimension, with their variants (Gemma's (1 + w),
// LayerNorm1P's folded offset, no affine, one weight per head).
#pragma once

#include "core/tensor.h"
#include "loader/weight_loader.h"

namespace vllm {

enum class NormKind { RMSNorm, LayerNorm };

struct Norm {
  NormKind kind = NormKind::RMSNorm;
  Tensor weight;              // [hidden] f32, or [heads, head_dim] (one weight per head); undefined: no affine
  Tensor bias;                // LayerNorm only, may be undefined
  float eps = 1e-6f;
  float weight_offset = 0.0f; // Gemma's (1 + w) for RMSNorm; LayerNorm's is folded into weight at load
  bool present = false;

  // LayerNorm's weight_offset (Nemotron's LayerNorm1P) is added to the loaded weight.
  static Norm load(WeightLoader& loader, const std::string& prefix, int64_t hidden, NormKind kind,
                   float eps, float weight_offset);
  // A LayerNorm without weight or bias (OLMo).
  static Norm non_affine(float eps);
  // An RMSNorm over `size` without a learned weight (Gemma 3n's v_norm).
  static Norm unit_rms(int64_t size, float eps);
  // A norm over each head's head_dim with its own weight per head: `prefix.weight` [heads,
  // head_dim] (Cohere), or `prefix.norms.<h>.weight` (StableLM).
  static Norm load_per_head(WeightLoader& loader, const std::string& prefix, int64_t heads, int64_t head_dim,
                            NormKind kind, float eps);
  // Over the last dim; x [T, heads, head_dim] for per-head weights.
  void forward_inplace(Tensor& x) const;
  // The normed copy of x (x itself when there is no norm: callers only read the result).
  Tensor forward(const Tensor& x) const;
  bool defined() const { return present; }
  void to(Device device);
};

}  // namespace vllm
