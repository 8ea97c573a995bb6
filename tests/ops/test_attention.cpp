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

std::vector<double> dense_reference(const Batch& b, const Built& in, const ops::AttentionParams& p) {
  const int64_t H = b.heads, D = b.head_size, Dv = b.value_size, Hk = b.kv_heads;
  std::vector<double> q = to_doubles(in.query), out(in.tokens * H * Dv, 0.0);
  std::vector<double> slopes = p.alibi_slopes.defined() ? to_doubles(p.alibi_slopes)
                                                        : std::vector<double>(H, 0.0);
  int64_t row = 0;
  for (size_t s = 0; s < b.seq_lens.size(); ++s) {
    const int64_t len = b.seq_lens[s], q_len = b.q_lens[s];
    for (int64_t i = 0; i < q_len; ++i, ++row) {
      const int64_t pos = len - q_len + i;
      for (int64_t h = 0; h < H; ++h) {
        const int64_t kvh = h / (H / Hk);
        std::vector<double> scores;
        std::vector<int64_t> keys;
        for (int64_t j = 0; j <= pos; ++j) {
          if (p.sliding_window > 0 && pos - j >= p.sliding_window) continue;
          double dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += q[(row * H + h) * D + d] * in.keys[s][(j * Hk + kvh) * D + d];
          double score = dot * p.scale;
          if (p.logit_softcap > 0) score = p.logit_softcap * std::tanh(score / p.logit_softcap);
          score += slopes[h] * static_cast<double>(j - pos);
          scores.push_back(score);
          keys.push_back(j);
        }
        const double m = *std::max_element(scores.begin(), scores.end());
        double sum = 0;
        for (double& sc : scores) sum += (sc = std::exp(sc - m));
        for (size_t k = 0; k < keys.size(); ++k)
          for (int64_t d = 0; d < Dv; ++d)
            out[(row * H + h) * Dv + d] +=
                scores[k] / sum * in.values[s][(keys[k] * Hk + kvh) * Dv + d];
      }
    }
  }
  return out;
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
    for (int64_t rotary_dim : {16, 8}) {
      const uint32_t seed = fresh_seed();
      SCOPED_TRACE(::testing::Message() << "neox=" << neox << " rd=" << rotary_dim << " seed=" << seed);
      std::mt19937 rng(seed);
      const int64_t T = 3, Hq = 4, Hk = 2, D = 16, P = 20;
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
