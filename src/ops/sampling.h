// Token sampling on the logits' device: the engine's path for rows that need no logit bias and no
// allowed/bad-word lists. Penalties are applied by apply_penalties, the draw (greedy, temperature,
// top-k, top-p, min-p) is sample_tokens, and logprobs of the raw logits are compute_logprobs; the
// engine packs every per-row input into one buffer and moves it with upload_packed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include "backend/backend_types.h"
#include "core/tensor.h"

namespace vllm::ops {

// Per-sample parameters: ops::SamplingTensors (backend/backend_types.h).

// One token per sample into out [S] int32, from logits [R, V] f32 (row rows[s], or row s when
// `rows` is undefined and S == R). A row with temperature T > 0 is sampled from
// softmax(logits / T) restricted to the tokens that pass min-p, then top-k, then top-p (on what
// the previous filters kept, renormalised), as vLLM's sampler. Each filter keeps an upper set
// {z >= tau} of z = logits / T, and tau is exact: min-p's is max + log(min_p), top-k's the k-th
// largest z (ties kept), top-p's the largest z whose upper set holds top_p of the kept mass, the
// mass summed in fixed point (sampling_common.h) so that every device finds the same tau. The
// draw is the exponential race: argmax over kept tokens of z_i - log E_i, E_i ~ Exp(1) from a
// counter-based hash of (seed, i), so every device draws the same token from the same seed.
// The engine's host Sampler draws with the same row function (sample_row).
// On CUDA an out-of-range row id gives token 0 (device indices are not read back); the CPU
// raises InvalidArgument.
void sample_tokens(const Tensor& logits, const SamplingTensors& params, Tensor& out);

// The token sample_tokens draws from one row of host logits with `sampling`: the CPU kernel's row
// function, for host code that must draw exactly what the op draws on any device from the same
// logits and seed (the engine's Sampler, after its logits processors).
int32_t sample_row(std::span<const float> logits, const RowSampling& sampling);

// vLLM's penalties (vllm/model_executor/layers/utils.py apply_penalties, as the engine's Sampler
// applies them) on logits [S, V] f32 in place, before temperature: each row's listed tokens, in
// the row's order repetition (every token of the prompt or the output: positive logits divided,
// negative ones multiplied), then frequency (minus penalty * output count) and presence (minus
// penalty once) for the tokens of the output.
// penalties: ops::PenaltyTensors (backend/backend_types.h).
void apply_penalties(Tensor& logits, const PenaltyTensors& penalties);

// Structured outputs' token masks on logits [S, V] f32 in place: token t of row s keeps its logit
// when bit t % 32 of bitmask[s, t / 32] is set and becomes -inf otherwise (xgrammar's and vLLM's
// layout). bitmask: i32 [S, (V + 31) / 32]; a row that is not constrained is all ones.
void apply_token_bitmask(Tensor& logits, const Tensor& bitmask);

// The most logprobs compute_logprobs returns per row; the engine samples rows asking for more
// (or for the whole vocabulary, -1) on the host.
constexpr int64_t kMaxTopLogprobs = 64;

// Logprobs of raw logits (log_softmax of the row, as the engine's Sampler::compute_logprobs):
// for sample s, logits row rows[s] (undefined: row s), the chosen token token_ids[s] and the
// num_top = top_ids.size(1) - 1 (<= kMaxTopLogprobs) most likely tokens, highest first, lowest id
// on ties. top_ids i32 and top_logprobs f32 [S, 1 + num_top]: column 0 is the chosen token, then
// the top tokens (id -1 and logprob -inf past the vocabulary's end); ranks i32 [S]: the chosen
// token's 1-based rank, the number of tokens whose logit is >= its own (vLLM's
// batched_count_greater_than, ties share the lower rank).
void compute_logprobs(const Tensor& logits, const Tensor& rows, const Tensor& token_ids, Tensor& top_ids,
                      Tensor& top_logprobs, Tensor& ranks);

// `bytes` of host data as a u8 tensor on `device` in one copy (on CUDA through a page-locked
// staging buffer kept per device, asynchronously on the device's stream). The caller views the
// result as typed tensors (Tensor::from_blob over its storage).
Tensor upload_packed(const void* data, size_t bytes, Device device);

// dst[dst_index[i]] = src[src_index[i]] for every i, all i32 and contiguous on one device: the
// engine puts the tokens a step sampled into the next step's input ids without a round trip to
// the host (asynchronous scheduling). On CUDA an out-of-range index skips its entry; the CPU
// raises InvalidArgument.
void scatter_tokens(Tensor& dst, const Tensor& dst_index, const Tensor& src, const Tensor& src_index);

// A copy of `src` (contiguous, any device) to the host that the caller waits for later: on CUDA
// it is queued on the stream into page-locked memory, so the host can queue the next step before
// this one's results are back; on the CPU it is made at once.
class HostCopy {
 public:
  HostCopy() = default;
  explicit HostCopy(const Tensor& src);
  bool defined() const { return static_cast<bool>(wait_); }
  size_t bytes() const { return bytes_; }
  // Blocks until the bytes landed; they stay valid while this object (or a copy of it) lives.
  const void* wait() const { return wait_(); }

 private:
  size_t bytes_ = 0;
  std::shared_ptr<void> state_;          // what holds the bytes
  std::function<const void*()> wait_;
};

}  // namespace vllm::ops
