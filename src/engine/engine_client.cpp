#include "engine/engine_client.h"

#include <algorithm>

namespace vllm {

void Histogram::observe(double value) {
  if (counts.size() != bounds.size()) counts.assign(bounds.size(), 0);
  auto it = std::lower_bound(bounds.begin(), bounds.end(), value);
  if (it != bounds.end()) ++counts[it - bounds.begin()];
  ++count;
  sum += value;
}

namespace {

Histogram histogram(std::vector<double> bounds) {
  Histogram h;
  h.bounds = std::move(bounds);
  h.counts.assign(h.bounds.size(), 0);
  return h;
}

// vLLM's build_1_2_5_buckets: 1, 2, 5, 10, 20, 50, ... up to max_value.
std::vector<double> buckets_1_2_5(int64_t max_value) {
  std::vector<double> bounds;
  for (int64_t scale = 1; scale <= max_value; scale *= 10)
    for (int64_t mantissa : {1, 2, 5})
      if (mantissa * scale <= max_value) bounds.push_back(static_cast<double>(mantissa * scale));
  return bounds;
}

}  // namespace

void EngineStats::init_histograms(int64_t max_model_len) {
  time_to_first_token_seconds = histogram({0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5,
                                           5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0});
  const std::vector<double> token_latency = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5,
                                             0.75, 1.0,   2.5,  5.0,   7.5, 10.0, 20.0, 40.0, 80.0};
  inter_token_latency_seconds = histogram(token_latency);
  request_time_per_output_token_seconds = histogram(token_latency);
  const std::vector<double> request_latency = {0.3,  0.5,  0.8,  1.0,  1.5,   2.0,   2.5,   5.0,    10.0,   15.0,  20.0,
                                               30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};
  for (Histogram* h : {&e2e_request_latency_seconds, &request_queue_time_seconds, &request_prefill_time_seconds,
                       &request_decode_time_seconds, &request_inference_time_seconds})
    *h = histogram(request_latency);
  for (Histogram* h : {&request_prompt_tokens, &request_generation_tokens, &request_max_num_generation_tokens,
                       &request_params_max_tokens})
    *h = histogram(buckets_1_2_5(max_model_len));
  request_params_n = histogram({1, 2, 5, 10, 20});
  iteration_tokens_total = histogram({1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384});
}

void EngineStats::observe_finished(const FinishedRequestStats& request) {
  e2e_request_latency_seconds.observe(request.e2e_latency);
  request_queue_time_seconds.observe(request.queued_time);
  request_prefill_time_seconds.observe(request.prefill_time);
  request_decode_time_seconds.observe(request.decode_time);
  request_inference_time_seconds.observe(request.inference_time);
  // vLLM observes the mean time per output token once a request has more than one token.
  if (request.num_generation_tokens > 1)
    request_time_per_output_token_seconds.observe(request.decode_time /
                                                  static_cast<double>(request.num_generation_tokens - 1));
  request_prompt_tokens.observe(static_cast<double>(request.num_prompt_tokens));
  request_generation_tokens.observe(static_cast<double>(request.num_generation_tokens));
  request_max_num_generation_tokens.observe(static_cast<double>(request.max_num_generation_tokens));
  request_params_n.observe(static_cast<double>(request.n_param));
  if (request.max_tokens_param) request_params_max_tokens.observe(static_cast<double>(*request.max_tokens_param));
}

}  // namespace vllm
