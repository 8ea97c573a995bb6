// The pooling routes of the OpenAI-compatible protocol: request bodies -> pooling EngineRequests
// and finished PoolingOutputs -> vLLM's response bodies (vllm/entrypoints/openai/protocol.py,
// serving_embedding.py, serving_pooling.py, serving_classification.py, serving_score.py).
// See docs/pooling_routes.md.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <numeric>

#include "core/error.h"
#include "server/anthropic_api.h"
#include "server/openai_protocol.h"
#include "server/request_fields.h"
#include "server/responses_api.h"
#include "text/tokenizer/tokenizer.h"

namespace vllm::server {

using namespace detail;

namespace {

bool serves_task(const ServingModel& model, PoolingTask task) {
  const auto& tasks = model.info.pooling_tasks;
  return std::find(tasks.begin(), tasks.end(), task) != tasks.end();
}

// vLLM answers a route the model's runner does not serve with 400 "The model does not support
// <name> API" before reading the body.
void require_route(bool served, const char* api_name) {
  if (!served) bad_request(str("The model does not support ", api_name, " API"));
}

std::optional<bool> read_optional_bool(const Json& body, const char* key) {
  if (!field(body, key)) return std::nullopt;
  return read_bool(body, key, false);
}

// One prompt of a pooling request.
struct Prompt {
  std::string text;               // "" for token ids
  std::vector<int32_t> tokens;
  std::vector<int32_t> type_ids;  // sentence pairs only
};

// `input`: a string, a list of strings, a list of token ids or a list of lists of token ids (one
// kind per request, as vLLM's request models take it).
std::vector<Prompt> read_input(const Json& body, const ServingModel& model) {
  const Json* input = field(body, "input");
  if (!input) bad_request("'input' is required (or 'messages' for a chat-style input)", "input");
  auto type_error = [&] {
    bad_request(str("'input' must be a string, a list of strings, a list of token ids or a list of lists of token ids, "
                    "got ",
                    input->dump().substr(0, 200)),
                "input");
  };
  bool add_special_tokens = read_bool(body, "add_special_tokens", true);
  auto text_prompt = [&](const Json& text) {
    Prompt prompt;
    prompt.text = text.get<std::string>();
    prompt.tokens = need_tokenizer(model, "a text input")->encode(prompt.text, add_special_tokens);
    return prompt;
  };
  std::vector<Prompt> prompts;
  if (input->is_string()) {
    prompts.push_back(text_prompt(*input));
    return prompts;
  }
  if (!input->is_array()) type_error();
  if (input->empty()) bad_request("'input' must not be empty", "input");
  const Json& first = input->front();
  auto same_kind = [&](const Json& item) {
    return first.is_number() ? item.is_number() : first.is_string() ? item.is_string() : item.is_array();
  };
  if (!first.is_number() && !first.is_string() && !first.is_array()) type_error();
  for (const Json& item : *input)
    if (!same_kind(item))
      bad_request(str("'input' mixes kinds of prompts (", first.type_name(), " and ", item.type_name(),
                      "): give a list of strings, a list of token ids or a list of lists of token ids"),
                  "input");
  if (first.is_number()) {
    prompts.push_back({"", read_token_ids(*input, model.info.vocab_size, "input"), {}});
  } else {
    for (const Json& item : *input) {
      if (item.is_string()) prompts.push_back(text_prompt(item));
      else prompts.push_back({"", read_token_ids(item, model.info.vocab_size, "input"), {}});
    }
  }
  return prompts;
}

// vLLM's chat-style pooling input (EmbeddingChatRequest): the chat template rendered as the chat
// route renders it, with add_generation_prompt and add_special_tokens false unless asked.
Prompt read_messages(const Json& body, const ServingModel& model) {
  Json chat = body;
  if (!field(chat, "add_generation_prompt")) chat["add_generation_prompt"] = false;
  auto [text, tokens, mm_items] = render_chat_prompt(chat, model);
  if (mm_items) bad_request("multimodal inputs are not supported by the pooling endpoints yet");
  return {std::move(text), std::move(tokens), {}};
}

std::vector<Prompt> read_prompts(const Json& body, const ServingModel& model) {
  if (field(body, "messages")) {
    if (field(body, "input")) bad_request("Give either 'input' or 'messages', not both", "messages");
    return {read_messages(body, model)};
  }
  return read_input(body, model);
}

// truncate_prompt_tokens, then vLLM's _validate_input for pooling requests: the whole prompt must
// fit max_model_len (`operation` names the request kind in the message).
void finish_prompt(Prompt& prompt, const Json& body, const ServingModel& model, const char* operation) {
  if (auto keep = read_int(body, "truncate_prompt_tokens")) {
    if (*keep < -1)
      bad_request(str("'truncate_prompt_tokens' must be -1 (the model's maximum length) or a non-negative integer, got ",
                      *keep),
                  "truncate_prompt_tokens");
    size_t before = prompt.tokens.size();
    truncate_tokens(prompt.tokens, *keep, model);
    if (!prompt.type_ids.empty())
      prompt.type_ids.erase(prompt.type_ids.begin(),
                            prompt.type_ids.begin() + static_cast<std::ptrdiff_t>(before - prompt.tokens.size()));
  }
  if (prompt.tokens.empty()) bad_request("The decoder prompt cannot be empty", "input");
  int64_t length = static_cast<int64_t>(prompt.tokens.size());
  int64_t max_len = model.info.max_model_len;
  if (max_len > 0 && length > max_len)
    bad_request(str("This model's maximum context length is ", max_len, " tokens. However, you requested ", length,
                    " tokens in the input for ", operation, ". Please reduce the length of the input."));
}

// `dimensions` (Matryoshka truncation) as vLLM's PoolingParams.verify checks it.
int64_t read_dimensions(const Json& body, const ServingModel& model) {
  auto dimensions = read_int(body, "dimensions");
  if (!dimensions) return 0;
  const ModelInfo& info = model.info;
  if (!info.is_matryoshka && info.matryoshka_dimensions.empty())
    bad_request(str("Model \"", model.name(),
                    "\" does not support matryoshka representation, changing output dimensions will lead to poor "
                    "results."),
                "dimensions");
  if (*dimensions < 1) bad_request("Dimensions must be greater than 0", "dimensions");
  const auto& allowed = info.matryoshka_dimensions;
  if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), *dimensions) == allowed.end()) {
    std::string list = "[";
    for (size_t i = 0; i < allowed.size(); ++i) list += str(i ? ", " : "", allowed[i]);
    list += "]";
    bad_request(str("Model \"", model.name(), "\" only supports ", list,
                    " matryoshka dimensions, use other output dimensions will lead to poor results."),
                "dimensions");
  }
  return *dimensions;
}

bool read_encoding_format(const Json& body) {
  auto format = read_string(body, "encoding_format");
  if (!format || *format == "float") return false;
  if (*format == "base64") return true;
  bad_request(str("'encoding_format' must be \"float\" or \"base64\", got \"", *format, "\""), "encoding_format");
}

// `activation` (vLLM's PoolingParams; newer releases spell it `use_activation`).
std::optional<bool> read_activation(const Json& body) {
  if (auto value = read_optional_bool(body, "use_activation")) return value;
  return read_optional_bool(body, "activation");
}

PreparedRequest start_request(Endpoint endpoint, const Json& body, const ServingModel& model, std::string_view prefix) {
  check_model(body, model);
  read_string(body, "user");  // accepted and unused, as vLLM does; type-checked
  PreparedRequest request;
  request.endpoint = endpoint;
  request.id = request_id(body, prefix);
  request.created = now_seconds();
  auto name = read_string(body, "model");
  request.model = name && !name->empty() ? *name : model.name();
  return request;
}

void add_engine_request(PreparedRequest& request, Prompt prompt, const PoolingRequestSpec& spec, const Json& body) {
  EngineRequest engine_request;
  engine_request.request_id = str(request.id, "-", request.engine_requests.size());
  engine_request.prompt = std::move(prompt.text);
  engine_request.prompt_token_ids = std::move(prompt.tokens);
  engine_request.token_type_ids = std::move(prompt.type_ids);
  engine_request.pooling = spec;
  engine_request.priority = priority_of(body);
  request.engine_requests.push_back(std::move(engine_request));
}

void add_prompts(PreparedRequest& request, std::vector<Prompt> prompts, const PoolingRequestSpec& spec,
                 const Json& body, const ServingModel& model, const char* operation) {
  for (Prompt& prompt : prompts) finish_prompt(prompt, body, model, operation);  // all checked before any is queued
  for (Prompt& prompt : prompts) add_engine_request(request, std::move(prompt), spec, body);
}

std::optional<PoolingTask> task_named(const std::string& name) {
  if (name == "encode" || name == "token_embed") return PoolingTask::Encode;
  if (name == "embed") return PoolingTask::Embed;
  if (name == "classify") return PoolingTask::Classify;
  if (name == "score") return PoolingTask::Score;
  return std::nullopt;
}

// text_1 / text_2: a string or a list of strings.
std::vector<std::string> read_texts(const Json& body, const char* key) {
  const Json* value = field(body, key);
  if (!value) bad_request(str("'", key, "' is required"), key);
  std::vector<std::string> texts;
  if (value->is_string()) return {value->get<std::string>()};
  if (!value->is_array()) bad_request(str("'", key, "' must be a string or a list of strings, got ", value->type_name()), key);
  for (const Json& item : *value) {
    if (!item.is_string()) bad_request(str("'", key, "' must be a string or a list of strings, got an item ", item.dump().substr(0, 80)), key);
    texts.push_back(item.get<std::string>());
  }
  return texts;
}

// The scores of (first[i or 0], second[i]) pairs: a cross-encoder (the model serves Score) runs
// each pair as one prompt (the tokenizer's pair encoding, with token type ids); an embedding model
// embeds every text and the score is the cosine of the two embeddings.
void add_score_requests(PreparedRequest& request, const Json& body, const ServingModel& model,
                        const std::vector<std::string>& first, const std::vector<std::string>& second) {
  if (first.empty() || second.empty()) bad_request("At least one text element must be given for each side of the score");
  if (first.size() > 1 && first.size() != second.size())
    bad_request(str("Input lengths must be either 1:1, 1:N or N:N (got ", first.size(), ":", second.size(), ")"));
  auto tokenizer = need_tokenizer(model, "scoring texts");
  bool add_special_tokens = read_bool(body, "add_special_tokens", true);
  std::vector<Prompt> prompts;
  PoolingRequestSpec spec;
  if (serves_task(model, PoolingTask::Score)) {
    spec.task = PoolingTask::Score;
    spec.activation = read_activation(body);
    for (size_t k = 0; k < second.size(); ++k) {
      const std::string& a = first[first.size() == 1 ? 0 : k];
      PairEncoding pair = tokenizer->encode_pair(a, second[k], add_special_tokens);
      prompts.push_back({"", std::move(pair.ids), std::move(pair.type_ids)});
    }
  } else {
    spec.task = PoolingTask::Embed;
    request.pooling.by_embeddings = true;
    for (const auto* texts : {&first, &second})
      for (const std::string& text : *texts) prompts.push_back({text, tokenizer->encode(text, add_special_tokens), {}});
    for (size_t k = 0; k < second.size(); ++k) request.pooling.pairs.emplace_back(first.size() == 1 ? 0 : k, first.size() + k);
  }
  add_prompts(request, std::move(prompts), spec, body, model, "score");
}

// --- Responses ----------------------------------------------------------------------------------

const PoolingOutput& pooled(const RequestOutput& output) {
  if (!output.pooling)
    fail(ErrorKind::Internal, "pooling request ", output.request_id, " finished without a pooling output (aborted?)");
  return *output.pooling;
}

Json usage_json(const std::vector<RequestOutput>& outputs) {
  int64_t prompt_tokens = 0;
  for (const RequestOutput& output : outputs) prompt_tokens += static_cast<int64_t>(output.prompt_token_ids.size());
  return {{"prompt_tokens", prompt_tokens},
          {"total_tokens", prompt_tokens},
          {"completion_tokens", 0},
          {"prompt_tokens_details", nullptr}};
}

Json header(const PreparedRequest& request) {
  return {{"id", request.id}, {"object", "list"}, {"created", request.created}, {"model", request.model}};
}

// Row-major data of `shape` as nested lists (torch's tolist()).
Json nested(const PoolingOutput& output, size_t dim, size_t& offset) {
  Json list = Json::array();
  if (dim + 1 >= output.shape.size()) {
    int64_t count = output.shape.empty() ? static_cast<int64_t>(output.data.size()) : output.shape[dim];
    for (int64_t i = 0; i < count && offset < output.data.size(); ++i) list.push_back(output.data[offset++]);
    return list;
  }
  for (int64_t i = 0; i < output.shape[dim]; ++i) list.push_back(nested(output, dim + 1, offset));
  return list;
}

Json values_json(const PoolingOutput& output, bool base64) {
  if (base64) return base64_f32(output.data);
  size_t offset = 0;
  return nested(output, 0, offset);
}

// torch.nn.functional.cosine_similarity: a.b / max(|a| |b|, 1e-8).
double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  VLLM_CHECK(a.size() == b.size(), Internal, "cannot score embeddings of different widths (", a.size(), " and ",
             b.size(), ")");
  double dot = 0, norm_a = 0, norm_b = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    norm_a += static_cast<double>(a[i]) * a[i];
    norm_b += static_cast<double>(b[i]) * b[i];
  }
  return dot / std::max(std::sqrt(norm_a) * std::sqrt(norm_b), 1e-8);
}

std::vector<double> scores(const PreparedRequest& request, const std::vector<RequestOutput>& outputs) {
  std::vector<double> result;
  if (request.pooling.by_embeddings) {
    for (auto [a, b] : request.pooling.pairs) result.push_back(cosine(pooled(outputs[a]).data, pooled(outputs[b]).data));
    return result;
  }
  for (const RequestOutput& output : outputs) {
    const PoolingOutput& score = pooled(output);
    VLLM_CHECK(!score.data.empty(), Internal, "score request ", output.request_id, " returned no values");
    result.push_back(score.data[0]);
  }
  return result;
}

}  // namespace

// --- Requests -----------------------------------------------------------------------------------

PreparedRequest prepare_embedding(const Json& body, const ServingModel& model) {
  require_route(serves_task(model, PoolingTask::Embed), "Embeddings");
  require_object(body);
  PreparedRequest request = start_request(Endpoint::Embedding, body, model, "embd-");
  request.pooling.base64 = read_encoding_format(body);
  PoolingRequestSpec spec;
  spec.task = PoolingTask::Embed;
  spec.normalize = read_optional_bool(body, "normalize");
  spec.dimensions = read_dimensions(body, model);
  add_prompts(request, read_prompts(body, model), spec, body, model, "embedding generation");
  return request;
}

PreparedRequest prepare_pooling(const Json& body, const ServingModel& model) {
  require_route(!model.info.pooling_tasks.empty(), "Pooling");
  require_object(body);
  PreparedRequest request = start_request(Endpoint::Pooling, body, model, "pool-");
  request.pooling.base64 = read_encoding_format(body);
  PoolingRequestSpec spec;
  if (auto name = read_string(body, "task")) {
    auto task = task_named(*name);
    if (!task || !serves_task(model, *task)) {
      std::string known;
      for (PoolingTask served : model.info.pooling_tasks) known += str(known.empty() ? "" : ", ", pooling_task_name(served));
      bad_request(str("Task ", *name, " is not supported, it must be one of the supported tasks: ", known), "task");
    }
    spec.task = *task;
  } else {  // vLLM's /pooling runs "encode"; a model without it runs its first task
    spec.task = serves_task(model, PoolingTask::Encode) ? PoolingTask::Encode : model.info.pooling_tasks.front();
  }
  if (spec.task == PoolingTask::Embed || spec.task == PoolingTask::Encode) {
    spec.normalize = read_optional_bool(body, "normalize");
    spec.dimensions = read_dimensions(body, model);
  } else {
    spec.activation = read_activation(body);
  }
  add_prompts(request, read_prompts(body, model), spec, body, model, "embedding generation");
  return request;
}

PreparedRequest prepare_classify(const Json& body, const ServingModel& model) {
  require_route(serves_task(model, PoolingTask::Classify), "Classification");
  require_object(body);
  PreparedRequest request = start_request(Endpoint::Classify, body, model, "classify-");
  PoolingRequestSpec spec;
  spec.task = PoolingTask::Classify;
  spec.activation = read_activation(body);
  add_prompts(request, read_prompts(body, model), spec, body, model, "classification");
  return request;
}

PreparedRequest prepare_score(const Json& body, const ServingModel& model) {
  require_route(serves_task(model, PoolingTask::Score) || serves_task(model, PoolingTask::Embed), "Score");
  require_object(body);
  PreparedRequest request = start_request(Endpoint::Score, body, model, "score-");
  add_score_requests(request, body, model, read_texts(body, "text_1"), read_texts(body, "text_2"));
  return request;
}

PreparedRequest prepare_rerank(const Json& body, const ServingModel& model) {
  require_route(serves_task(model, PoolingTask::Score) || serves_task(model, PoolingTask::Embed), "Rerank (Score)");
  require_object(body);
  PreparedRequest request = start_request(Endpoint::Rerank, body, model, "rerank-");
  auto query = read_string(body, "query");
  if (!query) bad_request("'query' is required (a string)", "query");
  const Json* documents = field(body, "documents");
  if (!documents || !documents->is_array())
    bad_request("'documents' is required: a list of strings (or of {\"text\": ...} objects)", "documents");
  for (const Json& document : *documents) {  // Cohere also sends {"text": ...} objects
    if (document.is_string()) request.pooling.documents.push_back(document.get<std::string>());
    else if (document.is_object() && document.contains("text") && document["text"].is_string())
      request.pooling.documents.push_back(document["text"].get<std::string>());
    else bad_request(str("each document must be a string or {\"text\": string}, got ", document.dump().substr(0, 80)), "documents");
  }
  request.pooling.top_n = read_int(body, "top_n").value_or(0);
  if (request.pooling.top_n < 0) bad_request(str("'top_n' must be non-negative, got ", request.pooling.top_n), "top_n");
  request.pooling.return_documents = read_bool(body, "return_documents", true);
  add_score_requests(request, body, model, {*query}, request.pooling.documents);
  return request;
}

std::optional<Endpoint> endpoint_for_path(std::string_view path) {
  static const std::pair<std::string_view, Endpoint> paths[] = {
      {"/v1/completions", Endpoint::Completion}, {"/v1/chat/completions", Endpoint::Chat},
      {"/v1/embeddings", Endpoint::Embedding},   {"/pooling", Endpoint::Pooling},
      {"/classify", Endpoint::Classify},         {"/score", Endpoint::Score},
      {"/v1/score", Endpoint::Score},            {"/rerank", Endpoint::Rerank},
      {"/v1/rerank", Endpoint::Rerank},          {"/v2/rerank", Endpoint::Rerank}};
  for (const auto& [known, endpoint] : paths)
    if (path == known) return endpoint;
  return std::nullopt;
}

PreparedRequest prepare_request(Endpoint endpoint, const Json& body, const ServingModel& model) {
  switch (endpoint) {
    case Endpoint::Completion: return prepare_completion(body, model);
    case Endpoint::Chat: return prepare_chat(body, model);
    case Endpoint::Embedding: return prepare_embedding(body, model);
    case Endpoint::Pooling: return prepare_pooling(body, model);
    case Endpoint::Classify: return prepare_classify(body, model);
    case Endpoint::Score: return prepare_score(body, model);
    case Endpoint::Rerank: return prepare_rerank(body, model);
    case Endpoint::Responses: return prepare_responses(body, model);
    case Endpoint::Messages: return prepare_messages(body, model);
  }
  fail(ErrorKind::Internal, "unknown endpoint");
}

// --- Responses ----------------------------------------------------------------------------------

std::string base64_f32(const std::vector<float>& values) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::vector<uint8_t> bytes(values.size() * 4);
  for (size_t i = 0; i < values.size(); ++i) {
    uint32_t bits = std::bit_cast<uint32_t>(values[i]);
    for (int b = 0; b < 4; ++b) bytes[4 * i + b] = static_cast<uint8_t>(bits >> (8 * b));  // little-endian
  }
  std::string text;
  text.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t group = static_cast<uint32_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) group |= static_cast<uint32_t>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) group |= bytes[i + 2];
    text += alphabet[(group >> 18) & 63];
    text += alphabet[(group >> 12) & 63];
    text += i + 1 < bytes.size() ? alphabet[(group >> 6) & 63] : '=';
    text += i + 2 < bytes.size() ? alphabet[group & 63] : '=';
  }
  return text;
}

Json pooling_response(const PreparedRequest& request, const std::vector<RequestOutput>& outputs,
                      const ServingModel& model) {
  Json response = header(request);
  Json data = Json::array();
  switch (request.endpoint) {
    case Endpoint::Embedding:
      for (size_t i = 0; i < outputs.size(); ++i)
        data.push_back({{"index", i}, {"object", "embedding"}, {"embedding", values_json(pooled(outputs[i]), request.pooling.base64)}});
      break;
    case Endpoint::Pooling:
      for (size_t i = 0; i < outputs.size(); ++i)
        data.push_back({{"index", i}, {"object", "pooling"}, {"data", values_json(pooled(outputs[i]), request.pooling.base64)}});
      break;
    case Endpoint::Classify:
      for (size_t i = 0; i < outputs.size(); ++i) {
        const std::vector<float>& probs = pooled(outputs[i]).data;
        size_t best = static_cast<size_t>(std::max_element(probs.begin(), probs.end()) - probs.begin());
        std::string label = best < model.info.labels.size() ? model.info.labels[best] : str("LABEL_", best);  // HF's default id2label
        data.push_back({{"index", i}, {"label", probs.empty() ? Json(nullptr) : Json(label)}, {"probs", probs},
                        {"num_classes", probs.size()}});
      }
      break;
    case Endpoint::Score: {
      std::vector<double> values = scores(request, outputs);
      for (size_t i = 0; i < values.size(); ++i) data.push_back({{"index", i}, {"object", "score"}, {"score", values[i]}});
      break;
    }
    case Endpoint::Rerank: {
      std::vector<double> values = scores(request, outputs);
      std::vector<size_t> order(values.size());
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return values[a] > values[b]; });
      int64_t top_n = request.pooling.top_n;
      if (top_n > 0 && static_cast<size_t>(top_n) < order.size()) order.resize(static_cast<size_t>(top_n));
      Json results = Json::array();
      for (size_t index : order) {
        Json result = {{"index", index}};
        result["document"] = request.pooling.return_documents ? Json{{"text", request.pooling.documents[index]}} : Json(nullptr);
        result["relevance_score"] = values[index];
        results.push_back(std::move(result));
      }
      Json usage = usage_json(outputs);
      return {{"id", request.id},
              {"model", request.model},
              {"usage", {{"prompt_tokens", usage["prompt_tokens"]}, {"total_tokens", usage["total_tokens"]}}},
              {"results", std::move(results)}};
    }
    default: fail(ErrorKind::Internal, "pooling_response called for a generation request");
  }
  response["data"] = std::move(data);
  response["usage"] = usage_json(outputs);
  return response;
}

}  // namespace vllm::server
