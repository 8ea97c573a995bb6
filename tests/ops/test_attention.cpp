#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "ops/ops.h"
#include "ops_test_util.h"

namespace vllm::testing {
namespace {

struct Batch {
  std::vector<int32_t> seq_lens, q_lens;
  int64_t heads, kv_heads, head_size, value_size, block_size;
};

struct Built {
  Tensor query, key_cache, value_cache, query_start, seq_lens, block_table;
  std::vector<std::vector<double>> keys, values;  // per sequence, [seq_len, Hk, D]
  int64_t tokens;
};

// Fills a paged cache with each sequence's keys/values through reshape_and_cache, using a block
// table of shuffled blocks (plus unused blocks), and makes random queries for the last q_len tokens.
Built build(const Batch& b, std::mt19937& rng) {
  Built out;
  const int64_t B = static_cast<int64_t>(b.seq_lens.size());
  int64_t max_blocks = 0, total_blocks = 0;
  for (int32_t len : b.seq_lens) {
    max_blocks = std::max<int64_t>(max_blocks, (len + b.block_size - 1) / b.block_size);
    total_blocks += (len + b.block_size - 1) / b.block_size;
  }
  const int64_t num_blocks = total_blocks + 3;
  std::vector<int32_t> ids(num_blocks);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng);
  std::vector<int32_t> table(B * (max_blocks + 1), -7), starts{0};
  size_t next = 0;
  out.key_cache = Tensor::zeros({num_blocks, b.block_size, b.kv_heads, b.head_size}, DType::F32);
  out.value_cache = Tensor::zeros({num_blocks, b.block_size, b.kv_heads, b.value_size}, DType::F32);
  for (int64_t s = 0; s < B; ++s) {
    const int64_t len = b.seq_lens[s];
    for (int64_t i = 0; i < (len + b.block_size - 1) / b.block_size; ++i)
      table[s * (max_blocks + 1) + i] = ids[next++];
    Tensor k = random_tensor({len, b.kv_heads, b.head_size}, rng);
    Tensor v = random_tensor({len, b.kv_heads, b.value_size}, rng);
    std::vector<int32_t> slots(len);
    for (int64_t j = 0; j < len; ++j)
      slots[j] = table[s * (max_blocks + 1) + j / b.block_size] * b.block_size + j % b.block_size;
    ops::reshape_and_cache(k, v, out.key_cache, out.value_cache, Tensor::from_ints(slots, {len}));
    out.keys.push_back(to_doubles(k));
    out.values.push_back(to_doubles(v));
    starts.push_back(starts.back() + b.q_lens[s]);
  }
  out.tokens = starts.back();
  out.query = random_tensor({out.tokens, b.heads, b.head_size}, rng, DType::F32, -2, 2);
  out.query_start = Tensor::from_ints(starts, {B + 1});
  out.seq_lens = Tensor::from_ints(b.seq_lens, {B});
  out.block_table = Tensor::from_ints(table, {B, max_blocks + 1});
  return out;
}

// Attention in double precision, sequence by sequence: q [sum q_lens, H, D]; keys[s] / values[s]
// [k_lens[s], Hk, D / Dv]. Query i of sequence s is at position k_len - q_len + i; causal rows see
// keys up to it, non-causal rows every key, both within the window (|pos - j| < window) when one
// is set; a sink joins the softmax denominator only.
std::vector<double> attention_reference(const std::vector<double>& q, const std::vector<std::vector<double>>& keys,
                                        const std::vector<std::vector<double>>& values,
                                        const std::vector<int32_t>& q_lens, const std::vector<int32_t>& k_lens,
                                        int64_t H, int64_t Hk, int64_t D, int64_t Dv,
                                        const ops::AttentionParams& p) {
  int64_t tokens = 0;
  for (int32_t n : q_lens) tokens += n;
  std::vector<double> out(tokens * H * Dv, 0.0);
  std::vector<double> slopes = p.alibi_slopes.defined() ? to_doubles(p.alibi_slopes)
                                                        : std::vector<double>(H, 0.0);
  std::vector<double> sinks = p.sinks.defined() ? to_doubles(p.sinks) : std::vector<double>();
  int64_t row = 0;
  for (size_t s = 0; s < q_lens.size(); ++s) {
    const int64_t len = k_lens[s], q_len = q_lens[s];
    for (int64_t i = 0; i < q_len; ++i, ++row) {
      const int64_t pos = len - q_len + i;
      for (int64_t h = 0; h < H; ++h) {
        const int64_t kvh = h / (H / Hk);
        std::vector<double> scores;
        std::vector<int64_t> visible;
        for (int64_t j = 0; j < len; ++j) {
          if (p.causal && j > pos) continue;
          if (p.sliding_window > 0 && std::abs(pos - j) >= p.sliding_window) continue;
          double dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += q[(row * H + h) * D + d] * keys[s][(j * Hk + kvh) * D + d];
          double score = dot * p.scale;
          if (p.logit_softcap > 0) score = p.logit_softcap * std::tanh(score / p.logit_softcap);
          score += slopes[h] * static_cast<double>(j - pos);
          scores.push_back(score);
          visible.push_back(j);
        }
        double m = sinks.empty() ? -INFINITY : sinks[h];
        for (double sc : scores) m = std::max(m, sc);
        double sum = sinks.empty() ? 0.0 : std::exp(sinks[h] - m);
        for (double& sc : scores) sum += (sc = std::exp(sc - m));
        for (size_t k = 0; k < visible.size(); ++k)
          for (int64_t d = 0; d < Dv; ++d)
            out[(row * H + h) * Dv + d] += scores[k] / sum * values[s][(visible[k] * Hk + kvh) * Dv + d];
      }
    }
  }
  return out;
}

std::vector<double> dense_reference(const Batch& b, const Built& in, const ops::AttentionParams& p) {
  return attention_reference(to_doubles(in.query), in.keys, in.values, b.q_lens, b.seq_lens, b.heads, b.kv_heads,
                             b.head_size, b.value_size, p);
}

// Per-head values in [low, high) (sink logits).
Tensor per_head(int64_t heads, std::mt19937& rng, float low, float high) {
  return Tensor::from_floats(random_floats(static_cast<size_t>(heads), rng, low, high), {heads});
}

void run_case(const Batch& b, ops::AttentionParams p, const char* name) {
  for (cpu::Isa isa : runnable_isas()) {
    IsaScope scope(isa);
    const uint32_t seed = fresh_seed();
    SCOPED_TRACE(::testing::Message() << name << " " << cpu::isa_name(isa) << " seed=" << seed);
    std::mt19937 rng(seed);
    Built in = build(b, rng);
    if (p.scale == 1.0f) p.scale = 1.0f / std::sqrt(static_cast<float>(b.head_size));
    Tensor out = Tensor::empty({in.tokens, b.heads, b.value_size}, DType::F32);
    ops::paged_attention(in.query, in.key_cache, in.value_cache, in.query_start, in.seq_lens,
                         in.block_table, p, out);
    expect_close(dense_reference(b, in, p), out, 2e-5, 1e-4, name);
  }
}

TEST(PagedAttention, PrefillDecodeAndChunkedMixedBatch) {
  // Prefill (q_len == seq_len), decode (q_len 1) and a chunk (1 < q_len < seq_len) in one batch.
  run_case({{13, 40, 29, 1}, {13, 1, 7, 1}, 4, 4, 32, 32, 8}, {}, "mha");
}

// Head sizes real checkpoints use that are not powers of two (and some that are), over prompts
// past 64 tokens spread across many blocks: prefill, decode and a chunk in one batch, with GQA.
TEST(PagedAttention, HeadSizesThatAreNotPowersOfTwoOverLongPrompts) {
  for (int64_t head_size : {24, 40, 80, 96, 112, 160, 192, 256}) {
    SCOPED_TRACE(head_size);
    run_case({{70, 97, 66}, {70, 1, 9}, 4, 2, head_size, head_size, 16}, {}, "head size");
  }
}

TEST(PagedAttention, GroupedQueryAndMultiQuery) {
  run_case({{17, 33, 5}, {17, 4, 1}, 8, 2, 16, 16, 4}, {}, "gqa");
  run_case({{21, 9}, {3, 9}, 6, 1, 24, 24, 16}, {}, "mqa");
}

TEST(PagedAttention, ValueHeadSizeDiffersFromKey) {
  run_case({{19, 6}, {5, 6}, 4, 2, 24, 40, 4}, {}, "dv != d");
}

TEST(PagedAttention, SlidingWindowSmallerThanSequence) {
  ops::AttentionParams p;
  p.sliding_window = 5;
  run_case({{30, 12, 4}, {10, 1, 4}, 4, 2, 16, 16, 8}, p, "sliding window");
}

TEST(PagedAttention, LogitSoftcap) {
  ops::AttentionParams p;
  p.scale = 0.9f;  // large scores so the cap matters
  p.logit_softcap = 3.0f;
  run_case({{25, 7}, {25, 2}, 4, 4, 16, 16, 8}, p, "softcap");
}

TEST(PagedAttention, Alibi) {
  ops::AttentionParams p;
  p.alibi_slopes = Tensor::from_floats({0.5f, 0.25f, 0.125f, 0.0625f}, {4});
  run_case({{23, 11}, {23, 3}, 4, 2, 16, 16, 8}, p, "alibi");
}

// Cross-attention over an encoder's cache: every query row sees the whole context, with one
// query (a decode), several, and more queries than keys.
TEST(PagedAttention, NonCausalSeesTheWholeContext) {
  ops::AttentionParams p;
  p.causal = false;
  run_case({{9, 20, 5}, {1, 7, 12}, 4, 2, 16, 16, 4}, p, "non-causal");
  p.scale = 0.8f;
  p.logit_softcap = 2.5f;
  p.alibi_slopes = Tensor::from_floats({0.5f, 0.25f, 0.125f, 0.0625f}, {4});
  run_case({{13, 3}, {13, 6}, 4, 4, 16, 24, 8}, p, "non-causal softcap alibi");
}

// GPT-OSS's sinks: decode rows and prefill rows in one batch, GQA, alone and with a sliding
// window, a soft-cap (on the scores, not the sink), ALiBi and without the causal limit.
TEST(PagedAttention, SinksJoinTheSoftmaxDenominator) {
  std::mt19937 rng(fresh_seed());
  const Batch batch{{30, 12, 1, 17}, {1, 12, 1, 5}, 8, 2, 16, 16, 4};
  ops::AttentionParams p;
  p.sinks = per_head(8, rng, -1.0f, 4.0f);
  run_case(batch, p, "sinks");
  ops::AttentionParams window = p;
  window.sliding_window = 4;
  run_case(batch, window, "sinks + sliding window");
  ops::AttentionParams cap = p;
  cap.scale = 0.9f;
  cap.logit_softcap = 2.0f;
  run_case(batch, cap, "sinks + softcap");
  ops::AttentionParams alibi = p;
  alibi.alibi_slopes = per_head(8, rng, 0.0f, 0.5f);
  run_case(batch, alibi, "sinks + alibi");
  ops::AttentionParams bidirectional = p;
  bidirectional.causal = false;
  run_case({{6, 10}, {9, 1}, 8, 2, 16, 16, 4}, bidirectional, "sinks + non-causal");
}

TEST(PagedAttention, NonCausalSlidingWindowIsUnsupported) {
  std::mt19937 rng(fresh_seed());
  Batch b{{9}, {3}, 2, 1, 8, 8, 4};
  Built in = build(b, rng);
  Tensor out = Tensor::empty({in.tokens, 2, 8}, DType::F32);
  ops::AttentionParams p;
  p.causal = false;
  p.sliding_window = 4;
  EXPECT_VLLM_ERROR(ops::paged_attention(in.query, in.key_cache, in.value_cache, in.query_start, in.seq_lens,
                                         in.block_table, p, out),
                    Unsupported);
  p.sliding_window = 0;
  p.sinks = Tensor::from_floats({1.0f, 2.0f, 3.0f}, {3});  // one per query head: 2
  EXPECT_VLLM_ERROR(ops::paged_attention(in.query, in.key_cache, in.value_cache, in.query_start, in.seq_lens,
                                         in.block_table, p, out),
                    InvalidArgument);
}

// ---- attention_varlen ----------------------------------------------------------------------

struct VarlenCase {
  std::vector<int32_t> q_lens, k_lens;
  int64_t heads, kv_heads, head_size, value_size;
};

// Random query/key/value for the case (key and value as row-strided views, one padding query row
// past the batch), the op's output checked against the reference; the padding
// row stays untouched.
void run_varlen(const VarlenCase& c, ops::AttentionParams p, const char* name) {
  for (cpu::Isa isa : runnable_isas()) {
    IsaScope scope(isa);
    const uint32_t seed = fresh_seed();
    SCOPED_TRACE(::testing::Message() << name << " D=" << c.head_size << " " << cpu::isa_name(isa)
                                      << " seed=" << seed);
    std::mt19937 rng(seed);
    const int64_t B = static_cast<int64_t>(c.q_lens.size());
    std::vector<int32_t> q_starts{0}, k_starts{0};
    for (int64_t s = 0; s < B; ++s) {
      q_starts.push_back(q_starts.back() + c.q_lens[s]);
      k_starts.push_back(k_starts.back() + c.k_lens[s]);
    }
    const int64_t Tq = q_starts.back(), Tk = k_starts.back();
    const int64_t H = c.heads, Hk = c.kv_heads, D = c.head_size, Dv = c.value_size;
    Tensor query = random_tensor({Tq + 1, H, D}, rng, DType::F32, -2, 2);
    // Row-strided views, as of a fused qkv projection's output.
    Tensor key = random_tensor({Tk, Hk + 2, D}, rng).slice(1, 1, Hk + 1);
    Tensor value = random_tensor({Tk, Hk + 1, Dv}, rng).slice(1, 0, Hk);
    if (p.scale == 1.0f) p.scale = 1.0f / std::sqrt(static_cast<float>(D));
    std::vector<std::vector<double>> keys, values;
    for (int64_t s = 0; s < B; ++s) {
      keys.push_back(to_doubles(key.slice(0, k_starts[s], k_starts[s + 1])));
      values.push_back(to_doubles(value.slice(0, k_starts[s], k_starts[s + 1])));
    }
    std::vector<double> expected =
        attention_reference(to_doubles(query), keys, values, c.q_lens, c.k_lens, H, Hk, D, Dv, p);
    for (int64_t i = 0; i < H * Dv; ++i) expected.push_back(42.0);
    Tensor out = Tensor::empty({Tq + 1, H, Dv}, DType::F32);
    std::fill(out.data<float>(), out.data<float>() + out.numel(), 42.0f);
    ops::attention_varlen(query, key, value, Tensor::from_ints(q_starts, {B + 1}), Tensor::from_ints(k_starts, {B + 1}),
                          p, out);
    expect_close(expected, out, 2e-5, 1e-4, name);
  }
}

TEST(AttentionVarlen, NonCausalEncoderBatch) {
  ops::AttentionParams p;
  p.causal = false;
  for (int64_t d : {64, 80, 128}) {
    run_varlen({{7, 1, 19}, {7, 1, 19}, 4, 4, d, d}, p, "encoder self-attention");
    run_varlen({{3, 9, 5}, {11, 2, 5}, 8, 2, d, d}, p, "queries and keys of different lengths, GQA");
  }
  run_varlen({{4, 6}, {5, 6}, 6, 3, 24, 40}, p, "Dv != D");
}

TEST(AttentionVarlen, CausalIsBottomRightAligned) {
  ops::AttentionParams p;
  for (int64_t d : {64, 80, 128}) run_varlen({{5, 1, 12}, {9, 6, 12}, 4, 2, d, d}, p, "causal");
  p.sliding_window = 3;
  run_varlen({{5, 8}, {9, 8}, 4, 1, 16, 16}, p, "causal sliding window");
}

// ModernBERT's local layers: a window on both sides of each query, shorter than the sequences
// (and 1: each token sees itself only), with GQA and D not a power of two.
TEST(AttentionVarlen, NonCausalSlidingWindowIsTwoSided) {
  ops::AttentionParams p;
  p.causal = false;
  p.sliding_window = 5;
  for (int64_t d : {24, 64}) run_varlen({{17, 3, 41}, {17, 3, 41}, 4, 2, d, d}, p, "two-sided window");
  p.sliding_window = 1;
  run_varlen({{6, 9}, {6, 9}, 2, 2, 48, 48}, p, "window of 1");
  // The window must matter: the same inputs with and without it differ.
  std::mt19937 rng(fresh_seed());
  Tensor q = random_tensor({20, 2, 16}, rng, DType::F32, -2, 2), k = random_tensor({20, 2, 16}, rng),
         v = random_tensor({20, 2, 16}, rng);
  Tensor starts = Tensor::from_ints({0, 20}, {2});
  Tensor windowed = Tensor::empty({20, 2, 16}, DType::F32), full = Tensor::empty({20, 2, 16}, DType::F32);
  p.sliding_window = 4;
  ops::attention_varlen(q, k, v, starts, starts, p, windowed);
  p.sliding_window = 0;
  ops::attention_varlen(q, k, v, starts, starts, p, full);
  float max_diff = 0.0f;
  for (int64_t i = 0; i < full.numel(); ++i)
    max_diff = std::max(max_diff, std::abs(full.data<float>()[i] - windowed.data<float>()[i]));
  EXPECT_GT(max_diff, 1e-3f);
}

TEST(AttentionVarlen, SinksSoftcapAndAlibi) {
  std::mt19937 rng(fresh_seed());
  ops::AttentionParams p;
  p.causal = false;
  p.scale = 0.7f;
  p.logit_softcap = 3.0f;
  p.alibi_slopes = per_head(4, rng, 0.0f, 0.5f);
  p.sinks = per_head(4, rng, -1.0f, 4.0f);
  run_varlen({{6, 2}, {4, 10}, 4, 2, 16, 16}, p, "non-causal sinks softcap alibi");
  p.causal = true;
  run_varlen({{6, 2}, {8, 10}, 4, 2, 16, 16}, p, "causal sinks softcap alibi");
}

TEST(AttentionVarlen, RejectsBadMetadata) {
  std::mt19937 rng(fresh_seed());
  Tensor q = random_tensor({4, 2, 8}, rng), k = random_tensor({6, 1, 8}, rng), v = random_tensor({6, 1, 8}, rng);
  Tensor out = Tensor::empty({4, 2, 8}, DType::F32);
  ops::AttentionParams p;
  Tensor q_starts = Tensor::from_ints({0, 4}, {2});
  // Causal with fewer keys than queries.
  EXPECT_VLLM_ERROR(ops::attention_varlen(q, k, v, q_starts, Tensor::from_ints({0, 3}, {2}), p, out),
                    InvalidArgument);
  // Keys past the key tensor.
  EXPECT_VLLM_ERROR(ops::attention_varlen(q, k, v, q_starts, Tensor::from_ints({0, 7}, {2}), p, out),
                    InvalidArgument);
  // key_start of another batch size.
  EXPECT_VLLM_ERROR(ops::attention_varlen(q, k, v, q_starts, Tensor::from_ints({0, 3, 6}, {3}), p, out),
                    InvalidArgument);
  // A negative window (a two-sided one is valid: NonCausalSlidingWindowIsTwoSided).
  p.causal = false;
  p.sliding_window = -1;
  EXPECT_VLLM_ERROR(ops::attention_varlen(q, k, v, q_starts, Tensor::from_ints({0, 6}, {2}), p, out), InvalidArgument);
}

TEST(PagedAttention, StridedQueryViewAndUntouchedPaddingRows) {
  std::mt19937 rng(fresh_seed());
  Batch b{{9}, {3}, 2, 1, 8, 8, 4};
  Built in = build(b, rng);
  // The query as a view into a fused [T, (H + 2) * D] buffer, with one padding row past the batch.
  Tensor fused = random_tensor({in.tokens + 1, (b.heads + 2) * b.head_size}, rng);
  Tensor q = fused.view({in.tokens + 1, b.heads + 2, b.head_size}).slice(1, 0, b.heads);
  std::vector<float> qv = in.query.to_float_vector();
  for (int64_t t = 0; t < in.tokens; ++t)
    for (int64_t i = 0; i < b.heads * b.head_size; ++i)
      fused.data<float>()[t * (b.heads + 2) * b.head_size + i] = qv[t * b.heads * b.head_size + i];
  Tensor out = Tensor::empty({in.tokens + 1, b.heads, b.value_size}, DType::F32);
  std::fill(out.data<float>(), out.data<float>() + out.numel(), 42.0f);
  ops::AttentionParams p;
  p.scale = 0.3f;
  ops::paged_attention(q, in.key_cache, in.value_cache, in.query_start, in.seq_lens, in.block_table,
                       p, out);
  std::vector<double> expected = dense_reference(b, in, p);
  for (int64_t i = 0; i < b.heads * b.value_size; ++i) expected.push_back(42.0);
  expect_close(expected, out, 2e-5, 1e-4, "strided query");
}

TEST(PagedAttention, RejectsBadMetadata) {
  std::mt19937 rng(fresh_seed());
  Batch b{{9}, {3}, 2, 1, 8, 8, 4};
  Built in = build(b, rng);
  Tensor out = Tensor::empty({in.tokens, 2, 8}, DType::F32);
  ops::AttentionParams p;
  Tensor too_long = Tensor::from_ints({100}, {1});
  EXPECT_VLLM_ERROR(ops::paged_attention(in.query, in.key_cache, in.value_cache, in.query_start,
                                         too_long, in.block_table, p, out),
                    InvalidArgument);
  Tensor bad_table = Tensor::from_ints({0, 99, 1, 2}, {1, 4});
  EXPECT_VLLM_ERROR(ops::paged_attention(in.query, in.key_cache, in.value_cache, in.query_start,
                                         in.seq_lens, bad_table, p, out),
                    InvalidArgument);
  Tensor short_seq = Tensor::from_ints({2}, {1});  // fewer tokens than queries
  EXPECT_VLLM_ERROR(ops::paged_attention(in.query, in.key_cache, in.value_cache, in.query_start,
                                         short_seq, in.block_table, p, out),
                    InvalidArgument);
  Tensor bad_out = Tensor::empty({in.tokens, 3, 8}, DType::F32);
  EXPECT_VLLM_ERROR(ops::paged_attention(in.query, in.key_cache, in.value_cache, in.query_start,
                                         in.seq_lens, in.block_table, p, bad_out),
                    InvalidArgument);
  Tensor q3heads = Tensor::zeros({in.tokens, 3, 8}, DType::F32);
  Tensor kc2 = Tensor::zeros({4, 4, 2, 8}, DType::F32), vc2 = Tensor::zeros({4, 4, 2, 8}, DType::F32);
  EXPECT_VLLM_ERROR(ops::paged_attention(q3heads, kc2, vc2, in.query_start, in.seq_lens,
                                         in.block_table, p, bad_out),
                    InvalidArgument);
  Tensor k = Tensor::zeros({1, 1, 8}, DType::F32), v = Tensor::zeros({1, 1, 8}, DType::F32);
  EXPECT_VLLM_ERROR(ops::reshape_and_cache(k, v, in.key_cache, in.value_cache,
                                           Tensor::from_ints({100000}, {1})),
                    InvalidArgument);
}

TEST(ReshapeAndCache, WritesSlotsAndSkipsNegative) {
  std::mt19937 rng(fresh_seed());
  Tensor k = random_tensor({3, 2, 4}, rng), v = random_tensor({3, 2, 4}, rng);
  Tensor kc = Tensor::zeros({2, 4, 2, 4}, DType::F32), vc = Tensor::zeros({2, 4, 2, 4}, DType::F32);
  ops::reshape_and_cache(k, v, kc, vc, Tensor::from_ints({5, -1, 0}, {3}));
  std::vector<float> kv = k.to_float_vector(), got = kc.to_float_vector();
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(got[5 * 8 + i], kv[0 * 8 + i]);
    EXPECT_EQ(got[0 * 8 + i], kv[2 * 8 + i]);
  }
  double rest = 0;
  for (int slot : {1, 2, 3, 4, 6, 7})
    for (int i = 0; i < 8; ++i) rest += std::abs(got[slot * 8 + i]);
  EXPECT_EQ(rest, 0.0);
}

// The fused rotary + cache write: the rotated key lands in the cache (the rotated query in place),
// padding slots write nothing, and its argument checks are both ops' checks.
TEST(RotaryAndCacheOp, RotatesThenWritesTheCache) {
  std::mt19937 rng(fresh_seed());
  const int64_t T = 3, Hq = 4, Hk = 2, D = 8, P = 10;
  Tensor q = random_tensor({T, Hq, D}, rng), k = random_tensor({T, Hk, D}, rng), v = random_tensor({T, Hk, D}, rng);
  Tensor table = random_tensor({P, D}, rng);
  Tensor positions = Tensor::from_ints({3, 9, 0}, {T}), slots = Tensor::from_ints({5, -1, 0}, {T});
  Tensor q_ref = q.clone(), k_ref = k.clone();
  ops::rotary_embedding(positions, q_ref, k_ref, table, D, true);
  Tensor kc = Tensor::zeros({2, 4, Hk, D}, DType::F32), vc = Tensor::zeros({2, 4, Hk, D}, DType::F32);
  ops::rotary_embedding_and_cache(positions, q, k, v, table, D, true, kc, vc, slots);
  EXPECT_EQ(q.to_float_vector(), q_ref.to_float_vector());
  EXPECT_EQ(k.to_float_vector(), k_ref.to_float_vector());
  const std::vector<float> keys = k_ref.to_float_vector(), values = v.to_float_vector();
  const std::vector<float> cached_k = kc.to_float_vector(), cached_v = vc.to_float_vector();
  const int64_t row = Hk * D;
  for (int64_t i = 0; i < row; ++i) {
    EXPECT_EQ(cached_k[5 * row + i], keys[0 * row + i]);
    EXPECT_EQ(cached_k[0 * row + i], keys[2 * row + i]);
    EXPECT_EQ(cached_v[5 * row + i], values[0 * row + i]);
  }
  double rest = 0;
  for (int slot : {1, 2, 3, 4, 6, 7})
    for (int64_t i = 0; i < row; ++i) rest += std::abs(cached_k[slot * row + i]) + std::abs(cached_v[slot * row + i]);
  EXPECT_EQ(rest, 0.0) << "the padding token (slot -1) must write nothing";
  // Wrong shapes fail like the two ops do.
  Tensor short_slots = Tensor::from_ints({0, 1}, {2});
  EXPECT_VLLM_ERROR(ops::rotary_embedding_and_cache(positions, q, k, v, table, D, true, kc, vc, short_slots),
                    InvalidArgument);
  EXPECT_VLLM_ERROR(ops::rotary_embedding_and_cache(positions, q, k, v, table, 6, true, kc, vc, slots),
                    InvalidArgument);
}

// Rotary op: neox vs GPT-J pairing and partial rotary against a direct formula.
TEST(RotaryOp, NeoxGptjAndPartial) {
  for (bool neox : {true, false}) {
    for (int64_t rotary_dim : {16, 8, 24, 40, 12}) {
      const uint32_t seed = fresh_seed();
      SCOPED_TRACE(::testing::Message() << "neox=" << neox << " rd=" << rotary_dim << " seed=" << seed);
      std::mt19937 rng(seed);
      const int64_t T = 3, Hq = 4, Hk = 2, D = std::max<int64_t>(16, rotary_dim), P = 20;
      Tensor q = random_tensor({T, Hq, D}, rng), k = random_tensor({T, Hk, D}, rng);
      Tensor cache = random_tensor({P, rotary_dim}, rng);
      Tensor pos = Tensor::from_ints({7, 0, 19}, {T});
      auto reference = [&](const Tensor& x, int64_t heads) {
        std::vector<double> xs = to_doubles(x), c = to_doubles(cache), out = xs;
        const int32_t positions[] = {7, 0, 19};
        const int64_t half = rotary_dim / 2;
        for (int64_t t = 0; t < T; ++t)
          for (int64_t h = 0; h < heads; ++h)
            for (int64_t i = 0; i < half; ++i) {
              const double cs = c[positions[t] * rotary_dim + i], sn = c[positions[t] * rotary_dim + half + i];
              const int64_t a = neox ? i : 2 * i, b2 = neox ? i + half : 2 * i + 1;
              const int64_t base = (t * heads + h) * D;
              out[base + a] = xs[base + a] * cs - xs[base + b2] * sn;
              out[base + b2] = xs[base + b2] * cs + xs[base + a] * sn;
            }
        return out;
      };
      std::vector<double> q_ref = reference(q, Hq), k_ref = reference(k, Hk);
      ops::rotary_embedding(pos, q, k, cache, rotary_dim, neox);
      expect_close(q_ref, q, 1e-6, 1e-6, "query");
      expect_close(k_ref, k, 1e-6, 1e-6, "key");
    }
  }
  Tensor q = Tensor::zeros({1, 1, 8}, DType::F32), k;
  Tensor cache = Tensor::zeros({4, 8}, DType::F32);
  EXPECT_VLLM_ERROR(ops::rotary_embedding(Tensor::from_ints({4}, {1}), q, k, cache, 8, true),
                    InvalidArgument);
  EXPECT_VLLM_ERROR(ops::rotary_embedding(Tensor::from_ints({0}, {1}), q, k, cache, 6, true),
                    InvalidArgument);
}

}  // namespace
}  // namespace vllm::testing
