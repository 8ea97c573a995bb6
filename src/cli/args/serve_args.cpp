#include "cli/args/serve_args.h"

#include <CLI/CLI.hpp>

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
  app.option_defaults()->group("Options");
}

}  // namespace vllm::cli
