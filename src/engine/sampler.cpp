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

void apply_grammar(std::span<float> row, const structured::GrammarMatcher& grammar) {
  const int64_t vocab = static_cast<int64_t>(row.size());
  std::vector<uint32_t> mask(static_cast<size_t>(structured::GrammarMatcher::bitmask_words(vocab)), 0);
  grammar.fill_bitmask_for(vocab, mask.data());
  for (int64_t t = 0; t < vocab; ++t)
    if (!(mask[static_cast<size_t>(t / 32)] >> (t % 32) & 1u)) row[static_cast<size_t>(t)] = -INFINITY;
}

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

uint64_t draw_seed(const SamplingParams& params, SamplingGenerator& generator) {
  return params.is_greedy() ? 0 : generator();
}

ops::RowSampling draw_settings(const SamplingParams& params, uint64_t seed) {
  if (params.is_greedy()) return ops::RowSampling{};
  return ops::RowSampling{static_cast<float>(params.temperature), seed, params.top_k,
                          static_cast<float>(params.top_p), static_cast<float>(params.min_p)};
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

  // One seed per temperature row, in row order, before going parallel (see the header).
  std::vector<uint64_t> seeds(num_rows, 0);
  for (size_t i = 0; i < num_rows; ++i) {
    VLLM_CHECK(rows[i].params != nullptr, Internal, "sampler row ", i, " has no SamplingParams");
    seeds[i] = sampling::draw_seed(*rows[i].params, rows[i].generator ? *rows[i].generator : generator_);
  }

  auto sample_row = [&](size_t i) {
    const SamplingRow& r = rows[i];
    const SamplingParams& params = *r.params;
    std::span<float> row = logits.subspan(i * vocab_size, vocab_size);
    std::vector<float> raw;
    if (params.logprobs) raw.assign(row.begin(), row.end());

    if (r.grammar && !r.grammar->is_terminated()) sampling::apply_grammar(row, *r.grammar);
    if (params.allowed_token_ids) sampling::apply_allowed_token_ids(row, *params.allowed_token_ids);
    if (!params.bad_words_token_ids.empty())
      sampling::apply_bad_words(row, params.bad_words_token_ids, r.output_token_ids);
    if (!params.logit_bias.empty()) sampling::apply_logit_bias(row, params.logit_bias);
    sampling::apply_min_tokens(row, params, r.eos_token_id, static_cast<int>(r.output_token_ids.size()));
    sampling::apply_penalties(row, params, r.prompt_token_ids, r.output_token_ids);

    const int32_t token = ops::sample_row(row, sampling::draw_settings(params, seeds[i]));
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
