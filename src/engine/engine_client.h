// The narrow interface the server and the batch CLI talk to: submit a tokenized request with a
// callback for its outputs, abort it, read stats. AsyncLLM implements it over the engine thread;
// tests implement it with fakes.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/outputs.h"
#include "engine/sampling_params.h"
#include "models/model.h"
#include "multimodal/processor.h"

namespace vllm {

class Tokenizer;

struct EngineRequest {
  std::string request_id;
  std::string prompt;                     // the text, when the request came as text ("" otherwise)
  std::vector<int32_t> prompt_token_ids;  // always set
  SamplingParams params;                  // generation requests
  // Set: a pooling request (params unused): the whole prompt runs in one step, nothing is
  // sampled, and the finished output carries `pooling`.
  std::optional<PoolingRequestSpec> pooling;
  std::vector<int32_t> token_type_ids;    // empty, or one segment id per prompt token (sentence pairs)
  int priority = 0;                       // --scheduling-policy priority: lower runs first
  // Fill the fields `params` did not set (SamplingParams::is_set) from the model's
  // generation_config.json, as vLLM's server does with --generation-config auto. The offline
  // LLM API passes explicit params and turns this off, as vLLM's LLM.generate does.
  bool apply_generation_config = true;
  // Multimodal prompts: the processed items (pixel values or embeddings) with their placeholder
  // ranges in prompt_token_ids, already expanded (mm::MultiModalProcessor::apply).
  mm::MultiModalItems mm_items;
};

// Called on the engine thread after every step that changed the request (cumulative outputs),
// and once more with finished = true. Must return quickly and never throw.
using OutputCallback = std::function<void(const RequestOutput&)>;

struct ModelInfo {
  std::string model;                       // the path or hub id given
  std::vector<std::string> served_model_names;  // --served-model-name, else {model}
  int64_t max_model_len = 0;
  int64_t vocab_size = 0;
  int64_t max_num_seqs = 0;  // the engine's effective --max-num-seqs
  // Pooling models (--runner pooling): the tasks served (empty for a generative model), the
  // class names of a classifier (config.json id2label, by index), and the Matryoshka widths an
  // embedding may be truncated to (empty: `dimensions` is refused unless is_matryoshka).
  std::vector<PoolingTask> pooling_tasks;
  std::vector<std::string> labels;
  bool is_matryoshka = false;
  std::vector<int64_t> matryoshka_dimensions;
  int64_t hidden_size = 0;
};

// Histogram in Prometheus' cumulative form.
struct Histogram {
  std::vector<double> bounds;        // upper bounds, ascending (the +Inf bucket is implicit)
  std::vector<uint64_t> counts;      // observations <= bounds[i] (not cumulative; the exporter sums)
  uint64_t count = 0;
  double sum = 0;
  void observe(double value);
};

// What one finished request contributes to the request-level histograms (vLLM's
// FinishedRequestStats); times in seconds.
struct FinishedRequestStats {
  double e2e_latency = 0;      // arrival -> finished
  double queued_time = 0;      // arrival -> first scheduled (WAITING)
  double prefill_time = 0;     // first scheduled -> first token
  double decode_time = 0;      // first token -> last token
  double inference_time = 0;   // first scheduled -> last token (RUNNING)
  int64_t num_prompt_tokens = 0;
  int64_t num_generation_tokens = 0;      // over every sequence of the request
  int64_t max_num_generation_tokens = 0;  // the longest sequence
  std::optional<int64_t> max_tokens_param;
  int64_t n_param = 1;
};

struct EngineStats {
  // vLLM's bucket bounds (vllm/v1/metrics/loggers.py); token-count histograms go in 1-2-5
  // steps up to max_model_len.
  void init_histograms(int64_t max_model_len);
  void observe_finished(const FinishedRequestStats& request);

  int64_t num_requests_running = 0;
  int64_t num_requests_waiting = 0;
  double kv_cache_usage = 0;           // 0..1
  uint64_t prefix_cache_queries = 0;   // tokens
  uint64_t prefix_cache_hits = 0;      // tokens
  uint64_t prompt_tokens_total = 0;
  uint64_t generation_tokens_total = 0;
  uint64_t num_preemptions_total = 0;
  uint64_t steps_queued_ahead = 0;     // steps queued before the previous step's tokens were back (--async-scheduling)
  std::map<std::string, uint64_t> request_success_total;  // by finish reason
  Histogram time_to_first_token_seconds;
  Histogram inter_token_latency_seconds;
  Histogram e2e_request_latency_seconds;
  Histogram request_queue_time_seconds;
  Histogram request_prefill_time_seconds;
  Histogram request_decode_time_seconds;
  Histogram request_inference_time_seconds;
  Histogram request_time_per_output_token_seconds;  // per request: decode time / (tokens - 1)
  Histogram request_prompt_tokens;
  Histogram request_generation_tokens;
  Histogram request_max_num_generation_tokens;
  Histogram request_params_n;
  Histogram request_params_max_tokens;
  Histogram iteration_tokens_total;                 // tokens computed per engine step
  // vllm:cache_config_info's labels (CacheConfig.metrics_info()), name -> value.
  std::vector<std::pair<std::string, std::string>> cache_config_info;
};

class EngineClient {
 public:
  virtual ~EngineClient() = default;
  // Validates (prompt + max_tokens within max_model_len, params against the vocabulary) and
  // queues the request; throws vllm::Error (InvalidArgument with vLLM's message) when invalid.
  virtual void add_request(EngineRequest request, OutputCallback on_output) = 0;
  // Safe from any thread, for unknown or finished ids too. The callback then fires with
  // finish_reason "abort" unless the request already finished.
  virtual void abort(const std::string& request_id) = 0;
  virtual EngineStats stats() const = 0;
  virtual const ModelInfo& model_info() const = 0;
  // nullptr with --skip-tokenizer-init.
  virtual std::shared_ptr<const Tokenizer> tokenizer() const = 0;
  // Stops the engine thread: finishes nothing more, aborts what is in flight.
  virtual void shutdown() = 0;
};

}  // namespace vllm
