#include "server/metrics.h"

#include "core/error.h"
#include "engine/sampling_params.h"

namespace vllm::server {

namespace {

// Label values escape backslash, quote and newline (Prometheus text format).
std::string escape_label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

// prometheus_client prints every sample as a Python float ("3.0").
std::string number(double value) { return python_float_repr(value); }

class Writer {
 public:
  // labels: those every sample carries ("" for none).
  explicit Writer(std::string labels) : labels_(std::move(labels)) {}
  static std::string vllm_labels(const std::string& model_name) {
    return str("engine=\"0\",model_name=\"", escape_label(model_name), "\"");
  }

  void header(const std::string& name, const char* type, const std::string& help) {
    out_ += str("# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
  }
  void sample(const std::string& name, double value, const std::string& extra_labels = "") {
    std::string labels = extra_labels.empty() ? labels_ : labels_.empty() ? extra_labels : extra_labels + "," + labels_;
    out_ += labels.empty() ? str(name, " ", number(value), "\n") : str(name, "{", labels, "} ", number(value), "\n");
  }
  // A sample with exactly these labels (not the common ones).
  void sample_with_labels(const std::string& name, double value, const std::string& labels) {
    out_ += str(name, "{", labels, "} ", number(value), "\n");
  }
  void gauge(const std::string& name, double value, const char* help) {
    header(name, "gauge", help);
    sample(name, value);
  }
  // prometheus_client names a counter's samples (and its HELP/TYPE lines) with "_total".
  void counter(const std::string& name, double value, const char* help) {
    header(name + "_total", "counter", help);
    sample(name + "_total", value);
  }
  void histogram(const std::string& name, const Histogram& histogram, const char* help) {
    header(name, "histogram", help);
    histogram_samples(name, histogram);
  }
  void histogram_samples(const std::string& name, const Histogram& histogram, const std::string& extra_labels = "") {
    std::string prefix = extra_labels.empty() ? "" : extra_labels + ",";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < histogram.bounds.size(); ++i) {
      if (i < histogram.counts.size()) cumulative += histogram.counts[i];
      sample(name + "_bucket", static_cast<double>(cumulative), str(prefix, "le=\"", number(histogram.bounds[i]), "\""));
    }
    sample(name + "_bucket", static_cast<double>(histogram.count), prefix + "le=\"+Inf\"");
    sample(name + "_count", static_cast<double>(histogram.count), extra_labels);
    sample(name + "_sum", histogram.sum, extra_labels);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string labels_;
  std::string out_;
};

// The engine's histograms: vLLM's name, the EngineStats field, vLLM's help text.
struct EngineHistogram {
  const char* name;
  Histogram EngineStats::*member;
  const char* help;
};
constexpr EngineHistogram kEngineHistograms[] = {
    {"vllm:request_prompt_tokens", &EngineStats::request_prompt_tokens, "Number of prefill tokens processed."},
    {"vllm:request_generation_tokens", &EngineStats::request_generation_tokens, "Number of generation tokens processed."},
    {"vllm:iteration_tokens_total", &EngineStats::iteration_tokens_total, "Histogram of number of tokens per engine_step."},
    {"vllm:request_max_num_generation_tokens", &EngineStats::request_max_num_generation_tokens,
     "Histogram of maximum number of requested generation tokens."},
    {"vllm:request_params_n", &EngineStats::request_params_n, "Histogram of the n request parameter."},
    {"vllm:request_params_max_tokens", &EngineStats::request_params_max_tokens,
     "Histogram of the max_tokens request parameter."},
    {"vllm:time_to_first_token_seconds", &EngineStats::time_to_first_token_seconds,
     "Histogram of time to first token in seconds."},
    {"vllm:inter_token_latency_seconds", &EngineStats::inter_token_latency_seconds,
     "Histogram of inter-token latency in seconds."},
    // The name dashboards made for vLLM before 0.11 query (its Grafana example among them); the
    // same observations as vllm:inter_token_latency_seconds, as vLLM's deprecated metric.
    {"vllm:time_per_output_token_seconds", &EngineStats::inter_token_latency_seconds,
     "Histogram of time per output token in seconds.DEPRECATED: Use vllm:inter_token_latency_seconds instead."},
    {"vllm:request_time_per_output_token_seconds", &EngineStats::request_time_per_output_token_seconds,
     "Histogram of time_per_output_token_seconds per request."},
    {"vllm:e2e_request_latency_seconds", &EngineStats::e2e_request_latency_seconds,
     "Histogram of e2e request latency in seconds."},
    {"vllm:request_queue_time_seconds", &EngineStats::request_queue_time_seconds,
     "Histogram of time spent in WAITING phase for request."},
    {"vllm:request_inference_time_seconds", &EngineStats::request_inference_time_seconds,
     "Histogram of time spent in RUNNING phase for request."},
    {"vllm:request_prefill_time_seconds", &EngineStats::request_prefill_time_seconds,
     "Histogram of time spent in PREFILL phase for request."},
    {"vllm:request_decode_time_seconds", &EngineStats::request_decode_time_seconds,
     "Histogram of time spent in DECODE phase for request."},
};

}  // namespace

std::string render_metrics(const EngineStats& stats, const ServerMetrics& server, const std::string& model_name) {
  Writer w(Writer::vllm_labels(model_name));
  w.gauge("vllm:num_requests_running", static_cast<double>(stats.num_requests_running),
          "Number of requests in model execution batches.");
  w.gauge("vllm:num_requests_waiting", static_cast<double>(stats.num_requests_waiting),
          "Number of requests waiting to be processed.");
  w.gauge("vllm:kv_cache_usage_perc", stats.kv_cache_usage, "KV-cache usage. 1 means 100 percent usage.");
  // vLLM v0's names, still queried by vLLM's Grafana example: the same usage, and 0 for what v1
  // does not have (no swapping, no CPU cache).
  w.gauge("vllm:gpu_cache_usage_perc", stats.kv_cache_usage,
          "GPU KV-cache usage. 1 means 100 percent usage.DEPRECATED: Use vllm:kv_cache_usage_perc instead.");
  w.gauge("vllm:cpu_cache_usage_perc", 0.0, "CPU KV-cache usage (always 0: vllm-cpp keeps no CPU cache tier).");
  w.gauge("vllm:num_requests_swapped", 0.0, "Number of requests swapped to CPU (always 0: v1 preempts by recompute).");
  w.counter("vllm:prefix_cache_queries", static_cast<double>(stats.prefix_cache_queries),
            "Prefix cache queries, in terms of number of queried tokens.");
  w.counter("vllm:prefix_cache_hits", static_cast<double>(stats.prefix_cache_hits),
            "Prefix cache hits, in terms of number of cached tokens.");
  w.counter("vllm:num_preemptions", static_cast<double>(stats.num_preemptions_total),
            "Cumulative number of preemption from the engine.");
  w.counter("vllm:prompt_tokens", static_cast<double>(stats.prompt_tokens_total), "Number of prefill tokens processed.");
  w.counter("vllm:generation_tokens", static_cast<double>(stats.generation_tokens_total),
            "Number of generation tokens processed.");
  w.header("vllm:request_success_total", "counter", "Count of successfully processed requests.");
  for (const char* reason : {"stop", "length", "abort"}) {
    auto it = stats.request_success_total.find(reason);
    w.sample("vllm:request_success_total", it == stats.request_success_total.end() ? 0.0 : static_cast<double>(it->second),
             str("finished_reason=\"", reason, "\""));
  }
  for (const auto& [reason, count] : stats.request_success_total)
    if (reason != "stop" && reason != "length" && reason != "abort")
      w.sample("vllm:request_success_total", static_cast<double>(count),
               str("finished_reason=\"", escape_label(reason), "\""));
  for (const auto& [name, member, help] : kEngineHistograms) w.histogram(name, stats.*member, help);
  // vLLM's info-as-gauge: the cache settings as labels (with engine, without model_name), value 1.
  w.header("vllm:cache_config_info", "gauge", "Information of the LLMEngine CacheConfig");
  std::string cache_labels;
  for (const auto& [name, value] : stats.cache_config_info) cache_labels += str(name, "=\"", escape_label(value), "\",");
  w.sample_with_labels("vllm:cache_config_info", 1.0, cache_labels + "engine=\"0\"");
  w.gauge("vllm_cpp:http_requests_in_flight", static_cast<double>(server.http_requests_in_flight),
          "Generation requests the HTTP server holds (this server's own metric).");
  w.counter("vllm_cpp:requests_rejected", static_cast<double>(server.requests_rejected_total),
            "Requests refused with 503 because the queue was full (this server's own metric).");
  return w.take();
}

HttpRequestMetrics::HttpRequestMetrics() {
  duration_highr_.bounds = {0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0,
                            2.5,  3.0,   3.5,  4.0,   4.5, 5.0,  7.5, 10.0, 30.0, 60.0};
}

void HttpRequestMetrics::observe(const std::string& handler, const std::string& method, int status, double seconds,
                                 size_t request_bytes, size_t response_bytes) {
  std::lock_guard lock(mutex_);
  ++requests_[{method, str(status / 100, "xx"), handler}];
  Histogram& duration = duration_[{method, handler}];
  if (duration.bounds.empty()) duration.bounds = {0.1, 0.5, 1.0};
  duration.observe(seconds);
  duration_highr_.observe(seconds);
  Summary& request = request_size_[handler];
  ++request.count;
  request.sum += static_cast<double>(request_bytes);
  Summary& response = response_size_[handler];
  ++response.count;
  response.sum += static_cast<double>(response_bytes);
}

std::string HttpRequestMetrics::render() const {
  std::lock_guard lock(mutex_);
  Writer w("");
  auto handler_label = [](const std::string& handler) { return str("handler=\"", escape_label(handler), "\""); };
  w.header("http_requests_total", "counter", "Total number of requests by method, status and handler.");
  for (const auto& [key, count] : requests_) {
    const auto& [method, status, handler] = key;
    w.sample("http_requests_total", static_cast<double>(count),
             str(handler_label(handler), ",method=\"", method, "\",status=\"", status, "\""));
  }
  struct SizeMetric {
    const char* name;
    const char* direction;
    const std::map<std::string, Summary>* sizes;
  };
  for (const SizeMetric& metric : {SizeMetric{"http_request_size_bytes", "incoming requests", &request_size_},
                                   SizeMetric{"http_response_size_bytes", "outgoing responses", &response_size_}}) {
    w.header(metric.name, "summary",
             str("Content length of ", metric.direction,
                 " by handler. Only value of header is respected. Otherwise ignored. No percentile calculated. "));
    for (const auto& [handler, summary] : *metric.sizes) {
      w.sample(str(metric.name, "_count"), static_cast<double>(summary.count), handler_label(handler));
      w.sample(str(metric.name, "_sum"), summary.sum, handler_label(handler));
    }
  }
  w.header("http_request_duration_highr_seconds", "histogram",
           "Latency with many buckets but no API specific labels. Made for more accurate percentile calculations. ");
  w.histogram_samples("http_request_duration_highr_seconds", duration_highr_);
  w.header("http_request_duration_seconds", "histogram",
           "Latency with only few buckets by handler. Made to be only used if aggregation by handler is important. ");
  for (const auto& [key, histogram] : duration_)
    w.histogram_samples("http_request_duration_seconds", histogram,
                        str(handler_label(key.second), ",method=\"", key.first, "\""));
  return w.take();
}

}  // namespace vllm::server
