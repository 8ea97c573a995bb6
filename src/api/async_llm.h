// AsyncLLM: the engine on its own thread behind the thread-safe EngineClient interface (what the
// server uses). One thread owns all model state; callers talk to it through a command queue;
// outputs go back through each request's callback, called on the engine thread.
#pragma once

#include <memory>

#include "engine/engine_args.h"
#include "engine/engine_client.h"

namespace vllm {

class LLMEngine;

// Builds the model and starts the engine thread. Throws vllm::Error when the model cannot load.
std::unique_ptr<EngineClient> create_engine_client(const EngineArgs& args);

}  // namespace vllm
