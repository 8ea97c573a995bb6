// `vllm-cpp serve [MODEL]`: the OpenAI-compatible HTTP server, as `vllm serve`. See docs/server.md.
#include <CLI/CLI.hpp>

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "api/async_llm.h"
#include "cli/args/command_line.h"
#include "engine/engine_args.h"
#include "cli/command.h"
#include "core/env.h"
#include "core/error.h"
#include "core/logging.h"
#include "loader/model_path.h"
#include "parsers/reasoning_parser.h"
#include "parsers/tool_parser.h"
#include "server/http_server.h"
#include "server/serving_model.h"
#include "text/chat/chat_template.h"

namespace vllm::cli {
namespace {

namespace fs = std::filesystem;

int run(int argc, char** argv) {
  CLI::App app("Serve a model with the OpenAI-compatible API (vLLM's `vllm serve`)", argv[0]);
  ServeArgs serve;
  CommandLine command_line(app, serve.engine, &serve);
  if (!command_line.parse(argc, argv)) return 0;
  EngineArgs& args = serve.engine;
  server::ServerOptions& options = serve.server;
  parse_cors_lists(serve);
  // vLLM's start-up checks: before the model loads.
  VLLM_CHECK(!serve.enable_auto_tool_choice || !serve.tool_call_parser.empty(), InvalidArgument,
             "--enable-auto-tool-choice requires --tool-call-parser");
  if (!serve.tool_call_parser.empty()) parsers::check_tool_parser_name(serve.tool_call_parser);
  if (!serve.reasoning_parser.empty()) parsers::check_reasoning_parser_name(serve.reasoning_parser);

  if (args.model.empty()) {
    args.model = default_model_path();
    // The built-in model answers to a short name (clients still see its path as "root").
    if (args.served_model_name.empty()) args.served_model_name = {"default"};
  }
  if (options.api_keys.empty())
    if (std::optional<std::string> key = env::api_key()) options.api_keys.push_back(*key);
  args.api_server = true;  // vLLM's server defaults (a smaller per-step token budget)

  // SIGINT/SIGTERM are taken by sigwait below; blocked before any thread starts (every thread
  // inherits the mask), so a signal during model loading waits for the graceful path too.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  // Thousands of concurrent connections need as many descriptors as the hard limit allows.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }

  fs::path model_dir = resolve_model_dir(args);
  log_info("serve: loading ", args.model);
  std::unique_ptr<EngineClient> engine = create_engine_client(args);
  options.max_num_seqs = engine->model_info().max_num_seqs;
  server::ServingModel model = server::make_serving_model(*engine, args, model_dir);
  model.response_role = serve.response_role;
  model.max_logprobs = args.max_logprobs;
  model.return_tokens_as_token_ids = serve.return_tokens_as_token_ids;
  model.enable_auto_tool_choice = serve.enable_auto_tool_choice;
  model.tool_call_parser = serve.tool_call_parser;
  model.reasoning_parser = serve.reasoning_parser;
  model.trust_request_chat_template = serve.trust_request_chat_template;
  std::string name = model.name();

  server::HttpServer server(*engine, std::move(model), options);
  uint16_t port = server.start();
  log_info("serve: ", name, " on ", options.ssl_certfile.empty() ? "http://" : "https://", options.host, ":", port, "/v1 (", options.threads, " HTTP threads",
           options.api_keys.empty() ? "" : ", API key required", ")");

  int signal = 0;
  sigwait(&stop_signals, &signal);
  log_info("serve: signal ", signal, ": stopping (in-flight requests get ", options.shutdown_timeout_s, " s)");
  server.shutdown();
  engine->shutdown();
  log_info("serve: stopped");
  return 0;
}

CommandRegistrar registrar({"serve", "Serve a model with the OpenAI-compatible HTTP API", run});

}  // namespace
}  // namespace vllm::cli
