// ops::moe_topk against straightforward references of each family's routing rule (written here as
// HF writes them: sort, mask, gather), its tie order, and ops::moe_experts against a dense
// per-token reference in double precision.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "ops/ops.h"
#include "ops_test_util.h"

using namespace vllm;
using vllm::testing::fresh_seed;
using vllm::testing::random_floats;

namespace {

struct Routed {
  std::vector<int32_t> ids;     // [T, k]
  std::vector<float> weights;   // [T, k]
};

// Indices of `values` by value descending, lower index first among equals (a stable sort).
std::vector<int32_t> ranked(const std::vector<double>& values) {
  std::vector<int32_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return values[a] > values[b]; });
  return order;
}

Routed run_topk(const std::vector<float>& logits, int64_t tokens, int64_t experts, const ops::MoERouting& routing,
                const std::vector<float>& bias = {}) {
  Tensor l = Tensor::from_floats(logits, {tokens, experts});
  Tensor b = bias.empty() ? Tensor() : Tensor::from_floats(bias, {experts});
  Tensor ids = Tensor::empty({tokens, routing.top_k}, DType::I32);
  Tensor weights = Tensor::empty({tokens, routing.top_k}, DType::F32);
  ops::moe_topk(l, b, routing, ids, weights);
  Routed out;
  out.ids.assign(ids.data<int32_t>(), ids.data<int32_t>() + ids.numel());
  out.weights = weights.to_float_vector();
  return out;
}

// The reference of one token under `routing`; ids in selection order.
void reference_row(const float* logits, int64_t experts, const ops::MoERouting& r, const std::vector<float>& bias,
                   std::vector<int32_t>& ids, std::vector<double>& weights) {
  const int k = r.top_k;
  std::vector<double> x(logits, logits + experts);
  ids.clear();
  weights.clear();
  if (r.scoring == ops::MoEScoring::SparseMixer) {  // PhiMoE's sparsemixer, eval mode, literally
    auto pick = [&](int32_t excluded) {
      int32_t best = -1;
      for (int32_t i = 0; i < experts; ++i)
        if (i != excluded && (best < 0 || x[i] > x[best])) best = i;
      const double top = x[best];
      double sum = 0.0;
      for (int32_t i = 0; i < experts; ++i) {
        if (i == excluded) continue;
        const double factor = std::max(std::abs(x[i]), top);
        if ((top - x[i]) / factor > 2.0 * r.jitter_eps) continue;
        sum += std::exp(x[i] - top);
      }
      ids.push_back(best);
      weights.push_back(1.0 / sum);
      return best;
    };
    pick(pick(-1));
    return;
  }
  if (r.scoring == ops::MoEScoring::TopKSoftmax) {
    std::vector<int32_t> order = ranked(x);
    ids.assign(order.begin(), order.begin() + k);
    double sum = 0.0;
    for (int32_t id : ids) sum += std::exp(x[id] - x[ids[0]]);
    for (int32_t id : ids) weights.push_back(std::exp(x[id] - x[ids[0]]) / sum);
    return;
  }
  std::vector<double> score(experts);
  if (r.scoring == ops::MoEScoring::Softmax) {
    const double max = *std::max_element(x.begin(), x.end());
    double sum = 0.0;
    for (int64_t i = 0; i < experts; ++i) sum += std::exp(x[i] - max);
    for (int64_t i = 0; i < experts; ++i) score[i] = std::exp(x[i] - max) / sum;
  } else {
    for (int64_t i = 0; i < experts; ++i) score[i] = 1.0 / (1.0 + std::exp(-x[i]));
  }
  std::vector<double> choice = score;
  if (!bias.empty())
    for (int64_t i = 0; i < experts; ++i) choice[i] += bias[i];
  if (r.num_groups > 1) {  // DeepseekV3TopkRouter.get_topk_indices
    const int64_t size = experts / r.num_groups;
    std::vector<double> group_scores(r.num_groups);
    for (int g = 0; g < r.num_groups; ++g) {
      std::vector<double> members(choice.begin() + g * size, choice.begin() + (g + 1) * size);
      std::sort(members.rbegin(), members.rend());
      group_scores[g] = members[0] + members[1];
    }
    std::vector<int32_t> groups = ranked(group_scores);
    std::vector<bool> kept(r.num_groups, false);
    for (int j = 0; j < r.topk_groups; ++j) kept[groups[j]] = true;
    for (int64_t i = 0; i < experts; ++i)
      if (!kept[i / size]) choice[i] = 0.0;  // masked_fill(~mask, 0.0)
  }
  std::vector<int32_t> order = ranked(choice);
  ids.assign(order.begin(), order.begin() + k);
  double total = 0.0;
  for (int32_t id : ids) total += score[id];
  for (int32_t id : ids) {
    double w = score[id];
    if (r.renormalize) w /= std::max(total, static_cast<double>(r.renormalize_min));
    weights.push_back(w * r.scaling);
  }
}

void expect_matches_reference(const ops::MoERouting& routing, int64_t experts, bool with_bias, float spread = 3.0f) {
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const int64_t tokens = 37;
  std::vector<float> logits = random_floats(static_cast<size_t>(tokens * experts), rng, -spread, spread);
  std::vector<float> bias = with_bias ? random_floats(static_cast<size_t>(experts), rng, -0.2f, 0.2f) : std::vector<float>();
  Routed got = run_topk(logits, tokens, experts, routing, bias);
  for (int64_t t = 0; t < tokens; ++t) {
    std::vector<int32_t> ids;
    std::vector<double> weights;
    reference_row(logits.data() + t * experts, experts, routing, bias, ids, weights);
    for (int j = 0; j < routing.top_k; ++j) {
      EXPECT_EQ(got.ids[t * routing.top_k + j], ids[j]) << "token " << t << " slot " << j;
      EXPECT_NEAR(got.weights[t * routing.top_k + j], weights[j], 2e-6 * std::max(1.0, std::abs(weights[j])))
          << "token " << t << " slot " << j;
    }
  }
}

ops::MoERouting routing(ops::MoEScoring scoring, int32_t k) {
  ops::MoERouting r;
  r.scoring = scoring;
  r.top_k = k;
  return r;
}

}  // namespace

TEST(MoETopK, SoftmaxTopKWithoutRenormalisation) {  // Qwen2/3-MoE, OLMoE norm_topk_prob false
  expect_matches_reference(routing(ops::MoEScoring::Softmax, 2), 8, false);
  expect_matches_reference(routing(ops::MoEScoring::Softmax, 6), 60, false);
}

TEST(MoETopK, SoftmaxTopKRenormalised) {  // Mixtral, norm_topk_prob true
  ops::MoERouting r = routing(ops::MoEScoring::Softmax, 2);
  r.renormalize = true;
  expect_matches_reference(r, 8, false);
  r.top_k = 8;
  expect_matches_reference(r, 128, false);
  // Renormalised weights sum to one.
  Routed got = run_topk({0.1f, 2.0f, -1.0f, 1.5f}, 1, 4, [] {
    ops::MoERouting m = routing(ops::MoEScoring::Softmax, 3);
    m.renormalize = true;
    return m;
  }());
  EXPECT_NEAR(got.weights[0] + got.weights[1] + got.weights[2], 1.0f, 1e-6f);
  EXPECT_EQ(got.ids, (std::vector<int32_t>{1, 3, 0}));
}

TEST(MoETopK, SoftmaxWithCorrectionBiasAndClampedRenormalisation) {  // ERNIE 4.5
  ops::MoERouting r = routing(ops::MoEScoring::Softmax, 3);
  r.renormalize = true;
  r.renormalize_min = 1e-12f;
  expect_matches_reference(r, 16, true);
}

TEST(MoETopK, TopKThenSoftmax) {  // GraniteMoe / JetMoe
  expect_matches_reference(routing(ops::MoEScoring::TopKSoftmax, 2), 8, false);
  expect_matches_reference(routing(ops::MoEScoring::TopKSoftmax, 1), 5, false);
  Routed one = run_topk({0.3f, -2.0f, 0.9f}, 1, 3, routing(ops::MoEScoring::TopKSoftmax, 1));
  EXPECT_EQ(one.ids[0], 2);
  EXPECT_FLOAT_EQ(one.weights[0], 1.0f);  // a softmax over one logit
}

TEST(MoETopK, SigmoidWithBiasGroupsAndScaling) {  // DeepSeek-V3, GLM-4.5, Dots1
  ops::MoERouting r = routing(ops::MoEScoring::Sigmoid, 4);
  r.renormalize = true;
  r.scaling = 2.5f;
  expect_matches_reference(r, 16, true);
  r.num_groups = 8;
  r.topk_groups = 3;
  expect_matches_reference(r, 32, true);
  r.renormalize = false;
  r.scaling = 1.0f;
  expect_matches_reference(r, 32, true);
  r.num_groups = 4;
  r.topk_groups = 1;  // k = 4 from the one group of 4
  expect_matches_reference(r, 16, false);
}

TEST(MoETopK, GroupLimitKeepsOnlyTheBestGroups) {
  // 4 experts in 2 groups; group 1 (experts 2, 3) has the best pair, so expert 0's single high
  // score is masked out (to 0, as HF's masked_fill) and a group-1 expert is chosen.
  ops::MoERouting r = routing(ops::MoEScoring::Sigmoid, 1);
  r.num_groups = 2;
  r.topk_groups = 1;
  Routed got = run_topk({4.0f, -4.0f, 2.0f, 1.9f}, 1, 4, r);
  EXPECT_EQ(got.ids[0], 2);
  EXPECT_NEAR(got.weights[0], 1.0 / (1.0 + std::exp(-2.0)), 1e-6);
  // HF fills masked experts with 0.0, not -inf: when the kept group's choices (score + bias) are
  // below zero, a masked expert (choice 0) is chosen. Scores 0.5; choices -0.1, -0.1 | -0.5, 0.2:
  // group 0 (-0.2) beats group 1 (-0.3), group 1 becomes 0, 0, and expert 2 wins the tie.
  Routed masked = run_topk({0.0f, 0.0f, 0.0f, 0.0f}, 1, 4, r, {-0.6f, -0.6f, -1.0f, -0.3f});
  EXPECT_EQ(masked.ids[0], 2);
  EXPECT_FLOAT_EQ(masked.weights[0], 0.5f);
}

TEST(MoETopK, GroupsScoredByTheirBestExpert) {  // DeepSeek-V2's group_limited_greedy
  // Softmax scores; group 0 holds the single best expert, group 1 the best pair. Scored by their
  // best expert group 0 stays (expert 0); by their best two (V3's rule) group 1 would.
  ops::MoERouting r = routing(ops::MoEScoring::Softmax, 1);
  r.num_groups = 2;
  r.topk_groups = 1;
  r.group_score_max = true;
  const std::vector<float> logits = {3.0f, -5.0f, 2.5f, 2.4f};
  EXPECT_EQ(run_topk(logits, 1, 4, r).ids[0], 0);
  r.group_score_max = false;
  EXPECT_EQ(run_topk(logits, 1, 4, r).ids[0], 2);
}

TEST(MoETopK, SparseMixer) {  // PhiMoE
  ops::MoERouting r = routing(ops::MoEScoring::SparseMixer, 2);
  r.jitter_eps = 0.01f;
  expect_matches_reference(r, 16, false);
  r.jitter_eps = 0.2f;  // masks more: exercises the relative threshold
  expect_matches_reference(r, 6, false, 1.0f);
  // Logits far below the best are masked from its softmax: the first weight is exactly 1.
  Routed got = run_topk({10.0f, 0.0f, 9.99f, -3.0f}, 1, 4, r);
  EXPECT_EQ(got.ids, (std::vector<int32_t>{0, 2}));
  EXPECT_LT(got.weights[0], 1.0f);  // 9.99 is within 0.4 (relative) of 10: kept
  Routed far = run_topk({10.0f, 0.0f, 2.0f, -3.0f}, 1, 4, r);
  EXPECT_EQ(far.ids, (std::vector<int32_t>{0, 2}));
  EXPECT_FLOAT_EQ(far.weights[0], 1.0f);
}

// torch.topk gives no order among equal values (its CPU kernel returned index 2 of four equal
// values for k = 1, pytorch#88184); vllm-cpp takes the lower index first everywhere.
TEST(MoETopK, TiesPickTheLowerExpertIndexFirst) {
  Routed zeros = run_topk(std::vector<float>(8, 0.0f), 1, 8, routing(ops::MoEScoring::Softmax, 2));
  EXPECT_EQ(zeros.ids, (std::vector<int32_t>{0, 1}));
  EXPECT_FLOAT_EQ(zeros.weights[0], 0.125f);
  Routed partial = run_topk({1, 3, 3, 0, 3, 2, 1, 3}, 1, 8, routing(ops::MoEScoring::TopKSoftmax, 3));
  EXPECT_EQ(partial.ids, (std::vector<int32_t>{1, 2, 4}));
  ops::MoERouting sigmoid = routing(ops::MoEScoring::Sigmoid, 3);
  sigmoid.num_groups = 4;
  sigmoid.topk_groups = 2;  // equal groups: groups 0 and 1 stay
  Routed groups = run_topk(std::vector<float>(8, 0.5f), 1, 8, sigmoid);
  EXPECT_EQ(groups.ids, (std::vector<int32_t>{0, 1, 2}));
  ops::MoERouting mixer = routing(ops::MoEScoring::SparseMixer, 2);
  Routed mixed = run_topk({2, 5, 5, 1}, 1, 4, mixer);  // torch.max: the first maximum
  EXPECT_EQ(mixed.ids, (std::vector<int32_t>{1, 2}));
}

TEST(MoETopK, RejectsBadArguments) {
  Tensor logits = Tensor::zeros({2, 4}, DType::F32);
  Tensor ids = Tensor::empty({2, 5}, DType::I32), weights = Tensor::empty({2, 5}, DType::F32);
  EXPECT_VLLM_ERROR(ops::moe_topk(logits, Tensor(), routing(ops::MoEScoring::Softmax, 5), ids, weights),
                    InvalidArgument);  // k > E
  Tensor ids3 = Tensor::empty({2, 3}, DType::I32), weights3 = Tensor::empty({2, 3}, DType::F32);
  EXPECT_VLLM_ERROR(ops::moe_topk(logits, Tensor(), routing(ops::MoEScoring::SparseMixer, 3), ids3, weights3),
                    InvalidArgument);  // sparsemixer is top-2
  ops::MoERouting grouped = routing(ops::MoEScoring::Sigmoid, 3);
  grouped.num_groups = 3;  // does not divide 4
  EXPECT_VLLM_ERROR(ops::moe_topk(logits, Tensor(), grouped, ids3, weights3), InvalidArgument);
  EXPECT_VLLM_ERROR(ops::moe_topk(logits, Tensor::zeros({4}, DType::F32), routing(ops::MoEScoring::TopKSoftmax, 3),
                                  ids3, weights3),
                    InvalidArgument);  // a correction bias needs softmax or sigmoid scores
}

namespace {

double act(ops::Activation kind, double x) {
  switch (kind) {
    case ops::Activation::Silu: return x / (1.0 + std::exp(-x));
    case ops::Activation::Gelu: return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    case ops::Activation::GeluTanh: return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case ops::Activation::Relu: return x > 0 ? x : 0;
    case ops::Activation::Relu2: return x > 0 ? x * x : 0;
  }
  return x;
}

// out[t] = sum over t's experts (any order) of w * down_e(act(gate_e x) * up_e x), in double.
std::vector<double> dense_reference(const Tensor& x, const std::vector<int32_t>& ids, const std::vector<float>& weights,
                                    const Tensor& w_gate_up, const Tensor& w_down, ops::Activation kind) {
  const int64_t tokens = x.size(0), hidden = x.size(1), inter = w_down.size(2);
  const int64_t k = static_cast<int64_t>(ids.size()) / tokens;
  std::vector<float> xs = x.to_float_vector(), gu = w_gate_up.to_float_vector(), dn = w_down.to_float_vector();
  std::vector<double> out(static_cast<size_t>(tokens * hidden), 0.0);
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t j = 0; j < k; ++j) {
      const int64_t e = ids[t * k + j];
      std::vector<double> product(inter);
      for (int64_t i = 0; i < inter; ++i) {
        double g = 0, u = 0;
        for (int64_t h = 0; h < hidden; ++h) {
          g += gu[(e * 2 * inter + i) * hidden + h] * static_cast<double>(xs[t * hidden + h]);
          u += gu[(e * 2 * inter + inter + i) * hidden + h] * static_cast<double>(xs[t * hidden + h]);
        }
        product[i] = act(kind, g) * u;
      }
      for (int64_t h = 0; h < hidden; ++h) {
        double d = 0;
        for (int64_t i = 0; i < inter; ++i) d += dn[(e * hidden + h) * inter + i] * product[i];
        out[t * hidden + h] += weights[t * k + j] * d;
      }
    }
  }
  return out;
}

}  // namespace

TEST(MoEExperts, MatchesADensePerTokenReference) {
  for (DType dtype : {DType::F32, DType::BF16, DType::F16}) {
    for (ops::Activation kind : {ops::Activation::Silu, ops::Activation::GeluTanh}) {
      const uint32_t seed = fresh_seed();
      SCOPED_TRACE(std::string(dtype_name(dtype)) + " seed " + std::to_string(seed));
      std::mt19937 rng(seed);
      const int64_t tokens = 9, hidden = 48, inter = 20, experts = 6, k = 3;
      Tensor x = vllm::testing::random_tensor({tokens, hidden}, rng);
      Tensor w_gate_up = vllm::testing::random_tensor({experts, 2 * inter, hidden}, rng, dtype, -0.3f, 0.3f);
      Tensor w_down = vllm::testing::random_tensor({experts, hidden, inter}, rng, dtype, -0.3f, 0.3f);
      Tensor logits = vllm::testing::random_tensor({tokens, experts}, rng);
      Tensor ids = Tensor::empty({tokens, k}, DType::I32), weights = Tensor::empty({tokens, k}, DType::F32);
      ops::MoERouting r = routing(ops::MoEScoring::Softmax, k);
      ops::moe_topk(logits, Tensor(), r, ids, weights);
      Tensor out = Tensor::empty({tokens, hidden}, DType::F32);
      ops::moe_experts(x, ids, weights, w_gate_up, w_down, kind, out);
      std::vector<int32_t> id_list(ids.data<int32_t>(), ids.data<int32_t>() + ids.numel());
      vllm::testing::expect_close(dense_reference(x, id_list, weights.to_float_vector(), w_gate_up, w_down, kind), out,
                                  1e-5, 1e-4, "moe_experts");
    }
  }
}

TEST(MoEExperts, UnusedExpertsAreNeverRead) {
  // Expert 1's weights are NaN; no token selects it, so no NaN reaches the output.
  const int64_t tokens = 4, hidden = 8, inter = 4, experts = 3;
  std::mt19937 rng(7);
  Tensor x = vllm::testing::random_tensor({tokens, hidden}, rng);
  Tensor w_gate_up = vllm::testing::random_tensor({experts, 2 * inter, hidden}, rng);
  Tensor w_down = vllm::testing::random_tensor({experts, hidden, inter}, rng);
  float* poisoned = w_gate_up.data<float>() + 2 * inter * hidden;
  std::fill(poisoned, poisoned + 2 * inter * hidden, std::nanf(""));
  Tensor ids = Tensor::from_ints({0, 2, 2, 0, 0, 2, 2, 0}, {tokens, 2});
  Tensor weights = Tensor::from_floats(std::vector<float>(8, 0.5f), {tokens, 2});
  Tensor out = Tensor::empty({tokens, hidden}, DType::F32);
  ops::moe_experts(x, ids, weights, w_gate_up, w_down, ops::Activation::Silu, out);
  for (float v : out.to_float_vector()) EXPECT_FALSE(std::isnan(v));
}

TEST(MoEExperts, RejectsBadExpertIdsAndShapes) {
  Tensor x = Tensor::zeros({2, 8}, DType::F32);
  Tensor w_gate_up = Tensor::zeros({3, 8, 8}, DType::F32), w_down = Tensor::zeros({3, 8, 4}, DType::F32);
  Tensor weights = Tensor::zeros({2, 2}, DType::F32), out = Tensor::empty({2, 8}, DType::F32);
  Tensor outside = Tensor::from_ints({0, 3, 1, 2}, {2, 2});
  EXPECT_VLLM_ERROR(ops::moe_experts(x, outside, weights, w_gate_up, w_down, ops::Activation::Silu, out),
                    InvalidArgument);
  Tensor twice = Tensor::from_ints({1, 1, 0, 2}, {2, 2});
  EXPECT_VLLM_ERROR(ops::moe_experts(x, twice, weights, w_gate_up, w_down, ops::Activation::Silu, out),
                    InvalidArgument);
  Tensor ids = Tensor::from_ints({0, 1, 1, 2}, {2, 2});
  Tensor bad_down = Tensor::zeros({3, 4, 8}, DType::F32);  // [E, I, H] instead of [E, H, I]
  EXPECT_VLLM_ERROR(ops::moe_experts(x, ids, weights, w_gate_up, bad_down, ops::Activation::Silu, out),
                    InvalidArgument);
}

TEST(MoEAddGated, AddsTheSigmoidScaledSharedExpert) {
  Tensor out = Tensor::from_floats({1, 2, 3, 4}, {2, 2});
  Tensor shared = Tensor::from_floats({10, 20, 30, 40}, {2, 2});
  Tensor gate = Tensor::from_floats({0.0f, 100.0f}, {2, 1});
  ops::moe_add_gated(out, shared, gate);
  EXPECT_EQ(out.to_float_vector(), (std::vector<float>{6, 12, 33, 44}));
}
