#include "api/llm.h"

#include <map>

#include "core/error.h"

namespace vllm {

LLM::LLM(const EngineArgs& args)
    : engine_(std::make_unique<LLMEngine>(args)),
      chat_template_override_(args.chat_template),
      chat_template_content_format_(args.chat_template_content_format) {}

SamplingParams LLM::default_sampling_params() const {
  SamplingParams params;
  engine_->apply_generation_defaults(params);
  return params;
}

std::vector<RequestOutput> LLM::run(std::vector<EngineRequest> requests) {
  std::map<std::string, size_t> order;
  for (size_t i = 0; i < requests.size(); ++i) order[requests[i].request_id] = i;
  std::vector<RequestOutput> results(requests.size());
  size_t remaining = requests.size();
  try {
    for (EngineRequest& request : requests) {
      request.params.output_kind = SamplingParams::OutputKind::FinalOnly;  // as vLLM's LLM: only finished outputs
      engine_->add_request(std::move(request));
    }
    while (remaining > 0 && engine_->has_unfinished_requests()) {
      for (RequestOutput& output : engine_->step()) {
        if (!output.finished) continue;
        results[order.at(output.request_id)] = std::move(output);
        --remaining;
      }
    }
  } catch (...) {
    for (const auto& [id, index] : order) engine_->abort_request(id);  // leave the engine clean
    throw;
  }
  return results;
}

std::vector<RequestOutput> LLM::generate(const std::vector<std::string>& prompts, const SamplingParams& params) {
  std::vector<EngineRequest> requests;
  for (const std::string& prompt : prompts) {
    EngineRequest request;
    request.request_id = std::to_string(next_id_++);
    request.prompt = prompt;
    request.prompt_token_ids = engine_->encode(prompt);
    request.params = params;
    request.apply_generation_config = false;
    requests.push_back(std::move(request));
  }
  return run(std::move(requests));
}

std::vector<RequestOutput> LLM::generate(const std::vector<std::vector<int32_t>>& prompt_token_ids,
                                         const SamplingParams& params) {
  return generate(prompt_token_ids, std::vector<SamplingParams>(prompt_token_ids.size(), params));
}

std::vector<RequestOutput> LLM::generate(const std::vector<std::vector<int32_t>>& prompt_token_ids,
                                         const std::vector<SamplingParams>& params) {
  VLLM_CHECK(params.size() == prompt_token_ids.size(), InvalidArgument, "generate: ", params.size(),
             " sampling params for ", prompt_token_ids.size(), " prompts (give one, or one per prompt)");
  std::vector<EngineRequest> requests;
  for (size_t i = 0; i < prompt_token_ids.size(); ++i) {
    EngineRequest request;
    request.request_id = std::to_string(next_id_++);
    request.prompt_token_ids = prompt_token_ids[i];
    request.params = params[i];
    request.apply_generation_config = false;
    requests.push_back(std::move(request));
  }
  return run(std::move(requests));
}

std::vector<RequestOutput> LLM::chat(const std::vector<nlohmann::json>& conversations, const SamplingParams& params,
                                     const ChatTemplateOptions& options) {
  ChatTemplate chat_template = ChatTemplate::from_directory(engine_->model_dir(), chat_template_override_);
  chat_template.set_content_format(chat_template_content_format_);
  std::vector<EngineRequest> requests;
  for (const nlohmann::json& messages : conversations) {
    EngineRequest request;
    request.request_id = std::to_string(next_id_++);
    request.prompt = chat_template.render(messages, options);
    // The template already wrote the special tokens (transformers tokenizes without adding them).
    request.prompt_token_ids = engine_->encode(request.prompt, /*add_special_tokens=*/false);
    request.params = params;
    request.apply_generation_config = false;
    requests.push_back(std::move(request));
  }
  return run(std::move(requests));
}

}  // namespace vllm
