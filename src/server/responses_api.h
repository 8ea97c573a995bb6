// OpenAI's Responses API (POST /v1/responses, GET /v1/responses/{id}, POST
// /v1/responses/{id}/cancel) as vLLM serves it (vllm/entrypoints/openai/responses/): a request
// is translated into a chat request (input items -> messages, flat function tools -> chat tools,
// text.format -> response_format) and runs through prepare_chat; its output becomes Response
// output items (reasoning, message, function_call), whole or as typed streaming events.
// See docs/responses_messages.md.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "server/openai_protocol.h"

namespace vllm::server {

// The chat request body a Responses body becomes (previous_response_id read from model.responses;
// 404 when it is not stored). Throws ApiError 400 for malformed or unsupported fields.
Json responses_to_chat(const Json& body, const ServingModel& model);
PreparedRequest prepare_responses(const Json& body, const ServingModel& model);
// The Response object (stored when the request's `store` is true).
Json responses_response(const PreparedRequest& request, const std::vector<RequestOutput>& outputs,
                        const ServingModel& model);
// response.created, response.in_progress, the output items' events, response.completed.
std::unique_ptr<EventStream> make_responses_stream(const PreparedRequest& request, const ServingModel& model);
// GET /v1/responses/{id} and POST /v1/responses/{id}/cancel (404 for an id not stored).
Json retrieve_response(const std::string& id, const ServingModel& model);
Json cancel_response(const std::string& id, const ServingModel& model);

}  // namespace vllm::server
