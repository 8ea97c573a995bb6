#include "engine/request.h"

namespace vllm {

const char* request_status_name(RequestStatus status) {
  switch (status) {
    case RequestStatus::WAITING: return "WAITING";
    case RequestStatus::RUNNING: return "RUNNING";
    case RequestStatus::PREEMPTED: return "PREEMPTED";
    case RequestStatus::FINISHED_STOPPED: return "FINISHED_STOPPED";
    case RequestStatus::FINISHED_LENGTH_CAPPED: return "FINISHED_LENGTH_CAPPED";
    case RequestStatus::FINISHED_ABORTED: return "FINISHED_ABORTED";
  }
  return "?";
}

const char* finish_reason(RequestStatus status) {
  switch (status) {
    case RequestStatus::FINISHED_STOPPED: return "stop";
    case RequestStatus::FINISHED_LENGTH_CAPPED: return "length";
    case RequestStatus::FINISHED_ABORTED: return "abort";
    default: return nullptr;
  }
}

Request::Request(std::string request_id, std::vector<int32_t> prompt_token_ids, SamplingParams params,
                 std::optional<int32_t> eos_token_id, int priority, double arrival_time,
                 std::string cache_salt)
    : request_id(std::move(request_id)),
      sampling_params(std::move(params)),
      eos_token_id(eos_token_id),
      priority(priority),
      arrival_time(arrival_time),
      cache_salt(std::move(cache_salt)),
      token_ids_(std::move(prompt_token_ids)),
      num_prompt_tokens_(static_cast<int>(token_ids_.size())) {
  if (sampling_params.seed) generator.emplace(static_cast<uint64_t>(*sampling_params.seed));
  if (sampling_params.grammar) {
    grammar_matcher.emplace(sampling_params.grammar);
    // vLLM: a prompt that already holds the marker (a template that closed the reasoning, as
    // enable_thinking=False does) starts constrained.
    const std::vector<int32_t>& marker = sampling_params.structured_outputs_after_ids;
    grammar_active = marker.empty() || std::search(token_ids_.begin(), token_ids_.end(), marker.begin(),
                                                   marker.end()) != token_ids_.end();
  }
  if (sampling_params.max_tokens) max_tokens = *sampling_params.max_tokens;
}

}  // namespace vllm
