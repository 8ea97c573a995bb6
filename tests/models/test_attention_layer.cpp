// The Attention layer's types beyond the causal decoder (src/layers/attention.*): encoder-only
// attention over the step's own tokens, cross-attention over a cache its encoder step filled, and
// attention sinks (through SelfAttention, which loads them by name), and multi-head latent
// attention (MlaAttention, its weights folded at load) against the expanded per-head form, each against a
// double-precision reference written here. The specs it refuses are tested in tests/layers.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "core/error.h"
#include "engine/input_batch.h"
#include "layers/attention.h"
#include "layers/mla_attention.h"
#include "layers/self_attention.h"
#include "loader/safetensors.h"
#include "loader/weight_loader.h"

namespace vllm {
namespace {

std::vector<double> doubles(const Tensor& t) {
  std::vector<float> f = t.to_float_vector();
  return std::vector<double>(f.begin(), f.end());
}

Tensor random_tensor(const Shape& shape, std::mt19937& rng, float low = -1.0f, float high = 1.0f) {
  std::uniform_real_distribution<float> dist(low, high);
  std::vector<float> values(static_cast<size_t>(shape_numel(shape)));
  for (float& v : values) v = dist(rng);
  return Tensor::from_floats(values, shape);
}

// Softmax attention in double: q [sum q_lens, H, D]; keys[s] / values[s] [k_lens[s], Hk, D].
// Query i of sequence s is at position k_len - q_len + i; causal rows see keys up to it. A sink
// (one per head, empty: none) joins the softmax denominator only.
std::vector<double> reference(const std::vector<double>& q, const std::vector<std::vector<double>>& keys,
                              const std::vector<std::vector<double>>& values, const std::vector<int32_t>& q_lens,
                              int64_t H, int64_t Hk, int64_t D, double scale, bool causal,
                              const std::vector<double>& sinks = {}) {
  std::vector<double> out;
  int64_t row = 0;
  for (size_t s = 0; s < q_lens.size(); ++s) {
    const int64_t k_len = static_cast<int64_t>(keys[s].size()) / (Hk * D);
    for (int64_t i = 0; i < q_lens[s]; ++i, ++row) {
      const int64_t pos = k_len - q_lens[s] + i;
      for (int64_t h = 0; h < H; ++h) {
        const int64_t kvh = h / (H / Hk);
        const int64_t last = causal ? pos : k_len - 1;
        std::vector<double> scores;
        for (int64_t j = 0; j <= last; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < D; ++d) dot += q[(row * H + h) * D + d] * keys[s][(j * Hk + kvh) * D + d];
          scores.push_back(dot * scale);
        }
        double m = sinks.empty() ? -INFINITY : sinks[h];
        for (double sc : scores) m = std::max(m, sc);
        double sum = sinks.empty() ? 0.0 : std::exp(sinks[h] - m);
        for (double& sc : scores) sum += (sc = std::exp(sc - m));
        for (int64_t d = 0; d < D; ++d) {
          double o = 0;
          for (size_t j = 0; j < scores.size(); ++j) o += scores[j] / sum * values[s][(j * Hk + kvh) * D + d];
          out.push_back(o);
        }
      }
    }
  }
  return out;
}

void expect_close(const std::vector<double>& expected, const Tensor& actual, const char* what) {
  std::vector<float> got = actual.to_float_vector();
  ASSERT_EQ(expected.size(), got.size()) << what;
  int reported = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::abs(expected[i] - got[i]) <= 2e-5 + 1e-4 * std::abs(expected[i])) && reported++ < 5)
      ADD_FAILURE() << what << ": element " << i << " expected " << expected[i] << " got " << got[i];
}

// Rows [begin, end) of a [T, H, D] tensor as doubles.
std::vector<double> rows(const Tensor& t, int64_t begin, int64_t end) { return doubles(t.slice(0, begin, end)); }

SequenceChunk prompt(int64_t computed, int64_t new_tokens, std::vector<int32_t> blocks) {
  SequenceChunk chunk;
  chunk.num_computed_tokens = computed;
  chunk.token_ids.assign(static_cast<size_t>(new_tokens), 7);
  chunk.block_ids = std::move(blocks);
  return chunk;
}

AttentionSpec spec_of(AttentionType type, int64_t heads, int64_t kv_heads, int64_t head_dim) {
  AttentionSpec spec;
  spec.num_heads = heads;
  spec.num_kv_heads = kv_heads;
  spec.head_dim = head_dim;
  spec.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  spec.type = type;
  return spec;
}

// A BERT-style layer: each sequence attends over its own tokens both ways, after the rotary
// embedding at its own positions, and no cache is touched (the cache passed is empty).
TEST(AttentionLayer, EncoderOnlyAttendsBothWaysWithinEachSequence) {
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE(::testing::Message() << "seed=" << seed);
  std::mt19937 rng(seed);
  const int64_t H = 4, Hk = 2, D = 16;
  const std::vector<int32_t> lens{5, 3};
  FlatBatch batch = build_flat_batch({prompt(0, 5, {0, 1}), prompt(0, 3, {2})}, 4);
  batch.metadata.max_query_len = 5;
  RotaryEmbedding rotary(nlohmann::json{{"rope_type", "default"}, {"rope_theta", 10000.0}}, D, 64, true);
  Attention layer(spec_of(AttentionType::EncoderOnly, H, Hk, D), Device::cpu());
  Tensor q = random_tensor({8, H, D}, rng), k = random_tensor({8, Hk, D}, rng), v = random_tensor({8, Hk, D}, rng);
  Tensor q_ref = q.clone(), k_ref = k.clone();
  rotary.forward(batch.metadata.positions, batch.metadata.token_seq_lens, q_ref, k_ref);
  const std::vector<double> expected =
      reference(doubles(q_ref), {rows(k_ref, 0, 5), rows(k_ref, 5, 8)}, {rows(v, 0, 5), rows(v, 5, 8)}, lens, H, Hk,
                D, layer.spec().scale, /*causal=*/false);
  Tensor out = layer.forward(q, k, v, batch.metadata, AttentionCache{}, &rotary);
  expect_close(expected, out, "encoder-only");
}

// An encoder-decoder's cross layer: the encoder's step writes its K/V (9 encoder tokens, two
// sequences) into the layer's own cache and the decoder's queries (more of them than encoder
// tokens in the second sequence) attend over all of it; a later decode step reads the cache alone.
// The decoder batch's seq_lens differ from the encoder lengths the cache passes.
TEST(AttentionLayer, CrossAttentionEncoderStepWritesTheCacheDecodeStepReadsIt) {
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE(::testing::Message() << "seed=" << seed);
  std::mt19937 rng(seed);
  const int64_t H = 4, Hk = 2, D = 16, block_size = 4;
  Attention layer(spec_of(AttentionType::Cross, H, Hk, D), Device::cpu());
  // Cross cache: sequence 0's 6 encoder tokens in blocks 5, 2; sequence 1's 3 in block 7.
  AttentionCache cache;
  cache.key_cache = Tensor::zeros({8, block_size, Hk, D}, DType::F32);
  cache.value_cache = Tensor::zeros({8, block_size, Hk, D}, DType::F32);
  cache.block_table = Tensor::from_ints({5, 2, 7, 0}, {2, 2});
  cache.slot_mapping = Tensor::from_ints({20, 21, 22, 23, 8, 9, 28, 29, 30}, {9});
  cache.seq_lens = Tensor::from_ints({6, 3}, {2});
  Tensor enc_k = random_tensor({9, Hk, D}, rng), enc_v = random_tensor({9, Hk, D}, rng);
  const std::vector<std::vector<double>> keys{rows(enc_k, 0, 6), rows(enc_k, 6, 9)};
  const std::vector<std::vector<double>> values{rows(enc_v, 0, 6), rows(enc_v, 6, 9)};

  // The encoder's step: decoder prompts of 2 and 4 tokens.
  FlatBatch first = build_flat_batch({prompt(0, 2, {0}), prompt(0, 4, {1})}, block_size);
  Tensor q = random_tensor({6, H, D}, rng, -2.0f, 2.0f);
  const std::vector<double> expected_first =
      reference(doubles(q), keys, values, {2, 4}, H, Hk, D, layer.spec().scale, /*causal=*/false);
  Tensor out = layer.forward(q, enc_k, enc_v, first.metadata, cache);
  expect_close(expected_first, out, "cross-attention, encoder step");

  // A decode step: one token each, no encoder K/V.
  FlatBatch next = build_flat_batch({prompt(2, 1, {0}), prompt(4, 1, {1, 3})}, block_size);
  Tensor q2 = random_tensor({2, H, D}, rng, -2.0f, 2.0f);
  const std::vector<double> expected_next =
      reference(doubles(q2), keys, values, {1, 1}, H, Hk, D, layer.spec().scale, /*causal=*/false);
  Tensor no_key, no_value;
  out = layer.forward(q2, no_key, no_value, next.metadata, cache);
  expect_close(expected_next, out, "cross-attention, decode step");
}

// GPT-OSS's sinks: SelfAttention loads `<prefix>sinks` (bf16 in the checkpoint) and the layer's
// softmax includes them, for a prompt and a decode in one batch.
TEST(AttentionLayer, SelfAttentionLoadsSinksAndTheSoftmaxIncludesThem) {
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE(::testing::Message() << "seed=" << seed);
  std::mt19937 rng(seed);
  const int64_t H = 4, Hk = 2, D = 8, hidden = 16, block_size = 4;
  const int64_t qkv_rows = (H + 2 * Hk) * D;
  Tensor qkv_weight = random_tensor({qkv_rows, hidden}, rng, -0.5f, 0.5f);
  Tensor o_weight = random_tensor({hidden, H * D}, rng, -0.5f, 0.5f);
  Tensor sinks = random_tensor({H}, rng, 0.0f, 3.0f).to(DType::BF16);
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("vllm_attention_sinks_" + std::to_string(seed));
  std::filesystem::create_directories(dir);
  save_safetensors(dir / "model.safetensors", {{"layer.qkv_proj.weight", qkv_weight},
                                               {"layer.o_proj.weight", o_weight},
                                               {"layer.sinks", sinks}});
  SelfAttentionSpec spec;
  spec.attention = spec_of(AttentionType::Decoder, H, Hk, D);
  spec.attention.sinks = true;
  spec.hidden_size = hidden;
  Checkpoint checkpoint = Checkpoint::open(dir);
  WeightLoader loader(checkpoint, WeightMap{}, "TestForCausalLM");
  SelfAttention layer = SelfAttention::load(loader, "layer.", spec, nullptr, Device::cpu());
  loader.finish();  // the sinks were consumed

  // A prompt of 5 tokens and a decode at position 6.
  FlatBatch batch = build_flat_batch({prompt(0, 5, {0, 1}), prompt(6, 1, {2, 3})}, block_size);
  AttentionCache cache{Tensor::zeros({4, block_size, Hk, D}, DType::F32), Tensor::zeros({4, block_size, Hk, D}, DType::F32),
                       batch.metadata.block_tables[0], batch.metadata.slot_mappings[0], Tensor()};
  // The decode's 6 earlier tokens are already in its cache (blocks 2, 3).
  Tensor past_k = random_tensor({6, Hk, D}, rng), past_v = random_tensor({6, Hk, D}, rng);
  float* kc = cache.key_cache.data<float>();
  float* vc = cache.value_cache.data<float>();
  std::vector<float> pk = past_k.to_float_vector(), pv = past_v.to_float_vector();
  for (int64_t j = 0; j < 6; ++j)
    for (int64_t i = 0; i < Hk * D; ++i) {
      const int64_t slot = (j < 4 ? 2 : 3) * block_size + j % 4;
      kc[slot * Hk * D + i] = pk[j * Hk * D + i];
      vc[slot * Hk * D + i] = pv[j * Hk * D + i];
    }
  Tensor x = random_tensor({6, hidden}, rng);
  Tensor out = layer.forward(x, batch.metadata, cache);

  // Reference: the projections in double, then attention with the sinks, then o_proj.
  const std::vector<double> xs = doubles(x), w = doubles(qkv_weight), wo = doubles(o_weight);
  std::vector<double> q, k, v;
  for (int64_t t = 0; t < 6; ++t)
    for (int64_t r = 0; r < qkv_rows; ++r) {
      double sum = 0;
      for (int64_t c = 0; c < hidden; ++c) sum += xs[t * hidden + c] * w[r * hidden + c];
      (r < H * D ? q : r < (H + Hk) * D ? k : v).push_back(sum);
    }
  std::vector<double> keys0(k.begin(), k.begin() + 5 * Hk * D), values0(v.begin(), v.begin() + 5 * Hk * D);
  std::vector<double> keys1 = doubles(past_k), values1 = doubles(past_v);
  keys1.insert(keys1.end(), k.begin() + 5 * Hk * D, k.end());
  values1.insert(values1.end(), v.begin() + 5 * Hk * D, v.end());
  const std::vector<double> attention = reference(q, {keys0, keys1}, {values0, values1}, {5, 1}, H, Hk, D,
                                                  spec.attention.scale, /*causal=*/true, doubles(sinks));
  std::vector<double> expected;
  for (int64_t t = 0; t < 6; ++t)
    for (int64_t r = 0; r < hidden; ++r) {
      double sum = 0;
      for (int64_t c = 0; c < H * D; ++c) sum += attention[t * H * D + c] * wo[r * H * D + c];
      expected.push_back(sum);
    }
  expect_close(expected, out, "self-attention with sinks");
  std::filesystem::remove_all(dir);
}

// MlaAttention caches latents and folds W_uk / W_uv into the q and o projections; the result
// must equal DeepSeek's expanded form: per-head keys [W_uk c, k_rope] and values W_uv c.
TEST(AttentionLayer, LatentAttentionEqualsTheExpandedHeads) {
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE(::testing::Message() << "seed=" << seed);
  std::mt19937 rng(seed);
  const int64_t H = 3, hidden = 16, q_lora = 12, L = 10, n = 6, r = 4, vd = 5, T = 5, block_size = 4;
  Tensor w_qa = random_tensor({q_lora, hidden}, rng, -0.5f, 0.5f), w_qa_ln = random_tensor({q_lora}, rng, 0.5f, 1.5f);
  Tensor w_qb = random_tensor({H * (n + r), q_lora}, rng, -0.5f, 0.5f);
  Tensor w_kva = random_tensor({L + r, hidden}, rng, -0.5f, 0.5f), w_kv_ln = random_tensor({L}, rng, 0.5f, 1.5f);
  Tensor w_kvb = random_tensor({H * (n + vd), L}, rng, -0.5f, 0.5f);
  Tensor w_o = random_tensor({hidden, H * vd}, rng, -0.5f, 0.5f);
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("vllm_mla_" + std::to_string(seed));
  std::filesystem::create_directories(dir);
  save_safetensors(dir / "model.safetensors",
                   {{"attn.q_a_proj.weight", w_qa}, {"attn.q_a_layernorm.weight", w_qa_ln},
                    {"attn.q_b_proj.weight", w_qb}, {"attn.kv_a_proj_with_mqa.weight", w_kva},
                    {"attn.kv_a_layernorm.weight", w_kv_ln}, {"attn.kv_b_proj.weight", w_kvb},
                    {"attn.o_proj.weight", w_o}});
  MlaSpec spec;
  spec.hidden_size = hidden;
  spec.num_heads = H;
  spec.q_lora_rank = q_lora;
  spec.kv_lora_rank = L;
  spec.qk_nope_head_dim = n;
  spec.qk_rope_head_dim = r;
  spec.v_head_dim = vd;
  spec.scale = 0.37f;
  Checkpoint checkpoint = Checkpoint::open(dir);
  WeightLoader loader(checkpoint, WeightMap{}, "TestForCausalLM");
  std::unique_ptr<MlaAttention> layer = MlaAttention::load(loader, "attn.", spec, nullptr, Device::cpu());
  loader.finish();
  std::filesystem::remove_all(dir);

  FlatBatch batch = build_flat_batch({prompt(0, T, {0, 1})}, block_size);
  AttentionCache cache{Tensor::zeros({2, block_size, 1, L + r}, DType::F32),
                       Tensor::zeros({2, block_size, 1, L}, DType::F32), batch.metadata.block_tables[0],
                       batch.metadata.slot_mappings[0], Tensor()};
  Tensor x = random_tensor({T, hidden}, rng);
  Tensor out = layer->forward(x, batch.metadata, cache);

  // Reference, in double: DeepSeek's expanded attention.
  auto matmul = [](const std::vector<double>& a, const std::vector<double>& w, int64_t rows, int64_t in, int64_t outs) {
    std::vector<double> y(static_cast<size_t>(rows * outs), 0.0);
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t o = 0; o < outs; ++o)
        for (int64_t c = 0; c < in; ++c) y[i * outs + o] += a[i * in + c] * w[o * in + c];
    return y;
  };
  auto rms_norm = [](std::vector<double>& a, int64_t rows, int64_t width, int64_t stride, const std::vector<double>& w) {
    for (int64_t i = 0; i < rows; ++i) {
      double ms = 0;
      for (int64_t c = 0; c < width; ++c) ms += a[i * stride + c] * a[i * stride + c];
      const double inv = 1.0 / std::sqrt(ms / static_cast<double>(width) + 1e-6);
      for (int64_t c = 0; c < width; ++c) a[i * stride + c] *= inv * w[c];
    }
  };
  std::vector<double> qa = matmul(doubles(x), doubles(w_qa), T, hidden, q_lora);
  rms_norm(qa, T, q_lora, q_lora, doubles(w_qa_ln));
  const std::vector<double> q = matmul(qa, doubles(w_qb), T, q_lora, H * (n + r));
  std::vector<double> kv = matmul(doubles(x), doubles(w_kva), T, hidden, L + r);
  rms_norm(kv, T, L, L + r, doubles(w_kv_ln));
  std::vector<double> latent;
  for (int64_t t = 0; t < T; ++t) latent.insert(latent.end(), kv.begin() + t * (L + r), kv.begin() + t * (L + r) + L);
  const std::vector<double> expanded = matmul(latent, doubles(w_kvb), T, L, H * (n + vd));
  std::vector<double> keys, values;  // [T, H, n + r], [T, H, vd]
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < H; ++h) {
      const double* e = expanded.data() + (t * H + h) * (n + vd);
      keys.insert(keys.end(), e, e + n);
      keys.insert(keys.end(), kv.begin() + t * (L + r) + L, kv.begin() + (t + 1) * (L + r));
      values.insert(values.end(), e + n, e + n + vd);
    }
  // Values padded to the key width so one reference serves both (the extra columns are dropped).
  std::vector<double> padded;
  for (int64_t i = 0; i < T * H; ++i) {
    padded.insert(padded.end(), values.begin() + i * vd, values.begin() + (i + 1) * vd);
    padded.insert(padded.end(), static_cast<size_t>(n + r - vd), 0.0);
  }
  const std::vector<double> attended = reference(q, {keys}, {padded}, {static_cast<int32_t>(T)}, H, H, n + r,
                                                 spec.scale, true);
  std::vector<double> heads;
  for (int64_t i = 0; i < T * H; ++i)
    heads.insert(heads.end(), attended.begin() + i * (n + r), attended.begin() + i * (n + r) + vd);
  expect_close(matmul(heads, doubles(w_o), T, H * vd, hidden), out, "latent attention");
}

}  // namespace
}  // namespace vllm
