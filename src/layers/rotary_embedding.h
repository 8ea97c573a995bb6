// RotaryEmbedding: the frequencies of every HF rope scaling type, and the layer that rotates
// query/key with them through ops::rotary_embedding.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.h"

namespace vllm {

class RotaryEmbedding {
 public:
  // params: the transformers 5.x rope dict {"rope_type": "default" | "linear" | "dynamic" | "yarn" |
  // "longrope" | "llama3", "rope_theta", "factor", "original_max_position_embeddings",
  // "low_freq_factor", "high_freq_factor", "beta_fast", "beta_slow", "attention_factor", "mscale",
  // "mscale_all_dim", "short_factor", "long_factor", "truncate", ...} ("type" is accepted for
  // "rope_type"). rotary_dim = partial_rotary_factor * head_dim (computed by the caller).
  RotaryEmbedding(const nlohmann::json& params, int64_t rotary_dim, int64_t max_position_embeddings,
                  bool is_neox);

  // Rotates query [T, Hq, D] and key [T, Hk, D] (may be undefined) in place for tokens at
  // positions [T] int32. seq_len_for_token [T] int32 is each token's sequence total length: "dynamic"
  // and "longrope" choose their frequencies from it as HF's dynamic_rope_update does (may be
  // undefined for the other types).
  void forward(const Tensor& positions, const Tensor& seq_len_for_token, Tensor& query,
               Tensor& key) const;

  // forward(), then the rotated key and the value written to the paged cache at slot_mapping
  // (ops::reshape_and_cache); one fused kernel where the table is prepared on the device.
  void forward_and_cache(const Tensor& positions, const Tensor& seq_len_for_token, Tensor& query, Tensor& key,
                         const Tensor& value, Tensor& key_cache, Tensor& value_cache,
                         const Tensor& slot_mapping) const;

  // Frequencies at init time (seq_len <= original max): [rotary_dim / 2].
  const std::vector<float>& inv_freq() const { return inv_freq_; }
  // Multiplies cos and sin (yarn's mscale, longrope's factor), as HF's attention_scaling.
  float attention_scaling() const { return attention_scaling_; }
  const std::string& rope_type() const { return rope_type_; }
  int64_t rotary_dim() const { return rotary_dim_; }
  bool is_neox() const { return is_neox_; }

  // Precomputes cos/sin for positions [0, max_positions) on `device`, so that forward() on that
  // device indexes the table with the positions where they are, with no host round trip (CUDA
  // graphs need that). Length-dependent types ("dynamic", "longrope") keep the per-call path.
  void prepare_table(Device device, int64_t max_positions);

  // The frequencies for a sequence of `seq_len` tokens (differs from inv_freq() only for "dynamic"
  // and "longrope" past the original maximum).
  std::vector<float> inv_freq_for_seq_len(int64_t seq_len) const;

 private:
  std::string rope_type_;
  int64_t rotary_dim_;
  int64_t max_position_embeddings_;
  int64_t original_max_position_embeddings_;
  bool is_neox_;
  double rope_theta_ = 10000.0;
  double factor_ = 1.0;
  float attention_scaling_ = 1.0f;
  std::vector<float> inv_freq_;       // init-time frequencies (short factors for longrope)
  std::vector<float> long_inv_freq_;  // longrope only: used past the original maximum
  Tensor table_;                      // prepare_table's [max_positions, rotary_dim] cos | sin
};

}  // namespace vllm
