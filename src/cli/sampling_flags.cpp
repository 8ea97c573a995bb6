#include "cli/sampling_flags.h"

namespace vllm::cli {

void SamplingFlags::add(CLI::App& app) {
  auto add = [&](const char* field, CLI::Option* option) { options_.emplace_back(field, option); };
  add("n", app.add_option("--n", params_.n, "Completions per prompt"));
  add("temperature", app.add_option("--temperature", params_.temperature, "0 = greedy"));
  add("top_p", app.add_option("--top-p", params_.top_p));
  add("top_k", app.add_option("--top-k", params_.top_k, "0 or -1 = off"));
  add("min_p", app.add_option("--min-p", params_.min_p));
  add("seed", app.add_option("--sampling-seed", params_.seed, "Per-request seed (reproducible sampling)"));
  add("presence_penalty", app.add_option("--presence-penalty", params_.presence_penalty));
  add("frequency_penalty", app.add_option("--frequency-penalty", params_.frequency_penalty));
  add("repetition_penalty", app.add_option("--repetition-penalty", params_.repetition_penalty));
  add("max_tokens", app.add_option("--max-tokens", params_.max_tokens, "Tokens to generate (default 16)"));
  add("min_tokens", app.add_option("--min-tokens", params_.min_tokens));
  add("stop", app.add_option("--stop", params_.stop, "Stop strings"));
  add("stop_token_ids", app.add_option("--stop-token-ids", params_.stop_token_ids));
  add("ignore_eos", app.add_flag("--ignore-eos", params_.ignore_eos));
  add("logprobs", app.add_option("--logprobs", params_.logprobs, "Top logprobs per generated token"));
  add("prompt_logprobs", app.add_option("--prompt-logprobs", params_.prompt_logprobs, "Top logprobs per prompt token"));
}

SamplingParams SamplingFlags::finish() const {
  SamplingParams params = params_;
  for (const auto& [field, option] : options_)
    if (option->count() > 0) params.mark_set(field);
  params.normalize();
  params.validate();
  return params;
}

}  // namespace vllm::cli
