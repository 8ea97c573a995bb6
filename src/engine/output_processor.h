// Turns sampled tokens into user-visible outputs (vLLM v1's OutputProcessor): incremental
// detokenization, stop strings that span tokens, logprobs with decoded tokens, finish reasons,
// and the fan-in of n > 1 child sequences into one RequestOutput.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/outputs.h"
#include "engine/request.h"
#include "engine/sampler.h"
#include "engine/stop_checker.h"
#include "text/tokenizer/tokenizer.h"

namespace vllm {

// One child sequence (one of the n completions) of a request.
class SequenceOutputState {
 public:
  SequenceOutputState(int index, const SamplingParams& params, std::shared_ptr<const Tokenizer> tokenizer,
                      std::span<const int32_t> prompt_ids);

  // Appends the step's tokens; returns a stop-string match when one completed (the caller then
  // finishes the request). `logprobs` has one entry per token when the request asked for them.
  std::optional<StopStringMatch> append(std::span<const int32_t> token_ids,
                                        std::span<const std::optional<PositionLogprobs>> logprobs);
  void finish(RequestStatus status, const StopReason& stop_reason);

  // The output as vLLM reports it: text so far (held back while a stop string may be forming,
  // unless finished), tokens so far.
  CompletionOutput output(bool finished) const;
  bool finished() const { return !finish_reason_.empty(); }
  const std::vector<int32_t>& token_ids() const { return token_ids_; }

 private:
  int index_;
  const SamplingParams& params_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  std::unique_ptr<IncrementalDetokenizer> detokenizer_;
  StopChecker stop_checker_;
  std::vector<int32_t> token_ids_;
  std::optional<std::vector<TokenLogprobs>> logprobs_;
  std::string finish_reason_;
  std::variant<std::monostate, std::string, int32_t> stop_reason_;
};

// Converts the sampler's logprobs row to the API's entries with decoded tokens.
TokenLogprobs to_token_logprobs(const PositionLogprobs& row, const Tokenizer* tokenizer);

}  // namespace vllm
