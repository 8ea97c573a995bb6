// Mixture-of-experts on the CPU: the routing rows of backend/moe_routing.h over threads, and the
// experts one at a time in increasing id (HF's loop), each over the tokens routed to it: a gather
// of their rows, the multi-threaded linear kernel on that expert's [2I, H] and [H, I] slices of
// the stacked weights (no other expert's bytes are touched), the gated activation, and the
// weighted add into the output rows.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/cpu_ops.h"
#include "core/error.h"
#include "core/parallel.h"

namespace vllm::cpu {

void moe_topk(const Tensor& router_logits, const Tensor& correction_bias, const ops::MoERouting& routing,
              Tensor& topk_ids, Tensor& topk_weights) {
  const int64_t tokens = router_logits.size(0);
  const int32_t experts = static_cast<int32_t>(router_logits.size(1)), k = routing.top_k;
  const float* logits = router_logits.data<float>();
  const float* bias = correction_bias.defined() ? correction_bias.data<float>() : nullptr;
  int32_t* ids = topk_ids.data<int32_t>();
  float* weights = topk_weights.data<float>();
  const int64_t grain = std::max<int64_t>(1, (1 << 14) / (static_cast<int64_t>(experts) * k));
  parallel_for(tokens, grain, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t)
      ops::moe_route_row(logits + t * experts, bias, experts, routing, ids + t * k, weights + t * k);
  });
}

void moe_experts(const Tensor& x, const Tensor& topk_ids, const Tensor& topk_weights, const Tensor& w_gate_up,
                 const Tensor& w_down, ops::Activation activation, Tensor& out, DType /*product_dtype: f32*/) {
  const int64_t tokens = x.size(0), hidden = x.size(1), k = topk_ids.size(1);
  const int64_t experts = w_gate_up.size(0), inter = w_down.size(2);
  const int32_t* ids = topk_ids.data<int32_t>();
  const float* weights = topk_weights.data<float>();
  float* o = out.data<float>();
  std::fill(o, o + tokens * hidden, 0.0f);
  // The (token, slot) pairs of each expert, in token order (a counting sort by expert).
  std::vector<int64_t> start(static_cast<size_t>(experts) + 1, 0);
  for (int64_t i = 0; i < tokens * k; ++i) {
    VLLM_CHECK(ids[i] >= 0 && ids[i] < experts, InvalidArgument, "moe_experts: expert id ", ids[i], " of token ",
               i / k, " is outside [0, ", experts, ")");
    for (int64_t j = i - i % k; j < i; ++j)
      VLLM_CHECK(ids[j] != ids[i], InvalidArgument, "moe_experts: token ", i / k, " selects expert ", ids[i], " twice");
    ++start[static_cast<size_t>(ids[i]) + 1];
  }
  for (int64_t e = 0; e < experts; ++e) start[e + 1] += start[e];
  std::vector<int64_t> pairs(static_cast<size_t>(tokens * k));
  std::vector<int64_t> fill(start.begin(), start.end() - 1);
  for (int64_t i = 0; i < tokens * k; ++i) pairs[static_cast<size_t>(fill[ids[i]]++)] = i;

  const float* xs = x.data<float>();
  for (int64_t e = 0; e < experts; ++e) {
    const int64_t rows = start[e + 1] - start[e];
    if (rows == 0) continue;
    const int64_t* mine = pairs.data() + start[e];
    Tensor gathered = Tensor::empty({rows, hidden}, DType::F32);  // [rows, H]
    float* g = gathered.data<float>();
    parallel_for(rows, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(1, hidden)), [&](int64_t b, int64_t end) {
      for (int64_t r = b; r < end; ++r) std::copy_n(xs + (mine[r] / k) * hidden, hidden, g + r * hidden);
    });
    Tensor gate_up = Tensor::empty({rows, 2 * inter}, DType::F32);  // [rows, 2I]
    cpu::linear(gathered, w_gate_up.select(0, e), Tensor(), gate_up);
    Tensor product = Tensor::empty({rows, inter}, DType::F32);  // [rows, I]
    cpu::activation_and_mul(activation, gate_up, product);
    Tensor down = Tensor::empty({rows, hidden}, DType::F32);  // [rows, H]
    cpu::linear(product, w_down.select(0, e), Tensor(), down);
    // Each token appears at most once per expert, so the rows' targets are distinct.
    const float* d = down.data<float>();
    parallel_for(rows, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(1, hidden)), [&](int64_t b, int64_t end) {
      for (int64_t r = b; r < end; ++r) {
        float* target = o + (mine[r] / k) * hidden;
        const float w = weights[mine[r]];
        const float* row = d + r * hidden;
        for (int64_t h = 0; h < hidden; ++h) target[h] += row[h] * w;
      }
    });
  }
}

void moe_add_gated(Tensor& out, const Tensor& shared, const Tensor& gate_logits) {
  const int64_t tokens = out.size(0), hidden = out.size(1);
  float* o = out.data<float>();
  const float* s = shared.data<float>();
  const float* g = gate_logits.data<float>();
  parallel_for(tokens, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(1, hidden)), [&](int64_t b, int64_t end) {
    for (int64_t t = b; t < end; ++t) {
      const float gate = 1.0f / (1.0f + std::exp(-g[t]));
      for (int64_t h = 0; h < hidden; ++h) o[t * hidden + h] += gate * s[t * hidden + h];
    }
  });
}

}  // namespace vllm::cpu
