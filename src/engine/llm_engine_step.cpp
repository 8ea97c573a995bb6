// Launching one scheduled step: the model runner prepares its inputs and runs the forward; each
// sampling row is drawn on the logits' device or on the host; prompt logprobs are computed on the
// host. The step loop around it (step(), finish_step) is in llm_engine.cpp.
#include <algorithm>

#include "core/error.h"
#include "engine/device_sampling.h"
#include "engine/llm_engine_state.h"
#include "engine/step_timing.h"
#include "ops/ops.h"

namespace vllm {

std::unique_ptr<LLMEngine::Step> LLMEngine::launch_step(SchedulerOutput scheduled_step) {
  auto step = std::make_unique<Step>();
  step->out = std::move(scheduled_step);
  // Under asynchronous scheduling a request's latest token may still be on the device, in the
  // previous step's draw.
  DeviceTokens previous;
  if (pending_ && !pending_->device.empty()) previous = {pending_->device.tokens(), &pending_->token_index};
  if (timing_) {
    timing_->mark(StepTiming::Schedule);
    timing_->device_step_begins();
  }
  ModelRunnerOutput result = runner_->execute(step->out, pending_ ? &previous : nullptr);
  if (timing_) timing_->mark(StepTiming::Launch);
  step->decode_only = result.decode_only;

  std::vector<int32_t> host_row_ids;  // logits rows the host needs, in order
  std::vector<size_t> host_samples;   // scheduled entries the host samples
  launch_device_rows(*step, result, host_row_ids, host_samples);
  if (timing_) timing_->device_step_ends();
  if (!host_row_ids.empty()) run_host_rows(*step, result, host_row_ids, host_samples);
  return step;
}

// Drawn where the logits are unless the host must see them: on a GPU, and on the CPU under
// asynchronous scheduling (whose next step reads the sampled tokens from step.device). Rows that
// samples_on_device accepts (all but logit bias, allowed/bad words, pending min_tokens and
// whole-vocabulary logprobs) are drawn on the logits' device; prompt-logprob rows and the rows
// the CPU sampler needs come to the host.
void LLMEngine::launch_device_rows(Step& step, const ModelRunnerOutput& result, std::vector<int32_t>& host_row_ids,
                                   std::vector<size_t>& host_samples) {
  const SchedulerOutput& out = step.out;
  const bool device_draws = !result.logits.device().is_cpu() || config_.scheduler.async_scheduling;
  std::vector<DeviceSampleRow> device_rows;
  step.allows_lookahead = config_.scheduler.async_scheduling;
  for (size_t i = 0; i < out.scheduled.size(); ++i) {
    const ScheduledRequest& scheduled = out.scheduled[i];
    const RequestRows& rows = result.rows[i];
    if (rows.prompt_logprobs_row >= 0)
      for (int p = 0; p < scheduled.num_new_tokens; ++p)
        host_row_ids.push_back(static_cast<int32_t>(rows.prompt_logprobs_row + p));
    if (rows.sample_row < 0) continue;
    Request& request = const_cast<Request&>(*scheduled.request);  // advances its generator
    if (device_draws && samples_on_device(request)) {
      const SamplingParams& params = request.sampling_params;
      const uint64_t seed =
          params.is_greedy() ? 0 : (request.generator ? (*request.generator)() : sampler_.generator()());
      const structured::GrammarMatcher* grammar =
          request.grammar_matcher && request.grammar_active && !request.grammar_matcher->is_terminated()
              ? &*request.grammar_matcher
              : nullptr;
      device_rows.push_back(
          {rows.sample_row, &params, request.prompt_token_ids(), request.output_token_ids(), seed, grammar});
      step.device_owners.push_back(i);
      // The next step may be queued before this token is known when its draw needs none of
      // the request's earlier tokens (no penalties).
      step.allows_lookahead = step.allows_lookahead && draws_without_output_tokens(request);
    } else {
      host_samples.push_back(i);
      // A prompt-logprob request's sampling row is its last prompt row, already listed.
      if (rows.prompt_logprobs_row < 0) host_row_ids.push_back(static_cast<int32_t>(rows.sample_row));
    }
  }
  step.rows.sampled.assign(out.scheduled.size(), {});
  step.allows_lookahead = step.allows_lookahead && host_row_ids.empty();
  if (device_rows.empty()) return;
  step.device = launch_device_sampling(result.logits, device_rows);
  for (size_t s = 0; s < device_rows.size(); ++s)
    step.token_index[out.scheduled[step.device_owners[s]].request_id] = step.device.token_index(s);
}

void LLMEngine::run_host_rows(Step& step, const ModelRunnerOutput& result, const std::vector<int32_t>& host_row_ids,
                              const std::vector<size_t>& host_samples) {
  const SchedulerOutput& out = step.out;
  const Tensor& logits = result.logits;
  const int64_t vocab = logits.size(1);
  // The host's rows, packed in host_row_ids order (all of them, in place, on the CPU).
  Tensor host_logits = logits;
  std::vector<int64_t> host_index(static_cast<size_t>(logits.size(0)), -1);
  if (!logits.device().is_cpu()) {
    const int64_t count = static_cast<int64_t>(host_row_ids.size());
    Tensor picked = Tensor::empty({count, vocab}, DType::F32, logits.device());
    ops::gather_rows(logits, Tensor::from_ints(host_row_ids, {count}).to(logits.device()), picked);
    host_logits = picked.to(Device::cpu());
    for (int64_t h = 0; h < count; ++h) host_index[static_cast<size_t>(host_row_ids[static_cast<size_t>(h)])] = h;
  } else {
    for (size_t r = 0; r < host_index.size(); ++r) host_index[r] = static_cast<int64_t>(r);
  }
  if (timing_) timing_->mark(StepTiming::Device);
  const float* logits_data = host_logits.data<float>();
  auto host_row = [&](int64_t r) {
    const int64_t h = host_index[static_cast<size_t>(r)];
    VLLM_ASSERT(h >= 0, "logits row ", r, " was not brought to the host");
    return logits_data + h * vocab;
  };

  // Prompt logprobs: position p's logits score prompt token p + 1.
  for (size_t i = 0; i < out.scheduled.size(); ++i) {
    if (result.rows[i].prompt_logprobs_row < 0) continue;
    const ScheduledRequest& scheduled = out.scheduled[i];
    const Request& request = *scheduled.request;
    auto [state, index] = sequences_.at(scheduled.request_id);
    std::span<const int32_t> tokens = request.all_token_ids();
    int64_t r = result.rows[i].prompt_logprobs_row;
    for (int p = scheduled.num_computed_tokens; p < scheduled.num_computed_tokens + scheduled.num_new_tokens; ++p, ++r) {
      if (p + 1 >= request.num_prompt_tokens() || index != 0) continue;
      std::span<const float> logits_row(host_row(r), static_cast<size_t>(vocab));
      PositionLogprobs lp = Sampler::compute_logprobs(logits_row, tokens[p + 1], *request.sampling_params.prompt_logprobs);
      (*state->prompt_logprobs)[p + 1] = to_token_logprobs(lp, tokenizer_.get());
    }
  }

  // Host sampling, in one batch.
  if (host_samples.empty()) return;
  std::vector<float> sample_logits;  // rows to sample, gathered [S, vocab]
  std::vector<SamplingRow> sample_rows;
  for (size_t owner : host_samples) {
    const float* data = host_row(result.rows[owner].sample_row);
    sample_logits.insert(sample_logits.end(), data, data + vocab);
    // The scheduler owns the request; the sampler advances its seeded generator.
    sample_rows.push_back(SamplingRow::of(const_cast<Request&>(*out.scheduled[owner].request)));
  }
  SamplerOutput sampled = sampler_.sample(sample_logits, static_cast<int>(vocab), sample_rows);
  for (size_t s = 0; s < host_samples.size(); ++s) {
    const size_t owner = host_samples[s];
    step.rows.sampled[owner] = {sampled.sampled_token_ids[s]};
    step.rows.logprobs[out.scheduled[owner].request_id] = sampled.logprobs[s];
  }
}

}  // namespace vllm
