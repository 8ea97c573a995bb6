// LLMEngine's private state per request and per launched step, shared by llm_engine.cpp
// (start-up, requests, the step loop, outputs) and llm_engine_step.cpp (launching a step and
// drawing its tokens). Not part of the engine's interface.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/device_sampling.h"
#include "engine/llm_engine.h"

namespace vllm {

struct LLMEngine::RequestState {
  EngineRequest request;
  OutputCallback on_output;
  std::vector<SamplingParams> child_params;  // one per sequence (seeds differ)
  std::vector<std::string> child_ids;
  std::vector<std::unique_ptr<SequenceOutputState>> sequences;
  std::optional<std::vector<std::optional<TokenLogprobs>>> prompt_logprobs;
  RequestMetrics metrics;
  size_t num_finished = 0;
  std::optional<PoolingOutput> pooled;  // a pooling request's result, once its step ran
};

struct LLMEngine::StepRows {
  std::vector<std::vector<int32_t>> sampled;                       // per scheduled request
  std::map<std::string, std::optional<PositionLogprobs>> logprobs;  // sampled token's, by child id
};

// A step queued on the device whose sampled tokens the host has not processed yet.
struct LLMEngine::Step {
  SchedulerOutput out;
  StepRows rows;                       // host rows at launch, device rows at finish_step
  DeviceSampling device;               // the draw of the rows in device_owners
  std::vector<size_t> device_owners;   // device row -> index into out.scheduled
  std::unordered_map<std::string, int32_t> token_index;  // request id -> entry of device.tokens()
  bool allows_lookahead = false;       // the next step may be queued before this one's tokens are back
  bool decode_only = false;            // for VLLM_STEP_TIMING
};

}  // namespace vllm
