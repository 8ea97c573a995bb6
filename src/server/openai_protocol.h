// The OpenAI-compatible protocol without HTTP: request bodies -> EngineRequests (vLLM's request
// fields and validation), RequestOutputs -> response bodies and streaming chunks (vLLM's shapes),
// plus /v1/models, /tokenize and /detokenize. The server and the batch CLI (`run-batch`) both use
// these functions, so a batch line gets the same response body the server returns.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/engine_client.h"
#include "engine/outputs.h"
#include "multimodal/media.h"
#include "multimodal/processor.h"
#include "text/chat/chat_template.h"

namespace vllm::server {

// Responses keep vLLM's field order ("id", "object", "created", "model", "choices", "usage").
using Json = nlohmann::ordered_json;

// An error the API answers with: the HTTP status and vLLM's error object
// {"error": {"message", "type", "param", "code"}} (code = the status).
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string param = "");
  int status() const { return status_; }
  const std::string& param() const { return param_; }
  Json body() const;

 private:
  int status_;
  std::string param_;
};

// vLLM's error type names by status: 400 BadRequestError, 401 Unauthorized, 404 NotFoundError,
// 405 MethodNotAllowed, 413 RequestEntityTooLarge, 503 ServiceUnavailableError, 500 InternalServerError.
const char* error_type_for_status(int status);
Json error_body(std::string_view message, int status, std::string_view param = "");
// Any exception as an ApiError: vllm::Error by kind (InvalidArgument/Unsupported 400, NotFound
// 404, OutOfMemory 503, Internal 500), JSON errors 400, anything else 500.
ApiError to_api_error(const std::exception& error);

// Finished Responses kept by `store: true` for `previous_response_id` and GET /v1/responses/{id}
// (vLLM's in-memory response_store and msg_store): the response object and the chat messages of
// its request. Thread-safe; past `capacity` the oldest entry is dropped (vLLM keeps every one).
class ResponseStore {
 public:
  struct Entry {
    Json response;
    Json messages;
  };
  explicit ResponseStore(size_t capacity = 4096) : capacity_(capacity) {}
  void put(const std::string& id, Entry entry);
  std::optional<Entry> get(const std::string& id) const;

 private:
  size_t capacity_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  std::deque<std::string> order_;  // oldest first
};

// What the protocol needs to know about the served model.
struct ServingModel {
  ModelInfo info;
  std::shared_ptr<const Tokenizer> tokenizer;     // nullptr with --skip-tokenizer-init
  std::shared_ptr<const ChatTemplate> chat_template;  // nullptr when the model has none
  std::string chat_template_error;                 // why there is none
  std::string response_role = "assistant";         // --response-role
  int max_logprobs = kDefaultMaxLogprobs;          // --max-logprobs
  bool return_tokens_as_token_ids = false;         // --return-tokens-as-token-ids
  bool trust_request_chat_template = false;        // --trust-request-chat-template
  // generation_config.json's max_new_tokens (with --generation-config auto): vLLM caps every
  // request's max_tokens by it.
  std::optional<int> default_max_tokens;
  // --enable-auto-tool-choice, --tool-call-parser, --reasoning-parser (src/parsers names; empty: none).
  bool enable_auto_tool_choice = false;
  std::string tool_call_parser;
  std::string reasoning_parser;
  std::shared_ptr<ResponseStore> responses = std::make_shared<ResponseStore>();  // /v1/responses
  // Multimodal models: the processor (null for a text-only model, which refuses media parts),
  // --limit-mm-per-prompt, and where media URLs may come from.
  std::shared_ptr<const mm::MultiModalProcessor> mm_processor;
  std::map<std::string, int64_t> mm_limits;
  mm::MediaOptions media;

  const std::string& name() const;  // the first served name
  bool serves(const std::string& name) const;
};

// Responses (/v1/responses) and Messages (Anthropic's /v1/messages) are translated onto Chat.
enum class Endpoint { Completion, Chat, Embedding, Pooling, Classify, Score, Rerank, Responses, Messages };

// What a pooling route needs besides its engine requests to build its response.
struct PoolingPlan {
  bool base64 = false;  // encoding_format "base64": little-endian f32 bytes, base64
  // /score and /rerank: one score per (first, second) pair. By embeddings (a model that embeds):
  // the engine requests are the distinct texts' embeddings and a pair indexes two of them (the
  // score is their cosine). A cross-encoder: one engine request per pair, `pairs` unused.
  bool by_embeddings = false;
  std::vector<std::pair<size_t, size_t>> pairs;
  std::vector<std::string> documents;  // /rerank: the documents, by index
  int64_t top_n = 0;                   // /rerank: 0 = all
  bool return_documents = true;        // /rerank
};

// A chat request's tools: how its output is read (docs/tool_calling.md).
struct ChatToolPlan {
  Json tools;                   // the request's "tools" (null: none)
  std::string choice = "none";  // tool_choice: none, auto, required, or "function" (named)
  std::string named_function;   // tool_choice {"type": "function", "function": {"name"}}
  bool parallel_tool_calls = true;
  // auto with --enable-auto-tool-choice: the --tool-call-parser reads the output. required and
  // named read it as JSON (vLLM enforces those with structured outputs; this server does not yet).
  bool parse_tool_calls() const { return choice != "none"; }
};

// A validated request, ready for the engine: one EngineRequest per prompt (chat: exactly one).
struct PreparedRequest {
  Endpoint endpoint = Endpoint::Completion;
  std::string id;       // "cmpl-..." or "chatcmpl-..." (the response's id)
  int64_t created = 0;  // seconds since the epoch
  std::string model;    // the name the response reports
  std::vector<EngineRequest> engine_requests;
  int n = 1;
  bool stream = false;
  bool include_usage = false;           // stream_options.include_usage
  bool continuous_usage_stats = false;  // stream_options.continuous_usage_stats
  bool echo = false;
  std::optional<int> logprobs;          // completions: `logprobs`; chat: `top_logprobs` when `logprobs`
  bool return_token_ids = false;
  bool return_tokens_as_token_ids = false;
  std::string role;       // chat: the role of the answer
  std::string echo_text;  // chat with echo: the last message's content when its role is `role`
  PoolingPlan pooling;    // the pooling endpoints
  ChatToolPlan tools;     // chat
  // Responses and Messages: the request as the client sent it (a Response object repeats its
  // fields), the chat messages it became, and Responses' `store`.
  Json source;
  Json messages;
  bool store = false;
};

// The "model" field, when given, must be a served name (404 otherwise).
void check_model(const Json& body, const ServingModel& model);

// POST /v1/completions and /v1/chat/completions bodies. Throw ApiError (or vllm::Error) for
// malformed fields, out-of-range values, an unknown model and prompts longer than the context.
PreparedRequest prepare_completion(const Json& body, const ServingModel& model);
PreparedRequest prepare_chat(const Json& body, const ServingModel& model);

// The pooling routes (vLLM's serving_embedding/pooling/classification/score.py): POST
// /v1/embeddings, /pooling, /classify, /score (/v1/score), /rerank (/v1/rerank, /v2/rerank).
// Each throws ApiError 400 when the model does not serve the route's task. See docs/pooling_routes.md.
PreparedRequest prepare_embedding(const Json& body, const ServingModel& model);
PreparedRequest prepare_pooling(const Json& body, const ServingModel& model);
PreparedRequest prepare_classify(const Json& body, const ServingModel& model);
PreparedRequest prepare_score(const Json& body, const ServingModel& model);
PreparedRequest prepare_rerank(const Json& body, const ServingModel& model);
Json pooling_response(const PreparedRequest& request, const std::vector<RequestOutput>& outputs,
                      const ServingModel& model);
// Standard base64 of `values` as little-endian f32 bytes (numpy's tobytes on x86/ARM).
std::string base64_f32(const std::vector<float>& values);

// The endpoint a POST path serves (nullopt for other paths), and its request parser.
std::optional<Endpoint> endpoint_for_path(std::string_view path);
PreparedRequest prepare_request(Endpoint endpoint, const Json& body, const ServingModel& model);

// The non-streaming response from each engine request's final output (same order as
// engine_requests).
Json completion_response(const PreparedRequest& request, const std::vector<RequestOutput>& outputs,
                         const ServingModel& model);
Json chat_response(const PreparedRequest& request, const std::vector<RequestOutput>& outputs,
                   const ServingModel& model);
Json final_response(const PreparedRequest& request, const std::vector<RequestOutput>& outputs,
                    const ServingModel& model);

class ChatStreamParser;  // chat_tools.h

// Turns cumulative outputs into vLLM's streaming chunks (the JSON after "data: "). Feed each
// engine request's outputs in order; chunks for the new text/tokens/logprobs come back.
class StreamConverter {
 public:
  StreamConverter(const PreparedRequest& request, const ServingModel& model);
  std::vector<Json> on_output(size_t engine_request_index, const RequestOutput& output);
  // After every engine request finished: the usage chunk when include_usage (else nullopt).
  std::optional<Json> usage_chunk() const;

 private:
  struct ChoiceState {
    std::shared_ptr<ChatStreamParser> parser;  // chat with tool or reasoning parsing
    size_t text_bytes = 0;    // bytes of text already sent
    size_t tokens = 0;        // tokens already sent
    size_t text_chars = 0;    // code points sent (completion logprobs' text_offset)
    bool started = false;     // chat: role sent; completions: echo sent
    bool finished = false;
  };
  Json chunk_header() const;
  Json usage_json() const;

  const PreparedRequest& request_;
  const ServingModel& model_;
  std::vector<ChoiceState> choices_;          // [engine_requests * n]
  std::vector<int64_t> prompt_tokens_;        // per engine request
  std::vector<int64_t> completion_tokens_;    // per choice
};

// A streamed response as SSE text, whatever the API: completions and chat send `data:` chunks
// and `data: [DONE]` (StreamConverter), Responses and Messages typed `event:` + `data:` pairs.
class EventStream {
 public:
  virtual ~EventStream() = default;
  // The events for an engine request's newest cumulative output ("" when nothing is new).
  virtual std::string on_output(size_t engine_request_index, const RequestOutput& output) = 0;
  // The closing events, after every engine request finished.
  virtual std::string finish() = 0;
};
std::unique_ptr<EventStream> make_event_stream(const PreparedRequest& request, const ServingModel& model);

// JSON text; invalid UTF-8 (a token's partial bytes) becomes U+FFFD instead of an exception.
std::string dump_json(const Json& value);

// "data: {...}\n\n" and "data: [DONE]\n\n".
std::string sse_event(const Json& chunk);
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

// GET /v1/models.
Json models_response(const ServingModel& model);
// POST /tokenize ({"prompt"} or {"messages"}) and POST /detokenize ({"tokens"}).
Json tokenize_response(const Json& body, const ServingModel& model);
Json detokenize_response(const Json& body, const ServingModel& model);

// A fresh random id: prefix + 32 hex digits.
std::string random_id(std::string_view prefix);

}  // namespace vllm::server
