// vLLM's `run-batch` without files: OpenAI batch lines in, output lines out. Each input line is
// {"custom_id", "method": "POST", "url", "body"} with url one of /v1/completions,
// /v1/chat/completions, /v1/embeddings, /v1/score (/score), /v1/rerank (/rerank, /v2/rerank);
// each output line is {"id", "custom_id", "response": {"status_code", "request_id", "body"},
// "error"} with the body the server would return. Every line's requests go to the engine at once
// (continuous batching); outputs keep the input order. `vllm-cpp run-batch` reads and writes the
// files around it.
#pragma once

#include <string>
#include <vector>

#include "engine/engine_client.h"
#include "server/openai_protocol.h"

namespace vllm::server {

std::vector<Json> run_batch(EngineClient& engine, const ServingModel& model, const std::vector<std::string>& lines);

}  // namespace vllm::server
