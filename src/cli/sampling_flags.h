// Sampling flags shared by `generate` and `bench` (SamplingParams fields, vLLM's names).
#pragma once

#include <CLI/CLI.hpp>

#include "engine/sampling_params.h"

namespace vllm::cli {

// Registers --temperature, --top-p, ... on `app`; call finish() after parsing to mark the flags
// the user gave (so generation_config.json defaults fill only the others) and validate.
class SamplingFlags {
 public:
  void add(CLI::App& app);
  SamplingParams finish() const;

 private:
  SamplingParams params_;
  std::vector<std::pair<std::string, CLI::Option*>> options_;
};

}  // namespace vllm::cli
