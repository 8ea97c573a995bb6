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
  // CORS lists as given (JSON lists of strings), read into server.cors by parse_cors_lists.
  std::string allowed_origins = R"(["*"])", allowed_methods = R"(["*"])", allowed_headers = R"(["*"])";
};

// Registers the frontend flags bound to `args` (the engine flags are add_engine_args').
void add_frontend_args(CLI::App& app, ServeArgs& args);

// Reads the --allowed-* JSON lists into args.server.cors (InvalidArgument naming the flag).
void parse_cors_lists(ServeArgs& args);

}  // namespace vllm::cli
