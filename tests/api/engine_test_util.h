// Helpers of the engine tests in this folder: greedy sampling and random token prompts.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "engine/sampling_params.h"

namespace vllm::testing {

// Greedy decoding of exactly `max_tokens` tokens (EOS ignored), so runs compare token for token.
inline SamplingParams greedy(int max_tokens) {
  SamplingParams params;
  params.temperature = 0;
  params.max_tokens = max_tokens;
  params.ignore_eos = true;
  return params;
}

// `count` prompts of min_len..max_len ids drawn uniformly from [first_id, last_id].
inline std::vector<std::vector<int32_t>> random_prompts(size_t count, int min_len, int max_len, uint32_t seed,
                                                        int first_id, int last_id) {
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> length(min_len, max_len), token(first_id, last_id);
  std::vector<std::vector<int32_t>> prompts(count);
  for (auto& prompt : prompts) {
    prompt.resize(static_cast<size_t>(length(random)));
    for (int32_t& id : prompt) id = token(random);
  }
  return prompts;
}

}  // namespace vllm::testing
