// The routing rules of the mixture-of-experts families, one token's row at a time, written once
// for the CPU and CUDA kernels of ops::moe_topk (as sampling_common.h is for sampling), so both
// devices select the same experts from the same logits.
//
// Ties: torch.topk documents no order for equal values (its CPU kernel returned index 2 of four
// equal values for k = 1, pytorch#88184), so no implementation can match it on ties; ours takes
// the lower expert index first on every device (torch's `stable=True` order, ONNX's TopK).
// Equal router scores only arise from degenerate weights (zero rows), never from trained ones.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define VLLM_MOE_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define VLLM_MOE_HOST_DEVICE inline
#endif

namespace vllm::ops {

enum class MoEScoring {
  // scores = softmax(logits); the k best scores (plus correction bias) are chosen and weigh their
  // experts (Mixtral, Qwen2/3-MoE, OLMoE, DeepSeek V1, Ernie 4.5, HunYuan, DBRX).
  Softmax,
  // scores = sigmoid(logits), chosen likewise (DeepSeek-V3, GLM-4.5, Dots1), usually with the
  // correction bias and group-limited selection.
  Sigmoid,
  // The k largest logits are chosen and weighted by the softmax over those k alone
  // (GraniteMoe / JetMoe's top-k gating).
  TopKSoftmax,
  // PhiMoE's sparsemixer (k = 2, inference): expert 1 is the best logit, weighted by the softmax
  // over the logits within 2 * jitter_eps (relative) of it; expert 2 likewise among the rest.
  SparseMixer,
};

const char* moe_scoring_name(MoEScoring scoring);

struct MoERouting {
  MoEScoring scoring = MoEScoring::Softmax;
  int32_t top_k = 1;
  // weights /= max(sum of the k weights, renormalize_min) (norm_topk_prob; Ernie clamps the sum
  // at moe_norm_min; DeepSeek's "+ 1e-20" only differs for sums below 1e-13).
  bool renormalize = false;
  float renormalize_min = 0.0f;
  // Group-limited selection (DeepSeek-V3's n_group / topk_group): the experts form num_groups
  // equal groups; each group scores the sum of its two best choice values (DeepSeek-V2's
  // group_limited_greedy: its best one, group_score_max), the topk_groups best groups stay and the
  // others' experts count as 0 (HF's masked_fill(0.0)) when the k are chosen.
  int32_t num_groups = 1;
  int32_t topk_groups = 1;
  bool group_score_max = false;
  float scaling = 1.0f;       // routed_scaling_factor, after renormalisation
  float jitter_eps = 0.01f;   // SparseMixer: router_jitter_noise
};

namespace detail {

// The k best of value(i), i in [0, n), in decreasing value, lower index first among equals
// (NaN counts as -inf). ids[j] = -1 past n.
template <typename Value>
VLLM_MOE_HOST_DEVICE void moe_select_topk(int32_t n, int32_t k, const Value& value, int32_t* ids) {
  float previous = INFINITY;
  int32_t previous_index = -1;
  for (int32_t j = 0; j < k; ++j) {
    int32_t best = -1;
    float best_value = -INFINITY;
    for (int32_t i = 0; i < n; ++i) {
      float v = value(i);
      if (v != v) v = -INFINITY;
      // Only candidates after the previous pick in the order (value desc, index asc).
      if (j > 0 && !(v < previous || (v == previous && i > previous_index))) continue;
      if (best < 0 || v > best_value) {
        best = i;
        best_value = v;
      }
    }
    ids[j] = best;
    previous = best_value;
    previous_index = best;
  }
}

// torch.max's index over a row: the first maximum (NaN counts as -inf); `skip` is excluded.
VLLM_MOE_HOST_DEVICE int32_t moe_argmax(const float* x, int32_t n, int32_t skip) {
  int32_t best = -1;
  float best_value = -INFINITY;
  for (int32_t i = 0; i < n; ++i) {
    if (i == skip) continue;
    const float v = x[i] != x[i] ? -INFINITY : x[i];
    if (best < 0 || v > best_value) {
      best = i;
      best_value = v;
    }
  }
  return best;
}

// sparsemixer's weight of expert `chosen` (its max): the softmax over the logits i (other than
// `excluded`) that pass ((max - s_i) / max(|s_i|, max)) <= 2 * eps, as HF's masked_fill(-inf).
VLLM_MOE_HOST_DEVICE float moe_sparsemixer_weight(const float* s, int32_t n, int32_t chosen, int32_t excluded,
                                                  float eps) {
  const float top = s[chosen];
  float sum = 0.0f;
  for (int32_t i = 0; i < n; ++i) {
    if (i == excluded) continue;
    const float factor = fabsf(s[i]) > top ? fabsf(s[i]) : top;  // |s_i|.clamp(min=max)
    if ((top - s[i]) / factor > 2.0f * eps) continue;             // NaN (0 / 0) keeps it, as in torch
    sum += expf(s[i] - top);
  }
  return 1.0f / sum;  // exp(top - top) / sum
}

}  // namespace detail

// One token's routing: logits [n] -> ids [k], weights [k]. bias [n] or nullptr (the correction
// bias, added to the scores for the choice only).
VLLM_MOE_HOST_DEVICE void moe_route_row(const float* logits, const float* bias, int32_t n, const MoERouting& r,
                                        int32_t* ids, float* weights) {
  const int32_t k = r.top_k;
  if (r.scoring == MoEScoring::SparseMixer) {  // k == 2, checked by the op
    const int32_t first = detail::moe_argmax(logits, n, -1);
    weights[0] = detail::moe_sparsemixer_weight(logits, n, first, -1, r.jitter_eps);
    const int32_t second = detail::moe_argmax(logits, n, first);
    weights[1] = detail::moe_sparsemixer_weight(logits, n, second, first, r.jitter_eps);
    ids[0] = first;
    ids[1] = second;
    return;
  }
  if (r.scoring == MoEScoring::TopKSoftmax) {
    detail::moe_select_topk(n, k, [&](int32_t i) { return logits[i]; }, ids);
    const float top = logits[ids[0]];
    float sum = 0.0f;
    for (int32_t j = 0; j < k; ++j) sum += (weights[j] = expf(logits[ids[j]] - top));
    for (int32_t j = 0; j < k; ++j) weights[j] /= sum;
    return;
  }
  // Softmax or sigmoid scores.
  const bool softmax = r.scoring == MoEScoring::Softmax;
  float max = -INFINITY, sum = 0.0f;
  if (softmax) {
    for (int32_t i = 0; i < n; ++i) max = logits[i] > max ? logits[i] : max;
    for (int32_t i = 0; i < n; ++i) sum += expf(logits[i] - max);
  }
  auto score = [&](int32_t i) {
    return softmax ? expf(logits[i] - max) / sum : 1.0f / (1.0f + expf(-logits[i]));
  };
  auto choice = [&](int32_t i) { return bias ? score(i) + bias[i] : score(i); };
  if (r.num_groups > 1) {
    const int32_t size = n / r.num_groups;
    auto group_score = [&](int32_t g) {  // the sum of the group's two best choice values, or the best
      float a = -INFINITY, b = -INFINITY;
      for (int32_t i = g * size; i < (g + 1) * size; ++i) {
        const float v = choice(i);
        if (v > a) {
          b = a;
          a = v;
        } else if (v > b) {
          b = v;
        }
      }
      return r.group_score_max ? a : a + b;
    };
    int32_t groups[64];  // num_groups <= 64, checked by the op
    detail::moe_select_topk(r.num_groups, r.topk_groups, group_score, groups);
    uint64_t kept = 0;
    for (int32_t j = 0; j < r.topk_groups; ++j) kept |= uint64_t{1} << groups[j];
    detail::moe_select_topk(n, k, [&](int32_t i) { return (kept >> (i / size)) & 1u ? choice(i) : 0.0f; }, ids);
  } else {
    detail::moe_select_topk(n, k, choice, ids);
  }
  float total = 0.0f;
  for (int32_t j = 0; j < k; ++j) total += (weights[j] = score(ids[j]));
  const float divisor = r.renormalize ? (total > r.renormalize_min ? total : r.renormalize_min) : 1.0f;
  for (int32_t j = 0; j < k; ++j) weights[j] = weights[j] / divisor * r.scaling;
}

}  // namespace vllm::ops
