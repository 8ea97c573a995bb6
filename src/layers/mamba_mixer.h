// Mamba-1's mixer (HF MambaMixer, FalconMambaMixer): in_proj to x and the gate z, a causal
// depthwise conv1d over x with SiLU, x_proj to (dt of time_step_rank, B, C), dt_proj, the
// selective scan with A = -exp(A_log) and the skip D, gated by SiLU(z), then out_proj.
// FalconMamba normalises dt, B and C with a weightless RMSNorm (mixer_rms_eps) after x_proj.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "layers/batch_metadata.h"
#include "layers/linear.h"
#include "layers/state_cache.h"
#include "loader/weight_loader.h"

namespace vllm {

struct MambaMixerSpec {
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;  // expand * hidden_size
  int64_t state_size = 16;        // d_state
  int64_t conv_kernel = 4;
  int64_t time_step_rank = 0;     // dt's width before dt_proj
  bool use_bias = false;          // in_proj and out_proj
  bool use_conv_bias = true;
  float dt_bc_rms_eps = 0.0f;     // > 0: FalconMamba's weightless RMSNorm of dt, B and C

  std::vector<int64_t> conv_state_shape() const { return {intermediate_size, conv_kernel - 1}; }
  std::vector<int64_t> ssm_state_shape() const { return {intermediate_size, state_size}; }
};

class MambaMixer : public StateSpaceMixer {
 public:
  // The parameters under `prefix` (e.g. "backbone.layers.0.mixer"): in_proj, conv1d, x_proj,
  // dt_proj (with bias), A_log, D, out_proj.
  static MambaMixer load(WeightLoader& loader, const std::string& prefix, const MambaMixerSpec& spec, Device device);
  // hidden [T, H] f32 (normed) -> [T, H] f32; reads and writes each sequence's state slot.
  Tensor forward(const Tensor& hidden, const BatchMetadata& batch, StateCache& cache) const override;
  std::vector<int64_t> conv_state_shape() const override { return spec_.conv_state_shape(); }
  std::vector<int64_t> ssm_state_shape() const override { return spec_.ssm_state_shape(); }
  const MambaMixerSpec& spec() const { return spec_; }

 private:
  MambaMixerSpec spec_;
  Linear in_proj_, x_proj_, dt_proj_, out_proj_;
  Tensor conv_weight_;  // [I, K]
  Tensor conv_bias_;    // [I] f32 or undefined
  Tensor A_;            // [I, N] f32: -exp(A_log)
  Tensor D_;            // [I] f32
};

// Shared by the Mamba mixers: a depthwise nn.Conv1d weight `prefix`.weight [C, 1, K] as [C, K] f32,
// and -exp(A_log) of the parameter `name` (f32, on `device`).
Tensor load_conv1d_weight(WeightLoader& loader, const std::string& prefix, int64_t channels, int64_t kernel,
                          Device device);
Tensor negative_exp_of(WeightLoader& loader, const std::string& name, const Shape& shape, Device device);

}  // namespace vllm
