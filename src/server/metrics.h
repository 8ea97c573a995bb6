// GET /metrics: the engine's counters and histograms in Prometheus' text format (0.0.4) with
// vLLM's metric names and labels, so dashboards made for vLLM work unchanged.
#pragma once

#include <string>

#include "engine/engine_client.h"

namespace vllm::server {

// Server-side gauges that are not the engine's.
struct ServerMetrics {
  int64_t http_requests_in_flight = 0;  // generation requests the server holds
  uint64_t requests_rejected_total = 0; // 503s for overload
};

// Every metric carries {engine="0", model_name="<served name>"} as vLLM's do.
std::string render_metrics(const EngineStats& stats, const ServerMetrics& server, const std::string& model_name);

}  // namespace vllm::server
