#include "cli/args/serve_args.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace vllm::cli {

void add_frontend_args(CLI::App& app, ServeArgs& args) {
  server::ServerOptions& options = args.server;
  app.option_defaults()->group("Frontend");
  app.add_option("--host", options.host, "Address to listen on")->capture_default_str();
  app.add_option("--port", options.port, "Port to listen on")->capture_default_str();
  app.add_option("--api-key", options.api_keys,
                 "Require `Authorization: Bearer <key>` on /v1 routes (repeatable; default: $VLLM_API_KEY)");
  app.add_option("--response-role", args.response_role, "The role of chat answers when add_generation_prompt")
      ->capture_default_str();
  app.add_flag("--trust-request-chat-template,!--no-trust-request-chat-template", args.trust_request_chat_template,
               "Accept a request's own chat_template (templates are code; off, such requests get 400)");
  app.add_flag("--return-tokens-as-token-ids,!--no-return-tokens-as-token-ids", args.return_tokens_as_token_ids,
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
  app.add_flag("--enable-auto-tool-choice,!--no-enable-auto-tool-choice", args.enable_auto_tool_choice,
               "Let the model choose to call tools (tool_choice \"auto\"); needs --tool-call-parser");
  app.add_option("--tool-call-parser", args.tool_call_parser,
                 "Reads tool calls out of the model's text (hermes, llama3_json, mistral, qwen3_coder, ...; "
                 "docs/tool_calling.md)");
  app.add_option("--reasoning-parser", args.reasoning_parser,
                 "Splits reasoning_content from content (deepseek_r1, qwen3, granite, ...; docs/tool_calling.md)")
      ->group("StructuredOutputsConfig");
  app.option_defaults()->group("Frontend");
  app.add_option("--allowed-origins", args.allowed_origins, "CORS: allowed origins, a JSON list")->capture_default_str();
  app.add_option("--allowed-methods", args.allowed_methods, "CORS: allowed methods, a JSON list")->capture_default_str();
  app.add_option("--allowed-headers", args.allowed_headers, "CORS: allowed request headers, a JSON list")
      ->capture_default_str();
  app.add_flag("--allow-credentials,!--no-allow-credentials", options.cors.allow_credentials,
               "CORS: allow credentials");
  app.add_option("--ssl-keyfile", options.ssl_keyfile, "HTTPS: the PEM private key file");
  app.add_option("--ssl-certfile", options.ssl_certfile, "HTTPS: the PEM certificate file (serves HTTPS when set)");
  app.add_option("--ssl-ca-certs", options.ssl_ca_certs,
                 "HTTPS: the PEM CA certificates client certificates are checked against");
  app.add_option("--ssl-cert-reqs", options.ssl_cert_reqs,
                 "HTTPS: client certificates: 0 not asked, 1 checked when sent, 2 required (Python's ssl.CERT_*)")
      ->check(CLI::Range(0, 2))
      ->capture_default_str();
  app.add_option("--ssl-ciphers", options.ssl_ciphers, "HTTPS: OpenSSL cipher list for TLS 1.2 and below");
  app.option_defaults()->group("Options");
}

// vLLM's --allowed-origins/--allowed-methods/--allowed-headers take a JSON list of strings.
namespace {
std::vector<std::string> json_string_list(const std::string& flag, const std::string& text) {
  nlohmann::json value = nlohmann::json::parse(text, nullptr, false);
  bool ok = value.is_array();
  for (const auto& item : value) ok = ok && item.is_string();
  VLLM_CHECK(ok, InvalidArgument, flag, " ", text, " is not a JSON list of strings (e.g. '[\"https://example.com\"]')");
  return value.get<std::vector<std::string>>();
}
}  // namespace

void parse_cors_lists(ServeArgs& args) {
  args.server.cors.allowed_origins = json_string_list("--allowed-origins", args.allowed_origins);
  args.server.cors.allowed_methods = json_string_list("--allowed-methods", args.allowed_methods);
  args.server.cors.allowed_headers = json_string_list("--allowed-headers", args.allowed_headers);
}

}  // namespace vllm::cli
