#include "layers/moe.h"

#include "core/error.h"
#include "ops/ops.h"

namespace vllm {

nlohmann::json describe_moe(const MoESpec& spec) {
  using json = nlohmann::json;
  const ops::MoERouting& r = spec.routing;
  json routing = {{"kind", ops::moe_scoring_name(r.scoring)}, {"renormalize", r.renormalize}};
  if (r.renormalize && r.renormalize_min > 0.0f) routing["renormalize_min"] = r.renormalize_min;
  if (r.num_groups > 1) routing["groups"] = {{"n_group", r.num_groups}, {"topk_group", r.topk_groups}};
  if (r.scaling != 1.0f) routing["routed_scaling_factor"] = r.scaling;
  if (r.scoring == ops::MoEScoring::SparseMixer) routing["jitter_eps"] = r.jitter_eps;
  routing["correction_bias"] = spec.correction_bias;
  routing["router_bias"] = spec.router_bias;
  return {
      {"experts", spec.num_experts},
      {"top_k", r.top_k},
      {"expert_intermediate", spec.intermediate_size},
      {"routing", routing},
      {"shared_expert", spec.shared_intermediate_size > 0
                            ? json{{"intermediate", spec.shared_intermediate_size}, {"gate", spec.shared_expert_gate}}
                            : json()},
      // gate_up [2I, H] + down [H, I]: what each expert a token does not use leaves unread.
      {"parameters_per_expert", 3 * spec.hidden_size * spec.intermediate_size},
  };
}

std::unique_ptr<MoEFeedForward> MoEFeedForward::load(WeightLoader& loader, const std::string& prefix,
                                                     const MoESpec& spec, Device device) {
  VLLM_CHECK(spec.num_experts > 0 && spec.routing.top_k >= 1 && spec.routing.top_k <= spec.num_experts,
             InvalidArgument, prefix, ": ", spec.routing.top_k, " experts per token of ", spec.num_experts,
             " (num_experts_per_tok must be in [1, number of experts])");
  auto moe = std::make_unique<MoEFeedForward>();
  moe->spec_ = spec;
  const int64_t experts = spec.num_experts, hidden = spec.hidden_size, inter = spec.intermediate_size;
  moe->router_ = Linear::load(loader, prefix + "gate", hidden, experts, spec.router_bias, device);
  if (spec.correction_bias)
    moe->correction_bias_ = loader.take(prefix + "gate.e_score_correction_bias", {experts}, ParamStorage::Float32, device);
  moe->w_gate_up_ = loader.take(prefix + "experts.gate_up_proj", {experts, 2 * inter, hidden}, ParamStorage::Keep, device);
  moe->w_down_ = loader.take(prefix + "experts.down_proj", {experts, hidden, inter}, ParamStorage::Keep, device);
  if (spec.shared_intermediate_size > 0) {
    FeedForwardSpec shared;
    shared.hidden_size = hidden;
    shared.intermediate_size = spec.shared_intermediate_size;
    shared.activation = spec.activation;
    moe->shared_expert_ = DenseFeedForward::load(loader, prefix + "shared_expert.", shared, device);
    if (spec.shared_expert_gate)
      moe->shared_expert_gate_ = Linear::load(loader, prefix + "shared_expert_gate", hidden, 1, false, device);
  }
  return moe;
}

DType MoEFeedForward::weight_dtype() const {
  // The router is left out: checkpoints that keep it in f32 (ERNIE, HunYuan) get an f32 input.
  const DType experts = w_gate_up_.dtype();
  bool same = w_down_.dtype() == experts;
  if (shared_expert_) same = same && shared_expert_->weight_dtype() == experts;
  if (shared_expert_gate_.weight.defined()) same = same && shared_expert_gate_.weight.dtype() == experts;
  return same ? experts : DType::F32;
}

Tensor MoEFeedForward::forward(const Tensor& x, DType product_dtype) const {
  const int64_t tokens = x.size(0), k = spec_.routing.top_k;
  const Device device = x.device();
  // A half-precision x meets an f32 router (kept in f32 by the checkpoint) as f32, as HF runs it.
  Tensor router_input = x;
  if (x.dtype() != DType::F32 && router_.weight.dtype() != x.dtype()) {
    router_input = Tensor::empty(x.shape(), DType::F32, device);
    ops::cast(x, router_input);
  }
  Tensor logits = router_.forward(router_input);  // [T, E] f32
  Tensor ids = Tensor::empty({tokens, k}, DType::I32, device);
  Tensor weights = Tensor::empty({tokens, k}, DType::F32, device);
  ops::moe_topk(logits, correction_bias_, spec_.routing, ids, weights);
  Tensor out = Tensor::empty({tokens, spec_.hidden_size}, DType::F32, device);  // [T, H]
  ops::moe_experts(x, ids, weights, w_gate_up_, w_down_, spec_.activation, out, product_dtype);
  if (shared_expert_) {
    Tensor shared = shared_expert_->forward(x, product_dtype);  // [T, H] f32
    if (shared_expert_gate_.weight.defined())
      ops::moe_add_gated(out, shared, shared_expert_gate_.forward(x));
    else
      ops::add(out, shared, out);
  }
  return out;
}

}  // namespace vllm
