// Anthropic's Messages API (POST /v1/messages, /v1/messages/count_tokens) as vLLM serves it
// (vllm/entrypoints/anthropic/): a request is translated into a chat request (system, text /
// tool_use / tool_result blocks, tools with input_schema, tool_choice auto/any/tool/none) and runs
// through prepare_chat; its output becomes content blocks (thinking, text, tool_use), whole or as
// Anthropic's streaming events. Errors take Anthropic's shape. See docs/responses_messages.md.
#pragma once

#include <memory>
#include <vector>

#include "server/openai_protocol.h"

namespace vllm::server {

// The chat request body a Messages body becomes; `count_only` (count_tokens) needs no max_tokens.
Json messages_to_chat(const Json& body, bool count_only = false);
PreparedRequest prepare_messages(const Json& body, const ServingModel& model);
Json messages_response(const PreparedRequest& request, const std::vector<RequestOutput>& outputs,
                       const ServingModel& model);
// message_start, content_block_start / _delta / _stop per block, message_delta, message_stop.
std::unique_ptr<EventStream> make_messages_stream(const PreparedRequest& request, const ServingModel& model);
// POST /v1/messages/count_tokens: {"input_tokens", "context_management": {"original_input_tokens"}}.
Json count_tokens_response(const Json& body, const ServingModel& model);
// {"type": "error", "error": {"type": "invalid_request_error", "message"}}: Anthropic's type for
// the status (400 invalid_request_error, 401 authentication_error, 404 not_found_error, 413
// request_too_large, 503 overloaded_error, others api_error).
Json anthropic_error_body(const ApiError& error);

}  // namespace vllm::server
