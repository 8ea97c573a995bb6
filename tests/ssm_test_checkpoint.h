// Tiny random state-space checkpoints written by hand (f32 safetensors + config.json in HF's
// names): MambaForCausalLM, FalconMambaForCausalLM and Mamba2ForCausalLM. Used by tests/models
// (prefill/decode equivalence), tests/api (the engine) and tests/cli (generate, serve).
#pragma once

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.h"
#include "loader/safetensors.h"
#include "random_weights.h"

namespace vllm::testing {

enum class SsmKind { Mamba, FalconMamba, Mamba2 };

struct TinySsm {
  int64_t vocab = 48, hidden = 16, layers = 2, state = 4, conv_kernel = 4;
  int64_t expand = 2, time_step_rank = 2;  // Mamba-1
  int64_t heads = 4, n_groups = 2;         // Mamba-2: head_dim = expand * hidden / heads
  bool use_bias = true, use_conv_bias = true, tie = false;
};

inline nlohmann::json tiny_ssm_config(SsmKind kind, const TinySsm& s = {}) {
  nlohmann::json config = {{"vocab_size", s.vocab},
                           {"hidden_size", s.hidden},
                           {"num_hidden_layers", s.layers},
                           {"state_size", s.state},
                           {"conv_kernel", s.conv_kernel},
                           {"expand", s.expand},
                           {"use_bias", s.use_bias},
                           {"use_conv_bias", s.use_conv_bias},
                           {"layer_norm_epsilon", 1e-5},
                           {"hidden_act", "silu"},
                           {"tie_word_embeddings", s.tie},
                           {"bos_token_id", 0},
                           {"eos_token_id", 1},
                           {"torch_dtype", "float32"}};
  switch (kind) {
    case SsmKind::Mamba:
    case SsmKind::FalconMamba:
      config["architectures"] = {kind == SsmKind::Mamba ? "MambaForCausalLM" : "FalconMambaForCausalLM"};
      config["model_type"] = kind == SsmKind::Mamba ? "mamba" : "falcon_mamba";
      config["time_step_rank"] = s.time_step_rank;
      if (kind == SsmKind::FalconMamba) config["mixer_rms_eps"] = 1e-6;
      break;
    case SsmKind::Mamba2:
      config["architectures"] = {"Mamba2ForCausalLM"};
      config["model_type"] = "mamba2";
      config["num_heads"] = s.heads;
      config["head_dim"] = s.expand * s.hidden / s.heads;
      config["n_groups"] = s.n_groups;
      config["time_step_limit"] = {0.0, 100.0};
      break;
  }
  return config;
}

// Writes config.json and model.safetensors (f32) to `dir`; `seed` picks the weights.
inline void write_tiny_ssm(const std::filesystem::path& dir, SsmKind kind, uint32_t seed = 1, const TinySsm& s = {}) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << tiny_ssm_config(kind, s).dump(2);
  RandomWeights weights(seed);
  const int64_t h = s.hidden, i = s.expand * s.hidden, n = s.state, k = s.conv_kernel;
  const float scale = 1.5f / std::sqrt(static_cast<float>(h)), inner = 1.5f / std::sqrt(static_cast<float>(i));
  std::vector<std::pair<std::string, Tensor>> tensors;
  tensors.emplace_back("backbone.embeddings.weight", weights.normal({s.vocab, h}, 1.0f));
  for (int64_t layer = 0; layer < s.layers; ++layer) {
    const std::string p = "backbone.layers." + std::to_string(layer) + ".";
    tensors.emplace_back(p + "norm.weight", weights.normal({h}, 0.1f, 1.0f));
    const std::string m = p + "mixer.";
    if (kind == SsmKind::Mamba2) {
      const int64_t conv_dim = i + 2 * s.n_groups * n;
      tensors.emplace_back(m + "in_proj.weight", weights.normal({i + conv_dim + s.heads, h}, scale));
      if (s.use_bias) tensors.emplace_back(m + "in_proj.bias", weights.normal({i + conv_dim + s.heads}, 0.1f));
      tensors.emplace_back(m + "conv1d.weight", weights.normal({conv_dim, 1, k}, 0.5f));
      if (s.use_conv_bias) tensors.emplace_back(m + "conv1d.bias", weights.normal({conv_dim}, 0.1f));
      tensors.emplace_back(m + "dt_bias", weights.normal({s.heads}, 0.3f));
      tensors.emplace_back(m + "A_log", weights.normal({s.heads}, 0.3f));
      tensors.emplace_back(m + "D", weights.normal({s.heads}, 0.2f, 1.0f));
      tensors.emplace_back(m + "norm.weight", weights.normal({i}, 0.1f, 1.0f));
    } else {
      tensors.emplace_back(m + "in_proj.weight", weights.normal({2 * i, h}, scale));
      if (s.use_bias) tensors.emplace_back(m + "in_proj.bias", weights.normal({2 * i}, 0.1f));
      tensors.emplace_back(m + "conv1d.weight", weights.normal({i, 1, k}, 0.5f));
      if (s.use_conv_bias) tensors.emplace_back(m + "conv1d.bias", weights.normal({i}, 0.1f));
      tensors.emplace_back(m + "x_proj.weight", weights.normal({s.time_step_rank + 2 * n, i}, inner));
      tensors.emplace_back(m + "dt_proj.weight", weights.normal({i, s.time_step_rank}, 0.5f));
      tensors.emplace_back(m + "dt_proj.bias", weights.normal({i}, 0.3f));
      tensors.emplace_back(m + "A_log", weights.normal({i, n}, 0.3f));
      tensors.emplace_back(m + "D", weights.normal({i}, 0.2f, 1.0f));
    }
    tensors.emplace_back(m + "out_proj.weight", weights.normal({h, i}, inner));
    if (s.use_bias) tensors.emplace_back(m + "out_proj.bias", weights.normal({h}, 0.1f));
  }
  tensors.emplace_back("backbone.norm_f.weight", weights.normal({h}, 0.1f, 1.0f));
  if (!s.tie) tensors.emplace_back("lm_head.weight", weights.normal({s.vocab, h}, scale));
  save_safetensors(dir / "model.safetensors", tensors);
}

// A tiny Mamba with the built-in default model's tokenizer (vocabulary 8192, tied embeddings),
// so that text prompts work end to end (generate, serve).
inline void write_tiny_ssm_with_tokenizer(const std::filesystem::path& dir, const std::filesystem::path& tokenizer_dir,
                                          SsmKind kind) {
  TinySsm sizes;
  sizes.vocab = 8192;
  sizes.tie = true;
  write_tiny_ssm(dir, kind, 7, sizes);
  for (const char* file : {"tokenizer.json", "tokenizer_config.json"})
    std::filesystem::copy_file(tokenizer_dir / file, dir / file, std::filesystem::copy_options::overwrite_existing);
}

}  // namespace vllm::testing
