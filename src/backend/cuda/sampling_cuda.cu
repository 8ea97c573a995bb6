// The sampling ops on the GPU: sample_tokens, apply_penalties, compute_logprobs, and the
// engine's packed upload.
//
// sample_tokens splits every row into `slices` blocks (about 8 blocks per SM over all rows, so a
// single decode row of 128K logits still uses the whole GPU). One pass over the row gives each
// slice its greedy argmax, or for a sampled row its finite z = logits / T range and, when no
// filter is on, its race winner; a one-block-per-row kernel then combines the slices. Rows with
// min-p, top-k or top-p continue: their thresholds are radix selects on order keys
// (sampling_common.h), each pass a sliced histogram of one key byte (counts for top-k, fixed-point
// masses for top-p, integers, so the slices' order does not matter) followed by a one-block
// select of the digit; then a sliced race over the kept tokens. Every step is the CPU kernel's
// (sampling_cpu.cpp) in another order over exact integers and argmaxes, so both draw the same
// token. z is computed with __fmul_rn so that no FMA contraction rounds it differently.
#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <mutex>

#include "backend/cuda/cuda_common.cuh"
#include "backend/sampling_common.h"

namespace vllm::cuda {
namespace {

using namespace detail;
using ops::detail::kRadixBins;
using ops::detail::kRadixPasses;
using ops::detail::mass_units;
using ops::detail::order_key;
using ops::detail::race_log_exponential;

constexpr int kThreads = 256;                // every sampling kernel's block
constexpr int kMaxSlices = 256;              // slices per row, combined by one block of kThreads
constexpr int64_t kMinSliceLength = 1024;    // tokens, 4 per thread
constexpr int kNone = 0x7fffffff;            // no candidate index
constexpr int kLogprobValuesPerThread = 16;  // compute_logprobs keeps its slice in registers
constexpr int64_t kLogprobSlice = int64_t{kThreads} * kLogprobValuesPerThread;
static_assert(kThreads == kRadixBins, "the radix select gives one thread per digit");

struct Candidate {
  float score;
  int index;  // kNone: none
};

__device__ __forceinline__ bool better(float score, int index, float best, int best_index) {
  return score > best || (score == best && index < best_index);
}

__device__ __forceinline__ Candidate warp_argmax(Candidate c) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    const float score = __shfl_xor_sync(0xffffffffu, c.score, offset);
    const int index = __shfl_xor_sync(0xffffffffu, c.index, offset);
    if (better(score, index, c.score, c.index)) c = {score, index};
  }
  return c;
}

// Block-wide argmax of (score, index), lowest index on ties; the winner in every thread. Ends
// with a barrier, so `scratch` (32 entries) can be reused at once.
__device__ Candidate block_argmax(Candidate c, Candidate* scratch) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  c = warp_argmax(c);
  if (lane == 0) scratch[warp] = c;
  __syncthreads();
  c = lane < warps ? scratch[lane] : Candidate{-INFINITY, kNone};
  c = warp_argmax(c);
  __syncthreads();
  return c;
}

// ---------------------------------------------------------------------------------------------
// sample_tokens

struct SamplingArgs {
  const float* logits;
  int64_t stride;
  int64_t num_rows;
  int64_t vocab;
  const int32_t* rows;  // null: sample s reads row s
  const float* temperatures;
  const int64_t* seeds;
  const int32_t* top_ks;  // null: off
  const float* top_ps;    // null: off
  const float* min_ps;    // null: off
  int slices;
  int64_t slice_length;

  __device__ const float* row(int64_t s) const {
    const int64_t r = rows ? rows[s] : s;
    return r >= 0 && r < num_rows ? logits + r * stride : nullptr;
  }
  __device__ float inverse_temperature(int64_t s) const { return __fdiv_rn(1.0f, temperatures[s]); }
  __device__ bool top_k_on(int64_t s) const { return top_ks && top_ks[s] > 0; }
  __device__ bool top_p_on(int64_t s) const { return top_ps && top_ps[s] < 1.0f; }
  __device__ bool filtered(int64_t s) const {
    return temperatures[s] > 0.0f && (top_k_on(s) || top_p_on(s) || (min_ps && min_ps[s] > 0.0f));
  }
  // This block's sample and its slice [begin, end) of the vocabulary (sliced kernels).
  __device__ int64_t sample() const { return blockIdx.x / slices; }
  __device__ int64_t slice_begin() const { return (blockIdx.x % slices) * slice_length; }
  __device__ int64_t slice_end() const { return min(vocab, slice_begin() + slice_length); }
};

// One slice's view of its row, combined per row by filter_init_kernel and finish_kernel.
struct SlicePartial {
  float max;       // of the finite z (sampled rows)
  float min;
  float best;      // the greedy logit or the race score of best_index
  int best_index;  // kNone: no candidate in the slice
};

// A filtered row's thresholds. Kept tokens: order_key(z) >= tau_key.
struct FilterState {
  float max;            // of the finite z
  uint32_t tau_key;
  uint32_t prefix;      // the radix select's digits so far
  int active;           // a filtered row with something finite to draw
  int selecting;        // the current filter's radix select is under way
  unsigned long long rank;        // top-k: the rank still to find inside the prefix's bucket
  unsigned long long mass_above;  // top-p: kept mass above the prefix's bucket
  double mass_target;             // top-p
};

__global__ void __launch_bounds__(kThreads) slice_stats_kernel(SamplingArgs a, SlicePartial* partials) {
  __shared__ float float_scratch[32];
  __shared__ Candidate candidate_scratch[32];
  const int64_t s = a.sample(), begin = a.slice_begin(), end = a.slice_end();
  const float* row = a.row(s);
  const float t = a.temperatures[s];
  float max = -INFINITY, min = INFINITY;
  Candidate best{-INFINITY, kNone};
  if (row != nullptr && !(t > 0.0f)) {  // greedy: NaN and -inf never win (sampling_cpu.cpp's argmax_row)
    for (int64_t i = begin + threadIdx.x; i < end; i += kThreads) {
      const float v = row[i];
      if (v > -INFINITY && better(v, static_cast<int>(i), best.score, best.index)) best = {v, static_cast<int>(i)};
    }
  } else if (row != nullptr) {
    const float inverse = a.inverse_temperature(s);
    const bool race = !a.filtered(s);  // unfiltered rows draw now, from every finite or +inf z
    const uint64_t seed = static_cast<uint64_t>(a.seeds[s]);
    for (int64_t i = begin + threadIdx.x; i < end; i += kThreads) {
      const float z = __fmul_rn(row[i], inverse);
      if (isfinite(z)) {
        max = fmaxf(max, z);
        min = fminf(min, z);
      }
      if (race && z > -INFINITY) {
        const float score = __fsub_rn(z, race_log_exponential(seed, i));
        if (better(score, static_cast<int>(i), best.score, best.index)) best = {score, static_cast<int>(i)};
      }
    }
  }
  max = block_max(max, float_scratch);
  min = -block_max(-min, float_scratch);
  best = block_argmax(best, candidate_scratch);
  if (threadIdx.x == 0) partials[blockIdx.x] = {max, min, best.score, best.index};
}

// One block per row: the row's finite range from its slices, and min-p's threshold.
__global__ void __launch_bounds__(kThreads)
    filter_init_kernel(SamplingArgs a, const SlicePartial* partials, FilterState* states) {
  __shared__ float float_scratch[32];
  const int64_t s = blockIdx.x;
  float max = -INFINITY, neg_min = -INFINITY;
  for (int b = threadIdx.x; b < a.slices; b += kThreads) {
    const SlicePartial& p = partials[s * a.slices + b];
    max = fmaxf(max, p.max);
    neg_min = fmaxf(neg_min, -p.min);
  }
  max = block_max(max, float_scratch);
  const float min = -block_max(neg_min, float_scratch);
  if (threadIdx.x != 0) return;
  FilterState state{};
  state.active = a.row(s) != nullptr && a.filtered(s) && max >= min;
  state.max = max;
  float tau = min;
  const float min_p = a.min_ps ? a.min_ps[s] : 0.0f;
  if (min_p > 0.0f) tau = fmaxf(tau, ops::detail::min_p_threshold(max, min_p));
  state.tau_key = order_key(tau);
  states[s] = state;
}

// Whether the radix select of top-k (by count) or top-p (by mass) runs for the row in this pass.
template <bool kByMass>
__device__ bool selecting(const SamplingArgs& a, const FilterState& state, int64_t s, int pass) {
  if (pass > 0) return state.selecting;
  return state.active && (kByMass ? a.top_p_on(s) : a.top_k_on(s));
}

// One pass of the radix select, sliced: the kept tokens inside the prefix's bucket by their next
// key byte, counted (top-k) or weighed (top-p) into histograms [S, 256].
template <bool kByMass>
__global__ void __launch_bounds__(kThreads) radix_histogram_kernel(SamplingArgs a, const FilterState* states, int pass,
                                                                   unsigned long long* histograms) {
  __shared__ unsigned long long histogram[kRadixBins];
  const int64_t s = a.sample(), begin = a.slice_begin(), end = a.slice_end();
  const FilterState state = states[s];
  if (!selecting<kByMass>(a, state, s, pass)) return;
  histogram[threadIdx.x] = 0;
  __syncthreads();
  const float* row = a.row(s);
  const float inverse = a.inverse_temperature(s);
  const int shift = ops::detail::radix_shift(pass);
  const uint32_t mask = ops::detail::radix_prefix_mask(pass);
  for (int64_t i = begin + threadIdx.x; i < end; i += kThreads) {
    const float z = __fmul_rn(row[i], inverse);
    const uint32_t key = order_key(z);
    if (key >= state.tau_key && (key & mask) == state.prefix)
      atomicAdd(&histogram[(key >> shift) & 0xffu], kByMass ? mass_units(z, state.max) : 1ull);
  }
  __syncthreads();
  const unsigned long long mine = histogram[threadIdx.x];
  if (mine != 0) atomicAdd(&histograms[s * kRadixBins + threadIdx.x], mine);
}

// One block per row, one thread per digit: the highest digit whose suffix (its bucket and the
// ones above) still reaches the goal (sampling_cpu.cpp's radix_select). Zeroes the histogram for
// the next pass; the last pass sets tau_key.
template <bool kByMass>
__global__ void __launch_bounds__(kRadixBins) radix_select_kernel(SamplingArgs a, FilterState* states, int pass,
                                                                  unsigned long long* histograms) {
  __shared__ unsigned long long suffix[kRadixBins];
  const int64_t s = blockIdx.x;
  const int digit = threadIdx.x;
  FilterState state = states[s];
  if (!selecting<kByMass>(a, state, s, pass)) return;
  unsigned long long* histogram = histograms + s * kRadixBins;
  const unsigned long long count = histogram[digit];
  histogram[digit] = 0;
  suffix[digit] = count;
  __syncthreads();
  for (int offset = 1; offset < kRadixBins; offset <<= 1) {  // suffix[d] = sum of count over digits >= d
    const unsigned long long add = digit + offset < kRadixBins ? suffix[digit + offset] : 0;
    __syncthreads();
    suffix[digit] += add;
    __syncthreads();
  }
  if (pass == 0) {
    const unsigned long long total = suffix[0];  // every kept token
    if constexpr (kByMass) {
      state.mass_above = 0;
      state.mass_target = static_cast<double>(a.top_ps[s]) * static_cast<double>(total);
    } else {
      state.rank = static_cast<unsigned long long>(a.top_ks[s]);
      if (total <= state.rank) {  // top-k keeps everything already kept
        if (digit == 0) states[s].selecting = 0;
        return;
      }
    }
  }
  const bool reaches = kByMass ? static_cast<double>(state.mass_above + suffix[digit]) >= state.mass_target
                               : suffix[digit] >= state.rank;
  const int chosen = max(__syncthreads_count(reaches) - 1, 0);  // reaches holds for digits 0..chosen
  if (digit != chosen) return;
  const unsigned long long over = suffix[digit] - count;  // the kept tokens of the higher digits
  if (kByMass) state.mass_above += over; else state.rank -= over;
  state.prefix |= static_cast<uint32_t>(digit) << ops::detail::radix_shift(pass);
  state.selecting = 1;
  if (pass == kRadixPasses - 1) {
    state.tau_key = state.prefix;
    state.prefix = 0;
    state.selecting = 0;
  }
  states[s] = state;
}

// Filtered rows: each slice's race winner among its kept tokens.
__global__ void __launch_bounds__(kThreads)
    filtered_race_kernel(SamplingArgs a, const FilterState* states, SlicePartial* partials) {
  __shared__ Candidate candidate_scratch[32];
  const int64_t s = a.sample(), begin = a.slice_begin(), end = a.slice_end();
  const FilterState state = states[s];
  if (!state.active) return;
  const float* row = a.row(s);
  const float inverse = a.inverse_temperature(s);
  const uint64_t seed = static_cast<uint64_t>(a.seeds[s]);
  Candidate best{-INFINITY, kNone};
  for (int64_t i = begin + threadIdx.x; i < end; i += kThreads) {
    const float z = __fmul_rn(row[i], inverse);
    if (order_key(z) < state.tau_key) continue;
    const float score = __fsub_rn(z, race_log_exponential(seed, i));
    if (better(score, static_cast<int>(i), best.score, best.index)) best = {score, static_cast<int>(i)};
  }
  best = block_argmax(best, candidate_scratch);
  if (threadIdx.x == 0) {
    partials[blockIdx.x].best = best.score;
    partials[blockIdx.x].best_index = best.index;
  }
}

// One block per row: the slices' winner, or token 0 where there is nothing to draw from.
__global__ void __launch_bounds__(kThreads)
    finish_kernel(SamplingArgs a, const SlicePartial* partials, int32_t* out) {
  __shared__ float float_scratch[32];
  __shared__ Candidate candidate_scratch[32];
  const int64_t s = blockIdx.x;
  float max = -INFINITY, neg_min = -INFINITY;
  Candidate best{-INFINITY, kNone};
  for (int b = threadIdx.x; b < a.slices; b += kThreads) {
    const SlicePartial& p = partials[s * a.slices + b];
    max = fmaxf(max, p.max);
    neg_min = fmaxf(neg_min, -p.min);
    if (p.best_index != kNone && better(p.best, p.best_index, best.score, best.index)) best = {p.best, p.best_index};
  }
  max = block_max(max, float_scratch);
  const float min = -block_max(neg_min, float_scratch);
  best = block_argmax(best, candidate_scratch);
  if (threadIdx.x != 0) return;
  const bool sampled = a.temperatures[s] > 0.0f;
  const bool nothing = a.row(s) == nullptr || best.index == kNone || (sampled && !(max >= min));
  out[s] = nothing ? 0 : best.index;
}

int multiprocessors(Device device) {
  static std::array<std::atomic<int>, 16> counts{};
  std::atomic<int>& count = counts[static_cast<size_t>(device.index) % counts.size()];
  if (count.load() == 0) {
    int n = 0;
    check(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device.index), "cudaDeviceGetAttribute");
    count.store(std::max(n, 1));
  }
  return count.load();
}

// Slices per row: about 8 blocks per SM over all rows, at least kMinSliceLength tokens a slice.
int slices_per_row(int64_t samples, int64_t vocab, Device device) {
  const int64_t wanted = (8LL * multiprocessors(device) + samples - 1) / samples;
  const int64_t most = (vocab + kMinSliceLength - 1) / kMinSliceLength;
  return static_cast<int>(std::clamp<int64_t>(std::min(wanted, most), 1, kMaxSlices));
}

// Carves typed scratch arrays out of one device allocation, each 256-byte aligned.
class ScratchLayout {
 public:
  template <typename T>
  size_t add(int64_t count) {
    const size_t offset = bytes_;
    bytes_ += (static_cast<size_t>(std::max<int64_t>(count, 1)) * sizeof(T) + 255) / 256 * 256;
    return offset;
  }
  size_t bytes() const { return bytes_; }

 private:
  size_t bytes_ = 0;
};

template <typename T>
const T* optional_data(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

}  // namespace

void sample_tokens(const Tensor& logits, const ops::SamplingTensors& params, Tensor& out) {
  const Device device = logits.device();
  set_device(device);
  const int64_t samples = out.size(0), vocab = logits.size(1);
  if (samples == 0) return;
  VLLM_CHECK(vocab < kNone, Unsupported, "sample_tokens: a vocabulary of ", vocab, " exceeds int32 token ids");
  SamplingArgs a{logits.data<float>(), logits.stride(0), logits.size(0), vocab, optional_data<int32_t>(params.rows),
                 params.temperatures.data<float>(), params.seeds.data<int64_t>(), optional_data<int32_t>(params.top_k),
                 optional_data<float>(params.top_p), optional_data<float>(params.min_p), 0, 0};
  a.slices = slices_per_row(samples, vocab, device);
  a.slice_length = (vocab + a.slices - 1) / a.slices;
  const int64_t blocks = samples * a.slices;
  VLLM_CHECK(blocks <= 0x7fffffff, Unsupported, "sample_tokens: ", samples, " rows exceed the CUDA grid");
  const bool filters = params.top_k.defined() || params.top_p.defined() || params.min_p.defined();

  ScratchLayout layout;
  const size_t partials_at = layout.add<SlicePartial>(blocks);
  const size_t states_at = layout.add<FilterState>(filters ? samples : 0);
  const size_t histograms_at = layout.add<unsigned long long>(filters ? samples * kRadixBins : 0);
  Tensor scratch = Tensor::empty({static_cast<int64_t>(layout.bytes())}, DType::U8, device);
  char* base = static_cast<char*>(scratch.raw_data());
  auto* partials = reinterpret_cast<SlicePartial*>(base + partials_at);
  auto* states = reinterpret_cast<FilterState*>(base + states_at);
  auto* histograms = reinterpret_cast<unsigned long long*>(base + histograms_at);
  cudaStream_t s = stream();
  const unsigned grid = static_cast<unsigned>(blocks), rows = static_cast<unsigned>(samples);

  slice_stats_kernel<<<grid, kThreads, 0, s>>>(a, partials);
  check_launch("slice_stats_kernel");
  if (filters) {
    check(cudaMemsetAsync(histograms, 0, static_cast<size_t>(samples) * kRadixBins * sizeof(unsigned long long), s),
          "cudaMemsetAsync");
    filter_init_kernel<<<rows, kThreads, 0, s>>>(a, partials, states);
    check_launch("filter_init_kernel");
    if (params.top_k.defined())
      for (int pass = 0; pass < kRadixPasses; ++pass) {
        radix_histogram_kernel<false><<<grid, kThreads, 0, s>>>(a, states, pass, histograms);
        check_launch("radix_histogram_kernel");
        radix_select_kernel<false><<<rows, kRadixBins, 0, s>>>(a, states, pass, histograms);
        check_launch("radix_select_kernel");
      }
    if (params.top_p.defined())
      for (int pass = 0; pass < kRadixPasses; ++pass) {
        radix_histogram_kernel<true><<<grid, kThreads, 0, s>>>(a, states, pass, histograms);
        check_launch("radix_histogram_kernel");
        radix_select_kernel<true><<<rows, kRadixBins, 0, s>>>(a, states, pass, histograms);
        check_launch("radix_select_kernel");
      }
    filtered_race_kernel<<<grid, kThreads, 0, s>>>(a, states, partials);
    check_launch("filtered_race_kernel");
  }
  finish_kernel<<<rows, kThreads, 0, s>>>(a, partials, out.data<int32_t>());
  check_launch("finish_kernel");
}

// ---------------------------------------------------------------------------------------------
// apply_penalties: one block per row over its distinct tokens (no two threads touch one logit).

namespace {

__global__ void __launch_bounds__(kThreads)
    apply_penalties_kernel(float* logits, int64_t stride, int64_t vocab, int64_t entries, const float* repetition,
                           const float* frequency, const float* presence, const int32_t* offsets,
                           const int32_t* token_ids, const int32_t* counts) {
  const int64_t s = blockIdx.x;
  const int64_t begin = max(offsets[s], 0), end = min(static_cast<int64_t>(offsets[s + 1]), entries);
  float* row = logits + s * stride;
  const float repeat = repetition[s], per_count = frequency[s], present = presence[s];
  const bool additive = per_count != 0.0f || present != 0.0f;
  for (int64_t e = begin + threadIdx.x; e < end; e += kThreads) {
    const int32_t token = token_ids[e];
    if (token < 0 || token >= vocab) continue;
    float logit = row[token];
    if (repeat != 1.0f) logit = logit > 0.0f ? __fdiv_rn(logit, repeat) : __fmul_rn(logit, repeat);
    if (additive && counts[e] > 0) {
      logit = __fsub_rn(logit, __fmul_rn(per_count, static_cast<float>(counts[e])));
      logit = __fsub_rn(logit, present);
    }
    row[token] = logit;
  }
}

}  // namespace

void apply_penalties(Tensor& logits, const ops::PenaltyTensors& penalties) {
  set_device(logits.device());
  const int64_t samples = logits.size(0);
  if (samples == 0) return;
  VLLM_CHECK(samples <= 0x7fffffff, Unsupported, "apply_penalties: ", samples, " rows exceed the CUDA grid");
  apply_penalties_kernel<<<static_cast<unsigned>(samples), kThreads, 0, stream()>>>(
      logits.data<float>(), logits.stride(0), logits.size(1), penalties.token_ids.size(0),
      penalties.repetition.data<float>(), penalties.frequency.data<float>(), penalties.presence.data<float>(),
      penalties.token_offsets.data<int32_t>(), penalties.token_ids.data<int32_t>(),
      penalties.output_counts.data<int32_t>());
  check_launch("apply_penalties_kernel");
}

// ---------------------------------------------------------------------------------------------
// apply_token_bitmask: one thread a token, rows on the grid's y.

namespace {

__global__ void apply_token_bitmask_kernel(float* logits, int64_t stride, int64_t vocab, const uint32_t* bitmask,
                                           int64_t words) {
  const int64_t s = blockIdx.y;
  const int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= vocab) return;
  if (!(bitmask[s * words + (t >> 5)] >> (t & 31) & 1u)) logits[s * stride + t] = -INFINITY;
}

}  // namespace

void apply_token_bitmask(Tensor& logits, const Tensor& bitmask) {
  set_device(logits.device());
  const int64_t samples = logits.size(0), vocab = logits.size(1);
  if (samples == 0 || vocab == 0) return;
  VLLM_CHECK(samples <= 65535, Unsupported, "apply_token_bitmask: ", samples, " rows exceed the CUDA grid");
  constexpr int kBlock = 256;
  const dim3 grid(static_cast<unsigned>((vocab + kBlock - 1) / kBlock), static_cast<unsigned>(samples));
  apply_token_bitmask_kernel<<<grid, kBlock, 0, stream()>>>(logits.data<float>(), logits.stride(0), vocab,
                                                           reinterpret_cast<const uint32_t*>(bitmask.data<int32_t>()),
                                                           bitmask.size(1));
  check_launch("apply_token_bitmask_kernel");
}

// ---------------------------------------------------------------------------------------------
// compute_logprobs: slices of kLogprobSlice tokens held in registers. Each slice gives its max,
// its sum of exp(logit - max), its count of logits >= the chosen token's and its num_top best
// (value, index), highest first; one block per row merges them.

namespace {

struct LogprobArgs {
  const float* logits;
  int64_t stride;
  int64_t num_rows;
  int64_t vocab;
  const int32_t* rows;  // null: sample s reads row s
  const int32_t* tokens;
  int slices;
  int num_top;

  __device__ const float* row(int64_t s) const {
    const int64_t r = rows ? rows[s] : s;
    return r >= 0 && r < num_rows ? logits + r * stride : nullptr;
  }
  __device__ bool token_ok(int64_t s) const { return tokens[s] >= 0 && tokens[s] < vocab; }
};

struct LogprobPartial {
  float max;
  int rank;    // logits >= the chosen token's
  double sum;  // of exp(logit - max); 0 when the slice has no finite logit
};

// Round r of a top list takes the best value ordered after round r - 1's pick (value
// descending, index ascending), so the rounds list the top values in order without marking any.
__device__ __forceinline__ bool after(float value, int index, float previous, int previous_index) {
  return value < previous || (value == previous && index > previous_index);
}

__global__ void __launch_bounds__(kThreads)
    logprob_slice_kernel(LogprobArgs a, LogprobPartial* partials, Candidate* candidates) {
  __shared__ float float_scratch[32];
  __shared__ double double_scratch[32];
  __shared__ long long count_scratch[32];
  __shared__ Candidate candidate_scratch[32];
  const int64_t s = blockIdx.x / a.slices, begin = (blockIdx.x % a.slices) * kLogprobSlice;
  const float* row = a.row(s);
  const float chosen = row != nullptr && a.token_ok(s) ? row[a.tokens[s]] : NAN;
  float values[kLogprobValuesPerThread];
  float max = -INFINITY;
  long long rank = 0;
#pragma unroll
  for (int j = 0; j < kLogprobValuesPerThread; ++j) {
    const int64_t i = begin + j * kThreads + threadIdx.x;
    values[j] = row != nullptr && i < a.vocab ? row[i] : NAN;  // NaN: outside the row, never counted
    max = fmaxf(max, values[j]);
    rank += values[j] >= chosen;
  }
  max = block_max(max, float_scratch);
  double sum = 0.0;
  if (max > -INFINITY) {
#pragma unroll
    for (int j = 0; j < kLogprobValuesPerThread; ++j)
      if (values[j] == values[j]) sum += exp(static_cast<double>(values[j]) - max);
  }
  sum = block_sum(sum, double_scratch);
  rank = block_sum(rank, count_scratch);
  if (threadIdx.x == 0) partials[blockIdx.x] = {max, static_cast<int>(rank), sum};
  Candidate previous{INFINITY, -1};
  for (int r = 0; r < a.num_top; ++r) {
    Candidate best{-INFINITY, kNone};
#pragma unroll
    for (int j = 0; j < kLogprobValuesPerThread; ++j) {
      const int i = static_cast<int>(begin + j * kThreads + threadIdx.x);
      if (after(values[j], i, previous.score, previous.index) && better(values[j], i, best.score, best.index))
        best = {values[j], i};
    }
    best = block_argmax(best, candidate_scratch);
    if (threadIdx.x == 0) candidates[static_cast<int64_t>(blockIdx.x) * a.num_top + r] = best;
    previous = best;  // none found: later rounds find none either
  }
}

__global__ void __launch_bounds__(kThreads)
    logprob_merge_kernel(LogprobArgs a, const LogprobPartial* partials, const Candidate* candidates,
                         int32_t* top_ids, float* top_logprobs, int32_t* ranks) {
  __shared__ float float_scratch[32];
  __shared__ double double_scratch[32];
  __shared__ long long count_scratch[32];
  __shared__ Candidate candidate_scratch[32];
  const int64_t s = blockIdx.x, columns = a.num_top + 1;
  const LogprobPartial* parts = partials + s * a.slices;
  float max = -INFINITY;
  for (int b = threadIdx.x; b < a.slices; b += kThreads) max = fmaxf(max, parts[b].max);
  max = block_max(max, float_scratch);
  double sum = 0.0;
  long long rank = 0;
  for (int b = threadIdx.x; b < a.slices; b += kThreads) {
    if (parts[b].sum > 0.0) sum += parts[b].sum * exp(static_cast<double>(parts[b].max) - max);
    rank += parts[b].rank;
  }
  sum = block_sum(sum, double_scratch);
  rank = block_sum(rank, count_scratch);
  const double log_normalizer = max + log(sum);
  const float* row = a.row(s);
  if (threadIdx.x == 0) {
    const bool ok = row != nullptr && a.token_ok(s);
    top_ids[s * columns] = a.tokens[s];
    top_logprobs[s * columns] = ok ? static_cast<float>(row[a.tokens[s]] - log_normalizer) : NAN;
    ranks[s] = static_cast<int32_t>(rank);
  }
  const int64_t count = static_cast<int64_t>(a.slices) * a.num_top;
  const Candidate* list = candidates + s * count;
  Candidate previous{INFINITY, -1};
  for (int r = 0; r < a.num_top; ++r) {
    Candidate best{-INFINITY, kNone};
    for (int64_t c = threadIdx.x; c < count; c += kThreads) {
      const Candidate candidate = list[c];
      if (candidate.index != kNone && after(candidate.score, candidate.index, previous.score, previous.index) &&
          better(candidate.score, candidate.index, best.score, best.index))
        best = candidate;
    }
    best = block_argmax(best, candidate_scratch);
    if (threadIdx.x == 0) {
      const bool found = best.index != kNone;
      top_ids[s * columns + 1 + r] = found ? best.index : -1;
      top_logprobs[s * columns + 1 + r] = found ? static_cast<float>(best.score - log_normalizer) : -INFINITY;
    }
    previous = best;
  }
}

}  // namespace

void compute_logprobs(const Tensor& logits, const Tensor& rows, const Tensor& token_ids, Tensor& top_ids,
                      Tensor& top_logprobs, Tensor& ranks) {
  const Device device = logits.device();
  set_device(device);
  const int64_t samples = token_ids.size(0), vocab = logits.size(1);
  if (samples == 0) return;
  VLLM_CHECK(vocab < kNone, Unsupported, "compute_logprobs: a vocabulary of ", vocab, " exceeds int32 token ids");
  LogprobArgs a{logits.data<float>(), logits.stride(0), logits.size(0), vocab, optional_data<int32_t>(rows),
                token_ids.data<int32_t>(), static_cast<int>((vocab + kLogprobSlice - 1) / kLogprobSlice),
                static_cast<int>(top_ids.size(1) - 1)};
  const int64_t blocks = samples * a.slices;
  VLLM_CHECK(blocks <= 0x7fffffff, Unsupported, "compute_logprobs: ", samples, " rows exceed the CUDA grid");
  ScratchLayout layout;
  const size_t partials_at = layout.add<LogprobPartial>(blocks);
  const size_t candidates_at = layout.add<Candidate>(blocks * a.num_top);
  Tensor scratch = Tensor::empty({static_cast<int64_t>(layout.bytes())}, DType::U8, device);
  char* base = static_cast<char*>(scratch.raw_data());
  auto* partials = reinterpret_cast<LogprobPartial*>(base + partials_at);
  auto* candidates = reinterpret_cast<Candidate*>(base + candidates_at);
  logprob_slice_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream()>>>(a, partials, candidates);
  check_launch("logprob_slice_kernel");
  logprob_merge_kernel<<<static_cast<unsigned>(samples), kThreads, 0, stream()>>>(
      a, partials, candidates, top_ids.data<int32_t>(), top_logprobs.data<float>(), ranks.data<int32_t>());
  check_launch("logprob_merge_kernel");
}

// ---------------------------------------------------------------------------------------------
// upload_packed, scatter_tokens

Tensor upload_packed(const void* data, size_t bytes, Device device) {
  Tensor out = Tensor::empty({static_cast<int64_t>(bytes)}, DType::U8, device);
  upload_async(out.raw_data(), data, bytes, device);
  return out;
}

namespace {

__global__ void scatter_tokens_kernel(int32_t* __restrict__ dst, const int32_t* __restrict__ dst_index,
                                      const int32_t* __restrict__ src, const int32_t* __restrict__ src_index,
                                      int count, int64_t dst_size, int64_t src_size) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= count) return;
  const int32_t to = dst_index[i], from = src_index[i];
  if (to >= 0 && to < dst_size && from >= 0 && from < src_size) dst[to] = src[from];
}

}  // namespace

void scatter_tokens(Tensor& dst, const Tensor& dst_index, const Tensor& src, const Tensor& src_index) {
  set_device(dst.device());
  const int64_t count = dst_index.numel();
  if (count == 0) return;
  constexpr int kScatterThreads = 256;
  scatter_tokens_kernel<<<static_cast<unsigned>((count + kScatterThreads - 1) / kScatterThreads), kScatterThreads, 0,
                          stream()>>>(dst.data<int32_t>(), dst_index.data<int32_t>(), src.data<int32_t>(),
                                      src_index.data<int32_t>(), static_cast<int>(count), dst.numel(), src.numel());
  check_launch("scatter_tokens_kernel");
}

}  // namespace vllm::cuda
