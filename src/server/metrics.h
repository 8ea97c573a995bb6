// GET /metrics: the engine's counters and histograms in Prometheus' text format (0.0.4) with
// vLLM's metric names and labels, so dashboards made for vLLM work unchanged.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>

#include "engine/engine_client.h"

namespace vllm::server {

// Server-side gauges that are not the engine's.
struct ServerMetrics {
  int64_t http_requests_in_flight = 0;  // generation requests the server holds
  uint64_t requests_rejected_total = 0; // 503s for overload
};

// Every metric carries {engine="0", model_name="<served name>"} as vLLM's do.
std::string render_metrics(const EngineStats& stats, const ServerMetrics& server, const std::string& model_name);

// The HTTP metrics vLLM's server exposes through prometheus-fastapi-instrumentator's defaults:
// requests by route, method and status class, request and response sizes (Content-Length), and
// latency histograms. Thread-safe.
class HttpRequestMetrics {
 public:
  HttpRequestMetrics();
  // handler: the route ("none" for an unknown path); status: the HTTP status code.
  void observe(const std::string& handler, const std::string& method, int status, double seconds,
               size_t request_bytes, size_t response_bytes);
  std::string render() const;

 private:
  struct Summary {
    uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t> requests_;  // method, status class, handler
  std::map<std::pair<std::string, std::string>, Histogram> duration_;              // method, handler
  Histogram duration_highr_;
  std::map<std::string, Summary> request_size_, response_size_;                      // by handler
};

}  // namespace vllm::server
