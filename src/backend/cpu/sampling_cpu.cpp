// The sampling ops on the CPU, row by row: the reference the CUDA kernels must match token for
// token (same radix selects on the same order keys, same fixed-point masses, same race) and the
// logprobs' ids and ranks exactly (values to rounding: the sums run in another order). The engine's
// Sampler draws its host rows with sample_token too (sampling_cpu.h).
#include "backend/cpu/sampling_cpu.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "backend/cpu/cpu_ops.h"
#include "core/error.h"
#include "core/parallel.h"
#include "backend/sampling_common.h"

namespace vllm::cpu {
namespace {

using ops::detail::kRadixBins;
using ops::detail::kRadixPasses;
using ops::detail::mass_units;
using ops::detail::order_key;

struct Row {
  const float* logits;
  int64_t vocab;
  float inverse_temperature;
  float z(int64_t i) const { return logits[i] * inverse_temperature; }
};

// The largest key t with measure({kept tokens with key >= t}) reaching the goal, one byte per
// pass; `measure` is the count (top-k: goal k, the k-th largest key) or the fixed-point mass
// (top-p: goal mass_target), over the tokens with key >= tau_key. The kernels' radix select.
uint32_t radix_select(const Row& row, uint32_t tau_key, bool by_mass, float max, uint64_t rank, double mass_target) {
  uint32_t prefix = 0;
  uint64_t above = 0;  // mass of the kept tokens above the current prefix's bucket
  for (int pass = 0; pass < kRadixPasses; ++pass) {
    const int shift = ops::detail::radix_shift(pass);
    const uint32_t mask = ops::detail::radix_prefix_mask(pass);
    uint64_t histogram[kRadixBins] = {};
    for (int64_t i = 0; i < row.vocab; ++i) {
      const float z = row.z(i);
      const uint32_t key = order_key(z);
      if (key >= tau_key && (key & mask) == prefix) histogram[(key >> shift) & 0xffu] += by_mass ? mass_units(z, max) : 1;
    }
    // The highest digit whose suffix (this bucket and those above it) still reaches the goal.
    int chosen = 0;
    uint64_t suffix = 0;
    for (int digit = kRadixBins - 1; digit >= 0; --digit) {
      suffix += histogram[digit];
      const bool reaches = by_mass ? static_cast<double>(above + suffix) >= mass_target : suffix >= rank;
      if (reaches) {
        chosen = digit;
        break;
      }
    }
    const uint64_t over = suffix - histogram[chosen];  // tokens of the higher digits of this bucket
    if (by_mass) above += over; else rank -= over;
    prefix |= static_cast<uint32_t>(chosen) << shift;
  }
  return prefix;
}

int32_t sample_row(const Row& row, uint64_t seed, int32_t top_k, float top_p, float min_p) {
  float max = -std::numeric_limits<float>::infinity(), min = std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < row.vocab; ++i) {
    const float v = row.z(i);
    if (!std::isfinite(v)) continue;  // -inf: masked out, never drawn
    max = std::fmax(max, v);
    min = std::fmin(min, v);
  }
  if (!(max >= min)) return 0;  // nothing finite to draw from
  float tau = min;
  if (min_p > 0.0f) tau = std::fmax(tau, ops::detail::min_p_threshold(max, min_p));
  uint32_t tau_key = order_key(tau);  // kept: key >= tau_key (never NaN or -inf)
  if (top_k > 0) {
    uint64_t kept = 0;
    for (int64_t i = 0; i < row.vocab; ++i) kept += order_key(row.z(i)) >= tau_key;
    if (kept > static_cast<uint64_t>(top_k))
      tau_key = radix_select(row, tau_key, false, max, static_cast<uint64_t>(top_k), 0.0);
  }
  if (top_p < 1.0f) {
    uint64_t mass = 0;
    for (int64_t i = 0; i < row.vocab; ++i) {
      const float z = row.z(i);
      if (order_key(z) >= tau_key) mass += mass_units(z, max);
    }
    const double target = static_cast<double>(top_p) * static_cast<double>(mass);
    tau_key = radix_select(row, tau_key, true, max, 0, target);
  }
  float best = -std::numeric_limits<float>::infinity();
  int64_t best_index = 0;
  bool found = false;
  for (int64_t i = 0; i < row.vocab; ++i) {
    const float v = row.z(i);
    if (order_key(v) < tau_key) continue;
    const float score = v - ops::detail::race_log_exponential(seed, i);
    if (!found || score > best) {
      best = score;
      best_index = i;
      found = true;
    }
  }
  return static_cast<int32_t>(best_index);
}

int32_t argmax_row(const float* row, int64_t vocab) {
  float best = -std::numeric_limits<float>::infinity();
  int64_t best_index = 0;
  for (int64_t i = 0; i < vocab; ++i) {
    if (row[i] > best) {
      best = row[i];
      best_index = i;
    }
  }
  return static_cast<int32_t>(best_index);
}

// The logits row of sample s: rows[s] (checked against the logits' rows) or s.
const float* sample_row_logits(const Tensor& logits, const int32_t* rows, int64_t s) {
  const int64_t r = rows ? rows[s] : s;
  VLLM_CHECK(r >= 0 && r < logits.size(0), InvalidArgument, "sampling: row id ", r, " of sample ", s,
             " is outside logits ", shape_to_string(logits.shape()));
  return logits.data<float>() + r * logits.stride(0);
}

}  // namespace

int32_t sample_token(std::span<const float> logits, const ops::RowSampling& sampling) {
  const int64_t vocab = static_cast<int64_t>(logits.size());
  if (!(sampling.temperature > 0.0f)) return argmax_row(logits.data(), vocab);
  return sample_row(Row{logits.data(), vocab, 1.0f / sampling.temperature}, sampling.seed, sampling.top_k,
                    sampling.top_p, sampling.min_p);
}

void sample_tokens(const Tensor& logits, const ops::SamplingTensors& params, Tensor& out) {
  const int64_t samples = out.size(0), vocab = logits.size(1);
  const int32_t* rows = params.rows.defined() ? params.rows.data<int32_t>() : nullptr;
  const float* temperature = params.temperatures.data<float>();
  const int64_t* seed = params.seeds.data<int64_t>();
  const int32_t* top_k = params.top_k.defined() ? params.top_k.data<int32_t>() : nullptr;
  const float* top_p = params.top_p.defined() ? params.top_p.data<float>() : nullptr;
  const float* min_p = params.min_p.defined() ? params.min_p.data<float>() : nullptr;
  int32_t* tokens = out.data<int32_t>();
  for (int64_t s = 0; s < samples; ++s) sample_row_logits(logits, rows, s);  // errors before any work
  parallel_for(samples, 1, [&](int64_t begin, int64_t end) {
    for (int64_t s = begin; s < end; ++s) {
      const ops::RowSampling sampling{temperature[s], static_cast<uint64_t>(seed[s]), top_k ? top_k[s] : 0,
                                 top_p ? top_p[s] : 1.0f, min_p ? min_p[s] : 0.0f};
      tokens[s] = sample_token({sample_row_logits(logits, rows, s), static_cast<size_t>(vocab)}, sampling);
    }
  });
}

void apply_token_bitmask(Tensor& logits, const Tensor& bitmask) {
  const int64_t vocab = logits.size(1), words = bitmask.size(1);
  parallel_for(logits.size(0), 1, [&](int64_t begin, int64_t end) {
    for (int64_t s = begin; s < end; ++s) {
      float* row = logits.data<float>() + s * logits.stride(0);
      const auto* mask = reinterpret_cast<const uint32_t*>(bitmask.data<int32_t>() + s * words);
      for (int64_t t = 0; t < vocab; ++t)
        if (!(mask[t >> 5] >> (t & 31) & 1u)) row[t] = -std::numeric_limits<float>::infinity();
    }
  });
}

// As the engine's sampling::apply_penalties, on a list of distinct tokens with output counts.
void apply_penalties(Tensor& logits, const ops::PenaltyTensors& penalties) {
  const int64_t samples = logits.size(0), vocab = logits.size(1), entries = penalties.token_ids.size(0);
  const float* repetition = penalties.repetition.data<float>();
  const float* frequency = penalties.frequency.data<float>();
  const float* presence = penalties.presence.data<float>();
  const int32_t* offsets = penalties.token_offsets.data<int32_t>();
  const int32_t* token_ids = penalties.token_ids.data<int32_t>();
  const int32_t* counts = penalties.output_counts.data<int32_t>();
  for (int64_t s = 0; s < samples; ++s)
    VLLM_CHECK(offsets[s] >= 0 && offsets[s] <= offsets[s + 1] && offsets[s + 1] <= entries, InvalidArgument,
               "apply_penalties: token_offsets[", s, "..", s + 1, "] = ", offsets[s], "..", offsets[s + 1],
               " is not a range of the ", entries, " token ids");
  parallel_for(samples, 1, [&](int64_t begin, int64_t end) {
    for (int64_t s = begin; s < end; ++s) {
      float* row = logits.data<float>() + s * logits.stride(0);
      for (int32_t e = offsets[s]; e < offsets[s + 1]; ++e) {
        const int32_t token = token_ids[e];
        if (token < 0 || token >= vocab) continue;
        float logit = row[token];
        if (repetition[s] != 1.0f) logit = logit > 0 ? logit / repetition[s] : logit * repetition[s];
        if ((frequency[s] != 0.0f || presence[s] != 0.0f) && counts[e] > 0) {
          logit -= frequency[s] * static_cast<float>(counts[e]);
          logit -= presence[s];
        }
        row[token] = logit;
      }
    }
  });
}

// As the engine's Sampler::compute_logprobs (max, then the double sum of exp(logit - max)).
void compute_logprobs(const Tensor& logits, const Tensor& rows, const Tensor& token_ids, Tensor& top_ids,
                      Tensor& top_logprobs, Tensor& ranks) {
  const int64_t samples = token_ids.size(0), vocab = logits.size(1), columns = top_ids.size(1);
  const int32_t* row_ids = rows.defined() ? rows.data<int32_t>() : nullptr;
  const int32_t* tokens = token_ids.data<int32_t>();
  for (int64_t s = 0; s < samples; ++s) {
    sample_row_logits(logits, row_ids, s);
    VLLM_CHECK(tokens[s] >= 0 && tokens[s] < vocab, InvalidArgument, "compute_logprobs: token ", tokens[s],
               " of sample ", s, " is outside the vocabulary of ", vocab);
  }
  parallel_for(samples, 1, [&](int64_t begin, int64_t end) {
    std::vector<int32_t> order(static_cast<size_t>(vocab));
    for (int64_t s = begin; s < end; ++s) {
      const float* row = sample_row_logits(logits, row_ids, s);
      float top = -std::numeric_limits<float>::infinity();
      for (int64_t i = 0; i < vocab; ++i) top = std::max(top, row[i]);
      double sum = 0.0;
      for (int64_t i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(row[i]) - top);
      const double log_normalizer = top + std::log(sum);
      int32_t* ids = top_ids.data<int32_t>() + s * columns;
      float* values = top_logprobs.data<float>() + s * columns;
      const float chosen = row[tokens[s]];
      ids[0] = tokens[s];
      values[0] = static_cast<float>(chosen - log_normalizer);
      int64_t rank = 0;
      for (int64_t i = 0; i < vocab; ++i) rank += row[i] >= chosen;
      ranks.data<int32_t>()[s] = static_cast<int32_t>(rank);
      const int64_t k = std::min(columns - 1, vocab);
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + k, order.end(),
                        [&](int32_t a, int32_t b) { return row[a] != row[b] ? row[a] > row[b] : a < b; });
      for (int64_t c = 1; c < columns; ++c) {
        const bool inside = c - 1 < k;
        ids[c] = inside ? order[static_cast<size_t>(c - 1)] : -1;
        values[c] = inside ? static_cast<float>(row[ids[c]] - log_normalizer) : -std::numeric_limits<float>::infinity();
      }
    }
  });
}

void scatter_tokens(Tensor& dst, const Tensor& dst_index, const Tensor& src, const Tensor& src_index) {
  int32_t* out = dst.data<int32_t>();
  const int32_t *to = dst_index.data<int32_t>(), *from = src_index.data<int32_t>(), *in = src.data<int32_t>();
  for (int64_t i = 0; i < dst_index.numel(); ++i) {
    VLLM_CHECK(to[i] >= 0 && to[i] < dst.numel() && from[i] >= 0 && from[i] < src.numel(), InvalidArgument,
               "scatter_tokens: entry ", i, " copies src[", from[i], "] (of ", src.numel(), ") to dst[", to[i],
               "] (of ", dst.numel(), ")");
    out[to[i]] = in[from[i]];
  }
}

}  // namespace vllm::cpu
