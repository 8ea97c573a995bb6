// Sampling where the logits are: the engine's path for the rows ops/sampling.h can draw (greedy,
// temperature, top-k, top-p, min-p, repetition/frequency/presence penalties, logprobs of up to
// ops::kMaxTopLogprobs tokens). Every per-row input goes to the device in one packed upload, the
// penalties, the draw and the logprobs run there, and only the tokens and the asked logprobs
// come back, in one copy. The results follow the engine's Sampler (src/engine/sampler.cpp):
// the same penalties in float, greedy tokens identical, logprobs of the raw logits with the same
// ids and ranks; a temperature row's draw is the ops' exponential race, not the Sampler's
// inverse CDF, so a seeded request draws other (equally distributed) tokens than on the host.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "core/tensor.h"
#include "engine/request.h"
#include "engine/sampler.h"
#include "engine/sampling_params.h"

namespace vllm {

// Whether the request's next token can be drawn by sample_on_device: no logit bias, allowed or
// bad words, no pending min_tokens, and logprobs (if any) of at most ops::kMaxTopLogprobs tokens.
bool samples_on_device(const Request& request);

// One row to draw.
struct DeviceSampleRow {
  int64_t logits_row = 0;                    // the row of the step's logits
  const SamplingParams* params = nullptr;
  std::span<const int32_t> prompt_token_ids;  // for the repetition penalty
  std::span<const int32_t> output_token_ids;  // for the penalties
  uint64_t seed = 0;                         // the race's seed (temperature rows)
};

struct DeviceSamplerOutput {
  std::vector<int32_t> sampled_token_ids;                // one per row
  std::vector<std::optional<PositionLogprobs>> logprobs;  // per row, when params->logprobs
};

// Draws one token per row from logits [R, vocab] f32 (any device; the engine calls it for CUDA
// logits). Penalised rows are copied first (the raw rows stay for the logprobs).
DeviceSamplerOutput sample_on_device(const Tensor& logits, std::span<const DeviceSampleRow> rows);

}  // namespace vllm
