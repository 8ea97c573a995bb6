#include "layers/linear.h"

#include <algorithm>

#include "core/error.h"
#include "ops/ops.h"

namespace vllm {

Linear Linear::load(WeightLoader& loader, const std::string& prefix, int64_t in_features,
                    int64_t out_features, bool bias, Device device, TensorParallel parallel) {
  VLLM_CHECK(parallel.size == 1, Unsupported, prefix, ": tensor-parallel size ", parallel.size,
             " is not supported yet (one rank only)");
  Linear linear;
  linear.parallel = parallel;
  linear.weight = loader.take(prefix + ".weight", {out_features, in_features}, ParamStorage::Keep, device);
  if (bias) linear.bias = loader.take(prefix + ".bias", {out_features}, ParamStorage::Float32, device);
  return linear;
}

Tensor Linear::forward(const Tensor& x, DType out_dtype) const {
  Tensor out = Tensor::empty({x.size(0), weight.size(0)}, out_dtype, x.device());
  ops::linear(x, weight, bias, out);
  return out;
}

void Linear::to(Device device) {
  if (weight.defined()) weight = weight.to(device);
  if (bias.defined()) bias = bias.to(device);
}

}  // namespace vllm
