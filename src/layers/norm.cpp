#include "layers/norm.h"

#include <algorithm>

#include "core/error.h"
#include "ops/ops.h"

namespace vllm {

Norm Norm::load(WeightLoader& loader, const std::string& prefix, int64_t hidden, NormKind kind,
                float eps, float weight_offset) {
  Norm norm;
  norm.kind = kind;
  norm.eps = eps;
  norm.weight_offset = weight_offset;
  norm.present = true;
  norm.weight = loader.take(prefix + ".weight", {hidden}, ParamStorage::Float32);
  if (kind == NormKind::LayerNorm) {
    norm.bias = loader.take_optional(prefix + ".bias", {hidden}, ParamStorage::Float32);
    if (weight_offset != 0.0f) {
      norm.weight = norm.weight.clone();  // an f32 checkpoint's weight is a view of the read-only mapping
      float* w = norm.weight.data<float>();
      for (int64_t i = 0; i < norm.weight.numel(); ++i) w[i] += weight_offset;
      norm.weight_offset = 0.0f;
    }
  }
  return norm;
}

Norm Norm::non_affine(float eps) {
  Norm norm;
  norm.kind = NormKind::LayerNorm;
  norm.eps = eps;
  norm.present = true;
  return norm;
}

Norm Norm::unit_rms(int64_t size, float eps) {
  Norm norm;
  norm.kind = NormKind::RMSNorm;
  norm.eps = eps;
  norm.present = true;
  norm.weight = Tensor::from_floats(std::vector<float>(static_cast<size_t>(size), 1.0f), {size}, DType::F32);
  return norm;
}

Norm Norm::load_per_head(WeightLoader& loader, const std::string& prefix, int64_t heads, int64_t head_dim,
                         NormKind kind, float eps) {
  Norm norm;
  norm.kind = kind;
  norm.eps = eps;
  norm.present = true;
  if (loader.has(prefix + ".weight")) {
    norm.weight = loader.take(prefix + ".weight", {heads, head_dim}, ParamStorage::Float32);
    if (kind == NormKind::LayerNorm)
      norm.bias = loader.take_optional(prefix + ".bias", {heads, head_dim}, ParamStorage::Float32);
    return norm;
  }
  norm.weight = Tensor::empty({heads, head_dim}, DType::F32);
  float* out = norm.weight.data<float>();
  for (int64_t h = 0; h < heads; ++h) {
    Tensor part = loader.take(str(prefix, ".norms.", h, ".weight"), {head_dim}, ParamStorage::Float32).contiguous();
    const float* in = part.data<float>();
    std::copy(in, in + head_dim, out + h * head_dim);
  }
  return norm;
}

void Norm::to(Device device) {
  if (weight.defined()) weight = weight.to(device);
  if (bias.defined()) bias = bias.to(device);
}

Tensor Norm::forward(const Tensor& x) const {
  if (!defined()) return x;
  if (weight.defined() && weight.dim() == 2) {  // per-head weights: the in-place path handles them
    Tensor out = x.clone();
    forward_inplace(out);
    return out;
  }
  Tensor out = Tensor::empty(x.shape(), DType::F32, x.device());
  if (kind == NormKind::RMSNorm)
    ops::rms_norm(x, weight, eps, weight_offset, out);
  else
    ops::layer_norm(x, weight, bias, eps, out);
  return out;
}

void Norm::forward_inplace(Tensor& x) const {
  if (weight.defined() && weight.dim() == 2) {  // per-head weights: one head at a time
    int64_t heads = weight.size(0), dim = weight.size(1);
    Tensor by_head = x.view({-1, heads, dim}).transpose(0, 1).contiguous();  // [H, T, D]
    int64_t tokens = by_head.size(1);
    for (int64_t h = 0; h < heads; ++h) {
      Tensor rows = by_head.slice(0, h, h + 1).view({tokens, dim});
      Tensor w = weight.slice(0, h, h + 1).view({dim});
      Tensor b = bias.defined() ? bias.slice(0, h, h + 1).view({dim}) : Tensor();
      if (kind == NormKind::RMSNorm)
        ops::rms_norm(rows, w, eps, weight_offset, rows);
      else
        ops::layer_norm(rows, w, b, eps, rows);
    }
    x.copy_from(by_head.transpose(0, 1).contiguous().view(x.shape()));
    return;
  }
  if (kind == NormKind::RMSNorm)
    ops::rms_norm(x, weight, eps, weight_offset, x);
  else
    ops::layer_norm(x, weight, bias, eps, x);
}

}  // namespace vllm
