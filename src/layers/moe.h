// MoEFeedForward: a mixture-of-experts block in place of a dense MLP. A router (Linear, optional
// bias and e_score_correction_bias) picks top_k experts per token (ops::moe_topk, every family's
// rule), the experts' gated MLPs run over their tokens only (ops::moe_experts) from one stacked
// tensor per projection, and an optional shared expert (a dense MLP over every token, optionally
// scaled by a sigmoid gate) is added. Weight names, under `prefix` (model.layers.N.mlp.):
//   gate.weight [E, H], gate.bias [E], gate.e_score_correction_bias [E]   the router
//   experts.gate_up_proj [E, 2I, H], experts.down_proj [E, H, I]          the experts, stacked
//   shared_expert.{gate_up_proj, down_proj}.weight, shared_expert_gate.weight [1, H]
// A family's WeightMap maps its checkpoint onto these: per-expert tensors stack through
// WeightMap::stacked (experts.$.gate_proj + up_proj per expert), fused layouts by renames.
#pragma once

#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "layers/feed_forward.h"
#include "backend/moe_routing.h"

namespace vllm {

struct MoESpec {
  int64_t hidden_size = 0;
  int64_t num_experts = 0;
  int64_t intermediate_size = 0;  // per expert (moe_intermediate_size)
  ops::Activation activation = ops::Activation::Silu;
  ops::MoERouting routing;        // top_k, scoring, renormalisation, groups, scaling
  bool router_bias = false;       // gate.bias
  bool correction_bias = false;   // gate.e_score_correction_bias (selection only)
  // The shared expert: a gated MLP of this width over every token (0: none); DeepSeek's
  // n_shared_experts * moe_intermediate_size.
  int64_t shared_intermediate_size = 0;
  bool shared_expert_gate = false;  // Qwen2-MoE: scaled by sigmoid(shared_expert_gate(x))
};

// The expert count, top-k, routing and shared expert as JSON (`vllm-cpp inspect`), with the
// parameters of one expert and of the always-active part of the block.
nlohmann::json describe_moe(const MoESpec& spec);

class MoEFeedForward : public FeedForward {
 public:
  static std::unique_ptr<MoEFeedForward> load(WeightLoader& loader, const std::string& prefix, const MoESpec& spec,
                                              Device device);
  Tensor forward(const Tensor& x, DType product_dtype = DType::F32) const override;
  // The experts' dtype when the router and shared expert agree with it, else f32.
  DType weight_dtype() const override;
  const MoESpec& spec() const { return spec_; }

 private:
  MoESpec spec_;
  Linear router_;
  Tensor correction_bias_;  // [E] f32, or undefined
  Tensor w_gate_up_;        // [E, 2I, H]
  Tensor w_down_;           // [E, H, I]
  std::unique_ptr<DenseFeedForward> shared_expert_;
  Linear shared_expert_gate_;  // [1, H], when spec_.shared_expert_gate
};

}  // namespace vllm
