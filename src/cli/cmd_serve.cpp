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

// vLLM's --allowed-origins/--allowed-methods/--allowed-headers take a JSON list of strings.
std::vector<std::string> json_string_list(const std::string& flag, const std::string& text) {
  nlohmann::json value = nlohmann::json::parse(text, nullptr, false);
  bool ok = value.is_array();
  for (const auto& item : value) ok = ok && item.is_string();
  VLLM_CHECK(ok, InvalidArgument, flag, " ", text, " is not a JSON list of strings (e.g. '[\"https://example.com\"]')");
  return value.get<std::vector<std::string>>();
}

int run(int argc, char** argv) {
  CLI::App app("Serve a model with the OpenAI-compatible API (vLLM's `vllm serve`)", argv[0]);
  EngineArgs args;
  add_engine_args(app, args, /*model_positional=*/true);
  server::ServerOptions options;
  std::string response_role = "assistant";
  bool return_tokens_as_token_ids = false;
  bool trust_request_chat_template = false;
  app.add_option("--host", options.host, "Address to listen on")->capture_default_str();
  app.add_option("--port", options.port, "Port to listen on")->capture_default_str();
  app.add_option("--api-key", options.api_keys,
                 "Require `Authorization: Bearer <key>` on /v1 routes (repeatable; default: $VLLM_API_KEY)");
  app.add_option("--response-role", response_role, "The role of chat answers when add_generation_prompt")
      ->capture_default_str();
  app.add_flag("--trust-request-chat-template", trust_request_chat_template,
               "Accept a request's own chat_template (templates are code; off, such requests get 400)");
  app.add_flag("--return-tokens-as-token-ids", return_tokens_as_token_ids,
               "Logprobs name tokens as 'token_id:N' instead of their text");
  app.add_option("--max-waiting-requests", options.max_waiting_requests,
                 "Requests queued beyond --max-num-seqs before new ones get 503 (-1: no limit)")
      ->capture_default_str();
  app.add_option("--max-request-body-bytes", options.max_request_body_bytes, "Larger request bodies get 413")
      ->capture_default_str();
  app.add_option("--http-threads", options.threads, "Threads serving HTTP connections")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--shutdown-timeout", options.shutdown_timeout_s,
                 "Seconds in-flight requests get to finish after SIGINT/SIGTERM before they are aborted")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  bool enable_auto_tool_choice = false;
  std::string tool_call_parser, reasoning_parser;
  app.add_flag("--enable-auto-tool-choice", enable_auto_tool_choice,
               "Let the model choose to call tools (tool_choice \"auto\"); needs --tool-call-parser");
  app.add_option("--tool-call-parser", tool_call_parser,
                 "Reads tool calls out of the model's text (hermes, llama3_json, mistral, qwen3_coder, ...; "
                 "docs/tool_calling.md)");
  app.add_option("--reasoning-parser", reasoning_parser,
                 "Splits reasoning_content from content (deepseek_r1, qwen3, granite, ...; docs/tool_calling.md)");
  std::string allowed_origins = R"(["*"])", allowed_methods = R"(["*"])", allowed_headers = R"(["*"])";
  app.add_option("--allowed-origins", allowed_origins, "CORS: allowed origins, a JSON list")->capture_default_str();
  app.add_option("--allowed-methods", allowed_methods, "CORS: allowed methods, a JSON list")->capture_default_str();
  app.add_option("--allowed-headers", allowed_headers, "CORS: allowed request headers, a JSON list")
      ->capture_default_str();
  app.add_flag("--allow-credentials", options.cors.allow_credentials, "CORS: allow credentials");
  app.add_option("--ssl-keyfile", options.ssl_keyfile, "HTTPS: the PEM private key file");
  app.add_option("--ssl-certfile", options.ssl_certfile, "HTTPS: the PEM certificate file (serves HTTPS when set)");
  app.add_option("--ssl-ca-certs", options.ssl_ca_certs, "HTTPS: the PEM CA certificates client certificates are checked against");
  app.add_option("--ssl-cert-reqs", options.ssl_cert_reqs,
                 "HTTPS: client certificates: 0 not asked, 1 checked when sent, 2 required (Python's ssl.CERT_*)")
      ->check(CLI::Range(0, 2))
      ->capture_default_str();
  app.add_option("--ssl-ciphers", options.ssl_ciphers, "HTTPS: OpenSSL cipher list for TLS 1.2 and below");
  CLI11_PARSE(app, argc, argv);
  options.cors.allowed_origins = json_string_list("--allowed-origins", allowed_origins);
  options.cors.allowed_methods = json_string_list("--allowed-methods", allowed_methods);
  options.cors.allowed_headers = json_string_list("--allowed-headers", allowed_headers);
  // vLLM's start-up checks: before the model loads.
  VLLM_CHECK(!enable_auto_tool_choice || !tool_call_parser.empty(), InvalidArgument,
             "--enable-auto-tool-choice requires --tool-call-parser");
  if (!tool_call_parser.empty()) parsers::check_tool_parser_name(tool_call_parser);
  if (!reasoning_parser.empty()) parsers::check_reasoning_parser_name(reasoning_parser);

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

  fs::path model_dir = resolve_model_path(args.model);
  log_info("serve: loading ", args.model);
  std::unique_ptr<EngineClient> engine = create_engine_client(args);
  options.max_num_seqs = engine->model_info().max_num_seqs;
  server::ServingModel model = server::make_serving_model(*engine, args, model_dir);
  model.response_role = response_role;
  model.max_logprobs = args.max_logprobs;
  model.return_tokens_as_token_ids = return_tokens_as_token_ids;
  model.enable_auto_tool_choice = enable_auto_tool_choice;
  model.tool_call_parser = tool_call_parser;
  model.reasoning_parser = reasoning_parser;
  model.trust_request_chat_template = trust_request_chat_template;
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
