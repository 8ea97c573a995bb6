// The shared layers of src/layers (Pooler, Norm, Embedding/LMHead, Linear, DenseFeedForward,
// Attention's spec checks, normal_quantile), each against a reference written out here in double.
// Weights come through a WeightLoader over a small safetensors file, as a model loads them.
// RotaryEmbedding is tested in tests/models/test_rotary_embedding.cpp, Attention's forward pass by
// the models over the paged cache (tests/models, its encoder-only, cross and sink paths in
// test_attention_layer.cpp) and by the ops (tests/ops/test_attention.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "layers/attention.h"
#include "layers/embedding.h"
#include "layers/feed_forward.h"
#include "layers/linear.h"
#include "layers/norm.h"
#include "layers/pooler.h"
#include "loader/loader_test_util.h"
#include "loader/safetensors.h"
#include "loader/weight_loader.h"
#include "ops/ops_test_util.h"

namespace vllm {
namespace {

using testing::expect_close;
using testing::expect_error;
using testing::fresh_seed;
using testing::random_tensor;
using testing::TempDir;
using testing::to_doubles;

using Rows = std::vector<std::vector<double>>;
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// `tensors` written as one model.safetensors in a scratch folder, and a loader over it (the
// loader keeps a pointer to the checkpoint: this object is not copied or moved).
class TinyCheckpoint {
 public:
  explicit TinyCheckpoint(const NamedTensors& tensors)
      : checkpoint_(write_and_open(dir_, tensors)), loader_(checkpoint_, WeightMap{}, "TestLayers") {}
  TinyCheckpoint(const TinyCheckpoint&) = delete;
  TinyCheckpoint& operator=(const TinyCheckpoint&) = delete;
  WeightLoader& loader() { return loader_; }

 private:
  static Checkpoint write_and_open(const TempDir& dir, const NamedTensors& tensors) {
    save_safetensors(dir / "model.safetensors", tensors);
    return Checkpoint::open(dir.path());
  }

  TempDir dir_;
  Checkpoint checkpoint_;
  WeightLoader loader_;
};

// A [rows, cols] host tensor as rows of doubles.
Rows rows_of(const Tensor& t) {
  const std::vector<double> flat = to_doubles(t);
  const int64_t cols = t.size(t.dim() - 1);
  Rows out;
  for (size_t begin = 0; begin < flat.size(); begin += static_cast<size_t>(cols))
    out.emplace_back(flat.begin() + static_cast<std::ptrdiff_t>(begin),
                     flat.begin() + static_cast<std::ptrdiff_t>(begin + cols));
  return out;
}

std::vector<double> flatten(const Rows& rows) {
  std::vector<double> out;
  for (const std::vector<double>& row : rows) out.insert(out.end(), row.begin(), row.end());
  return out;
}

// ---------------------------------------------------------------------------------------------
// Pooler

// The pooling of rows [begin, end) of `hidden`, then torch's normalize and softmax, in double.
Rows reference_pool(const Rows& hidden, const std::vector<int64_t>& query_start, const PoolerSpec& spec) {
  Rows pooled;
  for (size_t b = 0; b + 1 < query_start.size(); ++b) {
    const int64_t begin = query_start[b], end = query_start[b + 1];
    switch (spec.type) {
      case PoolingType::Last: pooled.push_back(hidden[end - 1]); break;
      case PoolingType::First: pooled.push_back(hidden[begin]); break;
      case PoolingType::Mean: {
        std::vector<double> mean(hidden[0].size(), 0.0);
        for (int64_t t = begin; t < end; ++t)
          for (size_t h = 0; h < mean.size(); ++h) mean[h] += hidden[t][h] / static_cast<double>(end - begin);
        pooled.push_back(mean);
        break;
      }
      case PoolingType::All:
        for (int64_t t = begin; t < end; ++t) pooled.push_back(hidden[t]);
        break;
    }
  }
  for (std::vector<double>& row : pooled) {
    if (spec.normalize) {
      double norm = 0.0;
      for (double v : row) norm += v * v;
      norm = std::max(std::sqrt(norm), 1e-12);
      for (double& v : row) v /= norm;
    }
    if (spec.softmax) {
      const double top = *std::max_element(row.begin(), row.end());
      double sum = 0.0;
      for (double v : row) sum += std::exp(v - top);
      for (double& v : row) v = std::exp(v - top) / sum;
    }
  }
  return pooled;
}

const char* pooling_name(PoolingType type) {
  switch (type) {
    case PoolingType::Last: return "LAST";
    case PoolingType::First: return "CLS";
    case PoolingType::Mean: return "MEAN";
    case PoolingType::All: return "ALL";
  }
  return "?";
}

TEST(Pooler, EveryTypeWithAndWithoutNormalizeAndSoftmax) {
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 rng(seed);
  const std::vector<int64_t> query_start = {0, 3, 4, 9};  // three prompts of 3, 1 and 5 tokens
  const int64_t tokens = 9, width = 6;
  const Tensor hidden = random_tensor({tokens, width}, rng, DType::F32, -2.0f, 2.0f);
  const Rows hidden_rows = rows_of(hidden);
  for (PoolingType type : {PoolingType::Last, PoolingType::First, PoolingType::Mean, PoolingType::All}) {
    for (bool normalize : {false, true}) {
      for (bool softmax : {false, true}) {
        const PoolerSpec spec{type, normalize, softmax};
        const std::string what = std::string(pooling_name(type)) + (normalize ? " normalize" : "") +
                                 (softmax ? " softmax" : "");
        SCOPED_TRACE(what);
        const Tensor pooled = Pooler(spec).pool(hidden, query_start);
        const int64_t rows = type == PoolingType::All ? tokens : 3;
        ASSERT_EQ(pooled.shape(), Shape({rows, width}));
        EXPECT_EQ(pooled.dtype(), DType::F32);
        expect_close(flatten(reference_pool(hidden_rows, query_start, spec)), pooled, 1e-6, 1e-5, what.c_str());
      }
    }
  }
}

TEST(Pooler, NormalizedRowsHaveUnitLengthAndSoftmaxRowsSumToOne) {
  std::mt19937 rng(7);
  const Tensor hidden = random_tensor({5, 4}, rng);
  for (const Rows& rows : {rows_of(Pooler({PoolingType::Mean, true, false}).pool(hidden, {0, 2, 5})),
                           rows_of(Pooler({PoolingType::All, true, false}).pool(hidden, {0, 2, 5}))}) {
    for (const std::vector<double>& row : rows) {
      double norm = 0.0;
      for (double v : row) norm += v * v;
      EXPECT_NEAR(std::sqrt(norm), 1.0, 1e-6);
    }
  }
  for (const std::vector<double>& row : rows_of(Pooler({PoolingType::Last, false, true}).pool(hidden, {0, 2, 5}))) {
    double sum = 0.0;
    for (double v : row) sum += v;
    EXPECT_NEAR(sum, 1.0, 1e-6);
  }
}

TEST(Pooler, RejectsAnEmptySequenceAndQueryStartNotSpanningTheRows) {
  std::mt19937 rng(3);
  const Tensor hidden = random_tensor({7, 4}, rng);
  const Pooler pooler({PoolingType::Mean});
  expect_error([&] { pooler.pool(hidden, {0, 2, 2, 7}); }, ErrorKind::InvalidArgument,
               {"pooler: sequence 1 has no tokens"});
  expect_error([&] { pooler.pool(hidden, {0, 2, 3, 6}); }, ErrorKind::InvalidArgument,
               {"query_start must run from 0 to the 7 hidden rows"});
  expect_error([&] { pooler.pool(hidden, {1, 3, 7}); }, ErrorKind::InvalidArgument,
               {"query_start must run from 0 to the 7 hidden rows"});
  expect_error([&] { pooler.pool(hidden, {}); }, ErrorKind::InvalidArgument, {"query_start"});
}

TEST(Pooler, ParsePoolingTypeIgnoresCaseAndNamesTheKnownTypes) {
  EXPECT_EQ(parse_pooling_type("LAST"), PoolingType::Last);
  EXPECT_EQ(parse_pooling_type("last"), PoolingType::Last);
  EXPECT_EQ(parse_pooling_type("CLS"), PoolingType::First);
  EXPECT_EQ(parse_pooling_type("cls"), PoolingType::First);
  EXPECT_EQ(parse_pooling_type("First"), PoolingType::First);
  EXPECT_EQ(parse_pooling_type("Mean"), PoolingType::Mean);
  EXPECT_EQ(parse_pooling_type("all"), PoolingType::All);
  expect_error([] { parse_pooling_type("max"); }, ErrorKind::InvalidArgument,
               {"pooling type 'max' is not supported", "known: LAST, CLS, MEAN, ALL"});
  expect_error([] { parse_pooling_type(""); }, ErrorKind::InvalidArgument, {"known: LAST, CLS, MEAN, ALL"});
}

// ---------------------------------------------------------------------------------------------
// normal_quantile (Gemma 3n's activation sparsity)

TEST(NormalQuantile, KnownValues) {
  EXPECT_NEAR(normal_quantile(0.95), 1.6448536269514722, 1e-12);
  EXPECT_NEAR(normal_quantile(0.05), -1.6448536269514722, 1e-12);
  EXPECT_NEAR(normal_quantile(0.5), 0.0, 1e-12);
  EXPECT_NEAR(normal_quantile(0.025), -1.959963984540054, 1e-12);
  EXPECT_NEAR(normal_quantile(0.975), 1.959963984540054, 1e-12);
}

// ---------------------------------------------------------------------------------------------
// Attention: what the constructor refuses (the forward pass is tested in tests/models).

AttentionSpec attention_spec(int64_t heads, int64_t kv_heads) {
  AttentionSpec spec;
  spec.num_heads = heads;
  spec.num_kv_heads = kv_heads;
  spec.head_dim = 8;
  spec.scale = 1.0f / std::sqrt(8.0f);
  return spec;
}

TEST(Attention, AcceptsGroupedQueryHeads) {
  EXPECT_NO_THROW(Attention(attention_spec(8, 2), Device::cpu()));
  EXPECT_NO_THROW(Attention(attention_spec(4, 4), Device::cpu()));
}

// Decoder layers slide causally, encoder-only ones on both sides (ModernBERT); cross-attention
// has no window.
TEST(Attention, SlidingWindowIsForDecoderAndEncoderOnlyLayers) {
  AttentionSpec spec = attention_spec(4, 4);
  spec.sliding_window = 8;
  spec.type = AttentionType::Cross;
  expect_error([&] { Attention(spec, Device::cpu()); }, ErrorKind::Unsupported,
               {"a sliding window (8) applies to decoder and encoder-only attention, not to cross-attention"});
  spec.type = AttentionType::EncoderOnly;
  EXPECT_NO_THROW(Attention(spec, Device::cpu()));
}

TEST(Attention, SinksNeedTheirTensor) {
  AttentionSpec spec = attention_spec(4, 2);
  spec.sinks = true;
  expect_error([&] { Attention(spec, Device::cpu()); }, ErrorKind::Internal, {"the sink tensor is missing"});
  expect_error([&] { Attention(spec, Device::cpu(), Tensor::from_floats({1.0f, 2.0f}, {2})); },
               ErrorKind::InvalidArgument, {"must be f32 [4]"});
  EXPECT_NO_THROW(Attention(spec, Device::cpu(), Tensor::from_floats({1.0f, 2.0f, 3.0f, 4.0f}, {4})));
  spec.sinks = false;
  expect_error([&] { Attention(spec, Device::cpu(), Tensor::from_floats({1.0f, 2.0f, 3.0f, 4.0f}, {4})); },
               ErrorKind::Internal, {"has no sinks but the sink tensor is given"});
}

TEST(Attention, QueryHeadsMustBeAMultipleOfKvHeads) {
  expect_error([] { Attention(attention_spec(6, 4), Device::cpu()); }, ErrorKind::InvalidArgument,
               {"6 query heads must be a positive multiple of 4 kv heads"});
  expect_error([] { Attention(attention_spec(4, 0), Device::cpu()); }, ErrorKind::InvalidArgument,
               {"must be a positive multiple of 0 kv heads"});
}

// ---------------------------------------------------------------------------------------------
// Norm

// HF's LlamaRMSNorm (Gemma: weight + 1) over each row, in double.
Rows reference_rms_norm(const Rows& x, const std::vector<double>& weight, double eps, double offset) {
  Rows out;
  for (const std::vector<double>& row : x) {
    double sum_sq = 0.0;
    for (double v : row) sum_sq += v * v;
    const double inv = 1.0 / std::sqrt(sum_sq / static_cast<double>(row.size()) + eps);
    std::vector<double> normed(row.size());
    for (size_t i = 0; i < row.size(); ++i) normed[i] = row[i] * inv * (weight[i] + offset);
    out.push_back(normed);
  }
  return out;
}

// torch.nn.LayerNorm over each row, in double; empty weight or bias: none.
Rows reference_layer_norm(const Rows& x, const std::vector<double>& weight, const std::vector<double>& bias,
                          double eps) {
  Rows out;
  for (const std::vector<double>& row : x) {
    const double n = static_cast<double>(row.size());
    double mean = 0.0, var = 0.0;
    for (double v : row) mean += v / n;
    for (double v : row) var += (v - mean) * (v - mean) / n;
    std::vector<double> normed(row.size());
    for (size_t i = 0; i < row.size(); ++i)
      normed[i] = (row[i] - mean) / std::sqrt(var + eps) * (weight.empty() ? 1.0 : weight[i]) +
                  (bias.empty() ? 0.0 : bias[i]);
    out.push_back(normed);
  }
  return out;
}

// forward() and forward_inplace() of `norm` on x, each against `expected`.
void expect_norm(const Norm& norm, const Tensor& x, const Rows& expected, const char* what) {
  SCOPED_TRACE(what);
  const Tensor out = norm.forward(x);
  ASSERT_EQ(out.shape(), x.shape());
  expect_close(flatten(expected), out, 1e-5, 1e-5, what);
  Tensor in_place = x.clone();
  norm.forward_inplace(in_place);
  expect_close(flatten(expected), in_place, 1e-5, 1e-5, what);
}

class NormTest : public ::testing::Test {
 protected:
  static constexpr int64_t kTokens = 5, kHidden = 16;
  void SetUp() override {
    seed_ = fresh_seed();
    rng_.seed(seed_);
    x_ = random_tensor({kTokens, kHidden}, rng_, DType::F32, -3.0f, 3.0f);
  }
  uint32_t seed_ = 0;
  std::mt19937 rng_;
  Tensor x_;
};

TEST_F(NormTest, RMSNorm) {
  SCOPED_TRACE(seed_);
  const Tensor weight = random_tensor({kHidden}, rng_, DType::F32, 0.5f, 1.5f);
  TinyCheckpoint checkpoint({{"norm.weight", weight}});
  const Norm norm = Norm::load(checkpoint.loader(), "norm", kHidden, NormKind::RMSNorm, 1e-6f, 0.0f);
  EXPECT_TRUE(norm.defined());
  EXPECT_FALSE(norm.bias.defined());
  expect_norm(norm, x_, reference_rms_norm(rows_of(x_), to_doubles(weight), 1e-6, 0.0), "rms");
  checkpoint.loader().finish();
}

// Gemma's RMSNorm multiplies by (1 + w); the offset stays a parameter of the op, and a bf16
// checkpoint weight arrives as f32.
TEST_F(NormTest, GemmaRMSNormAddsOneToTheWeight) {
  SCOPED_TRACE(seed_);
  const Tensor weight = random_tensor({kHidden}, rng_, DType::BF16, -0.5f, 0.5f);
  TinyCheckpoint checkpoint({{"norm.weight", weight}});
  const Norm norm = Norm::load(checkpoint.loader(), "norm", kHidden, NormKind::RMSNorm, 1e-6f, 1.0f);
  EXPECT_EQ(norm.weight.dtype(), DType::F32);
  EXPECT_EQ(norm.weight_offset, 1.0f);
  expect_norm(norm, x_, reference_rms_norm(rows_of(x_), to_doubles(weight), 1e-6, 1.0), "gemma rms");
}

TEST_F(NormTest, UnitRMSNormHasNoLearnedWeight) {
  SCOPED_TRACE(seed_);
  const Norm norm = Norm::unit_rms(kHidden, 1e-6f);
  expect_norm(norm, x_, reference_rms_norm(rows_of(x_), std::vector<double>(kHidden, 1.0), 1e-6, 0.0), "unit rms");
}

TEST_F(NormTest, LayerNormWithBias) {
  SCOPED_TRACE(seed_);
  const Tensor weight = random_tensor({kHidden}, rng_, DType::F32, 0.5f, 1.5f);
  const Tensor bias = random_tensor({kHidden}, rng_);
  TinyCheckpoint checkpoint({{"ln.weight", weight}, {"ln.bias", bias}});
  const Norm norm = Norm::load(checkpoint.loader(), "ln", kHidden, NormKind::LayerNorm, 1e-5f, 0.0f);
  ASSERT_TRUE(norm.bias.defined());
  expect_norm(norm, x_, reference_layer_norm(rows_of(x_), to_doubles(weight), to_doubles(bias), 1e-5),
              "layer norm with bias");
  checkpoint.loader().finish();
}

TEST_F(NormTest, LayerNormWithoutBias) {
  SCOPED_TRACE(seed_);
  const Tensor weight = random_tensor({kHidden}, rng_, DType::F32, 0.5f, 1.5f);
  TinyCheckpoint checkpoint({{"ln.weight", weight}});
  const Norm norm = Norm::load(checkpoint.loader(), "ln", kHidden, NormKind::LayerNorm, 1e-5f, 0.0f);
  EXPECT_FALSE(norm.bias.defined());
  expect_norm(norm, x_, reference_layer_norm(rows_of(x_), to_doubles(weight), {}, 1e-5), "layer norm without bias");
}

// Nemotron's LayerNorm1P: the offset is folded into the weight at load, not applied per step.
TEST_F(NormTest, LayerNorm1PFoldsTheOffsetIntoTheWeight) {
  SCOPED_TRACE(seed_);
  const Tensor weight = random_tensor({kHidden}, rng_, DType::F32, -0.5f, 0.5f);
  const Tensor bias = random_tensor({kHidden}, rng_);
  TinyCheckpoint checkpoint({{"ln.weight", weight}, {"ln.bias", bias}});
  const Norm norm = Norm::load(checkpoint.loader(), "ln", kHidden, NormKind::LayerNorm, 1e-5f, 1.0f);
  EXPECT_EQ(norm.weight_offset, 0.0f);
  std::vector<double> folded = to_doubles(weight);
  for (double& w : folded) w += 1.0;
  expect_close(folded, norm.weight, 1e-6, 1e-6, "folded weight");
  expect_norm(norm, x_, reference_layer_norm(rows_of(x_), folded, to_doubles(bias), 1e-5), "layer norm 1p");
}

TEST_F(NormTest, NonAffineLayerNorm) {
  SCOPED_TRACE(seed_);
  const Norm norm = Norm::non_affine(1e-5f);
  EXPECT_FALSE(norm.weight.defined());
  expect_norm(norm, x_, reference_layer_norm(rows_of(x_), {}, {}, 1e-5), "non-affine layer norm");
}

TEST_F(NormTest, AnAbsentNormPassesTheInputThrough) {
  const Norm norm{};
  EXPECT_FALSE(norm.defined());
  const Tensor out = norm.forward(x_);
  EXPECT_EQ(out.to_float_vector(), x_.to_float_vector());
}

// One weight per head, over each head's head_dim: stored as one [heads, head_dim] tensor
// (Cohere) or as `norms.<h>.weight` per head (StableLM); both give the same result.
TEST_F(NormTest, PerHeadWeights) {
  SCOPED_TRACE(seed_);
  const int64_t heads = 4, head_dim = 8;
  const Tensor x = random_tensor({kTokens, heads, head_dim}, rng_, DType::F32, -3.0f, 3.0f);
  const Tensor weight = random_tensor({heads, head_dim}, rng_, DType::F32, 0.5f, 1.5f);
  const std::vector<double> w = to_doubles(weight);
  // Rows of x as [T * heads, head_dim], each normed with its head's weight.
  const Rows x_rows = rows_of(x.view({kTokens * heads, head_dim}));
  for (NormKind kind : {NormKind::RMSNorm, NormKind::LayerNorm}) {
    const bool rms = kind == NormKind::RMSNorm;
    Rows expected;
    for (size_t r = 0; r < x_rows.size(); ++r) {
      const size_t head = r % static_cast<size_t>(heads);
      const std::vector<double> head_weight(w.begin() + static_cast<std::ptrdiff_t>(head * head_dim),
                                            w.begin() + static_cast<std::ptrdiff_t>((head + 1) * head_dim));
      const Rows one = {x_rows[r]};
      expected.push_back(rms ? reference_rms_norm(one, head_weight, 1e-5, 0.0)[0]
                             : reference_layer_norm(one, head_weight, {}, 1e-5)[0]);
    }
    NamedTensors separate;
    for (int64_t h = 0; h < heads; ++h)
      separate.emplace_back("q_norm.norms." + std::to_string(h) + ".weight",
                            weight.slice(0, h, h + 1).view({head_dim}));
    TinyCheckpoint fused({{"q_norm.weight", weight}}), per_head(separate);
    for (TinyCheckpoint* checkpoint : {&fused, &per_head}) {
      const Norm norm = Norm::load_per_head(checkpoint->loader(), "q_norm", heads, head_dim, kind, 1e-5f);
      ASSERT_EQ(norm.weight.shape(), Shape({heads, head_dim}));
      expect_norm(norm, x, expected, rms ? "per-head rms" : "per-head layer norm");
      checkpoint->loader().finish();
    }
  }
}

TEST_F(NormTest, AWeightOfTheWrongSizeIsAnError) {
  TinyCheckpoint checkpoint({{"norm.weight", random_tensor({kHidden + 1}, rng_)}});
  EXPECT_THROW(Norm::load(checkpoint.loader(), "norm", kHidden, NormKind::RMSNorm, 1e-6f, 0.0f), Error);
}

// ---------------------------------------------------------------------------------------------
// Embedding and LMHead

// rows [R, K] times weight [N, K]^T (+ bias), then scale and cap * tanh(v / cap), in double.
Rows reference_logits(const Rows& rows, const Rows& weight, const std::vector<double>& bias, double scale = 1.0,
                      double softcap = 0.0) {
  Rows out;
  for (const std::vector<double>& row : rows) {
    std::vector<double> logits;
    for (size_t n = 0; n < weight.size(); ++n) {
      double dot = bias.empty() ? 0.0 : bias[n];
      for (size_t k = 0; k < row.size(); ++k) dot += row[k] * weight[n][k];
      dot *= scale;
      if (softcap > 0.0) dot = softcap * std::tanh(dot / softcap);
      logits.push_back(dot);
    }
    out.push_back(logits);
  }
  return out;
}

class EmbeddingTest : public ::testing::Test {
 protected:
  static constexpr int64_t kVocab = 11, kHidden = 8;
  void SetUp() override {
    seed_ = fresh_seed();
    rng_.seed(seed_);
    table_ = random_tensor({kVocab, kHidden}, rng_, DType::BF16);
  }
  uint32_t seed_ = 0;
  std::mt19937 rng_;
  Tensor table_;  // [vocab, hidden] bf16, as checkpoints store it
};

TEST_F(EmbeddingTest, LooksUpRowsOfTheTableAsF32) {
  SCOPED_TRACE(seed_);
  TinyCheckpoint checkpoint({{"model.embed_tokens.weight", table_}});
  const Embedding embedding =
      Embedding::load(checkpoint.loader(), "model.embed_tokens", kVocab, kHidden, Device::cpu());
  EXPECT_EQ(embedding.dim(), kHidden);
  EXPECT_EQ(embedding.weight.dtype(), DType::BF16);  // kept as stored, widened by the op
  const std::vector<int32_t> ids = {3, 0, 10, 3, 7};
  const Tensor out = embedding.forward(Tensor::from_ints(ids, {5}));
  ASSERT_EQ(out.shape(), Shape({5, kHidden}));
  EXPECT_EQ(out.dtype(), DType::F32);
  const Rows table = rows_of(table_);
  Rows expected;
  for (int32_t id : ids) expected.push_back(table[static_cast<size_t>(id)]);
  expect_close(flatten(expected), out, 0.0, 0.0, "embedding rows");
  checkpoint.loader().finish();
}

// Tied: the head reads the embedding's own table; a stored lm_head.weight copy is consumed unread.
TEST_F(EmbeddingTest, TiedHeadSharesTheEmbeddingTable) {
  SCOPED_TRACE(seed_);
  TinyCheckpoint checkpoint({{"model.embed_tokens.weight", table_}, {"lm_head.weight", table_}});
  const Embedding embedding =
      Embedding::load(checkpoint.loader(), "model.embed_tokens", kVocab, kHidden, Device::cpu());
  const LMHead head = LMHead::load(checkpoint.loader(), "lm_head", &embedding, kVocab, kHidden, false, Device::cpu());
  EXPECT_EQ(head.weight.raw_data(), embedding.weight.raw_data());
  EXPECT_FALSE(head.bias.defined());
  checkpoint.loader().finish();  // lm_head.weight counts as read

  const Tensor rows = random_tensor({3, kHidden}, rng_);
  const Tensor logits = head.forward(rows);
  ASSERT_EQ(logits.shape(), Shape({3, kVocab}));
  expect_close(flatten(reference_logits(rows_of(rows), rows_of(table_), {})), logits, 1e-5, 1e-5, "tied logits");
}

TEST_F(EmbeddingTest, TiedHeadWithoutAStoredCopy) {
  TinyCheckpoint checkpoint({{"model.embed_tokens.weight", table_}});
  const Embedding embedding =
      Embedding::load(checkpoint.loader(), "model.embed_tokens", kVocab, kHidden, Device::cpu());
  const LMHead head = LMHead::load(checkpoint.loader(), "lm_head", &embedding, kVocab, kHidden, false, Device::cpu());
  EXPECT_EQ(head.weight.raw_data(), embedding.weight.raw_data());
  checkpoint.loader().finish();
}

TEST_F(EmbeddingTest, UntiedHeadWithBias) {
  SCOPED_TRACE(seed_);
  const Tensor weight = random_tensor({kVocab, kHidden}, rng_);
  const Tensor bias = random_tensor({kVocab}, rng_);
  TinyCheckpoint checkpoint({{"lm_head.weight", weight}, {"lm_head.bias", bias}});
  const LMHead head = LMHead::load(checkpoint.loader(), "lm_head", nullptr, kVocab, kHidden, true, Device::cpu());
  ASSERT_TRUE(head.bias.defined());
  checkpoint.loader().finish();
  const Tensor rows = random_tensor({4, kHidden}, rng_);
  expect_close(flatten(reference_logits(rows_of(rows), rows_of(weight), to_doubles(bias))), head.forward(rows), 1e-5,
               1e-5, "untied logits with bias");
}

// Granite's 1 / logits_scaling, then Gemma 2's final_logit_softcapping, in that order.
TEST_F(EmbeddingTest, HeadScalesThenSoftcapsTheLogits) {
  SCOPED_TRACE(seed_);
  const Tensor weight = random_tensor({kVocab, kHidden}, rng_, DType::F32, -2.0f, 2.0f);
  TinyCheckpoint checkpoint({{"lm_head.weight", weight}});
  LMHead head = LMHead::load(checkpoint.loader(), "lm_head", nullptr, kVocab, kHidden, false, Device::cpu());
  const Tensor rows = random_tensor({4, kHidden}, rng_, DType::F32, -2.0f, 2.0f);
  head.scale = 0.25f;
  expect_close(flatten(reference_logits(rows_of(rows), rows_of(weight), {}, 0.25)), head.forward(rows), 1e-5, 1e-5,
               "scaled logits");
  head.softcap = 1.5f;
  const Tensor capped = head.forward(rows);
  expect_close(flatten(reference_logits(rows_of(rows), rows_of(weight), {}, 0.25, 1.5)), capped, 1e-5, 1e-5,
               "scaled and softcapped logits");
  for (float v : capped.to_float_vector()) EXPECT_LT(std::abs(v), 1.5f);
  head.scale = 1.0f;
  expect_close(flatten(reference_logits(rows_of(rows), rows_of(weight), {}, 1.0, 1.5)), head.forward(rows), 1e-5, 1e-5,
               "softcapped logits");
}

// ---------------------------------------------------------------------------------------------
// Linear and DenseFeedForward

TEST(Linear, WithAndWithoutBias) {
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 rng(seed);
  const Tensor weight = random_tensor({6, 5}, rng, DType::BF16), bias = random_tensor({6}, rng);
  TinyCheckpoint checkpoint({{"proj.weight", weight}, {"proj.bias", bias}, {"plain.weight", weight}});
  const Linear with_bias = Linear::load(checkpoint.loader(), "proj", 5, 6, true);
  const Linear without_bias = Linear::load(checkpoint.loader(), "plain", 5, 6, false);
  checkpoint.loader().finish();
  EXPECT_EQ(with_bias.out_features(), 6);
  EXPECT_EQ(with_bias.weight.dtype(), DType::BF16);  // kept as stored
  const Tensor x = random_tensor({3, 5}, rng);
  expect_close(flatten(reference_logits(rows_of(x), rows_of(weight), to_doubles(bias))), with_bias.forward(x), 1e-5,
               1e-5, "linear with bias");
  expect_close(flatten(reference_logits(rows_of(x), rows_of(weight), {})), without_bias.forward(x), 1e-5, 1e-5,
               "linear without bias");
}

TEST(Linear, TensorParallelSplitsAreUnsupported) {
  std::mt19937 rng(1);
  TinyCheckpoint checkpoint({{"proj.weight", random_tensor({4, 4}, rng)}});
  const TensorParallel two_ranks{TensorParallel::Split::Column, 0, 2};
  expect_error([&] { Linear::load(checkpoint.loader(), "proj", 4, 4, false, Device::cpu(), two_ranks); },
               ErrorKind::Unsupported, {"proj: tensor-parallel size 2 is not supported yet"});
}

double silu(double v) { return v / (1.0 + std::exp(-v)); }

// Llama's MLP: down_proj(silu(gate_proj(x)) * up_proj(x)), gate and up fused in gate_up_proj.
TEST(DenseFeedForward, GatedSilu) {
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 rng(seed);
  const int64_t hidden = 8, inter = 12;
  const Tensor gate_up = random_tensor({2 * inter, hidden}, rng), down = random_tensor({hidden, inter}, rng);
  TinyCheckpoint checkpoint({{"mlp.gate_up_proj.weight", gate_up}, {"mlp.down_proj.weight", down}});
  FeedForwardSpec spec;
  spec.hidden_size = hidden;
  spec.intermediate_size = inter;
  const auto mlp = DenseFeedForward::load(checkpoint.loader(), "mlp.", spec, Device::cpu());
  checkpoint.loader().finish();
  EXPECT_EQ(mlp->weight_dtype(), DType::F32);

  const Tensor x = random_tensor({3, hidden}, rng);
  const Rows projected = reference_logits(rows_of(x), rows_of(gate_up), {});  // [T, 2 I]
  Rows activated;
  for (const std::vector<double>& row : projected) {
    std::vector<double> product(static_cast<size_t>(inter));
    for (int64_t i = 0; i < inter; ++i) product[i] = silu(row[i]) * row[inter + i];
    activated.push_back(product);
  }
  expect_close(flatten(reference_logits(activated, rows_of(down), {})), mlp->forward(x), 1e-5, 1e-5, "gated silu mlp");
}

// GPT-2's MLP: down_proj(gelu(up_proj(x) + b) + b), no gate.
TEST(DenseFeedForward, UngatedGeluWithBiases) {
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 rng(seed);
  const int64_t hidden = 8, inter = 16;
  const Tensor up = random_tensor({inter, hidden}, rng), up_bias = random_tensor({inter}, rng);
  const Tensor down = random_tensor({hidden, inter}, rng), down_bias = random_tensor({hidden}, rng);
  TinyCheckpoint checkpoint({{"mlp.up_proj.weight", up}, {"mlp.up_proj.bias", up_bias},
                             {"mlp.down_proj.weight", down}, {"mlp.down_proj.bias", down_bias}});
  FeedForwardSpec spec;
  spec.hidden_size = hidden;
  spec.intermediate_size = inter;
  spec.gated = false;
  spec.activation = ops::Activation::Gelu;
  spec.up_bias = spec.down_bias = true;
  const auto mlp = DenseFeedForward::load(checkpoint.loader(), "mlp.", spec, Device::cpu());
  checkpoint.loader().finish();

  const Tensor x = random_tensor({3, hidden}, rng);
  Rows activated = reference_logits(rows_of(x), rows_of(up), to_doubles(up_bias));
  for (std::vector<double>& row : activated)
    for (double& v : row) v = 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
  expect_close(flatten(reference_logits(activated, rows_of(down), to_doubles(down_bias))), mlp->forward(x), 1e-5,
               1e-5, "gelu mlp");
}

}  // namespace
}  // namespace vllm
