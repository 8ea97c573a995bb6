// CUDA kernels of src/ops/moe.h (arguments checked by the op entry points).
#pragma once

#include "core/tensor.h"
#include "backend/backend_types.h"
#include "backend/moe_routing.h"

namespace vllm::cuda {

void moe_topk(const Tensor& router_logits, const Tensor& correction_bias, const ops::MoERouting& routing,
              Tensor& topk_ids, Tensor& topk_weights);
void moe_experts(const Tensor& x, const Tensor& topk_ids, const Tensor& topk_weights, const Tensor& w_gate_up,
                 const Tensor& w_down, ops::Activation activation, Tensor& out, DType product_dtype);
void moe_add_gated(Tensor& out, const Tensor& shared, const Tensor& gate_logits);

}  // namespace vllm::cuda
