// Internal to src/server: the request-body readers and prompt helpers that the completion, chat
// and pooling routes share (openai_requests.cpp defines them). Type errors name the field and
// answer 400, as vLLM's request models do.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/openai_protocol.h"

namespace vllm::server::detail {

[[noreturn]] void bad_request(const std::string& message, const std::string& param = "");
const Json* field(const Json& body, const char* key);  // nullptr when absent or null
bool read_bool(const Json& body, const char* key, bool fallback);
std::optional<int64_t> read_int(const Json& body, const char* key);
std::optional<std::string> read_string(const Json& body, const char* key);
void require_object(const Json& body);
std::shared_ptr<const Tokenizer> need_tokenizer(const ServingModel& model, const char* what);
int64_t now_seconds();
// Token ids in the vocabulary (vLLM's "Token id N is out of vocabulary"); `param` names the field.
std::vector<int32_t> read_token_ids(const Json& ids, int64_t vocab_size, const char* param = "prompt");
// vLLM's truncate_prompt_tokens: keep the last `keep` tokens (-1: max_model_len).
void truncate_tokens(std::vector<int32_t>& tokens, int64_t keep, const ServingModel& model);
std::string request_id(const Json& body, std::string_view prefix);  // prefix + request_id, else random
int priority_of(const Json& body);
// A chat body's rendered prompt and its token ids (add_special_tokens defaults to false), with
// its media loaded and processed and their placeholders expanded in the tokens.
struct ChatPrompt {
  std::string text;
  std::vector<int32_t> tokens;
  mm::MultiModalItems mm_items;  // null without media
};
ChatPrompt render_chat_prompt(const Json& body, const ServingModel& model);

}  // namespace vllm::server::detail
