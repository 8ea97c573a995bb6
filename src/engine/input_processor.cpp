#include "engine/input_processor.h"

#include "core/error.h"
#include "text/tokenizer/tokenizer.h"

namespace vllm {

InputProcessor::InputProcessor(const EngineModelConfig& model, std::shared_ptr<const Tokenizer> tokenizer,
                               nlohmann::json generation_config, std::optional<int32_t> eos_token_id)
    : max_model_len_(model.max_model_len),
      vocab_size_(model.vocab_size),
      max_logprobs_(model.max_logprobs),
      use_generation_config_(model.generation_config != "vllm"),
      tokenizer_(std::move(tokenizer)),
      generation_config_(std::move(generation_config)),
      eos_token_id_(eos_token_id) {}

void InputProcessor::apply_generation_defaults(SamplingParams& params) const {
  if (use_generation_config_) params.apply_generation_config(generation_config_, eos_token_id_);
}

void InputProcessor::process(EngineRequest& request) const {
  SamplingParams& params = request.params;
  if (request.apply_generation_config) apply_generation_defaults(params);
  params.validate(static_cast<int>(vocab_size_), max_logprobs_);
  if (!params.bad_words.empty()) {
    VLLM_CHECK(tokenizer_ != nullptr, InvalidArgument, "bad_words need a tokenizer (not with --skip-tokenizer-init)");
    params.set_bad_words_token_ids([&](const std::string& word) { return tokenizer_->encode(word, false); },
                                   static_cast<int32_t>(vocab_size_ - 1));
  }
  std::vector<int32_t>& prompt = request.prompt_token_ids;
  if (params.truncate_prompt_tokens) {
    size_t keep = *params.truncate_prompt_tokens < 0 ? static_cast<size_t>(max_model_len_)
                                                     : static_cast<size_t>(*params.truncate_prompt_tokens);
    if (prompt.size() > keep) prompt.erase(prompt.begin(), prompt.end() - static_cast<std::ptrdiff_t>(keep));
  }
  VLLM_CHECK(!prompt.empty(), InvalidArgument, "The prompt cannot be empty");
  for (int32_t id : prompt)
    VLLM_CHECK(id >= 0 && id < vocab_size_, InvalidArgument, "Token id ", id, " is out of vocabulary (vocab size ",
               vocab_size_, ")");
  // vLLM's _validate_model_input and the scheduler's context rule: a prompt leaves room for one
  // output token, and max_tokens (when set) fits after it.
  const int64_t prompt_len = static_cast<int64_t>(prompt.size());
  VLLM_CHECK(prompt_len < max_model_len_, InvalidArgument, "This model's maximum context length is ", max_model_len_,
             " tokens. However, your request has ", prompt_len,
             " input tokens. Please reduce the length of the input messages.");
  if (params.max_tokens)
    VLLM_CHECK(prompt_len + *params.max_tokens <= max_model_len_, InvalidArgument,
               "This model's maximum context length is ", max_model_len_, " tokens. However, you requested ",
               prompt_len + *params.max_tokens, " tokens (", prompt_len, " in the messages, ", *params.max_tokens,
               " in the completion). Please reduce the length of the messages or completion.");
}

}  // namespace vllm
