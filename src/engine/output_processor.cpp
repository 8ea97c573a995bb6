#include "engine/output_processor.h"

namespace vllm {

TokenLogprobs to_token_logprobs(const PositionLogprobs& row, const Tokenizer* tokenizer) {
  TokenLogprobs entries;
  for (size_t i = 0; i < row.token_ids.size(); ++i) {
    TokenLogprob entry;
    entry.token_id = row.token_ids[i];
    entry.logprob = row.logprobs[i];
    // Entry 0 is the chosen token with its vocabulary rank; the top-k follow in rank order.
    entry.rank = i == 0 ? row.rank : static_cast<int32_t>(i);
    if (tokenizer) entry.decoded_token = tokenizer->decode(std::span<const int32_t>(&entry.token_id, 1));
    if (i > 0 && entry.token_id == row.token_ids[0]) continue;  // the chosen token appears once
    entries.push_back(std::move(entry));
  }
  return entries;
}

SequenceOutputState::SequenceOutputState(int index, const SamplingParams& params,
                                         std::shared_ptr<const Tokenizer> tokenizer,
                                         std::span<const int32_t> prompt_ids)
    : index_(index), params_(params), tokenizer_(std::move(tokenizer)), stop_checker_(params) {
  if (tokenizer_ && params.detokenize)
    detokenizer_ = std::make_unique<IncrementalDetokenizer>(tokenizer_, prompt_ids, params.skip_special_tokens,
                                                            params.spaces_between_special_tokens);
  if (params.logprobs) logprobs_.emplace();
}

std::optional<StopStringMatch> SequenceOutputState::append(
    std::span<const int32_t> token_ids, std::span<const std::optional<PositionLogprobs>> logprobs) {
  std::optional<StopStringMatch> match;
  for (size_t i = 0; i < token_ids.size(); ++i) {
    token_ids_.push_back(token_ids[i]);
    if (logprobs_ && i < logprobs.size() && logprobs[i])
      logprobs_->push_back(to_token_logprobs(*logprobs[i], tokenizer_.get()));
    if (!detokenizer_ || match) continue;
    std::string text = detokenizer_->add_token(token_ids[i]);
    match = stop_checker_.append(text);
  }
  return match;
}

void SequenceOutputState::finish(RequestStatus status, const StopReason& stop_reason) {
  finish_reason_ = finish_reason(status);
  if (const auto* token = std::get_if<int32_t>(&stop_reason)) stop_reason_ = *token;
  if (const auto* text = std::get_if<std::string>(&stop_reason)) stop_reason_ = *text;
}

CompletionOutput SequenceOutputState::output(bool finished) const {
  CompletionOutput out;
  out.index = index_;
  out.text = std::string(stop_checker_.streamable_text(finished));
  out.token_ids = token_ids_;
  out.logprobs = logprobs_;
  out.finish_reason = finish_reason_;
  out.stop_reason = stop_reason_;
  return out;
}

}  // namespace vllm
