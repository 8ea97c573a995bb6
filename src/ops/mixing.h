// Per-token stream mixing and per-row statistics: the pieces of Gemma 3n's decoder layer (AltUp's
// predict/correct, its magnitude matching, the MLP's activation sparsity) that no other op covers.
#pragma once

#include "core/tensor.h"

namespace vllm::ops {

// out = a * b elementwise, same shape (contiguous f32); out may alias a or b.
void mul(const Tensor& a, const Tensor& b, Tensor& out);

// Mixes J streams with per-token coefficients, accumulating into out:
//   out[k, t, :] += sum_j coefs[t, k, j] * streams[j, t, :]
// streams [J, T, H], coefs [T, K, J], out [K, T, H], all contiguous f32; out must not overlap
// streams. (AltUp's predict: J = K = n; its correct: J = 1, the innovation.)
void mix_streams(const Tensor& streams, const Tensor& coefs, Tensor& out);

// Scales each row of x [T, H] (contiguous f32) in place to the RMS of the same row of
// reference [T, H]: x *= sqrt(mean(reference^2)) / sqrt(max(mean(x^2), min_mean_square))
// (Gemma3nTextModel's altup magnitude matching, min_mean_square 1e-5).
void match_rms(Tensor& x, const Tensor& reference, float min_mean_square);

// In place over each row of x [T, N] (contiguous f32):
//   x = max(x - (mean(x) + std(x) * multiplier), 0), std without Bessel's correction
// (Gemma3nTextMLP._gaussian_topk, multiplier = Phi^-1(activation_sparsity)).
void gaussian_topk(Tensor& x, float multiplier);

}  // namespace vllm::ops
