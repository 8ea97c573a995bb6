// Mixture-of-experts ops: the router's top-k (every routing rule of the supported families) and
// the experts' gated MLPs over the selected experts only.
#pragma once

#include "core/tensor.h"
#include "ops/activation.h"
#include "backend/moe_routing.h"

namespace vllm::ops {

// Per token, the router's choice: router_logits [T, E] f32 (contiguous) -> topk_ids [T, k] int32
// and topk_weights [T, k] f32, by `routing` (moe_routing.h says each rule). correction_bias [E]
// f32 (e_score_correction_bias) or undefined; it moves the selection, never the weights. Ties
// pick the lower expert index (torch.topk's stable order; see moe_routing.h).
void moe_topk(const Tensor& router_logits, const Tensor& correction_bias, const MoERouting& routing,
              Tensor& topk_ids, Tensor& topk_weights);

// out[t] = sum_j topk_weights[t, j] * down_e(act(gate_e(x[t])) * up_e(x[t])), e = topk_ids[t, j],
// the terms added in increasing expert order (HF's loop over experts). x [T, H] f32 (or on CUDA
// the weights' bf16/f16); w_gate_up [E, 2I, H] (gate rows then up rows per expert) and w_down
// [E, H, I], f32/bf16/f16, contiguous; out [T, H] f32, overwritten. Only the selected experts'
// weights are read. `product_dtype`: what the gated product is stored in between the two matmuls
// (f32, or on CUDA the weights' half type, as the dense MLP's product_dtype). An expert id
// outside [0, E) is InvalidArgument on the CPU and contributes nothing on CUDA (ids stay on the
// device).
void moe_experts(const Tensor& x, const Tensor& topk_ids, const Tensor& topk_weights, const Tensor& w_gate_up,
                 const Tensor& w_down, Activation activation, Tensor& out, DType product_dtype = DType::F32);

// out[t] += sigmoid(gate_logits[t]) * shared[t] (Qwen2-MoE's shared_expert_gate): out and shared
// [T, H] f32, gate_logits [T, 1] f32, all contiguous.
void moe_add_gated(Tensor& out, const Tensor& shared, const Tensor& gate_logits);

}  // namespace vllm::ops
