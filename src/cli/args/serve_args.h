// `vllm-cpp serve`'s settings beyond the engine's: vLLM's FrontendArgs that vllm-cpp implements,
// plus its own HTTP settings.
#pragma once

#include <string>

#include "engine/engine_args.h"
#include "server/http_server.h"

namespace CLI {
class App;
}

namespace vllm::cli {

struct ServeArgs {
  EngineArgs engine;
  server::ServerOptions server;
  std::string response_role = "assistant";
  bool return_tokens_as_token_ids = false;
  bool trust_request_chat_template = false;
  bool enable_auto_tool_choice = false;
  std::string tool_call_parser, reasoning_parser;
};

// Registers the frontend flags bound to `args` (the engine flags are add_engine_args').
void add_frontend_args(CLI::App& app, ServeArgs& args);

}  // namespace vllm::cli
