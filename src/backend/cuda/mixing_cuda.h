// CUDA kernels of src/ops/mixing.h (arguments checked by the op entry points).
#pragma once

#include "core/tensor.h"

namespace vllm::cuda {

void mul(const Tensor& a, const Tensor& b, Tensor& out);
void mix_streams(const Tensor& streams, const Tensor& coefs, Tensor& out);
void match_rms(Tensor& x, const Tensor& reference, float min_mean_square);
void gaussian_topk(Tensor& x, float multiplier);

}  // namespace vllm::cuda
