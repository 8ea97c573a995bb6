#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "core/parallel.h"

namespace vllm {

namespace {
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

bool in_vocab(int64_t token, size_t vocab_size) {
  return token >= 0 && static_cast<size_t>(token) < vocab_size;
}

float max_of(std::span<const float> row) {
  float best = kNegInf;
  for (float value : row) best = std::max(best, value);
  return best;
}
}  // namespace

namespace sampling {

void apply_allowed_token_ids(std::span<float> row, const std::vector<int32_t>& allowed) {
  std::vector<char> keep(row.size(), 0);
  for (int32_t token : allowed)
    if (in_vocab(token, row.size())) keep[token] = 1;
  for (size_t i = 0; i < row.size(); ++i)
    if (!keep[i]) row[i] = kNegInf;
}

// vLLM's apply_bad_words: a bad word of n tokens bans its last token when the output ends with
// its first n - 1 tokens (a one-token bad word is always banned).
void apply_bad_words(std::span<float> row, const std::vector<std::vector<int32_t>>& bad_words,
                     std::span<const int32_t> output_token_ids) {
  for (const std::vector<int32_t>& word : bad_words) {
    if (word.empty() || word.size() > output_token_ids.size() + 1) continue;
    size_t prefix = word.size() - 1;
    if (std::equal(word.begin(), word.begin() + prefix, output_token_ids.end() - prefix) &&
        in_vocab(word.back(), row.size()))
      row[word.back()] = kNegInf;
  }
}

void apply_logit_bias(std::span<float> row, const std::map<int32_t, float>& bias) {
  for (const auto& [token, value] : bias)
    if (in_vocab(token, row.size())) row[token] += value;
}

void apply_min_tokens(std::span<float> row, const SamplingParams& params,
                      std::optional<int32_t> eos_token_id, int num_output_tokens) {
  if (num_output_tokens >= params.min_tokens) return;
  if (eos_token_id && in_vocab(*eos_token_id, row.size())) row[*eos_token_id] = kNegInf;
  for (int32_t token : params.stop_token_ids)
    if (in_vocab(token, row.size())) row[token] = kNegInf;
}

// vLLM's apply_penalties: repetition divides positive logits (multiplies negative ones) of every
// token seen in the prompt or the output; frequency subtracts penalty * count and presence
// subtracts penalty once, for tokens of the output only (OpenAI's definition).
void apply_penalties(std::span<float> row, const SamplingParams& params,
                     std::span<const int32_t> prompt_token_ids,
                     std::span<const int32_t> output_token_ids) {
  const float repetition = static_cast<float>(params.repetition_penalty);
  if (repetition != 1.0f) {
    std::unordered_set<int32_t> seen(prompt_token_ids.begin(), prompt_token_ids.end());
    seen.insert(output_token_ids.begin(), output_token_ids.end());
    for (int32_t token : seen) {
      if (!in_vocab(token, row.size())) continue;
      float& logit = row[token];
      logit = logit > 0 ? logit / repetition : logit * repetition;
    }
  }
  if (params.frequency_penalty != 0.0 || params.presence_penalty != 0.0) {
    std::unordered_map<int32_t, int> counts;
    for (int32_t token : output_token_ids) ++counts[token];
    const float frequency = static_cast<float>(params.frequency_penalty);
    const float presence = static_cast<float>(params.presence_penalty);
    for (const auto& [token, count] : counts) {
      if (!in_vocab(token, row.size())) continue;
      row[token] -= frequency * static_cast<float>(count);
      row[token] -= presence;
    }
  }
}

// Keeps tokens whose probability is at least min_p times the most likely token's.
void apply_min_p(std::span<float> row, double min_p) {
  if (min_p <= 0.0) return;
  const float top = max_of(row);
  if (!std::isfinite(top)) return;
  for (float& logit : row)
    if (std::exp(static_cast<double>(logit) - top) < min_p) logit = kNegInf;
}

// Keeps the k largest logits (and any tied with the k-th), as vLLM's apply_top_k_top_p.
void apply_top_k(std::span<float> row, int top_k) {
  if (top_k <= 0 || static_cast<size_t>(top_k) >= row.size()) return;
  std::vector<float> values(row.begin(), row.end());
  std::nth_element(values.begin(), values.begin() + (top_k - 1), values.end(), std::greater<float>());
  const float threshold = values[top_k - 1];
  for (float& logit : row)
    if (logit < threshold) logit = kNegInf;
}

// Nucleus: walking tokens from the most likely down, a token is kept while the mass of the
// tokens before it is < top_p (the most likely always stays). This is vLLM's rule (sort
// ascending, mask where the ascending cumulative sum <= 1 - top_p) read from the other end.
// Only the head of the distribution is sorted: first the top 256 candidates, widening 8x while
// they hold less than top_p of the mass, so a full-vocabulary sort happens only for flat ones.
void apply_top_p(std::span<float> row, double top_p) {
  if (top_p >= 1.0) return;
  std::vector<int32_t> candidates;
  candidates.reserve(row.size());
  for (size_t i = 0; i < row.size(); ++i)
    if (row[i] != kNegInf) candidates.push_back(static_cast<int32_t>(i));
  if (candidates.size() <= 1) return;
  const double top = max_of(row);
  double total = 0.0;
  for (int32_t token : candidates) total += std::exp(row[token] - top);
  auto more_likely = [&](int32_t a, int32_t b) { return row[a] != row[b] ? row[a] > row[b] : a < b; };
  size_t head = std::min<size_t>(256, candidates.size());
  while (true) {
    std::partial_sort(candidates.begin(), candidates.begin() + head, candidates.end(), more_likely);
    double before = 0.0;
    for (size_t i = 0; i < head; ++i) {
      if (before >= top_p) {  // candidates[i..] are outside the nucleus
        for (size_t j = i; j < candidates.size(); ++j) row[candidates[j]] = kNegInf;
        return;
      }
      before += std::exp(row[candidates[i]] - top) / total;
    }
    if (head == candidates.size()) return;  // the whole distribution is the nucleus
    head = std::min(head * 8, candidates.size());
  }
}

int32_t argmax(std::span<const float> row) {
  return static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
}

int32_t draw(std::span<const float> row, double uniform) {
  const float top = max_of(row);
  if (!std::isfinite(top)) return argmax(row);
  double total = 0.0;
  for (float logit : row) total += std::exp(static_cast<double>(logit) - top);
  const double target = uniform * total;
  double cumulative = 0.0;
  int32_t last_possible = 0;
  for (size_t i = 0; i < row.size(); ++i) {
    if (row[i] == kNegInf) continue;
    cumulative += std::exp(static_cast<double>(row[i]) - top);
    last_possible = static_cast<int32_t>(i);
    if (cumulative > target) return last_possible;
  }
  return last_possible;  // rounding left target at the very end
}

double uniform_from(SamplingGenerator& generator) {
  return static_cast<double>(generator() >> 11) * 0x1.0p-53;
}

}  // namespace sampling

PositionLogprobs Sampler::compute_logprobs(std::span<const float> logits_row, int32_t token_id,
                                           int num_top) {
  const size_t vocab = logits_row.size();
  VLLM_CHECK(in_vocab(token_id, vocab), Internal, "logprobs for token ", token_id,
             " outside the vocabulary of ", vocab);
  const float top = max_of(logits_row);
  double sum = 0.0;
  for (float logit : logits_row) sum += std::exp(static_cast<double>(logit) - top);
  const double log_normalizer = top + std::log(sum);
  auto logprob = [&](int32_t token) {
    return static_cast<float>(logits_row[token] - log_normalizer);
  };

  PositionLogprobs out;
  out.token_ids.push_back(token_id);
  out.logprobs.push_back(logprob(token_id));
  // vLLM's batched_count_greater_than counts logprobs >= the token's: 1-based, ties share.
  const float chosen = logits_row[token_id];
  out.rank = static_cast<int>(std::count_if(logits_row.begin(), logits_row.end(),
                                            [chosen](float v) { return v >= chosen; }));
  size_t k = num_top < 0 ? vocab : std::min<size_t>(num_top, vocab);
  if (k > 0) {
    std::vector<int32_t> order(vocab);
    std::iota(order.begin(), order.end(), 0);
    auto higher = [&](int32_t a, int32_t b) {
      return logits_row[a] != logits_row[b] ? logits_row[a] > logits_row[b] : a < b;
    };
    std::partial_sort(order.begin(), order.begin() + k, order.end(), higher);
    for (size_t i = 0; i < k; ++i) {
      out.token_ids.push_back(order[i]);
      out.logprobs.push_back(logprob(order[i]));
    }
  }
  return out;
}

std::vector<PositionLogprobs> Sampler::compute_prompt_logprobs(std::span<const float> logits,
                                                              int vocab_size,
                                                              std::span<const int32_t> target_token_ids,
                                                              int num_top) {
  const size_t num_positions = target_token_ids.size();
  VLLM_CHECK(logits.size() == num_positions * static_cast<size_t>(vocab_size), Internal,
             "prompt logprobs: ", logits.size(), " logits for ", num_positions, " positions of ", vocab_size);
  for (int32_t token : target_token_ids)
    VLLM_CHECK(in_vocab(token, vocab_size), InvalidArgument, "prompt token ", token,
               " is outside the vocabulary of ", vocab_size);
  std::vector<PositionLogprobs> out(num_positions);
  const int64_t grain = std::max<int64_t>(1, (1 << 17) / vocab_size);
  parallel_for(static_cast<int64_t>(num_positions), grain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      out[i] = compute_logprobs(logits.subspan(i * vocab_size, vocab_size), target_token_ids[i], num_top);
  });
  return out;
}

SamplerOutput Sampler::sample(std::span<float> logits, int vocab_size, std::span<const SamplingRow> rows) {
  const size_t num_rows = rows.size();
  VLLM_CHECK(vocab_size > 0 && logits.size() == num_rows * static_cast<size_t>(vocab_size), Internal,
             "sampler: ", logits.size(), " logits for ", num_rows, " rows of ", vocab_size);
  SamplerOutput out;
  out.sampled_token_ids.assign(num_rows, 0);
  out.logprobs.resize(num_rows);

  // One draw per random row, in row order, before going parallel (see the header).
  std::vector<double> uniforms(num_rows, 0.0);
  for (size_t i = 0; i < num_rows; ++i) {
    VLLM_CHECK(rows[i].params != nullptr, Internal, "sampler row ", i, " has no SamplingParams");
    if (!rows[i].params->is_greedy())
      uniforms[i] = sampling::uniform_from(rows[i].generator ? *rows[i].generator : generator_);
  }

  auto sample_row = [&](size_t i) {
    const SamplingRow& r = rows[i];
    const SamplingParams& params = *r.params;
    std::span<float> row = logits.subspan(i * vocab_size, vocab_size);
    std::vector<float> raw;
    if (params.logprobs) raw.assign(row.begin(), row.end());

    if (params.allowed_token_ids) sampling::apply_allowed_token_ids(row, *params.allowed_token_ids);
    if (!params.bad_words_token_ids.empty())
      sampling::apply_bad_words(row, params.bad_words_token_ids, r.output_token_ids);
    if (!params.logit_bias.empty()) sampling::apply_logit_bias(row, params.logit_bias);
    sampling::apply_min_tokens(row, params, r.eos_token_id, static_cast<int>(r.output_token_ids.size()));
    sampling::apply_penalties(row, params, r.prompt_token_ids, r.output_token_ids);

    int32_t token;
    if (params.is_greedy()) {
      token = sampling::argmax(row);
    } else {
      const float temperature = static_cast<float>(params.temperature);
      if (temperature != 1.0f)
        for (float& logit : row) logit /= temperature;
      sampling::apply_min_p(row, params.min_p);
      sampling::apply_top_k(row, params.top_k);
      sampling::apply_top_p(row, params.top_p);
      token = sampling::draw(row, uniforms[i]);
    }
    out.sampled_token_ids[i] = token;
    if (params.logprobs) out.logprobs[i] = compute_logprobs(raw, token, *params.logprobs);
  };

  // Rows are independent: split them over threads once the batch is worth it.
  const int64_t grain = std::max<int64_t>(1, (1 << 17) / vocab_size);
  parallel_for(static_cast<int64_t>(num_rows), grain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) sample_row(static_cast<size_t>(i));
  });
  return out;
}

}  // namespace vllm
