#include "layers/linear.h"

#include "ops/ops.h"

namespace vllm {

Linear Linear::load(WeightLoader& loader, const std::string& prefix, int64_t in_features,
                    int64_t out_features, bool bias) {
  Linear linear;
  linear.weight = loader.take(prefix + ".weight", {out_features, in_features}, ParamStorage::Keep);
  if (bias) linear.bias = loader.take(prefix + ".bias", {out_features}, ParamStorage::Float32);
  return linear;
}

Tensor Linear::forward(const Tensor& x) const {
  Tensor out = Tensor::empty({x.size(0), weight.size(0)}, DType::F32, x.device());
  ops::linear(x, weight, bias, out);
  return out;
}

Norm Norm::load(WeightLoader& loader, const std::string& prefix, int64_t hidden, NormKind kind,
                float eps, float weight_offset) {
  Norm norm;
  norm.kind = kind;
  norm.eps = eps;
  norm.weight_offset = weight_offset;
  norm.weight = loader.take(prefix + ".weight", {hidden}, ParamStorage::Float32);
  if (kind == NormKind::LayerNorm) norm.bias = loader.take_optional(prefix + ".bias", {hidden}, ParamStorage::Float32);
  return norm;
}

void Norm::forward_inplace(Tensor& x) const {
  if (kind == NormKind::RMSNorm)
    ops::rms_norm(x, weight, eps, weight_offset, x);
  else
    ops::layer_norm(x, weight, bias, eps, x);
}

}  // namespace vllm
