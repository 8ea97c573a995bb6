// Sampling where the logits are: the engine's path for the rows ops/sampling.h can draw (greedy,
// temperature, top-k, top-p, min-p, repetition/frequency/presence penalties, logprobs of up to
// ops::kMaxTopLogprobs tokens). Every per-row input goes to the device in one packed upload, the
// penalties, the draw and the logprobs run there, and only the tokens and the asked logprobs
// come back, in one copy. The results are the engine's Sampler's (src/engine/sampler.cpp): the
// same penalties in float, the same draw (ops::sample_tokens, whose CPU row function the Sampler
// calls, with the settings of sampling::draw_settings), so that from the same seed a row draws
// the same token here and on the host; logprobs of the raw logits with the same ids and ranks.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "core/tensor.h"
#include "engine/request.h"
#include "engine/sampler.h"
#include "engine/sampling_params.h"
#include "ops/sampling.h"

namespace vllm {

// Whether the request's next token can be drawn by sample_on_device: no logit bias, allowed or
// bad words, no pending min_tokens, and logprobs (if any) of at most ops::kMaxTopLogprobs tokens.
// A structured-outputs grammar is applied there as a token bitmask.
bool samples_on_device(const Request& request);

// Whether the request's next draw on the device needs none of its previous output tokens (no
// penalties, no grammar: its mask follows the tokens accepted so far): asynchronous scheduling
// may queue it before they reach the host.
bool draws_without_output_tokens(const Request& request);

// One row to draw.
struct DeviceSampleRow {
  int64_t logits_row = 0;                    // the row of the step's logits
  const SamplingParams* params = nullptr;
  std::span<const int32_t> prompt_token_ids;  // for the repetition penalty
  std::span<const int32_t> output_token_ids;  // for the penalties
  uint64_t seed = 0;                         // the race's seed (temperature rows): sampling::draw_seed
  // Structured outputs: the row's grammar, whose next-token mask is applied before the draw
  // (null: unconstrained). The logprobs read the raw logits, as the host Sampler's.
  const structured::GrammarMatcher* grammar = nullptr;
};

struct DeviceSamplerOutput {
  std::vector<int32_t> sampled_token_ids;                // one per row
  std::vector<std::optional<PositionLogprobs>> logprobs;  // per row, when params->logprobs
};

// The draw of one step, queued on the logits' device: `tokens` holds the sampled ids there
// (token_index(i) is row i's entry) until the next step reads them, and the read-back of the
// tokens and logprobs is on its way to the host.
class DeviceSampling {
 public:
  DeviceSampling() = default;
  bool empty() const { return count_ == 0; }
  const Tensor& tokens() const { return tokens_; }  // i32 [S] on the device, in the draw's order
  int32_t token_index(size_t row) const { return position_[row]; }
  // Waits for the read-back (once the device finished the step) and unpacks it.
  DeviceSamplerOutput finish() const;

 private:
  friend DeviceSampling launch_device_sampling(const Tensor&, std::span<const DeviceSampleRow>);
  int64_t count_ = 0, with_logprobs_ = 0, columns_ = 1;
  std::vector<int32_t> position_;  // row -> entry of tokens_
  std::vector<int64_t> num_top_;   // per row: logprobs asked (-1: none)
  Tensor tokens_;
  ops::HostCopy read_back_;
};

// Queues the draw of one token per row from logits [R, vocab] f32 (any device; the engine calls
// it for CUDA logits, and for CPU logits under asynchronous scheduling). Penalised rows are
// copied first (the raw rows stay for the logprobs).
DeviceSampling launch_device_sampling(const Tensor& logits, std::span<const DeviceSampleRow> rows);

// launch_device_sampling(...).finish().
DeviceSamplerOutput sample_on_device(const Tensor& logits, std::span<const DeviceSampleRow> rows);

}  // namespace vllm
