// The state-space (Mamba) ops over a flattened batch: the causal depthwise convolution, Mamba-1's
// selective scan, Mamba-2's multi-head SSD scan and its gated RMSNorm. Each sequence of the step
// continues from its recurrent-state slot when its first new token is past position 0, and
// leaves its final state there (state_slots undefined, or a slot of -1: from zero, nothing kept).
// CPU kernels in f32 (a per-token recurrence, exact for prefill and decode alike); no CUDA yet.
#pragma once

#include <cstdint>

#include "backend/ssm_types.h"
#include "core/tensor.h"

namespace vllm::ops {

// StateSequences (where each sequence is, which slot it owns) is in backend/ssm_types.h.

// out[t, c] = act(bias[c] + sum_k weight[c, k] * x[t - (K-1) + k, c]) per sequence, the inputs
// before its first token taken from conv_state (the last K - 1 inputs, oldest first) or zero.
// x [T, C] f32 (rows may be strided: a slice of a projection), weight [C, K] f32/bf16/f16,
// bias [C] f32 or undefined, conv_state [S, C, K - 1] f32 (updated), out [T, C] contiguous f32;
// act is SiLU when `silu`, else the identity (HF's nn.Conv1d + ACT2FN["silu"]).
void causal_conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& conv_state,
                   const StateSequences& sequences, bool silu, Tensor& out);

// Mamba-1's selective scan (HF MambaMixer.slow_forward), per channel d and state index n:
//   dt = softplus(delta[t, d]); h[d, n] = exp(A[d, n] * dt) * h[d, n] + dt * B[t, n] * u[t, d]
//   out[t, d] = (sum_n h[d, n] * C[t, n] + D[d] * u[t, d]) * silu(z[t, d])
// u, delta [T, Dm] f32; A [Dm, N] f32 (already -exp(A_log)); B, C [T, N] f32; D [Dm] f32;
// z [T, Dm] f32 (rows may be strided, each of these); ssm_state [S, Dm, N] f32 (updated);
// out [T, Dm] contiguous f32.
void selective_scan(const Tensor& u, const Tensor& delta, const Tensor& A, const Tensor& B, const Tensor& C,
                    const Tensor& D, const Tensor& z, Tensor& ssm_state, const StateSequences& sequences,
                    Tensor& out);

// Mamba-2's multi-head scan (HF Mamba2Mixer: SSD, computed here as its per-token recurrence),
// head h of H with head_dim P reading group g = h / (H / G) of B and C:
//   dt = clamp(softplus(dt_raw[t, h] + dt_bias[h]), dt_min, dt_max)
//   s[h, p, n] = exp(A[h] * dt) * s[h, p, n] + dt * B[t, g, n] * x[t, h, p]
//   out[t, h, p] = sum_n s[h, p, n] * C[t, g, n] + D[h] * x[t, h, p]
// x [T, H * P], dt_raw [T, H], B, C [T, G * N] f32 (rows may be strided); A, D, dt_bias [H] f32;
// ssm_state [S, H, P, N] f32 (updated); out [T, H * P] contiguous f32.
void ssd_scan(const Tensor& x, const Tensor& dt_raw, const Tensor& A, const Tensor& B, const Tensor& C,
              const Tensor& D, const Tensor& dt_bias, float dt_min, float dt_max, int64_t n_groups,
              Tensor& ssm_state, const StateSequences& sequences, Tensor& out);

// Mamba-2's gated RMSNorm (norm_before_gate = False): v = x * silu(z), then each group of
// group_size columns v / rms(v) * weight. x [T, D] f32 contiguous, z [T, D] f32 (rows may be
// strided), weight [D] f32, out [T, D] f32 (may alias x).
void gated_rms_norm(const Tensor& x, const Tensor& z, const Tensor& weight, int64_t group_size, float eps,
                    Tensor& out);

}  // namespace vllm::ops
