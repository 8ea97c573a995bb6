// Request side of the OpenAI protocol: errors, request validation (vLLM's messages), prompt
// tokenization and chat rendering, /v1/models, /tokenize, /detokenize.
#include "server/openai_protocol.h"

#include <algorithm>
#include <chrono>
#include <random>

#include "core/error.h"
#include "server/chat_media.h"
#include "server/chat_tools.h"
#include "server/request_fields.h"
#include "text/tokenizer/tokenizer.h"

namespace vllm::server {

// --- Errors -------------------------------------------------------------------------------------

ApiError::ApiError(int status, std::string message, std::string param)
    : std::runtime_error(std::move(message)), status_(status), param_(std::move(param)) {}

Json ApiError::body() const { return error_body(what(), status_, param_); }

const char* error_type_for_status(int status) {
  switch (status) {
    case 400: return "BadRequestError";
    case 401: return "Unauthorized";
    case 404: return "NotFoundError";
    case 405: return "MethodNotAllowed";
    case 413: return "RequestEntityTooLarge";
    case 503: return "ServiceUnavailableError";
    default: return status >= 500 ? "InternalServerError" : "BadRequestError";
  }
}

Json error_body(std::string_view message, int status, std::string_view param) {
  Json error = Json::object();
  error["message"] = message;
  error["type"] = error_type_for_status(status);
  error["param"] = param.empty() ? Json(nullptr) : Json(param);
  error["code"] = status;
  return Json{{"error", std::move(error)}};
}

ApiError to_api_error(const std::exception& error) {
  if (auto* api = dynamic_cast<const ApiError*>(&error)) return *api;
  if (auto* typed = dynamic_cast<const Error*>(&error)) {
    switch (typed->kind()) {
      case ErrorKind::InvalidArgument:
      case ErrorKind::Unsupported: return ApiError(400, typed->what());
      case ErrorKind::NotFound: return ApiError(404, typed->what());
      case ErrorKind::OutOfMemory:
      case ErrorKind::Unavailable: return ApiError(503, typed->what());
      case ErrorKind::Internal: return ApiError(500, typed->what());
    }
  }
  if (dynamic_cast<const nlohmann::json::exception*>(&error)) return ApiError(400, error.what());
  return ApiError(500, error.what());
}

// --- Field readers: type errors name the field, as SamplingParams::from_json does. -------------

namespace detail {

[[noreturn]] void bad_request(const std::string& message, const std::string& param) {
  throw ApiError(400, message, param);
}

const Json* field(const Json& body, const char* key) {
  auto it = body.find(key);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

bool read_bool(const Json& body, const char* key, bool fallback) {
  const Json* value = field(body, key);
  if (!value) return fallback;
  if (!value->is_boolean()) bad_request(str("'", key, "' must be a boolean, got ", value->dump()), key);
  return value->get<bool>();
}

std::optional<int64_t> read_int(const Json& body, const char* key) {
  const Json* value = field(body, key);
  if (!value) return std::nullopt;
  if (!value->is_number_integer() && !value->is_number_unsigned())
    bad_request(str("'", key, "' must be an integer, got ", value->dump()), key);
  return value->get<int64_t>();
}

std::optional<std::string> read_string(const Json& body, const char* key) {
  const Json* value = field(body, key);
  if (!value) return std::nullopt;
  if (!value->is_string()) bad_request(str("'", key, "' must be a string, got ", value->dump()), key);
  return value->get<std::string>();
}

void require_object(const Json& body) {
  if (!body.is_object()) bad_request(str("the request body must be a JSON object, got ", body.type_name()));
}

std::shared_ptr<const Tokenizer> need_tokenizer(const ServingModel& model, const char* what) {
  if (!model.tokenizer)
    bad_request(str(what, " needs the tokenizer, and the server runs with --skip-tokenizer-init: send token ids"));
  return model.tokenizer;
}

int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Fields vLLM accepts that this server cannot honour yet: a clear 400 rather than silent output.
void reject_unsupported(const Json& body) {
  for (const char* key : {"prompt_embeds", "lora_request"})
    if (field(body, key)) bad_request(str("'", key, "' is not supported by vllm-cpp yet"), key);
  if (read_bool(body, "use_beam_search", false)) bad_request("beam search is not supported by vllm-cpp yet", "use_beam_search");
}

void read_stream_options(const Json& body, PreparedRequest& request) {
  request.stream = read_bool(body, "stream", false);
  const Json* options = field(body, "stream_options");
  if (!options) return;
  if (!request.stream) bad_request("Stream options can only be defined when `stream=True`.", "stream_options");
  if (!options->is_object()) bad_request(str("'stream_options' must be an object, got ", options->dump()), "stream_options");
  request.include_usage = read_bool(*options, "include_usage", false);
  request.continuous_usage_stats = read_bool(*options, "continuous_usage_stats", false);
}

// Token-id prompts: every id in the vocabulary (vLLM's "Token id N is out of vocabulary").
std::vector<int32_t> read_token_ids(const Json& ids, int64_t vocab_size, const char* param) {
  std::vector<int32_t> tokens;
  tokens.reserve(ids.size());
  for (const Json& id : ids) {
    if (!id.is_number_integer() && !id.is_number_unsigned())
      bad_request(str("'", param, "' token ids must be integers, got ", id.dump()), param);
    int64_t value = id.get<int64_t>();
    if (value < 0 || (vocab_size > 0 && value >= vocab_size))
      bad_request(str("Token id ", value, " is out of vocabulary"), param);
    tokens.push_back(static_cast<int32_t>(value));
  }
  return tokens;
}

// vLLM's _validate_input: the prompt and max_tokens must fit the context.
void check_context(const SamplingParams& params, size_t prompt_tokens, const ServingModel& model) {
  int64_t max_len = model.info.max_model_len;
  int64_t length = static_cast<int64_t>(prompt_tokens);
  if (length == 0) bad_request("The decoder prompt cannot be empty", "prompt");
  if (max_len <= 0) return;
  if (length >= max_len)
    bad_request(str("This model's maximum context length is ", max_len, " tokens. However, your request has ",
                    length, " input tokens. Please reduce the length of the input messages."));
  if (params.max_tokens && length + *params.max_tokens > max_len)
    bad_request(str("'max_tokens' or 'max_completion_tokens' is too large: ", *params.max_tokens,
                    ". This model's maximum context length is ", max_len, " tokens and your request has ", length,
                    " input tokens (", *params.max_tokens, " > ", max_len, " - ", length, ")."),
                "max_tokens");
}

// vLLM's get_max_tokens: the smallest of the request's max_tokens (completions default to 16), the
// rest of the context and generation_config's max_new_tokens. Set explicitly, so the engine's
// generation-config defaults leave it alone.
void resolve_max_tokens(SamplingParams& params, bool requested, size_t prompt_tokens, const ServingModel& model) {
  std::optional<int64_t> limit;
  auto take = [&](std::optional<int64_t> value) {
    if (value && (!limit || *value < *limit)) limit = value;
  };
  if (requested) take(params.max_tokens);
  if (model.info.max_model_len > 0) take(model.info.max_model_len - static_cast<int64_t>(prompt_tokens));
  take(model.default_max_tokens);
  params.max_tokens = limit ? std::optional<int>(static_cast<int>(std::max<int64_t>(*limit, 1))) : std::nullopt;
  params.mark_set("max_tokens");
}

void truncate_prompt(std::vector<int32_t>& tokens, const SamplingParams& params, const ServingModel& model) {
  if (params.truncate_prompt_tokens) truncate_tokens(tokens, *params.truncate_prompt_tokens, model);
}

void truncate_tokens(std::vector<int32_t>& tokens, int64_t keep, const ServingModel& model) {
  if (keep == -1) keep = model.info.max_model_len;
  if (model.info.max_model_len > 0 && keep > model.info.max_model_len)
    bad_request(str("truncate_prompt_tokens value (", keep, ") is greater than max_model_len (",
                    model.info.max_model_len, "). Please, select a smaller truncation size."),
                "truncate_prompt_tokens");
  if (keep >= 0 && static_cast<int64_t>(tokens.size()) > keep) tokens.erase(tokens.begin(), tokens.end() - keep);
}

// The shared part of both endpoints: sampling parameters, flags, id.
void read_common(const Json& body, const ServingModel& model, PreparedRequest& request) {
  require_object(body);
  check_model(body, model);
  reject_unsupported(body);
  read_stream_options(body, request);
  request.echo = read_bool(body, "echo", false);
  request.return_token_ids = read_bool(body, "return_token_ids", false);
  request.return_tokens_as_token_ids =
      read_bool(body, "return_tokens_as_token_ids", model.return_tokens_as_token_ids);
  auto name = read_string(body, "model");
  request.model = name && !name->empty() ? *name : model.name();
  request.created = now_seconds();
  if (auto prompt_logprobs = read_int(body, "prompt_logprobs");
      prompt_logprobs && request.stream && (*prompt_logprobs > 0 || *prompt_logprobs == -1))
    bad_request("`prompt_logprobs` are not available when `stream=True`.", "prompt_logprobs");
}

std::string request_id(const Json& body, std::string_view prefix) {
  if (auto given = read_string(body, "request_id")) return str(prefix, *given);
  return random_id(prefix);
}

int priority_of(const Json& body) { return static_cast<int>(read_int(body, "priority").value_or(0)); }

void finish_params(SamplingParams& params, const ServingModel& model) {
  params.validate(static_cast<int>(model.info.vocab_size), model.max_logprobs);
  // best_of > n would generate candidates and pick among them, which vLLM V1 refuses (its
  // processor's message); best_of == n is plain parallel sampling.
  if (params.best_of && *params.best_of > params.n) bad_request("vLLM V1 does not yet support best_of.", "best_of");
}

}  // namespace detail

using namespace detail;

// --- Served model -------------------------------------------------------------------------------

const std::string& ServingModel::name() const {
  return info.served_model_names.empty() ? info.model : info.served_model_names.front();
}

bool ServingModel::serves(const std::string& name) const {
  if (info.served_model_names.empty()) return name == info.model;
  return std::find(info.served_model_names.begin(), info.served_model_names.end(), name) !=
         info.served_model_names.end();
}

void check_model(const Json& body, const ServingModel& model) {
  auto name = read_string(body, "model");
  if (name && !name->empty() && !model.serves(*name))
    throw ApiError(404, str("The model `", *name, "` does not exist."), "model");
}

std::string random_id(std::string_view prefix) {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  static const char* digits = "0123456789abcdef";
  std::string id(prefix);
  for (int half = 0; half < 2; ++half) {
    uint64_t bits = generator();
    for (int i = 0; i < 16; ++i, bits >>= 4) id += digits[bits & 15];
  }
  return id;
}

// --- POST /v1/completions -----------------------------------------------------------------------

PreparedRequest prepare_completion(const Json& body, const ServingModel& model) {
  // A pooling model (--runner pooling) generates nothing: vLLM's 400 before reading the body.
  if (!model.info.pooling_tasks.empty()) bad_request("The model does not support Completions API");
  PreparedRequest request;
  request.endpoint = Endpoint::Completion;
  read_common(body, model, request);
  // vLLM's serving_completion refuses suffix (insertion) outright.
  if (field(body, "suffix")) bad_request("suffix is not currently supported", "suffix");
  request.id = request_id(body, "cmpl-");

  nlohmann::json sampling(body);
  if (auto logprobs = read_int(body, "logprobs"); logprobs && *logprobs < 0 && *logprobs != -1)
    bad_request("`logprobs` must be a positive value or -1.", "logprobs");
  SamplingParams params = SamplingParams::from_json(sampling);
  // echo with logprobs reports the prompt's logprobs too (vLLM sets prompt_logprobs = logprobs).
  if (request.echo && params.logprobs && (!params.prompt_logprobs || *params.prompt_logprobs < *params.logprobs))
    params.prompt_logprobs = *params.logprobs;
  start_constraint_after_reasoning(params, model);
  finish_params(params, model);
  request.n = params.n;
  request.logprobs = params.logprobs;

  // prompt: a text, a list of texts, a list of token ids, or a list of lists of token ids.
  const Json* prompt = field(body, "prompt");
  if (!prompt) bad_request("'prompt' is required", "prompt");
  struct Prompt {
    std::string text;
    std::vector<int32_t> tokens;
    bool is_text;
  };
  std::vector<Prompt> prompts;
  auto type_error = [&] {
    bad_request(str("'prompt' must be a string, a list of strings, a list of token ids or a list of lists of token "
                    "ids, got ",
                    prompt->dump().substr(0, 200)),
                "prompt");
  };
  if (prompt->is_string()) {
    prompts.push_back({prompt->get<std::string>(), {}, true});
  } else if (prompt->is_array()) {
    if (prompt->empty()) bad_request("'prompt' must not be empty", "prompt");
    const Json& first = prompt->front();
    if (first.is_number()) {
      prompts.push_back({"", read_token_ids(*prompt, model.info.vocab_size), false});
    } else {
      for (const Json& item : *prompt) {
        if (item.is_string()) prompts.push_back({item.get<std::string>(), {}, true});
        else if (item.is_array()) prompts.push_back({"", read_token_ids(item, model.info.vocab_size), false});
        else type_error();
      }
    }
  } else {
    type_error();
  }

  bool add_special_tokens = read_bool(body, "add_special_tokens", true);
  for (size_t i = 0; i < prompts.size(); ++i) {
    Prompt& p = prompts[i];
    if (p.is_text) p.tokens = need_tokenizer(model, "a text prompt")->encode(p.text, add_special_tokens);
    truncate_prompt(p.tokens, params, model);
    check_context(params, p.tokens.size(), model);
    EngineRequest engine_request;
    engine_request.request_id = str(request.id, "-", i);
    engine_request.prompt = p.is_text ? p.text : "";
    engine_request.params = params;
    // CompletionRequest's max_tokens defaults to 16 (an explicit null means "the rest").
    resolve_max_tokens(engine_request.params, true, p.tokens.size(), model);
    engine_request.prompt_token_ids = std::move(p.tokens);
    engine_request.priority = priority_of(body);
    request.engine_requests.push_back(std::move(engine_request));
  }
  return request;
}

// --- POST /v1/chat/completions ------------------------------------------------------------------

namespace detail {

// The text of a message's content: a string, or the text parts of a list joined by "\n".
std::string content_text(const Json& content) {
  if (content.is_string()) return content.get<std::string>();
  std::string text;
  if (!content.is_array()) return text;
  bool first = true;
  for (const Json& part : content) {
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string())
      continue;
    if (!first) text += "\n";
    text += part["text"].get<std::string>();
    first = false;
  }
  return text;
}

const ChatTemplate& need_chat_template(const ServingModel& model) {
  if (!model.chat_template)
    bad_request(model.chat_template_error.empty()
                    ? "As of transformers v4.44, default chat template is no longer allowed, so you must provide a "
                      "chat template if the tokenizer does not define one."
                    : model.chat_template_error);
  return *model.chat_template;
}

void check_messages(const Json& body) {
  const Json* messages = field(body, "messages");
  if (!messages) bad_request("'messages' is required", "messages");
  if (!messages->is_array()) bad_request(str("'messages' must be a list, got ", messages->type_name()), "messages");
  for (const Json& message : *messages) {
    if (!message.is_object() || !message.contains("role") || !message["role"].is_string())
      bad_request(str("each message must be an object with a string \"role\", got ", message.dump().substr(0, 200)),
                  "messages");
  }
  if (read_bool(body, "add_generation_prompt", true) && read_bool(body, "continue_final_message", false))
    bad_request("Cannot set both `continue_final_message` and `add_generation_prompt` to True.");
  if (read_bool(body, "continue_final_message", false) && messages->empty())
    bad_request("continue_final_message needs a final message to continue", "messages");
}

// The chat prompt's token ids (vLLM: add_special_tokens defaults to false for chat), with its
// media loaded, processed and their placeholders expanded.
ChatPrompt render_chat_prompt(const Json& body, const ServingModel& model) {
  check_messages(body);
  // A template is code: a request's own runs only where the operator allowed it (vLLM's
  // _validate_chat_template, its message).
  const Json* kwargs = field(body, "chat_template_kwargs");
  bool request_template = field(body, "chat_template") ||
                          (kwargs && kwargs->is_object() && field(*kwargs, "chat_template"));
  if (request_template && !model.trust_request_chat_template)
    bad_request("Chat template is passed with request, but --trust-request-chat-template is not set. "
                "Refused request with untrusted chat template.");
  const ChatTemplate& chat_template = need_chat_template(model);
  auto tokenizer = need_tokenizer(model, "a chat request");
  std::vector<mm::MultiModalInput> media = load_chat_media(body["messages"], model);
  ChatJson placeholders = ChatJson::object();
  if (model.mm_processor) placeholders["image"] = model.mm_processor->placeholder("image");
  ChatPrompt prompt;
  prompt.text = render_chat_request(chat_template, body, placeholders);
  prompt.tokens = tokenizer->encode(prompt.text, read_bool(body, "add_special_tokens", false));
  if (!media.empty())
    prompt.mm_items = std::make_shared<const std::vector<mm::MultiModalItem>>(model.mm_processor->apply(prompt.tokens, media));
  return prompt;
}

}  // namespace detail

PreparedRequest prepare_chat(const Json& body, const ServingModel& model) {
  if (!model.info.pooling_tasks.empty()) bad_request("The model does not support Chat Completions API");
  PreparedRequest request;
  request.endpoint = Endpoint::Chat;
  read_common(body, model, request);
  request.id = request_id(body, "chatcmpl-");

  // Chat's logprobs is a boolean and top_logprobs the count (vLLM's to_sampling_params).
  bool logprobs = read_bool(body, "logprobs", false);
  auto top_logprobs = read_int(body, "top_logprobs");
  if (top_logprobs) {
    if (*top_logprobs < 0 && *top_logprobs != -1)
      bad_request("`top_logprobs` must be a positive value or -1.", "top_logprobs");
    if ((*top_logprobs == -1 || *top_logprobs > 0) && !logprobs)
      bad_request("when using `top_logprobs`, `logprobs` must be set to true.", "top_logprobs");
  }
  nlohmann::json sampling(body);
  sampling.erase("top_logprobs");
  if (logprobs) sampling["logprobs"] = top_logprobs.value_or(0);
  else sampling.erase("logprobs");
  SamplingParams params = SamplingParams::from_json(sampling);
  request.tools = read_tool_plan(body, model);
  // vLLM: tool_choice required or named holds the output to the tools' JSON Schema, in place of
  // any structured_outputs / response_format of the request.
  if (auto schema = tool_choice_schema(request.tools))
    params.structured_outputs = structured::StructuredOutputSpec::json_schema(std::move(*schema));
  start_constraint_after_reasoning(params, model);
  // vLLM's adjust_request: a parser whose markers are special tokens needs them in the text.
  if (parsing_needs_special_tokens(request.tools, model)) params.skip_special_tokens = false;
  // Chat's max tokens default is "the rest of the context" (vLLM's default_max_tokens).
  bool requested_max_tokens = body.contains("max_tokens") || body.contains("max_completion_tokens");
  if (!requested_max_tokens) params.max_tokens.reset();
  finish_params(params, model);
  request.n = params.n;
  request.logprobs = params.logprobs;

  auto [prompt, tokens, mm_items] = render_chat_prompt(body, model);
  if (mm_items && params.truncate_prompt_tokens)
    bad_request("truncate_prompt_tokens is not supported with multimodal inputs", "truncate_prompt_tokens");
  truncate_prompt(tokens, params, model);
  check_context(params, tokens.size(), model);
  resolve_max_tokens(params, requested_max_tokens, tokens.size(), model);

  const Json& messages = body["messages"];
  request.role = read_bool(body, "add_generation_prompt", true) || messages.empty()
                     ? model.response_role
                     : messages.back()["role"].get<std::string>();
  if (request.echo && !messages.empty() && messages.back()["role"] == request.role &&
      messages.back().contains("content"))
    request.echo_text = content_text(messages.back()["content"]);

  EngineRequest engine_request;
  engine_request.request_id = request.id;
  engine_request.prompt = std::move(prompt);
  engine_request.prompt_token_ids = std::move(tokens);
  engine_request.params = std::move(params);
  engine_request.priority = priority_of(body);
  engine_request.mm_items = std::move(mm_items);
  request.engine_requests.push_back(std::move(engine_request));
  return request;
}

// --- GET /v1/models, POST /tokenize, POST /detokenize -------------------------------------------

Json models_response(const ServingModel& model) {
  static const int64_t created = now_seconds();
  Json data = Json::array();
  std::vector<std::string> names = model.info.served_model_names;
  if (names.empty()) names.push_back(model.info.model);
  for (const std::string& name : names) {
    Json permission = {{"id", random_id("modelperm-")},
                       {"object", "model_permission"},
                       {"created", created},
                       {"allow_create_engine", false},
                       {"allow_sampling", true},
                       {"allow_logprobs", true},
                       {"allow_search_indices", false},
                       {"allow_view", true},
                       {"allow_fine_tuning", false},
                       {"organization", "*"},
                       {"group", nullptr},
                       {"is_blocking", false}};
    data.push_back({{"id", name},
                    {"object", "model"},
                    {"created", created},
                    {"owned_by", "vllm"},
                    {"root", model.info.model},
                    {"parent", nullptr},
                    {"max_model_len", model.info.max_model_len},
                    {"permission", Json::array({permission})}});
  }
  return {{"object", "list"}, {"data", data}};
}

Json tokenize_response(const Json& body, const ServingModel& model) {
  require_object(body);
  check_model(body, model);
  auto tokenizer = need_tokenizer(model, "/tokenize");
  std::vector<int32_t> tokens;
  if (field(body, "messages")) {
    tokens = render_chat_prompt(body, model).tokens;
  } else {
    auto prompt = read_string(body, "prompt");
    if (!prompt) bad_request("/tokenize needs \"prompt\" (a string) or \"messages\"", "prompt");
    tokens = tokenizer->encode(*prompt, read_bool(body, "add_special_tokens", true));
  }
  Json token_strs = nullptr;
  if (read_bool(body, "return_token_strs", false)) {
    token_strs = Json::array();
    for (int32_t id : tokens) token_strs.push_back(tokenizer->id_to_token(id));
  }
  return {{"count", tokens.size()},
          {"max_model_len", model.info.max_model_len},
          {"tokens", tokens},
          {"token_strs", token_strs}};
}

Json detokenize_response(const Json& body, const ServingModel& model) {
  require_object(body);
  check_model(body, model);
  auto tokenizer = need_tokenizer(model, "/detokenize");
  const Json* tokens = field(body, "tokens");
  if (!tokens || !tokens->is_array()) bad_request("/detokenize needs \"tokens\", a list of token ids", "tokens");
  std::vector<int32_t> ids = read_token_ids(*tokens, model.info.vocab_size);
  return {{"prompt", tokenizer->decode(ids)}};
}

}  // namespace vllm::server
