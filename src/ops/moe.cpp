#include "ops/moe.h"

#include "ops/dispatch.h"

namespace vllm::ops {

using namespace detail;

const char* moe_scoring_name(MoEScoring scoring) {
  switch (scoring) {
    case MoEScoring::Softmax: return "softmax_topk";
    case MoEScoring::Sigmoid: return "sigmoid_topk";
    case MoEScoring::TopKSoftmax: return "topk_softmax";
    case MoEScoring::SparseMixer: return "sparsemixer";
  }
  return "unknown";
}

namespace {
bool half(DType dtype) { return dtype == DType::BF16 || dtype == DType::F16; }
}  // namespace

void moe_topk(const Tensor& router_logits, const Tensor& correction_bias, const MoERouting& routing,
              Tensor& topk_ids, Tensor& topk_weights) {
  const char* op = "moe_topk";
  check_dim(op, "router_logits", router_logits, 2);
  check_dtype(op, "router_logits", router_logits, DType::F32);
  check_contiguous(op, "router_logits", router_logits);
  check_dim(op, "topk_ids", topk_ids, 2);
  check_dtype(op, "topk_ids", topk_ids, DType::I32);
  check_contiguous(op, "topk_ids", topk_ids);
  check_dim(op, "topk_weights", topk_weights, 2);
  check_dtype(op, "topk_weights", topk_weights, DType::F32);
  check_contiguous(op, "topk_weights", topk_weights);
  const int64_t tokens = router_logits.size(0), experts = router_logits.size(1), k = routing.top_k;
  VLLM_CHECK(k >= 1 && k <= experts, InvalidArgument, op, ": top_k ", k, " must be in [1, ", experts,
             "] (the number of experts)");
  VLLM_CHECK(topk_ids.size(0) == tokens && topk_ids.size(1) == k && topk_weights.shape() == topk_ids.shape(),
             InvalidArgument, op, ": topk_ids ", describe(topk_ids), " and topk_weights ", describe(topk_weights),
             " must be [", tokens, ", ", k, "]");
  if (correction_bias.defined()) {
    check_dtype(op, "correction_bias", correction_bias, DType::F32);
    check_contiguous(op, "correction_bias", correction_bias);
    VLLM_CHECK(correction_bias.numel() == experts, InvalidArgument, op, ": correction_bias ",
               describe(correction_bias), " must hold one value per expert (", experts, ")");
    VLLM_CHECK(routing.scoring == MoEScoring::Softmax || routing.scoring == MoEScoring::Sigmoid, InvalidArgument, op,
               ": a correction bias needs softmax or sigmoid scoring, not ", moe_scoring_name(routing.scoring));
  }
  if (routing.scoring == MoEScoring::SparseMixer)
    VLLM_CHECK(k == 2 && experts >= 2, InvalidArgument, op, ": sparsemixer routes to exactly 2 of at least 2 experts, not ",
               k, " of ", experts);
  if (routing.num_groups > 1) {
    VLLM_CHECK(routing.num_groups <= 64 && experts % routing.num_groups == 0 && experts / routing.num_groups >= 2 &&
                   routing.topk_groups >= 1 && routing.topk_groups <= routing.num_groups &&
                   (routing.scoring == MoEScoring::Softmax || routing.scoring == MoEScoring::Sigmoid),
               InvalidArgument, op, ": group-limited routing needs n_group (", routing.num_groups,
               ") <= 64 dividing the ", experts, " experts into groups of at least 2, topk_group (",
               routing.topk_groups, ") in [1, n_group], and softmax or sigmoid scores");
    VLLM_CHECK(k <= routing.topk_groups * (experts / routing.num_groups), InvalidArgument, op, ": top_k ", k,
               " exceeds the experts of the ", routing.topk_groups, " groups kept");
  }
  Device device = common_device(op, {&router_logits, &correction_bias, &topk_ids, &topk_weights});
  VLLM_DISPATCH(op, device, moe_topk, router_logits, correction_bias, routing, topk_ids, topk_weights);
}

void moe_experts(const Tensor& x, const Tensor& topk_ids, const Tensor& topk_weights, const Tensor& w_gate_up,
                 const Tensor& w_down, Activation activation, Tensor& out, DType product_dtype) {
  const char* op = "moe_experts";
  check_dim(op, "x", x, 2);
  check_dim(op, "w_gate_up", w_gate_up, 3);
  check_dim(op, "w_down", w_down, 3);
  check_dim(op, "topk_ids", topk_ids, 2);
  check_dim(op, "out", out, 2);
  check_float_weight(op, "w_gate_up", w_gate_up);
  check_float_weight(op, "w_down", w_down);
  check_contiguous(op, "w_gate_up", w_gate_up);
  check_contiguous(op, "w_down", w_down);
  check_contiguous(op, "x", x);
  check_dtype(op, "topk_ids", topk_ids, DType::I32);
  check_contiguous(op, "topk_ids", topk_ids);
  check_dtype(op, "topk_weights", topk_weights, DType::F32);
  check_contiguous(op, "topk_weights", topk_weights);
  check_dtype(op, "out", out, DType::F32);
  check_contiguous(op, "out", out);
  // x and the product: f32, or on CUDA the weights' half type.
  const bool cuda = x.defined() && x.device().is_cuda();
  if (cuda && half(x.dtype()))
    VLLM_CHECK(x.dtype() == w_gate_up.dtype(), InvalidArgument, op, ": x ", describe(x),
               " must be f32 or have the weights' dtype ", dtype_name(w_gate_up.dtype()));
  else
    check_dtype(op, "x", x, DType::F32);
  VLLM_CHECK(product_dtype == DType::F32 || (cuda && product_dtype == w_down.dtype() && half(product_dtype)),
             InvalidArgument, op, ": product dtype ", dtype_name(product_dtype),
             " must be f32, or on CUDA the weights' half type");
  VLLM_CHECK(w_gate_up.dtype() == w_down.dtype(), InvalidArgument, op, ": w_gate_up ", describe(w_gate_up),
             " and w_down ", describe(w_down), " must have one dtype");
  const int64_t tokens = x.size(0), hidden = x.size(1), experts = w_gate_up.size(0);
  const int64_t inter = w_gate_up.size(1) / 2;
  VLLM_CHECK(w_gate_up.size(2) == hidden && w_gate_up.size(1) == 2 * inter && w_down.size(0) == experts &&
                 w_down.size(1) == hidden && w_down.size(2) == inter,
             InvalidArgument, op, ": x ", describe(x), ", w_gate_up ", describe(w_gate_up), " and w_down ",
             describe(w_down), " must be [T, H], [E, 2I, H] and [E, H, I]");
  VLLM_CHECK(topk_ids.size(0) == tokens && topk_weights.shape() == topk_ids.shape() && topk_ids.size(1) >= 1,
             InvalidArgument, op, ": topk_ids ", describe(topk_ids), " and topk_weights ", describe(topk_weights),
             " must be [", tokens, ", k]");
  VLLM_CHECK(out.size(0) == tokens && out.size(1) == hidden, InvalidArgument, op, ": out ", describe(out),
             " must be [", tokens, ", ", hidden, "]");
  VLLM_CHECK(out.raw_data() != x.raw_data() || tokens == 0, InvalidArgument, op, ": out must not alias x");
  Device device = common_device(op, {&x, &topk_ids, &topk_weights, &w_gate_up, &w_down, &out});
  VLLM_DISPATCH(op, device, moe_experts, x, topk_ids, topk_weights, w_gate_up, w_down, activation, out,
                product_dtype);
}

void moe_add_gated(Tensor& out, const Tensor& shared, const Tensor& gate_logits) {
  const char* op = "moe_add_gated";
  check_dim(op, "out", out, 2);
  for (const auto& [name, t] : {std::pair<const char*, const Tensor*>{"out", &out}, {"shared", &shared},
                                {"gate_logits", &gate_logits}}) {
    check_dtype(op, name, *t, DType::F32);
    check_contiguous(op, name, *t);
  }
  check_same_shape(op, "out", out, "shared", shared);
  VLLM_CHECK(gate_logits.dim() == 2 && gate_logits.size(0) == out.size(0) && gate_logits.size(1) == 1,
             InvalidArgument, op, ": gate_logits ", describe(gate_logits), " must be [", out.size(0), ", 1]");
  Device device = common_device(op, {&out, &shared, &gate_logits});
  VLLM_DISPATCH(op, device, moe_add_gated, out, shared, gate_logits);
}

}  // namespace vllm::ops
