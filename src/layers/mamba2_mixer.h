// Mamba-2's mixer (HF Mamba2Mixer, and the Mamba-2 layers of the hybrids): in_proj to the gate z,
// xBC and dt (one per head); a causal depthwise conv1d with SiLU over xBC; the multi-head SSD
// scan (n_groups of B and C shared by the heads of a group, A = -exp(A_log) per head, D skip,
// dt_bias, dt clamped to time_step_limit); a gated RMSNorm over groups of norm_group_size; out_proj.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "layers/batch_metadata.h"
#include "layers/linear.h"
#include "layers/state_cache.h"
#include "loader/weight_loader.h"

namespace vllm {

struct Mamba2MixerSpec {
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;  // num_heads * head_dim
  int64_t num_heads = 0;
  int64_t head_dim = 64;
  int64_t state_size = 128;
  int64_t n_groups = 1;
  int64_t conv_kernel = 4;
  bool use_bias = false;
  bool use_conv_bias = true;
  float dt_min = 0.0f;  // time_step_limit
  float dt_max = std::numeric_limits<float>::infinity();
  float norm_eps = 1e-5f;
  // Columns each gated-RMSNorm group spans: intermediate_size in HF's Mamba2 (one group),
  // intermediate_size / n_groups where the family normalises per group (mamba_ssm's RMSNormGated).
  int64_t norm_group_size = 0;

  int64_t conv_dim() const { return intermediate_size + 2 * n_groups * state_size; }
  std::vector<int64_t> conv_state_shape() const { return {conv_dim(), conv_kernel - 1}; }
  std::vector<int64_t> ssm_state_shape() const { return {num_heads, head_dim, state_size}; }
};

class Mamba2Mixer : public StateSpaceMixer {
 public:
  // The parameters under `prefix`: in_proj, conv1d, dt_bias, A_log, D, norm, out_proj.
  static Mamba2Mixer load(WeightLoader& loader, const std::string& prefix, const Mamba2MixerSpec& spec, Device device);
  // hidden [T, H] f32 (normed) -> [T, H] f32; reads and writes each sequence's state slot.
  Tensor forward(const Tensor& hidden, const BatchMetadata& batch, StateCache& cache) const override;
  std::vector<int64_t> conv_state_shape() const override { return spec_.conv_state_shape(); }
  std::vector<int64_t> ssm_state_shape() const override { return spec_.ssm_state_shape(); }
  const Mamba2MixerSpec& spec() const { return spec_; }

 private:
  Mamba2MixerSpec spec_;
  Linear in_proj_, out_proj_;
  Tensor conv_weight_;  // [conv_dim, K]
  Tensor conv_bias_;    // [conv_dim] f32 or undefined
  Tensor A_;            // [heads] f32: -exp(A_log)
  Tensor D_;            // [heads] f32
  Tensor dt_bias_;      // [heads] f32
  Tensor norm_weight_;  // [intermediate] f32
};

}  // namespace vllm
