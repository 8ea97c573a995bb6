// The types the ops (src/ops/*.h) and the device layer (ops/device.h) share with the backends:
// parameters the kernels read and what the backends report. They live here, below both, so that
// ops include the backends they dispatch to and no backend includes ops.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/tensor.h"

namespace vllm::ops {

// Elementwise activations (ops/activation.h).
enum class Activation {
  Silu,      // x * sigmoid(x)
  Gelu,      // exact: 0.5 x (1 + erf(x / sqrt(2)))
  GeluTanh,  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), HF's gelu_pytorch_tanh
  Relu,
  Relu2,     // relu(x)^2
};

// Attention switches (ops/attention.h).
struct AttentionParams {
  float scale = 1.0f;
  // true: the query at position p sees keys 0..p. false: every query row of sequence b sees all
  // of its keys (encoder self-attention; cross-attention over an encoder's cached K/V, where
  // seq_lens are the encoder lengths and a sequence may have more query rows than keys).
  bool causal = true;
  // 0: none. Else key j is visible to the query at position p iff |p - j| < sliding_window: with
  // causal = true, p - j < sliding_window (HF's sliding-window mask); with causal = false a window
  // on both sides (ModernBERT's local attention, |p - j| <= local_attention / 2, passes
  // local_attention / 2 + 1), supported by attention_varlen only (paged_attention: Unsupported).
  int64_t sliding_window = 0;
  // 0: none, else scores = cap * tanh(scores / cap) (Gemma 2), applied after scale.
  float logit_softcap = 0.0f;
  // Undefined: none; else [Hq] f32, bias slope * (j - p) added to the scores (p: the query's
  // position as the attention ops define it, with or without the causal limit).
  Tensor alibi_slopes;
  // Undefined: none; else [Hq] f32 on the device: per query head a learned logit s_h that joins
  // the softmax and is dropped afterwards (GPT-OSS; HF's eager_attention_forward with `sinks`):
  // p_j = exp(score_j - m) / (sum_i exp(score_i - m) + exp(s_h - m)), m = max(max_i score_i, s_h),
  // scores after scale, soft-cap and ALiBi (the sink is not capped). A row that sees no key
  // outputs zeros, with or without a sink.
  Tensor sinks;
  // Host-side hints from the caller's own batch description, never read back from the device.
  // Kernels pick their path and grid from these and the tensor shapes only (a CUDA graph replays
  // one launch with new seq_lens contents): the largest q_len of any sequence in the call (-1:
  // unknown, taken as query.size(0)) and an upper bound on every seq_lens[b] (-1: unknown, taken
  // as block_table.size(1) * block_size).
  int64_t max_query_len = -1;
  int64_t max_seq_len = -1;
  // How many leading sequences have exactly one query token (rows 0..D-1): a batch of decodes and
  // prompts then runs the decode kernel for those and the prefill kernel for the rest (-1 or 0:
  // unknown, one kernel for all).
  int64_t num_decode_seqs = -1;
};

// Sampling (ops/sampling.h).
// Per-sample parameters, each [S] on the logits' device; an undefined tensor turns its filter off
// for every row.
struct SamplingTensors {
  Tensor temperatures;  // f32 (required): 0 takes the argmax (lowest index on ties)
  Tensor seeds;         // i64 (required): the row's random draw
  Tensor top_k;         // i32: keep the k highest logits (<= 0: off)
  Tensor top_p;         // f32: keep the smallest top set holding this much probability (>= 1: off)
  Tensor min_p;         // f32: keep tokens with p >= min_p * p_max (<= 0: off)
  Tensor rows;          // i32: the logits row sample s reads (undefined: row s)
};

struct PenaltyTensors {
  Tensor repetition;     // f32 [S]: 1 is off
  Tensor frequency;      // f32 [S]: 0 is off
  Tensor presence;       // f32 [S]: 0 is off
  Tensor token_offsets;  // i32 [S + 1]: row s's tokens are entries [offsets[s], offsets[s + 1])
  Tensor token_ids;      // i32 [N]: the distinct tokens of the row's prompt and output
  Tensor output_counts;  // i32 [N]: how often each occurs in the output (0: prompt only)
};

// One sample's entries of SamplingTensors.
struct RowSampling {
  float temperature = 0.0f;  // <= 0: the argmax (lowest index on ties)
  uint64_t seed = 0;         // the exponential race's seed (temperature rows)
  int32_t top_k = 0;         // <= 0: off
  float top_p = 1.0f;        // >= 1: off
  float min_p = 0.0f;        // <= 0: off
};

}  // namespace vllm::ops

namespace vllm::device {

// The device's memory as the driver reports it (cudaMemGetInfo); zeros on the CPU.
struct MemoryInfo {
  size_t free = 0;
  size_t total = 0;
};

// The caching allocator's counters in bytes (held from the driver, handed out now, most handed
// out at once since reset_peak_memory); zeros on the CPU. The CUDA backend fills this type too.
struct MemoryStats {
  size_t reserved = 0;
  size_t allocated = 0;
  size_t peak_allocated = 0;
  uint64_t driver_allocations = 0;  // cudaMalloc calls (cache misses)
  uint64_t cache_flushes = 0;       // times a failed cudaMalloc made the cache go back to the driver
};

}  // namespace vllm::device
