// Response side of the OpenAI protocol: RequestOutputs -> vLLM's completion and chat response
// bodies and streaming chunks, with logprobs in each API's format (vllm/entrypoints/openai/
// serving_completion.py and serving_chat.py).
#include "server/openai_protocol.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "server/anthropic_api.h"
#include "server/chat_tools.h"
#include "server/responses_api.h"
#include "text/tokenizer/tokenizer.h"

namespace vllm::server {

namespace {

// vLLM clamps reported logprobs at -9999.0 (so -inf stays valid JSON).
double clamp_logprob(float logprob) {
  return std::isnan(logprob) ? -9999.0 : std::max(static_cast<double>(logprob), -9999.0);
}

// Code points of UTF-8 text, as Python's len(): completions' text_offset counts them.
size_t code_points(std::string_view text) {
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

// vLLM's _get_decoded_token: "token_id:N" with return_tokens_as_token_ids, else the text the
// engine decoded, else the tokenizer's decode of the single token.
std::string token_text(int32_t token_id, const std::string& decoded, bool as_token_ids, const ServingModel& model) {
  if (as_token_ids) return str("token_id:", token_id);
  if (!decoded.empty()) return decoded;
  if (model.tokenizer) {
    int32_t ids[1] = {token_id};
    return model.tokenizer->decode(ids);
  }
  return "";
}

Json stop_reason_json(const CompletionOutput& output) {
  if (auto* text = std::get_if<std::string>(&output.stop_reason)) return *text;
  if (auto* token = std::get_if<int32_t>(&output.stop_reason)) return *token;
  return nullptr;
}

Json finish_reason_json(const CompletionOutput& output) {
  return output.finish_reason.empty() ? Json(nullptr) : Json(output.finish_reason);
}

Json usage(int64_t prompt_tokens, int64_t completion_tokens) {
  return {{"prompt_tokens", prompt_tokens},
          {"total_tokens", prompt_tokens + completion_tokens},
          {"completion_tokens", completion_tokens},
          {"prompt_tokens_details", nullptr}};
}

// One position's entries in dict order (the chosen token first), at most `limit` (-1: all).
template <typename Emit>
void for_top(const TokenLogprobs& position, int64_t limit, Emit emit) {
  for (size_t i = 0; i < position.size(); ++i) {
    if (limit >= 0 && static_cast<int64_t>(i) >= limit) break;
    emit(position[i]);
  }
}

const TokenLogprob* find_token(const TokenLogprobs& position, int32_t token_id) {
  for (const TokenLogprob& entry : position)
    if (entry.token_id == token_id) return &entry;
  return nullptr;
}

// Completions' CompletionLogProbs over `tokens` with their positions' logprobs (nullopt where
// there are none: the prompt's first token), starting at `text_offset` code points.
Json completion_logprobs(std::span<const int32_t> tokens, std::span<const std::optional<TokenLogprobs>> positions,
                         int num_top, size_t text_offset, bool as_token_ids, const ServingModel& model) {
  Json text_offsets = Json::array(), token_logprobs = Json::array(), token_strings = Json::array(),
       top_logprobs = Json::array();
  size_t offset = text_offset;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const TokenLogprob* chosen = i < positions.size() && positions[i] ? find_token(*positions[i], tokens[i]) : nullptr;
    std::string token = token_text(tokens[i], chosen ? chosen->decoded_token : "", as_token_ids, model);
    if (!chosen) {
      token_logprobs.push_back(nullptr);
      top_logprobs.push_back(nullptr);
    } else {
      token_logprobs.push_back(clamp_logprob(chosen->logprob));
      // vLLM keeps entries while num_output_top_logprobs >= i: the chosen token plus num_top.
      Json top = Json::object();
      for_top(*positions[i], num_top < 0 ? -1 : num_top + 1, [&](const TokenLogprob& entry) {
        top[token_text(entry.token_id, entry.decoded_token, as_token_ids, model)] = clamp_logprob(entry.logprob);
      });
      top_logprobs.push_back(std::move(top));
    }
    text_offsets.push_back(offset);
    offset += code_points(token);
    token_strings.push_back(std::move(token));
  }
  return {{"text_offset", text_offsets},
          {"token_logprobs", token_logprobs},
          {"tokens", token_strings},
          {"top_logprobs", top_logprobs}};
}

std::vector<std::optional<TokenLogprobs>> as_optional(const std::vector<TokenLogprobs>& positions,
                                                         size_t begin, size_t end) {
  std::vector<std::optional<TokenLogprobs>> result;
  for (size_t i = begin; i < end && i < positions.size(); ++i) result.emplace_back(positions[i]);
  return result;
}

std::vector<int> bytes_of(const std::string& text) {
  return std::vector<int>(reinterpret_cast<const unsigned char*>(text.data()),
                          reinterpret_cast<const unsigned char*>(text.data()) + text.size());
}

// Chat's {"content": [{token, logprob, bytes, top_logprobs}]} for output tokens [begin, end).
Json chat_logprobs(const CompletionOutput& output, size_t begin, size_t end, int num_top, bool as_token_ids,
                   const ServingModel& model) {
  Json content = Json::array();
  for (size_t i = begin; i < end && i < output.token_ids.size(); ++i) {
    int32_t token_id = output.token_ids[i];
    const TokenLogprob* chosen =
        output.logprobs && i < output.logprobs->size() ? find_token((*output.logprobs)[i], token_id) : nullptr;
    std::string token = token_text(token_id, chosen ? chosen->decoded_token : "", as_token_ids, model);
    Json top = Json::array();
    if (chosen) {
      for_top((*output.logprobs)[i], num_top, [&](const TokenLogprob& entry) {
        std::string text = token_text(entry.token_id, entry.decoded_token, as_token_ids, model);
        top.push_back({{"token", text}, {"logprob", clamp_logprob(entry.logprob)}, {"bytes", bytes_of(text)}});
      });
    }
    content.push_back({{"token", token},
                       {"logprob", chosen ? clamp_logprob(chosen->logprob) : -9999.0},
                       {"bytes", bytes_of(token)},
                       {"top_logprobs", std::move(top)}});
  }
  return {{"content", std::move(content)}};
}

// vLLM's prompt_logprobs: [null, {"<token id>": {logprob, rank, decoded_token}}, ...].
Json prompt_logprobs_json(const RequestOutput& output, bool as_token_ids, const ServingModel& model) {
  if (!output.prompt_logprobs) return nullptr;
  Json list = Json::array();
  for (const auto& position : *output.prompt_logprobs) {
    if (!position) {
      list.push_back(nullptr);
      continue;
    }
    Json entries = Json::object();
    for (const TokenLogprob& entry : *position)
      entries[std::to_string(entry.token_id)] = {
          {"logprob", clamp_logprob(entry.logprob)},
          {"rank", entry.rank},
          {"decoded_token", token_text(entry.token_id, entry.decoded_token, as_token_ids, model)}};
    list.push_back(std::move(entries));
  }
  return list;
}

// The prompt's text for echo: the request's text, else the tokenizer's decode of the ids.
std::string prompt_text(const RequestOutput& output, const ServingModel& model) {
  if (!output.prompt.empty() || !model.tokenizer) return output.prompt;
  return model.tokenizer->decode(output.prompt_token_ids);
}

// Echoed prompt + output logprobs for completions (the prompt's first position has none).
Json echo_completion_logprobs(const PreparedRequest& request, const RequestOutput& result,
                              const CompletionOutput& output, size_t end, const ServingModel& model) {
  std::vector<int32_t> tokens = result.prompt_token_ids;
  tokens.insert(tokens.end(), output.token_ids.begin(), output.token_ids.begin() + end);
  std::vector<std::optional<TokenLogprobs>> positions;
  if (result.prompt_logprobs) positions = *result.prompt_logprobs;
  positions.resize(result.prompt_token_ids.size());
  if (output.logprobs) {
    auto generated = as_optional(*output.logprobs, 0, end);
    positions.insert(positions.end(), generated.begin(), generated.end());
  }
  return completion_logprobs(tokens, positions, *request.logprobs, 0, request.return_tokens_as_token_ids, model);
}

}  // namespace

// --- Non-streaming responses --------------------------------------------------------------------

Json completion_response(const PreparedRequest& request, const std::vector<RequestOutput>& outputs,
                         const ServingModel& model) {
  Json choices = Json::array();
  int64_t prompt_tokens = 0, completion_tokens = 0;
  for (size_t k = 0; k < outputs.size(); ++k) {
    const RequestOutput& result = outputs[k];
    prompt_tokens += static_cast<int64_t>(result.prompt_token_ids.size());
    for (const CompletionOutput& output : result.outputs) {
      completion_tokens += static_cast<int64_t>(output.token_ids.size());
      std::string text = request.echo ? prompt_text(result, model) + output.text : output.text;
      Json logprobs = nullptr;
      if (request.logprobs) {
        logprobs = request.echo ? echo_completion_logprobs(request, result, output, output.token_ids.size(), model)
                                : completion_logprobs(output.token_ids,
                                                      as_optional(output.logprobs.value_or(std::vector<TokenLogprobs>{}),
                                                                  0, output.token_ids.size()),
                                                      *request.logprobs, 0, request.return_tokens_as_token_ids, model);
      }
      Json choice = {{"index", static_cast<int>(k) * request.n + output.index},
                     {"text", std::move(text)},
                     {"logprobs", std::move(logprobs)},
                     {"finish_reason", finish_reason_json(output)},
                     {"stop_reason", stop_reason_json(output)},
                     {"prompt_logprobs", prompt_logprobs_json(result, request.return_tokens_as_token_ids, model)}};
      if (request.return_token_ids) {
        choice["token_ids"] = output.token_ids;
        choice["prompt_token_ids"] = result.prompt_token_ids;
      }
      choices.push_back(std::move(choice));
    }
  }
  return {{"id", request.id},
          {"object", "text_completion"},
          {"created", request.created},
          {"model", request.model},
          {"choices", std::move(choices)},
          {"service_tier", nullptr},
          {"system_fingerprint", nullptr},
          {"usage", usage(prompt_tokens, completion_tokens)},
          {"kv_transfer_params", nullptr}};
}

Json chat_response(const PreparedRequest& request, const std::vector<RequestOutput>& outputs,
                   const ServingModel& model) {
  VLLM_ASSERT(outputs.size() == 1, "a chat request has one engine request");
  const RequestOutput& result = outputs.front();
  Json choices = Json::array();
  int64_t completion_tokens = 0;
  for (const CompletionOutput& output : result.outputs) {
    completion_tokens += static_cast<int64_t>(output.token_ids.size());
    Json content = request.echo_text + output.text;
    Json tool_calls = Json::array();
    Json reasoning_content = nullptr;
    Json finish_reason = finish_reason_json(output);
    if (detail::parses_chat_output(request.tools, model)) {
      detail::ParsedChatOutput parsed = detail::parse_chat_output(request.tools, model, output.text);
      if (parsed.reasoning_content) reasoning_content = *parsed.reasoning_content;
      content = parsed.content ? Json(request.echo_text + *parsed.content)
                               : request.echo_text.empty() ? Json(nullptr) : Json(request.echo_text);
      tool_calls = detail::tool_calls_json(parsed.tool_calls);
      // vLLM: "tool_calls" when the parser found calls (auto) or required ones were made.
      if (parsed.tools_called && request.tools.choice != "function" && output.finish_reason == "stop")
        finish_reason = "tool_calls";
    }
    Json message = {{"role", request.role},
                    {"content", std::move(content)},
                    {"refusal", nullptr},
                    {"annotations", nullptr},
                    {"audio", nullptr},
                    {"function_call", nullptr},
                    {"tool_calls", std::move(tool_calls)},
                    {"reasoning_content", std::move(reasoning_content)}};
    Json choice = {{"index", output.index},
                   {"message", std::move(message)},
                   {"logprobs", request.logprobs ? chat_logprobs(output, 0, output.token_ids.size(), *request.logprobs,
                                                                 request.return_tokens_as_token_ids, model)
                                                 : Json(nullptr)},
                   {"finish_reason", std::move(finish_reason)},
                   {"stop_reason", stop_reason_json(output)}};
    if (request.return_token_ids) choice["token_ids"] = output.token_ids;
    choices.push_back(std::move(choice));
  }
  return {{"id", request.id},
          {"object", "chat.completion"},
          {"created", request.created},
          {"model", request.model},
          {"choices", std::move(choices)},
          {"service_tier", nullptr},
          {"system_fingerprint", nullptr},
          {"usage", usage(static_cast<int64_t>(result.prompt_token_ids.size()), completion_tokens)},
          {"prompt_logprobs", prompt_logprobs_json(result, request.return_tokens_as_token_ids, model)},
          {"prompt_token_ids", request.return_token_ids ? Json(result.prompt_token_ids) : Json(nullptr)},
          {"kv_transfer_params", nullptr}};
}

Json final_response(const PreparedRequest& request, const std::vector<RequestOutput>& outputs,
                    const ServingModel& model) {
  switch (request.endpoint) {
    case Endpoint::Completion: return completion_response(request, outputs, model);
    case Endpoint::Chat: return chat_response(request, outputs, model);
    case Endpoint::Responses: return responses_response(request, outputs, model);
    case Endpoint::Messages: return messages_response(request, outputs, model);
    default: return pooling_response(request, outputs, model);
  }
}

// --- Streaming ----------------------------------------------------------------------------------

StreamConverter::StreamConverter(const PreparedRequest& request, const ServingModel& model)
    : request_(request),
      model_(model),
      choices_(request.engine_requests.size() * request.n),
      prompt_tokens_(request.engine_requests.size(), 0),
      completion_tokens_(request.engine_requests.size() * request.n, 0) {
  for (size_t k = 0; k < request.engine_requests.size(); ++k)
    prompt_tokens_[k] = static_cast<int64_t>(request.engine_requests[k].prompt_token_ids.size());
}

Json StreamConverter::chunk_header() const {
  return {{"id", request_.id},
          {"object", request_.endpoint == Endpoint::Chat ? "chat.completion.chunk" : "text_completion"},
          {"created", request_.created},
          {"model", request_.model}};
}

Json StreamConverter::usage_json() const {
  int64_t prompt = 0, completion = 0;
  for (int64_t tokens : prompt_tokens_) prompt += tokens;
  for (int64_t tokens : completion_tokens_) completion += tokens;
  return usage(prompt, completion);
}

std::vector<Json> StreamConverter::on_output(size_t k, const RequestOutput& result) {
  std::vector<Json> chunks;
  if (k >= prompt_tokens_.size()) return chunks;
  prompt_tokens_[k] = static_cast<int64_t>(result.prompt_token_ids.size());
  bool chat = request_.endpoint == Endpoint::Chat;
  auto emit = [&](Json choice, int64_t choice_completion_tokens) {
    Json chunk = chunk_header();
    chunk["choices"] = Json::array({std::move(choice)});
    if (request_.include_usage && request_.continuous_usage_stats)
      chunk["usage"] = usage(prompt_tokens_[k], choice_completion_tokens);
    chunks.push_back(std::move(chunk));
  };

  for (const CompletionOutput& output : result.outputs) {
    size_t index = k * request_.n + output.index;
    if (index >= choices_.size()) continue;
    ChoiceState& state = choices_[index];
    if (state.finished) continue;
    completion_tokens_[index] = static_cast<int64_t>(output.token_ids.size());

    if (chat && !state.started) {  // vLLM's first chunk per choice carries the role
      Json choice = {{"index", output.index},
                     {"delta", {{"role", request_.role}, {"content", ""}}},
                     {"logprobs", nullptr},
                     {"finish_reason", nullptr}};
      if (request_.return_token_ids) choice["prompt_token_ids"] = result.prompt_token_ids;
      emit(std::move(choice), 0);
      if (!request_.echo_text.empty())
        emit({{"index", output.index}, {"delta", {{"content", request_.echo_text}}}, {"logprobs", nullptr},
              {"finish_reason", nullptr}},
             0);
    }

    size_t text_begin = std::min(state.text_bytes, output.text.size());
    std::string delta_text = output.text.substr(text_begin);
    size_t token_begin = std::min(state.tokens, output.token_ids.size());
    size_t token_end = output.token_ids.size();
    bool finishing = !output.finish_reason.empty();
    bool echo_now = !chat && request_.echo && !state.started;
    if (delta_text.empty() && token_begin == token_end && !finishing && !echo_now) continue;

    Json choice;
    if (chat) {
      Json delta = {{"content", delta_text}};
      Json finish_reason = finish_reason_json(output);
      if (detail::parses_chat_output(request_.tools, model_)) {
        if (!state.parser) state.parser = std::make_shared<ChatStreamParser>(request_.tools, model_);
        parsers::DeltaMessage message = state.parser->on_text(output.text, finishing);
        // Nothing to send yet (a marker being held back): the tokens go with a later chunk.
        if (message.empty() && !finishing) continue;
        delta = Json::object();
        if (message.reasoning_content) delta["reasoning_content"] = *message.reasoning_content;
        if (message.content) delta["content"] = *message.content;
        if (!message.tool_calls.empty()) delta["tool_calls"] = detail::delta_tool_calls_json(message.tool_calls);
        if (delta.empty()) delta["content"] = "";
        if (finishing && state.parser->tools_called() && request_.tools.choice != "function" &&
            output.finish_reason == "stop")
          finish_reason = "tool_calls";
      }
      Json logprobs = request_.logprobs ? chat_logprobs(output, token_begin, token_end, *request_.logprobs,
                                                        request_.return_tokens_as_token_ids, model_)
                                        : Json(nullptr);
      choice = {{"index", output.index},
                {"delta", std::move(delta)},
                {"logprobs", std::move(logprobs)},
                {"finish_reason", std::move(finish_reason)}};
    } else {
      std::string text = delta_text;
      Json logprobs = nullptr;
      if (echo_now) {
        text = prompt_text(result, model_) + delta_text;
        if (request_.logprobs) logprobs = echo_completion_logprobs(request_, result, output, token_end, model_);
      } else if (request_.logprobs) {
        std::vector<int32_t> tokens(output.token_ids.begin() + token_begin, output.token_ids.begin() + token_end);
        logprobs = completion_logprobs(
            tokens, as_optional(output.logprobs.value_or(std::vector<TokenLogprobs>{}), token_begin, token_end),
            *request_.logprobs, state.text_chars, request_.return_tokens_as_token_ids, model_);
      }
      state.text_chars += code_points(text);
      choice = {{"index", index},
                {"text", std::move(text)},
                {"logprobs", std::move(logprobs)},
                {"finish_reason", finish_reason_json(output)}};
    }
    if (finishing) choice["stop_reason"] = stop_reason_json(output);
    if (request_.return_token_ids) {
      choice["token_ids"] = std::vector<int32_t>(output.token_ids.begin() + token_begin,
                                                 output.token_ids.begin() + token_end);
      if (!chat && !state.started) choice["prompt_token_ids"] = result.prompt_token_ids;
    }
    state.started = true;
    state.text_bytes = output.text.size();
    state.tokens = token_end;
    state.finished = finishing;
    emit(std::move(choice), completion_tokens_[index]);
  }
  return chunks;
}

std::optional<Json> StreamConverter::usage_chunk() const {
  if (!request_.include_usage) return std::nullopt;
  Json chunk = chunk_header();
  chunk["choices"] = Json::array();
  chunk["usage"] = usage_json();
  return chunk;
}

namespace {

// Completions and chat: StreamConverter's chunks as `data:` events, then usage and [DONE].
class ChunkEventStream : public EventStream {
 public:
  ChunkEventStream(const PreparedRequest& request, const ServingModel& model) : converter_(request, model) {}
  std::string on_output(size_t engine_request_index, const RequestOutput& output) override {
    std::string events;
    for (const Json& chunk : converter_.on_output(engine_request_index, output)) events += sse_event(chunk);
    return events;
  }
  std::string finish() override {
    std::string events;
    if (auto usage = converter_.usage_chunk()) events += sse_event(*usage);
    events += kSseDone;
    return events;
  }

 private:
  StreamConverter converter_;
};

}  // namespace

std::unique_ptr<EventStream> make_event_stream(const PreparedRequest& request, const ServingModel& model) {
  switch (request.endpoint) {
    case Endpoint::Responses: return make_responses_stream(request, model);
    case Endpoint::Messages: return make_messages_stream(request, model);
    default: return std::make_unique<ChunkEventStream>(request, model);
  }
}

std::string dump_json(const Json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string sse_event(const Json& chunk) {
  std::string event = "data: ";
  event += dump_json(chunk);
  event += "\n\n";
  return event;
}

}  // namespace vllm::server
