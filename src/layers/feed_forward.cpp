#include "layers/feed_forward.h"

#include <cmath>

#include "ops/ops.h"

namespace vllm {

double normal_quantile(double p) {
  double lo = -10.0, hi = 10.0;  // bisection on erfc
  for (int i = 0; i < 200; ++i) {
    double mid = 0.5 * (lo + hi);
    (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

std::unique_ptr<DenseFeedForward> DenseFeedForward::load(WeightLoader& loader, const std::string& prefix,
                                                         const FeedForwardSpec& spec, Device device) {
  auto mlp = std::make_unique<DenseFeedForward>();
  mlp->spec_ = spec;
  const int64_t up_rows = spec.gated ? 2 * spec.intermediate_size : spec.intermediate_size;
  mlp->up_proj_ = Linear::load(loader, prefix + (spec.gated ? "gate_up_proj" : "up_proj"), spec.hidden_size, up_rows,
                               spec.up_bias, device, {TensorParallel::Split::Column});
  mlp->down_proj_ = Linear::load(loader, prefix + "down_proj", spec.intermediate_size, spec.hidden_size,
                                 spec.down_bias, device, {TensorParallel::Split::Row});
  if (spec.activation_sparsity > 0.0)
    mlp->sparsity_multiplier_ = static_cast<float>(normal_quantile(spec.activation_sparsity));
  return mlp;
}

DType DenseFeedForward::weight_dtype() const {
  return up_proj_.weight.dtype() == down_proj_.weight.dtype() ? up_proj_.weight.dtype() : DType::F32;
}

Tensor DenseFeedForward::forward(const Tensor& x, DType product_dtype) const {
  const FeedForwardSpec& s = spec_;
  if (!s.gated) {
    Tensor up = up_proj_.forward(x);  // [T, I]
    ops::activation(s.activation, up, up);
    return down_proj_.forward(up);
  }
  const int64_t tokens = x.size(0), inter = s.intermediate_size;
  if (s.activation_sparsity > 0.0) {  // Gemma3nTextMLP._gaussian_topk: relu(gate - (mean + std * Phi^-1(p)))
    Tensor gate_up = up_proj_.forward(x);  // [T, 2 I] f32
    Tensor gate = gate_up.slice(1, 0, inter).contiguous();
    ops::gaussian_topk(gate, sparsity_multiplier_);
    ops::activation(s.activation, gate, gate);
    ops::mul(gate, gate_up.slice(1, inter, 2 * inter).contiguous(), gate);
    return down_proj_.forward(gate);
  }
  Tensor gate_up = up_proj_.forward(x, product_dtype);  // [T, 2 I]
  Tensor activated = Tensor::empty({tokens, inter}, product_dtype, x.device());
  ops::activation_and_mul(s.activation, gate_up, activated);
  return down_proj_.forward(activated);
}

}  // namespace vllm
