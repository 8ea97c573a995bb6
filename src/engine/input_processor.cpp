#include "engine/input_processor.h"

#include <algorithm>

#include "core/error.h"
#include "text/tokenizer/tokenizer.h"

namespace vllm {

InputProcessor::InputProcessor(const EngineModelConfig& model, std::shared_ptr<const Tokenizer> tokenizer,
                               nlohmann::json generation_config, std::optional<int32_t> eos_token_id,
                               StructuredOutputsConfig structured)
    : max_model_len_(model.max_model_len),
      vocab_size_(model.vocab_size),
      max_logprobs_(model.max_logprobs),
      use_generation_config_(model.generation_config != "vllm"),
      tokenizer_(std::move(tokenizer)),
      generation_config_(std::move(generation_config)),
      eos_token_id_(eos_token_id),
      structured_(std::move(structured)) {}

// The vocabulary's stop ids: the EOS id and generation_config.json's other eos_token_id entries.
structured::GrammarCompiler& InputProcessor::grammar_compiler() const {
  std::call_once(grammar_compiler_once_, [this] {
    std::vector<int32_t> stops;
    if (eos_token_id_) stops.push_back(*eos_token_id_);
    const nlohmann::json eos = generation_config_.is_object() && generation_config_.contains("eos_token_id")
                                   ? generation_config_["eos_token_id"]
                                   : nlohmann::json();
    for (const nlohmann::json& id : eos.is_array() ? eos : nlohmann::json::array({eos}))
      if (id.is_number_integer() && std::find(stops.begin(), stops.end(), id.get<int32_t>()) == stops.end())
        stops.push_back(id.get<int32_t>());
    grammar_compiler_ = std::make_shared<structured::GrammarCompiler>(
        structured::TokenVocabulary::from_tokenizer(*tokenizer_, std::move(stops), vocab_size_));
  });
  return *grammar_compiler_;
}

void InputProcessor::apply_generation_defaults(SamplingParams& params) const {
  if (use_generation_config_) params.apply_generation_config(generation_config_, eos_token_id_);
}

void InputProcessor::process_pooling(EngineRequest& request) const {
  VLLM_CHECK(pooling_.has_value(), InvalidArgument,
             "pooling requests (embed, classify, score, reward, encode) are only supported for pooling models; try "
             "passing `--runner pooling` to use the model as a pooling model");
  PoolingRequestSpec& spec = *request.pooling;
  const std::vector<PoolingTask>& tasks = pooling_->pooling_tasks;
  if (std::find(tasks.begin(), tasks.end(), spec.task) == tasks.end()) {
    std::string supported;
    for (PoolingTask task : tasks) supported += (supported.empty() ? "" : ", ") + std::string(pooling_task_name(task));
    fail(ErrorKind::InvalidArgument, "pooling task '", pooling_task_name(spec.task),
         "' is not supported by this model (supported: ", supported, ")");
  }
  if (spec.dimensions != 0) {
    VLLM_CHECK(spec.task == PoolingTask::Embed, InvalidArgument, "dimensions is only supported for embeddings");
    VLLM_CHECK(pooling_->is_matryoshka, InvalidArgument, "Model \"", pooling_->model,
               "\" does not support matryoshka representation, changing output dimensions will lead to poor results.");
    VLLM_CHECK(spec.dimensions >= 1, InvalidArgument, "Dimensions must be greater than 0");
    const std::vector<int64_t>& allowed = pooling_->matryoshka_dimensions;
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), spec.dimensions) == allowed.end()) {
      std::string list;
      for (int64_t d : allowed) list += (list.empty() ? "" : ", ") + std::to_string(d);
      fail(ErrorKind::InvalidArgument, "Model \"", pooling_->model, "\" only supports [", list,
           "] for matryoshka representation, but got ", spec.dimensions);
    }
  }
  std::vector<int32_t>& prompt = request.prompt_token_ids;
  VLLM_CHECK(request.token_type_ids.empty() || request.token_type_ids.size() == prompt.size(), InvalidArgument,
             "token_type_ids has ", request.token_type_ids.size(), " entries for ", prompt.size(), " prompt tokens");
  if (spec.truncate_prompt_tokens) {
    VLLM_CHECK(*spec.truncate_prompt_tokens == -1 || *spec.truncate_prompt_tokens >= 1, InvalidArgument,
               "truncate_prompt_tokens must be -1 (max_model_len) or at least 1, got ", *spec.truncate_prompt_tokens);
    VLLM_CHECK(*spec.truncate_prompt_tokens <= max_model_len_, InvalidArgument, "truncate_prompt_tokens value (",
               *spec.truncate_prompt_tokens, ") is greater than max_model_len (", max_model_len_,
               "). Please request a smaller truncation size.");
    const size_t keep = static_cast<size_t>(*spec.truncate_prompt_tokens < 0 ? max_model_len_ : *spec.truncate_prompt_tokens);
    if (prompt.size() > keep) {
      const auto drop = static_cast<std::ptrdiff_t>(prompt.size() - keep);
      prompt.erase(prompt.begin(), prompt.begin() + drop);
      if (!request.token_type_ids.empty())
        request.token_type_ids.erase(request.token_type_ids.begin(), request.token_type_ids.begin() + drop);
    }
  }
  VLLM_CHECK(!prompt.empty(), InvalidArgument, "The prompt cannot be empty");
  for (int32_t id : prompt)
    VLLM_CHECK(id >= 0 && id < vocab_size_, InvalidArgument, "Token id ", id, " is out of vocabulary (vocab size ",
               vocab_size_, ")");
  // vLLM's _validate_model_input: a pooling prompt may fill max_model_len (nothing is generated).
  const int64_t prompt_len = static_cast<int64_t>(prompt.size());
  VLLM_CHECK(prompt_len <= max_model_len_, InvalidArgument, "The decoder prompt (length ", prompt_len,
             ") is longer than the maximum model length of ", max_model_len_,
             ". Make sure that `max_model_len` is no smaller than the number of text tokens.");
}

void InputProcessor::check_mm_items(const EngineRequest& request) const {
  VLLM_CHECK(!request.params.truncate_prompt_tokens, InvalidArgument,
             "truncate_prompt_tokens is not supported with multimodal inputs");
  const int64_t prompt_len = static_cast<int64_t>(request.prompt_token_ids.size());
  int64_t end = 0;
  for (const mm::MultiModalItem& item : *request.mm_items) {
    VLLM_CHECK(item.length > 0 && item.offset >= end && item.offset + item.length <= prompt_len, InvalidArgument,
               "multimodal item at tokens [", item.offset, ", ", item.offset + item.length,
               ") is outside the prompt of ", prompt_len, " tokens or overlaps the previous item");
    VLLM_CHECK(item.pixel_values.defined() || item.embeddings.defined(), InvalidArgument,
               "multimodal item at token ", item.offset, " has neither pixel values nor embeddings");
    end = item.offset + item.length;
  }
}

void InputProcessor::process(EngineRequest& request) const {
  if (request.pooling) return process_pooling(request);
  VLLM_CHECK(!pooling_.has_value(), InvalidArgument,
             "generation is only supported for generative models; try passing `--runner generate` to use the "
             "model as a generative model");
  SamplingParams& params = request.params;
  if (request.apply_generation_config) apply_generation_defaults(params);
  params.validate(static_cast<int>(vocab_size_), max_logprobs_);
  if (params.structured_outputs) {
    VLLM_CHECK(tokenizer_ != nullptr, InvalidArgument,
               "structured outputs need the tokenizer (not with --skip-tokenizer-init)");
    if (!params.is_set("disable_any_whitespace") && structured_.disable_any_whitespace)
      params.structured_outputs->any_whitespace = false;
    params.grammar = grammar_compiler().compile(*params.structured_outputs);
    if (!params.structured_outputs_after.empty())
      params.structured_outputs_after_ids = tokenizer_->encode(params.structured_outputs_after, false);
  }
  if (!params.bad_words.empty()) {
    VLLM_CHECK(tokenizer_ != nullptr, InvalidArgument, "bad_words need a tokenizer (not with --skip-tokenizer-init)");
    params.set_bad_words_token_ids([&](const std::string& word) { return tokenizer_->encode(word, false); },
                                   static_cast<int32_t>(vocab_size_ - 1));
  }
  std::vector<int32_t>& prompt = request.prompt_token_ids;
  if (request.mm_items) check_mm_items(request);
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
