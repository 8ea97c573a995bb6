// The one check of a request (vLLM's v1 Processor, vllm/v1/engine/processor.py): generation-config
// defaults, sampling parameters against the vocabulary and --max-logprobs, bad words tokenized,
// prompt truncation, and the prompt (and max_tokens) against max_model_len, with vLLM's messages.
// The edges run it once per request: LLMEngine::add_request (the offline LLM), AsyncLLM's
// add_request on the caller's thread (the server, run-batch); the scheduler trusts what it
// accepted. process() is const and reads only immutable state, so any thread may call it.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>

#include <nlohmann/json.hpp>

#include "engine/engine_client.h"
#include "engine/vllm_config.h"

namespace vllm {

class Tokenizer;

class InputProcessor {
 public:
  // `generation_config`: the model's generation_config.json as --generation-config chose it
  // (empty with vllm). `tokenizer` may be null (--skip-tokenizer-init).
  InputProcessor(const EngineModelConfig& model, std::shared_ptr<const Tokenizer> tokenizer,
                 nlohmann::json generation_config, std::optional<int32_t> eos_token_id,
                 StructuredOutputsConfig structured = {});

  // Fills the fields params did not set from generation_config.json (unless --generation-config vllm).
  void apply_generation_defaults(SamplingParams& params) const;
  // Validates and completes the request (defaults when it asks for them, bad words' token ids,
  // truncation); throws vllm::Error (InvalidArgument, vLLM's message) for a bad one.
  void process(EngineRequest& request) const;

  std::optional<int32_t> eos_token_id() const { return eos_token_id_; }
  // The pooling runner's model (ModelInfo's pooling fields): pooling requests are checked against
  // its tasks and Matryoshka widths, generation requests refused; without it pooling requests are.
  void set_pooling(const ModelInfo& info) { pooling_ = info; }

 private:
  int64_t max_model_len_ = 0;
  int64_t vocab_size_ = 0;
  int max_logprobs_ = kDefaultMaxLogprobs;
  bool use_generation_config_ = true;
  std::shared_ptr<const Tokenizer> tokenizer_;
  nlohmann::json generation_config_;
  std::optional<int32_t> eos_token_id_;
  std::optional<ModelInfo> pooling_;
  StructuredOutputsConfig structured_;
  // Built on the first structured-output request (the vocabulary's byte strings take a moment
  // for a large vocabulary); compiled grammars are cached inside.
  mutable std::once_flag grammar_compiler_once_;
  mutable std::shared_ptr<structured::GrammarCompiler> grammar_compiler_;

  structured::GrammarCompiler& grammar_compiler() const;

  void process_pooling(EngineRequest& request) const;
  // Multimodal items: ranges inside the prompt, in order, not overlapping; no truncation.
  void check_mm_items(const EngineRequest& request) const;
};

}  // namespace vllm
