// FeedForward: the MLP half of a block. A model holds its blocks' MLPs through this interface, so
// a mixture-of-experts block (router + experts) plugs in where a dense one sits.
#pragma once

#include <memory>

#include "layers/linear.h"
#include "ops/activation.h"

namespace vllm {

class FeedForward {
 public:
  virtual ~FeedForward() = default;
  // x [T, H] (f32, or on CUDA the weights' half type) -> [T, H] f32. `product_dtype` is what the
  // gated product is written in: f32, or on CUDA the matmuls' half type (the activation then
  // reads half the bytes, and the product is rounded as HF's bf16 model rounds it).
  virtual Tensor forward(const Tensor& x, DType product_dtype = DType::F32) const = 0;
  // The dtype of the weights its matmuls read.
  virtual DType weight_dtype() const = 0;
};

struct FeedForwardSpec {
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  bool gated = true;  // act(gate) * up (Llama); false: act(up) (GPT-2, OPT)
  ops::Activation activation = ops::Activation::Silu;
  bool up_bias = false;    // on gate_up_proj / up_proj
  bool down_bias = false;  // on down_proj
  // > 0: Gemma 3n's activation sparsity: the gate keeps what exceeds mean + std * Phi^-1(p).
  double activation_sparsity = 0.0;
};

// Dense MLP: gate_up_proj (fused gate_proj | up_proj, or up_proj alone when not gated) ->
// activation -> down_proj, under `prefix` in the Llama layout.
class DenseFeedForward : public FeedForward {
 public:
  static std::unique_ptr<DenseFeedForward> load(WeightLoader& loader, const std::string& prefix,
                                                const FeedForwardSpec& spec, Device device);
  Tensor forward(const Tensor& x, DType product_dtype = DType::F32) const override;
  DType weight_dtype() const override;

 private:
  FeedForwardSpec spec_;
  Linear up_proj_, down_proj_;  // up_proj_: gate_up_proj when gated
  float sparsity_multiplier_ = 0.0f;  // Phi^-1(activation_sparsity)
};

// Phi^-1(p), the standard normal quantile (torch's Normal(0, 1).icdf).
double normal_quantile(double p);

}  // namespace vllm
