// A tiny mixture-of-experts checkpoint written by hand, the same random weights in each expert
// layout a checkpoint may use: Mixtral's per-expert tensors (block_sparse_moe.experts.N.w1/w3/w2),
// transformers 5.x's fused ones (mlp.experts.gate_up_proj [E, 2I, H], down_proj [E, H, I]), and
// GraniteMoe's (block_sparse_moe.input_linear / output_linear / router.layer, multipliers 1, so
// the model computes what the Mixtral one does: its top-k-then-softmax equals Mixtral's
// renormalised softmax top-k). Used by tests/models and tests/cli.
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

enum class ExpertLayout { PerExpert, Fused, Granite };

struct TinyMoE {
  int64_t vocab = 32, hidden = 16, heads = 2, kv_heads = 1, layers = 2, experts = 4, top_k = 2, inter = 8;
};

inline nlohmann::json tiny_moe_config(ExpertLayout layout, const TinyMoE& s = {}) {
  nlohmann::json config = {{"vocab_size", s.vocab},
                           {"hidden_size", s.hidden},
                           {"intermediate_size", s.inter},
                           {"num_hidden_layers", s.layers},
                           {"num_attention_heads", s.heads},
                           {"num_key_value_heads", s.kv_heads},
                           {"num_local_experts", s.experts},
                           {"num_experts_per_tok", s.top_k},
                           {"rms_norm_eps", 1e-5},
                           {"rope_theta", 10000.0},
                           {"max_position_embeddings", 64},
                           {"tie_word_embeddings", false},
                           {"torch_dtype", "float32"}};
  if (layout == ExpertLayout::Granite) {
    config["architectures"] = {"GraniteMoeForCausalLM"};
    config["model_type"] = "granitemoe";
    config["embedding_multiplier"] = 1.0;
    config["residual_multiplier"] = 1.0;
    config["logits_scaling"] = 1.0;
    config["attention_multiplier"] = 1.0 / std::sqrt(static_cast<double>(s.hidden / s.heads));
  } else {
    config["architectures"] = {"MixtralForCausalLM"};
    config["model_type"] = "mixtral";
  }
  return config;
}

// Writes config.json and model.safetensors (f32) to `dir`; `seed` picks the weights.
inline void write_tiny_moe(const std::filesystem::path& dir, ExpertLayout layout, uint32_t seed = 1,
                           const TinyMoE& s = {}) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << tiny_moe_config(layout, s).dump(2);
  RandomWeights weights(seed);
  const int64_t head_dim = s.hidden / s.heads, h = s.hidden, e = s.experts, i = s.inter;
  const float scale = 1.5f / std::sqrt(static_cast<float>(h));
  std::vector<std::pair<std::string, Tensor>> tensors;
  tensors.emplace_back("model.embed_tokens.weight", weights.normal({s.vocab, h}, 1.0f));
  for (int64_t layer = 0; layer < s.layers; ++layer) {
    const std::string p = "model.layers." + std::to_string(layer) + ".";
    tensors.emplace_back(p + "input_layernorm.weight", weights.around_one(h));
    tensors.emplace_back(p + "post_attention_layernorm.weight", weights.around_one(h));
    tensors.emplace_back(p + "self_attn.q_proj.weight", weights.normal({h, h}, scale));
    tensors.emplace_back(p + "self_attn.k_proj.weight", weights.normal({s.kv_heads * head_dim, h}, scale));
    tensors.emplace_back(p + "self_attn.v_proj.weight", weights.normal({s.kv_heads * head_dim, h}, scale));
    tensors.emplace_back(p + "self_attn.o_proj.weight", weights.normal({h, h}, scale));
    Tensor router = weights.normal({e, h}, scale);
    Tensor gate_up = weights.normal({e, 2 * i, h}, scale);  // per expert: gate rows, then up rows
    Tensor down = weights.normal({e, h, i}, 1.5f / std::sqrt(static_cast<float>(i)));
    switch (layout) {
      case ExpertLayout::PerExpert:
        tensors.emplace_back(p + "block_sparse_moe.gate.weight", router);
        for (int64_t x = 0; x < e; ++x) {
          const std::string q = p + "block_sparse_moe.experts." + std::to_string(x) + ".";
          tensors.emplace_back(q + "w1.weight", gate_up.select(0, x).slice(0, 0, i).contiguous());
          tensors.emplace_back(q + "w3.weight", gate_up.select(0, x).slice(0, i, 2 * i).contiguous());
          tensors.emplace_back(q + "w2.weight", down.select(0, x).contiguous());
        }
        break;
      case ExpertLayout::Fused:
        tensors.emplace_back(p + "mlp.gate.weight", router);
        tensors.emplace_back(p + "mlp.experts.gate_up_proj", gate_up);
        tensors.emplace_back(p + "mlp.experts.down_proj", down);
        break;
      case ExpertLayout::Granite:
        tensors.emplace_back(p + "block_sparse_moe.router.layer.weight", router);
        tensors.emplace_back(p + "block_sparse_moe.input_linear.weight", gate_up);
        tensors.emplace_back(p + "block_sparse_moe.output_linear.weight", down);
        break;
    }
  }
  tensors.emplace_back("model.norm.weight", weights.around_one(h));
  tensors.emplace_back("lm_head.weight", weights.normal({s.vocab, h}, scale));
  save_safetensors(dir / "model.safetensors", tensors);
}

}  // namespace vllm::testing
