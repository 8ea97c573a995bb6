// The offline C++ API (vLLM's `LLM`): build once, generate for many prompts, blocking.
//
//   vllm::EngineArgs args;  args.model = "models/default";
//   vllm::LLM llm(args);
//   vllm::SamplingParams params;  params.temperature = 0;  params.max_tokens = 32;
//   for (const vllm::RequestOutput& out : llm.generate({"Once upon a time"}, params))
//     std::cout << out.outputs[0].text << "\n";
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/engine_args.h"
#include "engine/outputs.h"
#include "engine/llm_engine.h"
#include "text/chat/chat_template.h"

namespace vllm {

class LLM {
 public:
  explicit LLM(const EngineArgs& args);

  // Outputs in the order of the prompts. Each prompt is one request; params.n sequences each.
  // `params` is used as given (vLLM's LLM.generate); default_sampling_params() starts from the
  // model's generation_config.json instead.
  std::vector<RequestOutput> generate(const std::vector<std::string>& prompts, const SamplingParams& params);
  std::vector<RequestOutput> generate(const std::vector<std::vector<int32_t>>& prompt_token_ids,
                                      const SamplingParams& params);
  // One SamplingParams per prompt (vLLM's list form of sampling_params).
  std::vector<RequestOutput> generate(const std::vector<std::vector<int32_t>>& prompt_token_ids,
                                      const std::vector<SamplingParams>& params);
  // Chat conversations (OpenAI message lists) rendered with the model's chat template.
  std::vector<RequestOutput> chat(const std::vector<nlohmann::json>& conversations, const SamplingParams& params,
                                  const ChatTemplateOptions& options = {});

  SamplingParams default_sampling_params() const;
  LLMEngine& engine() { return *engine_; }

 private:
  std::vector<RequestOutput> run(std::vector<EngineRequest> requests);

  std::unique_ptr<LLMEngine> engine_;
  std::string chat_template_override_;
  std::string chat_template_content_format_;
  uint64_t next_id_ = 0;
};

}  // namespace vllm
