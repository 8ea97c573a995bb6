// The CUDA paged-attention paths (tensor-core decode with context splits, tensor-core prefill, the
// generic fallback) with bf16/f16 caches, against the CPU op on f32 caches holding the same
// rounded K/V, causal and not, with and without attention sinks; attention_varlen against the CPU
// op; plus the cache writes' rounding and the CPU's refusal of low-precision caches.
// Skipped (with a message) where no GPU is present. A disabled benchmark times the paths on
// Llama-3.1-8B shapes (run with --gtest_also_run_disabled_tests --gtest_filter='CudaAttention*').
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>

#include "backend/cuda/cuda_backend.h"
#include "cuda/cuda_test_util.h"
#include "engine/input_batch.h"
#include "ops/ops.h"

using namespace vllm;
using namespace vllm::cuda_test;

namespace {

// Tolerances for bf16/f16 caches. The reference sees the same rounded K/V and the query rounded
// to the cache type as the kernels do, so what remains is the rounding of the softmax weights P to
// the operand type before P V (relative 2^-9 for bf16, 2^-12 for f16) and f32 summation order:
// with unit-normal values (|v| < ~5) an output moves by at most ~2^-9 * 5 ~= 1e-2, so atol 2e-2
// with rtol 1e-2 leaves 2x margin; a relative L2 error under 5e-3 (bf16 lands near 1e-3) catches
// systematic errors below that elementwise bound. The f32 fallback stays exact to 1e-5.
struct Tolerance {
  float rtol, atol, rel_l2;
};
Tolerance tolerance_for(DType cache) {
  // f32: only summation order and expf differ; over 5,000-key contexts split and merged, an
  // element can move by 7e-6 (NonCausalMatchesCpu failed so once on an H100), hence atol 1e-5.
  if (cache == DType::F32) return {1e-5f, 1e-5f, 1e-5f};
  return {1e-2f, 2e-2f, 5e-3f};
}

void expect_close(const Tensor& on_gpu, const Tensor& on_cpu, Tolerance tol,
                  const std::string& what) {
  std::vector<float> a = on_gpu.to(Device::cpu()).to_float_vector(), b = on_cpu.to_float_vector();
  ASSERT_EQ(a.size(), b.size()) << what;
  size_t bad = 0, first_bad = 0;
  double worst = 0.0, diff_sq = 0.0, ref_sq = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double diff = std::abs(static_cast<double>(a[i]) - b[i]);
    const bool ok = std::isfinite(a[i]) && diff <= tol.atol + tol.rtol * std::abs(b[i]);
    if (!ok && bad++ == 0) first_bad = i;
    if (std::isfinite(diff)) {
      worst = std::max(worst, diff);
      diff_sq += diff * diff;
    }
    ref_sq += static_cast<double>(b[i]) * b[i];
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << a.size() << " elements differ; first at "
                     << first_bad << ": gpu " << a[first_bad] << " cpu " << b[first_bad]
                     << " (max abs diff " << worst << ")";
  const double rel = std::sqrt(diff_sq / std::max(ref_sq, 1e-30));
  EXPECT_LE(rel, tol.rel_l2) << what << ": relative L2 error " << rel;
}

struct AttentionCase {
  const char* name;
  std::vector<int32_t> seq_lens, q_lens;
  int64_t hq, hk, head, value_head, block_size;
  int64_t sliding_window = 0;
  float softcap = 0.0f;
  bool alibi = false;
  bool strided_query = false;
  int64_t extra_rows = 0;         // rows past query_start[B]: must stay untouched
  int64_t extra_table_cols = 1;   // block_table columns past what the longest sequence needs
  int64_t max_seq_len_hint = 0;   // 0: the true maximum; else this (an over-estimate, or -1)
  bool unknown_query_len = false;  // pass max_query_len = -1
  bool sinks = false;              // a random sink logit per query head
  bool causal = true;              // false: every row sees its whole context (cross-attention)
};

// Per-head sink logits around the scores' scale (unit-normal q and k, scale 1/sqrt(D)), so that
// the sink takes a visible share of the softmax in some heads and little in others.
Tensor random_sinks(int64_t heads) {
  std::vector<float> values = random_values(heads, 2.0f);
  for (float& v : values) v += 1.0f;
  return Tensor::from_floats(values, {heads});
}

// Values rounded through `dtype` (the cache's rounding) back to f32.
std::vector<float> rounded(const std::vector<float>& values, DType dtype) {
  if (dtype == DType::F32) return values;
  return Tensor::from_floats(values, {static_cast<int64_t>(values.size())}, dtype)
      .to(DType::F32)
      .to_float_vector();
}

void run_attention(const AttentionCase& c, DType cache_dtype) {
  const std::string name = str(c.name, " (", dtype_name(cache_dtype), " cache)");
  const int64_t num_seqs = static_cast<int64_t>(c.seq_lens.size());
  int64_t max_blocks = 0, total_blocks = 0, tokens = 0;
  std::vector<int32_t> query_start{0};
  for (int64_t b = 0; b < num_seqs; ++b) {
    const int64_t n = (c.seq_lens[b] + c.block_size - 1) / c.block_size;
    max_blocks = std::max(max_blocks, n);
    total_blocks += n;
    tokens += c.q_lens[b];
    query_start.push_back(static_cast<int32_t>(tokens));
  }
  const int64_t columns = max_blocks + c.extra_table_cols;
  const int64_t num_blocks = total_blocks + 3;  // a few blocks nobody owns
  std::vector<int32_t> ids(static_cast<size_t>(num_blocks));
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), std::mt19937(fresh_seed()));
  // Unused entries point at real blocks: kernels must not read past seq_lens, not merely stay in
  // bounds.
  std::vector<int32_t> table(static_cast<size_t>(num_seqs * (columns + 1)), ids.back());
  size_t next = 0;
  for (int64_t b = 0; b < num_seqs; ++b) {
    const int64_t n = (c.seq_lens[b] + c.block_size - 1) / c.block_size;
    for (int64_t i = 0; i < n; ++i) table[b * (columns + 1) + i] = ids[next++];
  }
  // Block table with a padded row stride (columns + 1 columns, the view uses columns).
  Tensor table_base = Tensor::from_ints(table, {num_seqs, columns + 1});
  Tensor qs = Tensor::from_ints(query_start, {num_seqs + 1});
  Tensor lens = Tensor::from_ints(c.seq_lens, {num_seqs});
  const Shape k_shape{num_blocks, c.block_size, c.hk, c.head};
  const Shape v_shape{num_blocks, c.block_size, c.hk, c.value_head};
  const std::vector<float> k_values = rounded(random_values(shape_numel(k_shape)), cache_dtype);
  const std::vector<float> v_values = rounded(random_values(shape_numel(v_shape)), cache_dtype);
  const int64_t rows = tokens + c.extra_rows;
  const int64_t q_heads = c.strided_query ? c.hq + 2 : c.hq;
  // The kernels round the query to the cache type for the tensor cores; so does the reference.
  const std::vector<float> q_values = random_values(rows * q_heads * c.head);
  Tensor q_base = Tensor::from_floats(q_values, {rows, q_heads, c.head});
  Tensor q_ref = Tensor::from_floats(
      rounded(q_values, cache_dtype == DType::F32 ? DType::F32 : cache_dtype), {rows, q_heads, c.head});

  ops::AttentionParams params;
  params.scale = 1.0f / std::sqrt(static_cast<float>(c.head));
  params.sliding_window = c.sliding_window;
  params.logit_softcap = c.softcap;
  params.causal = c.causal;
  if (c.sinks) params.sinks = random_sinks(c.hq);
  if (c.alibi) {
    std::vector<float> slopes;
    for (int64_t h = 0; h < c.hq; ++h) slopes.push_back(std::pow(2.0f, -8.0f * (h + 1) / c.hq));
    params.alibi_slopes = Tensor::from_floats(slopes, {c.hq});
  }
  Tensor cpu_out = filled({rows, c.hq, c.value_head}, kPoison);
  ops::paged_attention(q_ref.slice(1, 0, c.hq), Tensor::from_floats(k_values, k_shape),
                       Tensor::from_floats(v_values, v_shape), qs, lens,
                       table_base.slice(1, 0, columns), params, cpu_out);

  ops::AttentionParams gparams = params;
  if (c.alibi) gparams.alibi_slopes = gpu(params.alibi_slopes);
  if (c.sinks) gparams.sinks = gpu(params.sinks);
  gparams.max_query_len =
      c.unknown_query_len ? -1 : *std::max_element(c.q_lens.begin(), c.q_lens.end());
  // As build_flat_batch: the leading one-token sequences (decodes ahead of prompts take the
  // decode kernel, the prompts the prefill kernel).
  if (!c.unknown_query_len) {
    gparams.num_decode_seqs = 0;
    while (gparams.num_decode_seqs < num_seqs && c.q_lens[static_cast<size_t>(gparams.num_decode_seqs)] == 1)
      ++gparams.num_decode_seqs;
  }
  gparams.max_seq_len = c.max_seq_len_hint != 0
                            ? c.max_seq_len_hint
                            : *std::max_element(c.seq_lens.begin(), c.seq_lens.end());
  Tensor gpu_out = filled({rows, c.hq, c.value_head}, kPoison, Device::cuda());
  Tensor gquery = gpu(q_base).slice(1, 0, c.hq);
  Tensor gtable = gpu(table_base).slice(1, 0, columns);
  Tensor gkc = gpu(Tensor::from_floats(k_values, k_shape, cache_dtype));
  Tensor gvc = gpu(Tensor::from_floats(v_values, v_shape, cache_dtype));
  ops::paged_attention(gquery, gkc, gvc, gpu(qs), gpu(lens), gtable, gparams, gpu_out);
  expect_close(gpu_out, cpu_out, tolerance_for(cache_dtype), name);
}

const std::vector<AttentionCase>& attention_cases() {
  static const std::vector<AttentionCase> cases = {
      // Decode (tensor-core decode kernel, context splits): lengths 1, around the 64-key tiles
      // and the split boundaries, and long.
      {"decode varied lengths GQA 4", {1, 17, 64, 65, 127, 128, 129, 1000, 4097},
       {1, 1, 1, 1, 1, 1, 1, 1, 1}, 32, 8, 128, 128, 16},
      {"decode MHA D64", {5, 300, 2}, {1, 1, 1}, 4, 4, 64, 64, 16},
      {"decode GQA 8 D256", {33, 700}, {1, 1}, 16, 2, 256, 256, 16},
      {"decode MQA 8 heads", {100, 9}, {1, 1}, 8, 1, 128, 128, 16},
      {"decode MQA 32 heads (prefill kernel)", {100, 9}, {1, 1}, 32, 1, 64, 64, 16},
      {"decode batch 1 long", {9000}, {1}, 32, 8, 128, 128, 16},
      {"decode sliding window", {90, 1500}, {1, 1}, 8, 2, 128, 128, 16, 100},
      {"decode graph hints (max_seq_len 8192, wide table)", {3, 600, 45}, {1, 1, 1}, 32, 8, 128,
       128, 16, 0, 0.0f, false, false, 0, 200, 8192},
      {"decode unknown max_seq_len", {3, 260}, {1, 1}, 8, 2, 96, 96, 16, 0, 0.0f, false, false, 0,
       5, -1},
      {"speculative q_len 4 (decode kernel)", {50, 80}, {4, 2}, 8, 2, 128, 128, 16},
      {"decode odd block size", {23, 200}, {1, 1}, 4, 2, 64, 64, 5},
      // Prefill and mixed batches (tensor-core prefill kernel).
      {"prefill on cached prefix", {300, 1000}, {100, 257}, 32, 8, 128, 128, 16},
      {"prefill fresh MHA D64", {130}, {130}, 8, 8, 64, 64, 16},
      {"mixed chunked prefill + decodes D80", {70, 33, 9, 200, 1}, {20, 1, 9, 1, 1}, 8, 4, 80, 80,
       16, 0, 0.0f, false, true, 3},
      {"all together D96", {300, 3, 77}, {100, 3, 1}, 12, 3, 96, 96, 16, 33, 20.0f, true, true, 2},
      {"prefill softcap D256", {50, 120}, {10, 120}, 4, 4, 256, 256, 16, 0, 30.0f},
      {"prefill alibi", {64, 17}, {64, 1}, 8, 8, 64, 64, 16, 0, 0.0f, true},
      {"prefill sliding window GQA 8", {400, 40}, {150, 40}, 16, 2, 128, 128, 16, 64},
      {"prefill unknown hints", {70, 90}, {70, 2}, 8, 4, 128, 128, 32, 0, 0.0f, false, false, 0, 1,
       -1, true},
      // Decodes ahead of prompts (num_decode_seqs): two launches, the decodes split over their
      // contexts.
      {"decodes then prompts GQA 4", {2000, 3000, 900, 150, 400}, {1, 1, 1, 150, 64}, 32, 8, 128,
       128, 16},
      {"one long decode then a prompt, softcap + window", {6000, 300}, {1, 200}, 16, 4, 128, 128,
       16, 1000, 25.0f, false, false, 2},
      {"decodes then a prefill chunk D64", {70, 1200, 500}, {1, 1, 100}, 8, 8, 64, 64, 16},
      // The generic fallback with low-precision caches.
      {"fallback head 32", {40, 8}, {8, 1}, 4, 2, 32, 32, 16},
      {"fallback value head differs", {40, 8}, {8, 8}, 4, 2, 64, 32, 8},
  };
  return cases;
}

TEST(CudaAttention, Bf16CacheMatchesCpu) {
  SKIP_WITHOUT_GPU();
  for (const AttentionCase& c : attention_cases()) run_attention(c, DType::BF16);
}

TEST(CudaAttention, F16CacheMatchesCpu) {
  SKIP_WITHOUT_GPU();
  for (const AttentionCase& c : attention_cases()) run_attention(c, DType::F16);
}

TEST(CudaAttention, F32CacheMatchesCpu) {
  SKIP_WITHOUT_GPU();
  for (const AttentionCase& c : attention_cases()) run_attention(c, DType::F32);
}

// Every case above with a sink per head: the decode kernel's epilogue, its split merge (the long
// contexts), the prefill kernel, the mixed route and the fallback, with window, soft-cap, ALiBi.
TEST(CudaAttention, SinksMatchCpu) {
  SKIP_WITHOUT_GPU();
  for (DType cache : {DType::BF16, DType::F32})
    for (AttentionCase c : attention_cases()) {
      c.sinks = true;
      run_attention(c, cache);
    }
}

// causal = false (cross-attention over an encoder's cache): one query (decode kernel, split over
// long contexts), more queries than keys (prefill kernel), decodes ahead of prompts, the fallback.
const std::vector<AttentionCase>& non_causal_cases() {
  static const std::vector<AttentionCase> cases = [] {
    std::vector<AttentionCase> list = {
        {"cross decode varied lengths GQA 4", {1, 17, 64, 129, 1500, 5000}, {1, 1, 1, 1, 1, 1}, 32, 8, 128, 128, 16},
        {"cross decode batch 1 split-K D64", {5000}, {1}, 8, 8, 64, 64, 16},
        {"cross prompts longer than the encoder", {30, 7, 200}, {100, 9, 40}, 8, 4, 80, 80, 16},
        {"cross decodes then prompts", {1500, 600, 77, 20}, {1, 1, 64, 45}, 16, 4, 128, 128, 16},
        {"cross softcap + alibi D96", {300, 3}, {100, 3}, 12, 3, 96, 96, 16, 0, 20.0f, true, true, 2},
        {"cross D256 odd block size", {33, 90}, {1, 50}, 16, 2, 256, 256, 5},
        {"cross graph hints (max_seq_len 8192)", {3, 600}, {1, 1}, 32, 8, 128, 128, 16, 0, 0.0f, false, false, 0,
         200, 8192},
        {"cross fallback head 32", {40, 8}, {8, 20}, 4, 2, 32, 32, 16},
        {"cross fallback value head differs", {40, 8}, {1, 8}, 4, 2, 64, 32, 8},
    };
    for (AttentionCase& c : list) c.causal = false;
    return list;
  }();
  return cases;
}

TEST(CudaAttention, NonCausalMatchesCpu) {
  SKIP_WITHOUT_GPU();
  for (DType cache : {DType::BF16, DType::F16, DType::F32})
    for (AttentionCase c : non_causal_cases()) {
      run_attention(c, cache);
      c.sinks = true;
      run_attention(c, cache);
    }
}

// ---- attention_varlen ------------------------------------------------------------------------

struct VarlenCase {
  const char* name;
  std::vector<int32_t> q_lens, k_lens;
  int64_t hq, hk, head, value_head;
  bool causal = false;
  int64_t sliding_window = 0;
  float softcap = 0.0f;
  bool alibi = false;
  bool sinks = false;
  bool unknown_query_len = false;  // pass max_query_len = -1
};

// f32 on both sides: only summation order and expf differ (the CPU sums the softmax in double).
constexpr Tolerance kVarlenTolerance{5e-5f, 2e-5f, 2e-5f};

void run_varlen(const VarlenCase& c) {
  const std::string name = str(c.name, " (D ", c.head, ", Dv ", c.value_head, ")");
  const int64_t num_seqs = static_cast<int64_t>(c.q_lens.size());
  std::vector<int32_t> q_starts{0}, k_starts{0};
  for (int64_t b = 0; b < num_seqs; ++b) {
    q_starts.push_back(q_starts.back() + c.q_lens[b]);
    k_starts.push_back(k_starts.back() + c.k_lens[b]);
  }
  const int64_t tq = q_starts.back(), tk = k_starts.back();
  const int64_t rows = tq + 2;  // two rows past the batch: must stay untouched
  // Key and value as row-strided views (a fused projection's output), the query packed.
  Tensor query = random_tensor({rows, c.hq, c.head});
  Tensor key_base = random_tensor({tk, c.hk + 2, c.head});
  Tensor value_base = random_tensor({tk, c.hk + 1, c.value_head});
  Tensor qs = Tensor::from_ints(q_starts, {num_seqs + 1}), ks = Tensor::from_ints(k_starts, {num_seqs + 1});

  ops::AttentionParams params;
  params.scale = 1.0f / std::sqrt(static_cast<float>(c.head));
  params.causal = c.causal;
  params.sliding_window = c.sliding_window;
  params.logit_softcap = c.softcap;
  if (c.alibi) {
    std::vector<float> slopes;
    for (int64_t h = 0; h < c.hq; ++h) slopes.push_back(std::pow(2.0f, -8.0f * (h + 1) / c.hq));
    params.alibi_slopes = Tensor::from_floats(slopes, {c.hq});
  }
  if (c.sinks) params.sinks = random_sinks(c.hq);
  params.max_query_len = *std::max_element(c.q_lens.begin(), c.q_lens.end());
  params.max_seq_len = *std::max_element(c.k_lens.begin(), c.k_lens.end());
  Tensor cpu_out = filled({rows, c.hq, c.value_head}, kPoison);
  ops::attention_varlen(query, key_base.slice(1, 1, c.hk + 1), value_base.slice(1, 0, c.hk), qs, ks, params,
                        cpu_out);

  ops::AttentionParams gparams = params;
  if (c.alibi) gparams.alibi_slopes = gpu(params.alibi_slopes);
  if (c.sinks) gparams.sinks = gpu(params.sinks);
  if (c.unknown_query_len) gparams.max_query_len = -1;
  Tensor gpu_out = filled({rows, c.hq, c.value_head}, kPoison, Device::cuda());
  ops::attention_varlen(gpu(query), gpu(key_base).slice(1, 1, c.hk + 1), gpu(value_base).slice(1, 0, c.hk),
                        gpu(qs), gpu(ks), gparams, gpu_out);
  expect_close(gpu_out, cpu_out, kVarlenTolerance, name);
}

TEST(CudaAttention, VarlenMatchesCpu) {
  SKIP_WITHOUT_GPU();
  for (int64_t d : {64, 80, 96, 128, 256}) {
    run_varlen({"encoder batch MHA", {7, 1, 130, 33}, {7, 1, 130, 33}, 8, 8, d, d});
    run_varlen({"queries and keys of different lengths, GQA 4", {3, 50, 17}, {90, 2, 17}, 8, 2, d, d});
    run_varlen({"causal, bottom-right aligned", {5, 1, 100, 64}, {9, 40, 100, 300}, 8, 4, d, d, true});
  }
  // Head sizes without a compiled kernel run the generic one.
  run_varlen({"generic head 48", {20, 70}, {20, 70}, 4, 2, 48, 48});
  run_varlen({"generic value head differs", {20, 9}, {33, 9}, 4, 2, 64, 32, false, 0, 0.0f, false, true});
  run_varlen({"generic head 200 causal", {40}, {60}, 2, 1, 200, 200, true});
  // The switches.
  run_varlen({"sinks", {12, 80}, {30, 80}, 8, 2, 128, 128, false, 0, 0.0f, false, true});
  run_varlen({"causal sliding window + sinks", {70, 3}, {200, 3}, 8, 2, 64, 64, true, 16, 0.0f, false, true});
  run_varlen({"softcap + alibi", {33, 5}, {33, 40}, 6, 3, 80, 80, false, 0, 15.0f, true});
  run_varlen({"long sequence", {700}, {700}, 4, 1, 128, 128, true, 0, 0.0f, false, true});
  run_varlen({"unknown max_query_len", {9, 40}, {9, 40}, 4, 4, 64, 64, false, 0, 0.0f, false, false, true});
}

TEST(CudaAttention, ReshapeAndCacheRoundsToNearest) {
  SKIP_WITHOUT_GPU();
  const int64_t tokens = 37, hk = 4, head = 64, blocks = 8, block_size = 16;
  for (DType dtype : {DType::BF16, DType::F16}) {
    std::vector<int32_t> slots(static_cast<size_t>(blocks * block_size));
    std::iota(slots.begin(), slots.end(), 0);
    std::shuffle(slots.begin(), slots.end(), std::mt19937(fresh_seed()));
    slots.resize(static_cast<size_t>(tokens));
    slots[2] = -1;  // padding token
    // Strided key/value: [T, Hk, D] views of a fused [T, 3 Hk, D] buffer.
    const std::vector<float> fused_values = random_values(tokens * 3 * hk * head);
    Tensor fused = gpu(Tensor::from_floats(fused_values, {tokens, 3 * hk, head}));
    const std::vector<float> initial = random_values(blocks * block_size * hk * head);
    const Shape cache_shape{blocks, block_size, hk, head};
    Tensor kc = gpu(Tensor::from_floats(initial, cache_shape, dtype));
    Tensor vc = gpu(Tensor::from_floats(initial, cache_shape, dtype));
    ops::reshape_and_cache(fused.slice(1, hk, 2 * hk), fused.slice(1, 2 * hk, 3 * hk), kc, vc,
                           gpu(Tensor::from_ints(slots, {tokens})));
    // Expected: the initial cache with each token's rows rounded (on the host) into its slot.
    std::vector<float> expect_k = rounded(initial, dtype), expect_v = expect_k;
    const int64_t row = hk * head;
    for (int64_t t = 0; t < tokens; ++t) {
      if (slots[t] < 0) continue;
      for (int64_t i = 0; i < row; ++i) {
        expect_k[slots[t] * row + i] = fused_values[(t * 3 * hk + hk) * head + i];
        expect_v[slots[t] * row + i] = fused_values[(t * 3 * hk + 2 * hk) * head + i];
      }
    }
    expect_k = rounded(expect_k, dtype);
    expect_v = rounded(expect_v, dtype);
    EXPECT_EQ(kc.to(Device::cpu()).to(DType::F32).to_float_vector(), expect_k) << dtype_name(dtype);
    EXPECT_EQ(vc.to(Device::cpu()).to(DType::F32).to_float_vector(), expect_v) << dtype_name(dtype);
  }
}

// The fused rotary + cache write equals rotary_embedding then reshape_and_cache on the GPU, bit
// for bit: the rotated query and key in place and both caches (padding slots untouched).
TEST(CudaAttention, RotaryAndCacheEqualsTheTwoOps) {
  SKIP_WITHOUT_GPU();
  const int64_t hq = 6, hk = 2, head = 64, blocks = 6, block_size = 16, max_pos = 200;
  for (DType dtype : {DType::F32, DType::BF16, DType::F16})
    for (bool is_neox : {true, false})
      for (int64_t rotary_dim : {int64_t{64}, int64_t{32}})
        for (int64_t tokens : {int64_t{1}, int64_t{37}})
          for (int64_t value_head : {head, int64_t{32}}) {
            const std::string what = str(dtype_name(dtype), " neox=", is_neox, " rd=", rotary_dim, " T=", tokens,
                                         " Dv=", value_head);
            std::vector<int32_t> slots(static_cast<size_t>(blocks * block_size));
            std::iota(slots.begin(), slots.end(), 0);
            std::shuffle(slots.begin(), slots.end(), std::mt19937(fresh_seed()));
            slots.resize(static_cast<size_t>(tokens));
            if (tokens > 3) slots[2] = -1;  // padding token
            Tensor slot_mapping = gpu(Tensor::from_ints(slots, {tokens}));
            std::vector<int32_t> position_values(static_cast<size_t>(tokens));
            std::mt19937 random(fresh_seed());
            for (int32_t& p : position_values) p = std::uniform_int_distribution<int32_t>(0, max_pos - 1)(random);
            Tensor positions = gpu(Tensor::from_ints(position_values, {tokens}));
            Tensor table = gpu(random_tensor({max_pos, rotary_dim}));
            Tensor qkv = random_tensor({tokens, hq + 2 * hk, head});
            Tensor separate_value = random_tensor({tokens, hk, value_head});
            const Tensor key_cache = random_tensor({blocks, block_size, hk, head}, dtype);
            const Tensor value_cache = random_tensor({blocks, block_size, hk, value_head}, dtype);
            struct Run {
              Tensor qkv, value_source, kc, vc;
            };
            auto start = [&]() {
              Run run{gpu(qkv), gpu(separate_value), gpu(key_cache), gpu(value_cache)};
              return run;
            };
            auto value_of = [&](Run& run) {
              return value_head == head ? run.qkv.slice(1, hq + hk, hq + 2 * hk) : run.value_source;
            };
            Run fused = start(), split = start();
            Tensor fq = fused.qkv.slice(1, 0, hq), fk = fused.qkv.slice(1, hq, hq + hk);
            ops::rotary_embedding_and_cache(positions, fq, fk, value_of(fused), table, rotary_dim, is_neox, fused.kc,
                                            fused.vc, slot_mapping);
            Tensor sq = split.qkv.slice(1, 0, hq), sk = split.qkv.slice(1, hq, hq + hk);
            ops::rotary_embedding(positions, sq, sk, table, rotary_dim, is_neox);
            ops::reshape_and_cache(sk, value_of(split), split.kc, split.vc, slot_mapping);
            EXPECT_EQ(fused.qkv.to(Device::cpu()).to_float_vector(), split.qkv.to(Device::cpu()).to_float_vector())
                << what;
            EXPECT_EQ(fused.kc.to(Device::cpu()).to(DType::F32).to_float_vector(),
                      split.kc.to(Device::cpu()).to(DType::F32).to_float_vector())
                << what;
            EXPECT_EQ(fused.vc.to(Device::cpu()).to(DType::F32).to_float_vector(),
                      split.vc.to(Device::cpu()).to(DType::F32).to_float_vector())
                << what;
            // The writes happened: a written slot differs from the initial cache.
            EXPECT_NE(fused.kc.to(Device::cpu()).to(DType::F32).to_float_vector(),
                      key_cache.to(DType::F32).to_float_vector())
                << what;
          }
}

TEST(CudaAttention, CpuRejectsLowPrecisionCaches) {
  // Runs without a GPU too: the CPU op refuses bf16/f16 caches by name.
  Tensor kc = Tensor::zeros({2, 4, 1, 8}, DType::BF16), vc = Tensor::zeros({2, 4, 1, 8}, DType::BF16);
  Tensor query = Tensor::zeros({1, 1, 8}, DType::F32), out = Tensor::zeros({1, 1, 8}, DType::F32);
  Tensor qs = Tensor::from_ints({0, 1}, {2}), lens = Tensor::from_ints({1}, {1});
  Tensor table = Tensor::from_ints({0}, {1, 1}), slots = Tensor::from_ints({0}, {1});
  try {
    ops::paged_attention(query, kc, vc, qs, lens, table, ops::AttentionParams{}, out);
    FAIL() << "paged_attention accepted a bf16 cache on the CPU";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
    EXPECT_NE(std::string(e.what()).find("bfloat16"), std::string::npos) << e.what();
  }
  Tensor kc16 = Tensor::zeros({2, 4, 1, 8}, DType::F16), vc16 = Tensor::zeros({2, 4, 1, 8}, DType::F16);
  try {
    ops::reshape_and_cache(query, query, kc16, vc16, slots);
    FAIL() << "reshape_and_cache accepted an f16 cache on the CPU";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
    EXPECT_NE(std::string(e.what()).find("float16"), std::string::npos) << e.what();
  }
}

// ---- benchmark (disabled by default) --------------------------------------------------------

// A device bf16 cache of random values in [-1, 1) (fast to make: a few GB on some benchmarks).
Tensor random_bf16_cache(const Shape& shape) {
  Tensor host = Tensor::empty(shape, DType::BF16);
  uint16_t* bits = host.data<uint16_t>();
  uint64_t state = fresh_seed() | 1;
  for (int64_t i = 0; i < host.numel(); ++i) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    const float v = static_cast<float>(static_cast<int64_t>(state % 2000001) - 1000000) * 1e-6f;
    uint32_t u;
    std::memcpy(&u, &v, 4);
    bits[i] = static_cast<uint16_t>(u >> 16);
  }
  return gpu(host);
}

// Median milliseconds of one call of fn over `reps` timed batches of `iters` calls.
template <typename Fn>
double time_ms(Fn&& fn, int iters) {
  fn();
  cudaDeviceSynchronize();
  std::vector<double> samples;
  for (int rep = 0; rep < 5; ++rep) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) fn();
    cudaDeviceSynchronize();
    samples.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / iters);
  }
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

struct BenchBatch {
  std::vector<int32_t> seq_lens, q_lens;
};

// Times paged_attention on Llama-3.1-8B shapes (32 q heads, 8 kv heads, D 128, block 16, bf16
// cache), blocks scattered over the cache.
void bench_attention(const char* name, const BenchBatch& batch, int64_t max_seq_len_hint, bool route_decodes = true) {
  // VLLM_BENCH_CASE: only the cases whose name contains it.
  const char* only = std::getenv("VLLM_BENCH_CASE");
  if (only != nullptr && std::string(name).find(only) == std::string::npos) return;
  const int64_t hq = 32, hk = 8, head = 128, block_size = 16;
  const int64_t num_seqs = static_cast<int64_t>(batch.seq_lens.size());
  int64_t max_blocks = 0, total_blocks = 0, tokens = 0, max_q = 0, max_len = 0;
  std::vector<int32_t> query_start{0};
  double kv_bytes = 0, flops = 0;
  for (int64_t b = 0; b < num_seqs; ++b) {
    const int64_t n = (batch.seq_lens[b] + block_size - 1) / block_size, q = batch.q_lens[b];
    const int64_t len = batch.seq_lens[b];
    max_blocks = std::max(max_blocks, n);
    total_blocks += n;
    tokens += q;
    max_q = std::max(max_q, q);
    max_len = std::max(max_len, len);
    query_start.push_back(static_cast<int32_t>(tokens));
    kv_bytes += 2.0 * len * hk * head * 2;  // K and V read once, bf16
    // Visible (query, key) pairs: query i (0-based in its run) sees len - q + i + 1 keys.
    const double pairs = static_cast<double>(q) * (len - q) + q * (q + 1) / 2.0;
    flops += 4.0 * pairs * head * hq;  // QK^T and PV, 2 flops per multiply-add
  }
  if (max_seq_len_hint > 0) max_blocks = std::max(max_blocks, (max_seq_len_hint + block_size - 1) / block_size);
  std::vector<int32_t> ids(static_cast<size_t>(total_blocks));
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), std::mt19937(fresh_seed()));
  std::vector<int32_t> table(static_cast<size_t>(num_seqs * max_blocks), 0);
  size_t next = 0;
  for (int64_t b = 0; b < num_seqs; ++b)
    for (int64_t i = 0; i < (batch.seq_lens[b] + block_size - 1) / block_size; ++i)
      table[b * max_blocks + i] = ids[next++];
  Tensor kc = random_bf16_cache({total_blocks, block_size, hk, head});
  Tensor vc = random_bf16_cache({total_blocks, block_size, hk, head});
  Tensor query = gpu(Tensor::from_floats(random_values(tokens * hq * head), {tokens, hq, head}));
  Tensor out = Tensor::empty({tokens, hq, head}, DType::F32, Device::cuda());
  Tensor qs = gpu(Tensor::from_ints(query_start, {num_seqs + 1}));
  Tensor lens = gpu(Tensor::from_ints(batch.seq_lens, {num_seqs}));
  Tensor gtable = gpu(Tensor::from_ints(table, {num_seqs, max_blocks}));
  ops::AttentionParams params;
  params.scale = 1.0f / std::sqrt(static_cast<float>(head));
  params.max_query_len = max_q;
  params.max_seq_len = max_seq_len_hint > 0 ? max_seq_len_hint : max_len;
  if (route_decodes) {  // as build_flat_batch: the leading one-token sequences
    params.num_decode_seqs = 0;
    while (params.num_decode_seqs < num_seqs && batch.q_lens[static_cast<size_t>(params.num_decode_seqs)] == 1)
      ++params.num_decode_seqs;
  }
  const double ms = time_ms(
      [&] { ops::paged_attention(query, kc, vc, qs, lens, gtable, params, out); },
      max_q > 1 ? 5 : 50);
  std::printf("%-52s %9.3f ms  %7.0f GB/s (K/V read)  %6.1f TFLOP/s\n", name, ms,
              kv_bytes / ms * 1e-6, flops / ms * 1e-9);
}

TEST(CudaAttentionBench, DISABLED_Llama8BShapes) {
  SKIP_WITHOUT_GPU();
  {
    // The copy ceiling: read + write of a 2 GiB device buffer.
    const size_t bytes = size_t{1} << 31;
    Tensor a = Tensor::empty({static_cast<int64_t>(bytes / 4)}, DType::F32, Device::cuda());
    Tensor b = Tensor::empty({static_cast<int64_t>(bytes / 4)}, DType::F32, Device::cuda());
    cudaMemset(a.raw_data(), 1, bytes);
    const double ms = time_ms([&] { cudaMemcpy(b.raw_data(), a.raw_data(), bytes, cudaMemcpyDeviceToDevice); }, 10);
    std::printf("%-52s %9.3f ms  %7.0f GB/s (read + write)\n", "device copy 2 GiB", ms, 2.0 * bytes / ms * 1e-6);
  }
  std::mt19937 random(fresh_seed());
  auto lengths = [&](int64_t n, int lo, int hi) {
    std::uniform_int_distribution<int> pick(lo, hi);
    std::vector<int32_t> v(static_cast<size_t>(n));
    for (auto& x : v) x = pick(random);
    return v;
  };
  bench_attention("decode B=1 ctx 4096", {{4096}, {1}}, 0);
  bench_attention("decode B=1 ctx 4096, hint max_seq_len 131072", {{4096}, {1}}, 131072);
  bench_attention("decode B=1 ctx 32768", {{32768}, {1}}, 0);
  bench_attention("decode B=8 ctx 4096", {std::vector<int32_t>(8, 4096), std::vector<int32_t>(8, 1)}, 0);
  bench_attention("decode B=64 ctx 1k-2k", {lengths(64, 1024, 2048), std::vector<int32_t>(64, 1)}, 0);
  bench_attention("decode B=256 ctx 1k-2k", {lengths(256, 1024, 2048), std::vector<int32_t>(256, 1)}, 0);
  bench_attention("decode B=256 ctx 1k-2k, hint max_seq_len 8192",
                  {lengths(256, 1024, 2048), std::vector<int32_t>(256, 1)}, 8192);
  bench_attention("decode B=520 ctx 1k-2k (throughput run)", {lengths(520, 1000, 2000), std::vector<int32_t>(520, 1)}, 0);
  {
    // A throughput run's step with prompt tokens: ~580 decodes, then 16 prompts of 1000.
    BenchBatch mixed{lengths(580, 1000, 2000), std::vector<int32_t>(580, 1)};
    for (int p = 0; p < 16; ++p) {
      mixed.seq_lens.push_back(1000);
      mixed.q_lens.push_back(1000);
    }
    bench_attention("580 decodes + 16 prompts of 1000, one launch", mixed, 0, /*route_decodes=*/false);
    bench_attention("580 decodes + 16 prompts of 1000, decodes apart", mixed, 0);
  }
  bench_attention("prefill 16 x 2048 causal", {std::vector<int32_t>(16, 2048), std::vector<int32_t>(16, 2048)}, 0);
  bench_attention("prefill 1 x 8192 causal", {{8192}, {8192}}, 0);
  bench_attention("chunked prefill 4 x 512 on 4k prefixes", {std::vector<int32_t>(4, 4608), std::vector<int32_t>(4, 512)}, 0);
}

}  // namespace
