// AttentionBlock: a decoder layer's attention sublayer as the decoder drives it, projections
// included: hidden [T, H] -> [T, H] over the layer's cache. SelfAttention (q/k/v heads) and
// MlaAttention (DeepSeek's latent form) are the two kinds.
#pragma once

#include "core/tensor.h"
#include "layers/attention.h"
#include "layers/batch_metadata.h"

namespace vllm {

class AttentionBlock {
 public:
  virtual ~AttentionBlock() = default;
  // hidden [T, H] (f32, or on CUDA the projections' half type) -> [T, H] f32.
  virtual Tensor forward(const Tensor& hidden, const BatchMetadata& batch, const AttentionCache& cache) const = 0;
  // The dtype of the projection that reads `hidden`.
  virtual DType weight_dtype() const = 0;
};

}  // namespace vllm
