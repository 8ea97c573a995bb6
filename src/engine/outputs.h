// What the engine hands back for a request (vLLM's RequestOutput / CompletionOutput), shared by
// the offline API, the batch CLI and the server.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace vllm {

struct TokenLogprob {
  int32_t token_id = 0;
  float logprob = 0.0f;
  int32_t rank = 0;           // 1 = most likely
  std::string decoded_token;  // the token's text on its own
};

// One position: the chosen (sampled or prompt) token first, then the top-k by rank (the chosen
// token appears once; vLLM's dict of token_id -> Logprob).
using TokenLogprobs = std::vector<TokenLogprob>;

struct CompletionOutput {
  int index = 0;                   // 0 .. n-1
  std::string text;                // everything generated so far
  std::vector<int32_t> token_ids;  // everything generated so far
  std::optional<std::vector<TokenLogprobs>> logprobs;  // per generated token, when asked
  std::string finish_reason;       // "" while running, then "stop", "length" or "abort"
  std::variant<std::monostate, std::string, int32_t> stop_reason;  // matched stop string or token
};

struct RequestMetrics {
  double arrival_time = 0;          // seconds since the epoch
  double first_scheduled_time = 0;
  double first_token_time = 0;
  double last_token_time = 0;
  double finished_time = 0;
  int64_t num_cached_tokens = 0;    // prompt tokens served from the prefix cache
};

// A pooling request's result (vLLM's PoolingOutput): row-major f32 of `shape` ([D] for embed,
// [num_labels] for classify and score, [L, D] for encode).
struct PoolingOutput {
  std::vector<float> data;
  std::vector<int64_t> shape;
};

struct RequestOutput {
  std::string request_id;
  std::string prompt;                     // "" for token-id prompts
  std::vector<int32_t> prompt_token_ids;
  // Per prompt position when prompt_logprobs is set; the first is nullopt (nothing predicts it).
  std::optional<std::vector<std::optional<TokenLogprobs>>> prompt_logprobs;
  std::vector<CompletionOutput> outputs;  // empty for a pooling request
  std::optional<PoolingOutput> pooling;   // set, once finished, for a pooling request
  bool finished = false;
  RequestMetrics metrics;
};

}  // namespace vllm
