// Batched sampling on host float logits (vLLM v1's Sampler, vllm/v1/sample/sampler.py), in
// vLLM's order:
//   1. logprobs, when asked, from the RAW logits' log_softmax (logprobs_mode "raw_logprobs")
//   2. allowed_token_ids: every other token -> -inf
//   3. bad words: the last token of a bad word whose other tokens end the output -> -inf
//   4. logit_bias: added
//   5. min_tokens: EOS and stop_token_ids -> -inf while fewer than min_tokens were generated
//   6. penalties: repetition (prompt + output tokens), frequency and presence (output tokens)
//   7. the draw of ops::sample_tokens, through its CPU kernel's row function
//      (ops::sample_row): greedy (temperature < 1e-5) takes the argmax; otherwise
//      z = logits / T, then min_p, then top_k, then top_p on what those kept (vLLM's order), each
//      an exact threshold on z, and the exponential race keyed by a hash of (seed, token).
// The host and the device path (engine/device_sampling.h) are one algorithm: from the same
// logits and seed, every device draws the same token. A temperature row's seed is one 64-bit
// output of the request's own generator if it has a seed, else of the sampler's generator
// (draw_seed: none for a greedy row), taken in row order before the rows are processed in
// parallel, as the engine seeds its device rows: results do not depend on the thread count, a
// seeded request's tokens do not depend on the other rows of the batch, and a seeded request
// draws the same tokens whether its rows are sampled here or on the GPU.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "engine/request.h"
#include "engine/sampling_params.h"
#include "ops/sampling.h"

namespace vllm {

// What the sampler needs to know about the request behind one row of logits.
struct SamplingRow {
  const SamplingParams* params = nullptr;
  std::span<const int32_t> prompt_token_ids;  // for the repetition penalty
  std::span<const int32_t> output_token_ids;  // penalties, bad words, min_tokens
  std::optional<int32_t> eos_token_id;        // masked while below min_tokens
  SamplingGenerator* generator = nullptr;     // the request's own (seeded) one, or null
  // Structured outputs: tokens the grammar does not allow next are masked before sampling.
  const structured::GrammarMatcher* grammar = nullptr;

  static SamplingRow of(Request& request) {
    return SamplingRow{&request.sampling_params, request.prompt_token_ids(),
                       request.output_token_ids(), request.eos_token_id,
                       request.generator ? &*request.generator : nullptr,
                       request.grammar_matcher && request.grammar_active ? &*request.grammar_matcher : nullptr};
  }
};

// Logprobs at one position, as vLLM's LogprobsTensors row: entry 0 is the chosen (sampled or
// prompt) token, then the top-k tokens by logprob, highest first. `rank` is the chosen token's
// 1-based rank in the vocabulary: the number of tokens whose logprob is >= its own (vLLM's
// batched_count_greater_than), so tied tokens share the lower rank.
struct PositionLogprobs {
  std::vector<int32_t> token_ids;
  std::vector<float> logprobs;
  int rank = 0;
};

struct SamplerOutput {
  std::vector<int32_t> sampled_token_ids;                // one per row
  std::vector<std::optional<PositionLogprobs>> logprobs;  // per row, when params->logprobs
};

class Sampler {
 public:
  explicit Sampler(uint64_t seed = 0) : generator_(seed) {}

  // logits: [num_rows, vocab_size], row-major; modified in place. rows.size() == num_rows.
  SamplerOutput sample(std::span<float> logits, int vocab_size, std::span<const SamplingRow> rows);

  // log_softmax of one row of raw logits, gathered for `token_id` plus the top `num_top`
  // tokens (-1: the whole vocabulary). Also what prompt logprobs use: the logits at prompt
  // position i scored against prompt token i + 1.
  static PositionLogprobs compute_logprobs(std::span<const float> logits_row, int32_t token_id,
                                           int num_top);

  // Prompt logprobs for a chunk of prompt positions: logits row i ([num_positions, vocab_size])
  // scored against target_token_ids[i], the prompt token that follows position i. Parallel
  // over positions.
  static std::vector<PositionLogprobs> compute_prompt_logprobs(std::span<const float> logits,
                                                               int vocab_size,
                                                               std::span<const int32_t> target_token_ids,
                                                               int num_top);

  SamplingGenerator& generator() { return generator_; }

 private:
  SamplingGenerator generator_;
};

// The individual steps, exposed for tests and for callers that sample one row by hand. The
// logits processors work on one row of `vocab_size` logits in place.
namespace sampling {
void apply_allowed_token_ids(std::span<float> row, const std::vector<int32_t>& allowed);
// Structured outputs: -inf for every token the grammar does not allow next.
void apply_grammar(std::span<float> row, const structured::GrammarMatcher& grammar);
void apply_bad_words(std::span<float> row, const std::vector<std::vector<int32_t>>& bad_words,
                     std::span<const int32_t> output_token_ids);
void apply_logit_bias(std::span<float> row, const std::map<int32_t, float>& bias);
void apply_min_tokens(std::span<float> row, const SamplingParams& params,
                      std::optional<int32_t> eos_token_id, int num_output_tokens);
void apply_penalties(std::span<float> row, const SamplingParams& params,
                     std::span<const int32_t> prompt_token_ids,
                     std::span<const int32_t> output_token_ids);
// The seed of one row's draw: one output of `generator` for a temperature row, 0 (and no output
// taken) for a greedy one. The engine seeds its device rows by this rule (llm_engine.cpp).
uint64_t draw_seed(const SamplingParams& params, SamplingGenerator& generator);
// The row's settings for ops::sample_tokens (as floats; a greedy row has temperature 0 and no
// filters), which the Sampler and the device path both draw with.
ops::RowSampling draw_settings(const SamplingParams& params, uint64_t seed);
}  // namespace sampling

}  // namespace vllm
