// GET /metrics text: vLLM v1's metric names, types, labels and bucket bounds, the request-level
// histograms fed by EngineStats::observe_finished, and every series vLLM's Grafana example
// dashboard queries.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "core/error.h"
#include "server/metrics.h"

namespace vllm::server {
namespace {

const std::string kLabels = "engine=\"0\",model_name=\"m\"";

EngineStats initialised_stats(int64_t max_model_len = 100) {
  EngineStats stats;
  stats.init_histograms(max_model_len);
  stats.cache_config_info = {{"block_size", "16"}, {"enable_prefix_caching", "True"}};
  return stats;
}

// "name" -> "type" from the # TYPE lines.
std::map<std::string, std::string> types_of(const std::string& text) {
  std::map<std::string, std::string> types;
  std::regex type_line(R"(# TYPE (\S+) (\S+))");
  for (std::sregex_iterator it(text.begin(), text.end(), type_line), end; it != end; ++it)
    types[(*it)[1]] = (*it)[2];
  return types;
}

TEST(Metrics, VllmV1MetricsWithTheirTypes) {
  std::string text = render_metrics(initialised_stats(), ServerMetrics{}, "m");
  std::map<std::string, std::string> types = types_of(text);
  const std::map<std::string, std::string> expected = {
      {"vllm:num_requests_running", "gauge"},
      {"vllm:num_requests_waiting", "gauge"},
      {"vllm:kv_cache_usage_perc", "gauge"},
      {"vllm:prefix_cache_queries_total", "counter"},
      {"vllm:prefix_cache_hits_total", "counter"},
      {"vllm:num_preemptions_total", "counter"},
      {"vllm:prompt_tokens_total", "counter"},
      {"vllm:generation_tokens_total", "counter"},
      {"vllm:request_success_total", "counter"},
      {"vllm:request_prompt_tokens", "histogram"},
      {"vllm:request_generation_tokens", "histogram"},
      {"vllm:iteration_tokens_total", "histogram"},
      {"vllm:request_max_num_generation_tokens", "histogram"},
      {"vllm:request_params_n", "histogram"},
      {"vllm:request_params_max_tokens", "histogram"},
      {"vllm:time_to_first_token_seconds", "histogram"},
      {"vllm:inter_token_latency_seconds", "histogram"},
      {"vllm:time_per_output_token_seconds", "histogram"},
      {"vllm:request_time_per_output_token_seconds", "histogram"},
      {"vllm:e2e_request_latency_seconds", "histogram"},
      {"vllm:request_queue_time_seconds", "histogram"},
      {"vllm:request_inference_time_seconds", "histogram"},
      {"vllm:request_prefill_time_seconds", "histogram"},
      {"vllm:request_decode_time_seconds", "histogram"},
      {"vllm:cache_config_info", "gauge"},
  };
  for (const auto& [name, type] : expected) EXPECT_EQ(types[name], type) << name;
}

TEST(Metrics, BucketBoundsAreVllms) {
  std::string text = render_metrics(initialised_stats(100), ServerMetrics{}, "m");
  // Token counts in 1-2-5 steps up to max_model_len (vLLM's build_1_2_5_buckets(100)).
  for (const char* le : {"1.0", "2.0", "5.0", "10.0", "20.0", "50.0", "100.0", "+Inf"})
    EXPECT_NE(text.find(str("vllm:request_prompt_tokens_bucket{le=\"", le, "\",", kLabels, "} 0.0")), std::string::npos)
        << le;
  EXPECT_EQ(text.find("vllm:request_prompt_tokens_bucket{le=\"200.0\""), std::string::npos);
  EXPECT_NE(text.find("vllm:request_params_n_bucket{le=\"20.0\""), std::string::npos);
  EXPECT_NE(text.find("vllm:iteration_tokens_total_bucket{le=\"16384.0\""), std::string::npos);
  EXPECT_NE(text.find("vllm:time_to_first_token_seconds_bucket{le=\"2560.0\""), std::string::npos);
  EXPECT_NE(text.find("vllm:inter_token_latency_seconds_bucket{le=\"0.075\""), std::string::npos);
  EXPECT_NE(text.find("vllm:request_queue_time_seconds_bucket{le=\"7680.0\""), std::string::npos);
}

TEST(Metrics, FinishedRequestsFillTheRequestHistograms) {
  EngineStats stats = initialised_stats(100);
  FinishedRequestStats request;
  request.e2e_latency = 2.0;
  request.queued_time = 0.25;
  request.prefill_time = 0.5;
  request.decode_time = 1.0;
  request.inference_time = 1.5;
  request.num_prompt_tokens = 7;
  request.num_generation_tokens = 11;
  request.max_num_generation_tokens = 11;
  request.max_tokens_param = 16;
  request.n_param = 1;
  stats.observe_finished(request);
  std::string text = render_metrics(stats, ServerMetrics{}, "m");
  for (const std::string& line : {
           str("vllm:request_queue_time_seconds_bucket{le=\"0.3\",", kLabels, "} 1.0"),
           str("vllm:request_queue_time_seconds_sum{", kLabels, "} 0.25"),
           str("vllm:request_prefill_time_seconds_sum{", kLabels, "} 0.5"),
           str("vllm:request_decode_time_seconds_sum{", kLabels, "} 1.0"),
           str("vllm:request_inference_time_seconds_sum{", kLabels, "} 1.5"),
           str("vllm:e2e_request_latency_seconds_count{", kLabels, "} 1.0"),
           // decode time over the tokens after the first: 1.0 / 10
           str("vllm:request_time_per_output_token_seconds_sum{", kLabels, "} 0.1"),
           str("vllm:request_prompt_tokens_bucket{le=\"5.0\",", kLabels, "} 0.0"),
           str("vllm:request_prompt_tokens_bucket{le=\"10.0\",", kLabels, "} 1.0"),
           str("vllm:request_generation_tokens_sum{", kLabels, "} 11.0"),
           str("vllm:request_max_num_generation_tokens_sum{", kLabels, "} 11.0"),
           str("vllm:request_params_max_tokens_sum{", kLabels, "} 16.0"),
           str("vllm:request_params_n_bucket{le=\"1.0\",", kLabels, "} 1.0"),
       })
    EXPECT_NE(text.find(line), std::string::npos) << line;
}

TEST(Metrics, CacheConfigInfoCarriesTheSettingsAsLabels) {
  std::string text = render_metrics(initialised_stats(), ServerMetrics{}, "m");
  EXPECT_NE(text.find("vllm:cache_config_info{block_size=\"16\",enable_prefix_caching=\"True\",engine=\"0\"} 1.0"),
            std::string::npos)
      << text;
}

// Every series that vLLM's examples/online_serving/prometheus_grafana/grafana.json queries.
TEST(Metrics, GrafanaDashboardFindsEverySeries) {
  const std::vector<std::string> dashboard = {
      "vllm:e2e_request_latency_seconds_bucket", "vllm:e2e_request_latency_seconds_sum",
      "vllm:e2e_request_latency_seconds_count",  "vllm:prompt_tokens_total",
      "vllm:generation_tokens_total",            "vllm:time_per_output_token_seconds_bucket",
      "vllm:time_per_output_token_seconds_sum",  "vllm:time_per_output_token_seconds_count",
      "vllm:num_requests_running",               "vllm:num_requests_swapped",
      "vllm:num_requests_waiting",               "vllm:time_to_first_token_seconds_bucket",
      "vllm:time_to_first_token_seconds_sum",    "vllm:time_to_first_token_seconds_count",
      "vllm:gpu_cache_usage_perc",               "vllm:cpu_cache_usage_perc",
      "vllm:request_prompt_tokens_bucket",       "vllm:request_generation_tokens_bucket",
      "vllm:request_success_total",              "vllm:request_queue_time_seconds_sum",
      "vllm:request_prefill_time_seconds_sum",   "vllm:request_decode_time_seconds_sum",
      "vllm:request_max_num_generation_tokens_sum",
  };
  std::string text = render_metrics(initialised_stats(), ServerMetrics{}, "m");
  for (const std::string& series : dashboard) {
    // A sample line of that series with the dashboard's model_name filter.
    std::regex sample("(^|\n)" + series + "\\{[^}]*model_name=\"m\"[^}]*\\} ");
    EXPECT_TRUE(std::regex_search(text, sample)) << series;
  }
}

TEST(Metrics, HttpRequestMetricsAsTheInstrumentator) {
  HttpRequestMetrics http;
  http.observe("/v1/completions", "POST", 200, 0.3, 120, 450);
  http.observe("/v1/completions", "POST", 201, 2.0, 80, 0);
  http.observe("none", "GET", 404, 0.01, 0, 60);
  std::string text = http.render();
  for (const std::string& line : {
           std::string("# TYPE http_requests_total counter"),
           std::string("http_requests_total{handler=\"/v1/completions\",method=\"POST\",status=\"2xx\"} 2.0"),
           std::string("http_requests_total{handler=\"none\",method=\"GET\",status=\"4xx\"} 1.0"),
           std::string("# TYPE http_request_size_bytes summary"),
           std::string("http_request_size_bytes_sum{handler=\"/v1/completions\"} 200.0"),
           std::string("http_response_size_bytes_count{handler=\"/v1/completions\"} 2.0"),
           std::string("http_response_size_bytes_sum{handler=\"none\"} 60.0"),
           std::string("http_request_duration_highr_seconds_bucket{le=\"0.5\"} 2.0"),
           std::string("http_request_duration_highr_seconds_count 3.0"),
           std::string("http_request_duration_seconds_bucket{handler=\"/v1/completions\",method=\"POST\",le=\"0.5\"} 1.0"),
           std::string("http_request_duration_seconds_bucket{handler=\"/v1/completions\",method=\"POST\",le=\"+Inf\"} 2.0"),
       })
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
}

}  // namespace
}  // namespace vllm::server
