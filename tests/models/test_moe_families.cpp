// DBRX, Bailing MoE and Arctic end to end on the CPU: a tiny random checkpoint written here in each
// family's own names and layouts (DBRX's bare [E * I, H] expert tensors with w2 transposed,
// Bailing's fused query_key_value, Arctic's residual MLP), loaded through the registry, its
// prompt logits against a double-precision forward written here from the same weights (norms,
// fused qkv with clipping and bias, NeoX rotary on part of the head, causal attention, softmax
// top-k routing, shared experts, first dense layers, Arctic's parallel residual MLP, Bailing's
// column-normalised LM head). Then the config switches each family refuses.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>

#include "core/error.h"
#include "engine/input_batch.h"
#include "loader/safetensors.h"
#include "models/registry.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace vllm;
using json = nlohmann::json;

namespace {

using Vec = std::vector<float>;

fs::path scratch(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("vllm_moe_families_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

Vec normal(int64_t count, std::mt19937& rng, float scale, float mean = 0.0f) {
  std::normal_distribution<float> dist(mean, scale);
  Vec values(static_cast<size_t>(count));
  for (float& v : values) v = dist(rng);
  return values;
}

// Sizes shared by the three families: head size 6 (not a power of two), GQA 4 / 2.
struct Sizes {
  int64_t vocab = 40, hidden = 24, heads = 4, kv_heads = 2, head_dim = 6, experts = 5, top_k = 2, inter = 8,
          dense_inter = 12, layers = 2;
};

// A gated MLP: gate_up [2W, H] (gate rows, then up rows), down [H, W].
struct Mlp {
  Vec gate_up, down;
  int64_t width = 0;
};

struct RefLayer {
  Vec norm1, norm2, qkv, qkv_bias, o;
  bool moe = false;
  Mlp dense;                    // !moe
  Vec router;                   // [E, H]
  std::vector<Mlp> experts;     // [E]
  Mlp shared;                   // width 0: none
  Vec residual_norm;            // Arctic
  Mlp residual;                 // width 0: none
};

struct RefModel {
  Sizes s;
  bool layer_norm = false;  // LayerNorm without bias, else RMSNorm
  double eps = 1e-5, theta = 10000.0, clip = 0.0;
  int64_t rotary_dim = 6;
  bool renormalize = true, norm_head = false;
  Vec embed, final_norm, lm_head;
  std::vector<RefLayer> layers;
};

Mlp random_mlp(int64_t width, int64_t hidden, std::mt19937& rng) {
  return {normal(2 * width * hidden, rng, 1.0f / std::sqrt(static_cast<float>(hidden))),
          normal(hidden * width, rng, 1.0f / std::sqrt(static_cast<float>(width))), width};
}

// moe_layers[i]: layer i is a mixture of experts; shared / residual widths 0 for none.
RefModel random_model(std::mt19937& rng, const std::vector<bool>& moe_layers, int64_t shared, int64_t residual,
                      bool qkv_bias, Sizes sizes = {}) {
  RefModel m;
  m.s = sizes;
  const Sizes& s = m.s;
  const int64_t h = s.hidden, qkv_rows = (s.heads + 2 * s.kv_heads) * s.head_dim;
  const float scale = 1.5f / std::sqrt(static_cast<float>(h));
  m.embed = normal(s.vocab * h, rng, 1.0f);
  for (bool moe : moe_layers) {
    RefLayer l;
    l.norm1 = normal(h, rng, 0.2f, 1.0f);
    l.norm2 = normal(h, rng, 0.2f, 1.0f);
    l.qkv = normal(qkv_rows * h, rng, scale);
    if (qkv_bias) l.qkv_bias = normal(qkv_rows, rng, 0.3f);
    l.o = normal(h * s.heads * s.head_dim, rng, scale);
    l.moe = moe;
    if (moe) {
      l.router = normal(s.experts * h, rng, 2.0f * scale);
      for (int64_t e = 0; e < s.experts; ++e) l.experts.push_back(random_mlp(s.inter, h, rng));
      if (shared > 0) l.shared = random_mlp(shared, h, rng);
      if (residual > 0) {
        l.residual_norm = normal(h, rng, 0.2f, 1.0f);
        l.residual = random_mlp(residual, h, rng);
      }
    } else {
      l.dense = random_mlp(s.dense_inter, h, rng);
    }
    m.layers.push_back(std::move(l));
  }
  m.final_norm = normal(h, rng, 0.2f, 1.0f);
  m.lm_head = normal(s.vocab * h, rng, scale);
  return m;
}

using Rows = std::vector<std::vector<double>>;  // [T][width]

std::vector<double> matvec(const Vec& w, const std::vector<double>& x, int64_t rows) {
  const int64_t cols = static_cast<int64_t>(x.size());
  std::vector<double> y(static_cast<size_t>(rows), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) y[r] += static_cast<double>(w[r * cols + c]) * x[c];
  return y;
}

std::vector<double> norm(const RefModel& m, const Vec& weight, const std::vector<double>& x) {
  const double n = static_cast<double>(x.size());
  double mean = 0.0, square = 0.0;
  if (m.layer_norm) mean = std::accumulate(x.begin(), x.end(), 0.0) / n;
  for (double v : x) square += (v - mean) * (v - mean);
  const double inv = 1.0 / std::sqrt(square / n + m.eps);
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = (x[i] - mean) * inv * weight[i];
  return y;
}

std::vector<double> mlp(const Mlp& p, const std::vector<double>& x) {
  const std::vector<double> gu = matvec(p.gate_up, x, 2 * p.width);
  std::vector<double> product(static_cast<size_t>(p.width));
  for (int64_t i = 0; i < p.width; ++i) product[i] = gu[i] / (1.0 + std::exp(-gu[i])) * gu[p.width + i];
  return matvec(p.down, product, static_cast<int64_t>(x.size()));
}

// Softmax over the experts, the k best (lower index first among equals), renormalised or not.
std::vector<double> moe(const RefModel& m, const RefLayer& l, const std::vector<double>& x) {
  const int64_t experts = m.s.experts;
  std::vector<double> logits = matvec(l.router, x, experts), score(experts);
  const double max = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (double v : logits) sum += std::exp(v - max);
  for (int64_t e = 0; e < experts; ++e) score[e] = std::exp(logits[e] - max) / sum;
  std::vector<int> order(static_cast<size_t>(experts));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return score[a] > score[b]; });
  double total = 0.0;
  for (int64_t j = 0; j < m.s.top_k; ++j) total += score[order[j]];
  std::vector<double> out(x.size(), 0.0);
  for (int64_t j = 0; j < m.s.top_k; ++j) {
    const int e = order[j];
    const double weight = m.renormalize ? score[e] / total : score[e];
    const std::vector<double> y = mlp(l.experts[e], x);
    for (size_t i = 0; i < x.size(); ++i) out[i] += weight * y[i];
  }
  if (l.shared.width > 0) {
    const std::vector<double> y = mlp(l.shared, x);
    for (size_t i = 0; i < x.size(); ++i) out[i] += y[i];
  }
  return out;
}

std::vector<double> feed_forward(const RefModel& m, const RefLayer& l, const std::vector<double>& x) {
  return l.moe ? moe(m, l, x) : mlp(l.dense, x);
}

// NeoX rotary on the first rotary_dim dims of one head at `position`.
void rotate(const RefModel& m, double* head, int64_t position) {
  const int64_t half = m.rotary_dim / 2;
  for (int64_t i = 0; i < half; ++i) {
    const double angle = position * std::pow(m.theta, -2.0 * static_cast<double>(i) / m.rotary_dim);
    const double a = head[i], b = head[i + half];
    head[i] = a * std::cos(angle) - b * std::sin(angle);
    head[i + half] = b * std::cos(angle) + a * std::sin(angle);
  }
}

// The prompt's logits [T * vocab], one sequence from position 0.
std::vector<double> reference_logits(const RefModel& m, const std::vector<int32_t>& ids) {
  const Sizes& s = m.s;
  const int64_t T = static_cast<int64_t>(ids.size()), D = s.head_dim, q_width = s.heads * D, kv_width = s.kv_heads * D;
  Rows x(T);
  for (int64_t t = 0; t < T; ++t) x[t].assign(m.embed.begin() + ids[t] * s.hidden, m.embed.begin() + (ids[t] + 1) * s.hidden);
  for (const RefLayer& l : m.layers) {
    Rows q(T), k(T), v(T);
    for (int64_t t = 0; t < T; ++t) {
      std::vector<double> qkv = matvec(l.qkv, norm(m, l.norm1, x[t]), q_width + 2 * kv_width);
      for (size_t i = 0; i < qkv.size(); ++i) {
        if (!l.qkv_bias.empty()) qkv[i] += l.qkv_bias[i];
        if (m.clip > 0) qkv[i] = std::clamp(qkv[i], -m.clip, m.clip);
      }
      q[t].assign(qkv.begin(), qkv.begin() + q_width);
      k[t].assign(qkv.begin() + q_width, qkv.begin() + q_width + kv_width);
      v[t].assign(qkv.begin() + q_width + kv_width, qkv.end());
      for (int64_t h = 0; h < s.heads; ++h) rotate(m, q[t].data() + h * D, t);
      for (int64_t h = 0; h < s.kv_heads; ++h) rotate(m, k[t].data() + h * D, t);
    }
    Rows out(T);
    for (int64_t t = 0; t < T; ++t) {
      std::vector<double> attention(static_cast<size_t>(q_width), 0.0);
      for (int64_t h = 0; h < s.heads; ++h) {
        const int64_t kv = h / (s.heads / s.kv_heads);
        std::vector<double> scores;
        for (int64_t j = 0; j <= t; ++j) {
          double dot = 0.0;
          for (int64_t d = 0; d < D; ++d) dot += q[t][h * D + d] * k[j][kv * D + d];
          scores.push_back(dot / std::sqrt(static_cast<double>(D)));
        }
        const double max = *std::max_element(scores.begin(), scores.end());
        double sum = 0.0;
        for (double& score : scores) sum += (score = std::exp(score - max));
        for (int64_t j = 0; j <= t; ++j)
          for (int64_t d = 0; d < D; ++d) attention[h * D + d] += scores[j] / sum * v[j][kv * D + d];
      }
      const std::vector<double> o = matvec(l.o, attention, s.hidden);
      std::vector<double> h(s.hidden);
      for (int64_t i = 0; i < s.hidden; ++i) h[i] = x[t][i] + o[i];
      if (l.residual.width > 0) {  // Arctic: the MLP reads the layer's input
        const std::vector<double> r = mlp(l.residual, norm(m, l.residual_norm, h));
        const std::vector<double> f = feed_forward(m, l, norm(m, l.norm2, x[t]));
        for (int64_t i = 0; i < s.hidden; ++i) h[i] += r[i] + f[i];
      } else {
        const std::vector<double> f = feed_forward(m, l, norm(m, l.norm2, h));
        for (int64_t i = 0; i < s.hidden; ++i) h[i] += f[i];
      }
      out[t] = h;
    }
    x = out;
  }
  Vec head = m.lm_head;
  if (m.norm_head) {  // F.normalize(weight, dim=0): each column over the vocabulary
    for (int64_t c = 0; c < s.hidden; ++c) {
      double square = 0.0;
      for (int64_t r = 0; r < s.vocab; ++r) square += static_cast<double>(head[r * s.hidden + c]) * head[r * s.hidden + c];
      for (int64_t r = 0; r < s.vocab; ++r) head[r * s.hidden + c] = static_cast<float>(head[r * s.hidden + c] / std::sqrt(square));
    }
  }
  std::vector<double> logits;
  for (int64_t t = 0; t < T; ++t) {
    const std::vector<double> row = matvec(head, norm(m, m.final_norm, x[t]), s.vocab);
    logits.insert(logits.end(), row.begin(), row.end());
  }
  return logits;
}

// Checkpoint writing helpers.
using Tensors = std::vector<std::pair<std::string, Tensor>>;

Tensor t2(const Vec& values, int64_t rows, int64_t cols) { return Tensor::from_floats(values, {rows, cols}); }
Tensor t1(const Vec& values) { return Tensor::from_floats(values, {static_cast<int64_t>(values.size())}); }
Vec rows_of(const Vec& m, int64_t cols, int64_t begin, int64_t end) {
  return Vec(m.begin() + begin * cols, m.begin() + end * cols);
}

// p.{gate,up,down}_proj (or w1 / w3 / w2) of a gated MLP.
void put_mlp(Tensors& out, const std::string& p, const Mlp& mlp, int64_t hidden, bool mixtral_names) {
  const int64_t w = mlp.width;
  out.emplace_back(p + (mixtral_names ? "w1.weight" : "gate_proj.weight"), t2(rows_of(mlp.gate_up, hidden, 0, w), w, hidden));
  out.emplace_back(p + (mixtral_names ? "w3.weight" : "up_proj.weight"), t2(rows_of(mlp.gate_up, hidden, w, 2 * w), w, hidden));
  out.emplace_back(p + (mixtral_names ? "w2.weight" : "down_proj.weight"), t2(mlp.down, hidden, w));
}

void write(const fs::path& dir, const json& config, const Tensors& tensors) {
  std::ofstream(dir / "config.json") << config.dump(2);
  save_safetensors(dir / "model.safetensors", tensors);
}

std::unique_ptr<Model> load(const fs::path& dir) {
  ModelLoadOptions options;
  options.model_dir = dir;
  return load_model(options);
}

Tensor run_logits(Model& model, const std::vector<int32_t>& ids) {
  KVCache cache = KVCache::allocate(model.kv_cache_spec(), 8, 16, DType::F32, Device::cpu());
  SequenceChunk chunk;
  chunk.token_ids = ids;
  chunk.all_logits = true;
  chunk.block_ids = {3};
  FlatBatch batch = build_flat_batch({chunk}, 16);
  return forward_logits(model, batch.token_ids, batch.metadata, cache);
}

const std::vector<int32_t> kPrompt = {3, 17, 5, 29, 11, 2, 8, 31, 14, 39, 0};

// The loaded model's prompt logits against the reference; the run repeated gives the same bits.
void expect_matches_reference(const fs::path& dir, const RefModel& m) {
  std::unique_ptr<Model> model = load(dir);
  const std::vector<float> got = run_logits(*model, kPrompt).to_float_vector();
  const std::vector<double> expected = reference_logits(m, kPrompt);
  ASSERT_EQ(got.size(), expected.size());
  int reported = 0;
  double worst = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double error = std::abs(got[i] - expected[i]);
    worst = std::max(worst, error);
    if (error > 1e-4 * std::max(1.0, std::abs(expected[i])) && reported++ < 5)
      ADD_FAILURE() << "logit " << i << " (token " << i / m.s.vocab << ") expected " << expected[i] << " got " << got[i];
  }
  EXPECT_EQ(run_logits(*model, kPrompt).to_float_vector(), got) << "not deterministic";
  std::cout << dir.filename().string() << ": max |logit error| " << worst << "\n";
}

json describe(const json& config) {
  const ModelConfig parsed = ModelConfig::from_json(config);
  return ModelRegistry::get(parsed).describe(parsed);
}

std::string describe_error(const json& config) {
  try {
    describe(config);
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

// ---- DBRX ----

json dbrx_config(const RefModel& m) {
  const Sizes& s = m.s;
  return {{"architectures", {"DbrxForCausalLM"}}, {"model_type", "dbrx"}, {"vocab_size", s.vocab},
          {"d_model", s.hidden}, {"n_heads", s.heads}, {"n_layers", s.layers}, {"max_seq_len", 64},
          {"tie_word_embeddings", false},
          {"attn_config", {{"kv_n_heads", s.kv_heads}, {"rope_theta", m.theta}, {"clip_qkv", m.clip > 0 ? json(m.clip) : json()}}},
          {"ffn_config", {{"ffn_hidden_size", s.inter}, {"moe_num_experts", s.experts}, {"moe_top_k", s.top_k},
                          {"ffn_act_fn", {{"name", "silu"}}}, {"moe_normalize_expert_weights", 1},
                          {"moe_jitter_eps", 0.01}}}};
}

Tensors dbrx_tensors(const RefModel& m) {
  const Sizes& s = m.s;
  const int64_t h = s.hidden, qkv_rows = (s.heads + 2 * s.kv_heads) * s.head_dim;
  Tensors out;
  out.emplace_back("transformer.wte.weight", t2(m.embed, s.vocab, h));
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const RefLayer& l = m.layers[i];
    const std::string p = "transformer.blocks." + std::to_string(i) + ".";
    out.emplace_back(p + "norm_attn_norm.norm_1.weight", t1(l.norm1));
    out.emplace_back(p + "norm_attn_norm.norm_2.weight", t1(l.norm2));
    out.emplace_back(p + "norm_attn_norm.attn.Wqkv.weight", t2(l.qkv, qkv_rows, h));
    out.emplace_back(p + "norm_attn_norm.attn.out_proj.weight", t2(l.o, h, s.heads * s.head_dim));
    out.emplace_back(p + "ffn.router.layer.weight", t2(l.router, s.experts, h));
    // w1 / v1: expert e's gate / up rows at e * I; w2: expert e's down projection transposed.
    Vec w1, v1, w2;
    for (const Mlp& e : l.experts) {
      w1.insert(w1.end(), e.gate_up.begin(), e.gate_up.begin() + s.inter * h);
      v1.insert(v1.end(), e.gate_up.begin() + s.inter * h, e.gate_up.end());
      for (int64_t r = 0; r < s.inter; ++r)
        for (int64_t c = 0; c < h; ++c) w2.push_back(e.down[c * s.inter + r]);
    }
    out.emplace_back(p + "ffn.experts.mlp.w1", t2(w1, s.experts * s.inter, h));
    out.emplace_back(p + "ffn.experts.mlp.v1", t2(v1, s.experts * s.inter, h));
    out.emplace_back(p + "ffn.experts.mlp.w2", t2(w2, s.experts * s.inter, h));
  }
  out.emplace_back("transformer.norm_f.weight", t1(m.final_norm));
  out.emplace_back("lm_head.weight", t2(m.lm_head, s.vocab, h));
  return out;
}

TEST(Dbrx, MatchesDoublePrecisionReference) {
  std::mt19937 rng(5);
  RefModel m = random_model(rng, {true, true}, 0, 0, false);
  m.layer_norm = true;
  m.clip = 0.8;  // the qkv entries reach ~2, so clamping matters
  m.theta = 500000.0;
  const fs::path dir = scratch("dbrx");
  write(dir, dbrx_config(m), dbrx_tensors(m));
  expect_matches_reference(dir, m);
  const json spec = describe(dbrx_config(m));
  EXPECT_EQ(spec["norm"]["kind"], "layer_norm");
  EXPECT_EQ(spec["sizes"]["kv_heads"], 2);
  EXPECT_EQ(spec["sizes"]["intermediate"], 8);
  EXPECT_FLOAT_EQ(spec["block"]["clip_qkv"].get<float>(), 0.8f);
  EXPECT_EQ(spec["moe"]["experts"], 5);
  EXPECT_EQ(spec["moe"]["routing"]["renormalize"], true);
  EXPECT_EQ(spec["layers"][0]["rope"]["rope_theta"], 500000.0);
  fs::remove_all(dir);
}

TEST(Dbrx, NullNormalisationKeepsTheSoftmaxWeights) {
  std::mt19937 rng(6);
  RefModel m = random_model(rng, {true, true}, 0, 0, false);
  m.layer_norm = true;
  m.renormalize = false;
  json config = dbrx_config(m);
  config["attn_config"]["clip_qkv"] = nullptr;
  config["ffn_config"]["moe_normalize_expert_weights"] = nullptr;
  const fs::path dir = scratch("dbrx_plain");
  write(dir, config, dbrx_tensors(m));
  expect_matches_reference(dir, m);
  fs::remove_all(dir);
}

TEST(Dbrx, RefusesWhatItCannotRun) {
  RefModel m;
  json config = dbrx_config(m);
  config["ffn_config"]["moe_normalize_expert_weights"] = 2.0;
  EXPECT_NE(describe_error(config).find("moe_normalize_expert_weights"), std::string::npos) << describe_error(config);
  config = dbrx_config(m);
  config["ffn_config"]["ffn_act_fn"] = {{"name", "gelu"}, {"approximate", "tanh"}};
  EXPECT_NE(describe_error(config).find("ffn_act_fn"), std::string::npos);
  config = dbrx_config(m);
  config["tie_word_embeddings"] = true;
  EXPECT_NE(describe_error(config).find("tie_word_embeddings"), std::string::npos);
  // Defaults of the config classes: kv_n_heads 1, one expert of four.
  config = dbrx_config(m);
  config.erase("attn_config");
  config["ffn_config"] = {{"ffn_hidden_size", 8}};
  const json spec = describe(config);
  EXPECT_EQ(spec["sizes"]["kv_heads"], 1);
  EXPECT_EQ(spec["moe"]["experts"], 4);
  EXPECT_EQ(spec["moe"]["top_k"], 1);
}

// ---- Bailing MoE ----

json bailing_config(const RefModel& m, int64_t shared_experts) {
  const Sizes& s = m.s;
  return {{"architectures", {"BailingMoeForCausalLM"}}, {"model_type", "bailing_moe"}, {"vocab_size", s.vocab},
          {"hidden_size", s.hidden}, {"intermediate_size", s.dense_inter}, {"num_hidden_layers", s.layers},
          {"num_attention_heads", s.heads}, {"num_key_value_heads", s.kv_heads}, {"head_dim", s.head_dim},
          {"rms_norm_eps", m.eps}, {"rope_theta", m.theta}, {"max_position_embeddings", 64},
          {"rotary_dim", m.rotary_dim}, {"use_qkv_bias", true}, {"use_bias", false}, {"norm_head", m.norm_head},
          {"tie_word_embeddings", false}, {"num_experts", s.experts}, {"num_shared_experts", shared_experts},
          {"num_experts_per_tok", s.top_k}, {"norm_topk_prob", m.renormalize}, {"moe_intermediate_size", s.inter},
          {"first_k_dense_replace", 1}, {"hidden_act", "silu"}, {"embedding_dropout", 0.0}};
}

Tensors bailing_tensors(const RefModel& m) {
  const Sizes& s = m.s;
  const int64_t h = s.hidden, qkv_rows = (s.heads + 2 * s.kv_heads) * s.head_dim;
  Tensors out;
  out.emplace_back("model.word_embeddings.weight", t2(m.embed, s.vocab, h));
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const RefLayer& l = m.layers[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    out.emplace_back(p + "input_layernorm.weight", t1(l.norm1));
    out.emplace_back(p + "post_attention_layernorm.weight", t1(l.norm2));
    out.emplace_back(p + "attention.query_key_value.weight", t2(l.qkv, qkv_rows, h));
    out.emplace_back(p + "attention.query_key_value.bias", t1(l.qkv_bias));
    out.emplace_back(p + "attention.dense.weight", t2(l.o, h, s.heads * s.head_dim));
    if (!l.moe) {
      put_mlp(out, p + "mlp.", l.dense, h, false);
      continue;
    }
    out.emplace_back(p + "mlp.gate.weight", t2(l.router, s.experts, h));
    for (int64_t e = 0; e < s.experts; ++e) put_mlp(out, p + "mlp.experts." + std::to_string(e) + ".", l.experts[e], h, false);
    if (l.shared.width > 0) put_mlp(out, p + "mlp.shared_experts.", l.shared, h, false);
  }
  out.emplace_back("model.norm.weight", t1(m.final_norm));
  out.emplace_back("lm_head.weight", t2(m.lm_head, s.vocab, h));
  return out;
}

TEST(BailingMoe, MatchesDoublePrecisionReference) {
  std::mt19937 rng(7);
  RefModel m = random_model(rng, {false, true}, 2 * 8, 0, true);  // two shared experts of width 8
  m.rotary_dim = 4;  // of head size 6
  m.renormalize = false;
  m.norm_head = true;
  m.eps = 1e-6;
  const fs::path dir = scratch("bailing");
  write(dir, bailing_config(m, 2), bailing_tensors(m));
  expect_matches_reference(dir, m);
  const json spec = describe(bailing_config(m, 2));
  EXPECT_EQ(spec["moe"]["layers"], json({1}));
  EXPECT_EQ(spec["moe"]["shared_expert"]["intermediate"], 16);
  EXPECT_EQ(spec["positions"]["rotary_dim"], 4);
  EXPECT_EQ(spec["block"]["qkv_bias"], true);
  fs::remove_all(dir);
}

TEST(BailingMoe, RouterSwitches) {
  RefModel m;
  json config = bailing_config(m, 1);
  config["score_function"] = "sigmoid";
  config["moe_router_enable_expert_bias"] = true;
  config["num_experts"] = 8;
  config["n_group"] = 4;
  config["topk_group"] = 2;
  config["routed_scaling_factor"] = 2.5;
  config["norm_topk_prob"] = true;
  config["use_qk_norm"] = true;
  config["use_rmsnorm"] = true;
  json spec = describe(config);
  EXPECT_EQ(spec["moe"]["routing"]["kind"], "sigmoid_topk");
  EXPECT_EQ(spec["moe"]["routing"]["correction_bias"], true);
  EXPECT_EQ(spec["moe"]["routing"]["groups"]["n_group"], 4);
  EXPECT_FLOAT_EQ(spec["moe"]["routing"]["routed_scaling_factor"].get<float>(), 2.5f);
  EXPECT_EQ(spec["norm"]["qk_norm"], "per_head");
  // Refused: use_bias (the config class's default), sigmoid without the expert bias, groups with
  // softmax, q/k LayerNorms (eps 1e-6) under another rms_norm_eps.
  config = bailing_config(m, 1);
  config.erase("use_bias");
  EXPECT_NE(describe_error(config).find("use_bias"), std::string::npos) << describe_error(config);
  config = bailing_config(m, 1);
  config["score_function"] = "sigmoid";
  EXPECT_NE(describe_error(config).find("score_function"), std::string::npos);
  config = bailing_config(m, 1);
  config["n_group"] = 1;
  config["topk_group"] = 1;
  EXPECT_NE(describe_error(config).find("n_group"), std::string::npos);
  config = bailing_config(m, 1);
  config["use_qk_norm"] = true;
  config["rms_norm_eps"] = 1e-5;
  EXPECT_NE(describe_error(config).find("use_qk_norm"), std::string::npos);
}

// ---- Arctic ----

json arctic_config(const RefModel& m, int64_t frequency) {
  const Sizes& s = m.s;
  return {{"architectures", {"ArcticForCausalLM"}}, {"model_type", "arctic"}, {"vocab_size", s.vocab},
          {"hidden_size", s.hidden}, {"intermediate_size", s.inter}, {"num_hidden_layers", s.layers},
          {"num_attention_heads", s.heads}, {"num_key_value_heads", s.kv_heads}, {"rms_norm_eps", m.eps},
          {"rope_theta", m.theta}, {"max_position_embeddings", 64}, {"tie_word_embeddings", false},
          {"num_local_experts", s.experts}, {"num_experts_per_tok", s.top_k}, {"moe_layer_frequency", frequency},
          {"use_residual", true}, {"parallel_attn_mlp_res", true}, {"hidden_act", "silu"},
          {"moe_eval_capacity_factor", 1}, {"moe_token_dropping", true}, {"quantization", nullptr}};
}

Tensors arctic_tensors(const RefModel& m) {
  const Sizes& s = m.s;
  const int64_t h = s.hidden, q = s.heads * s.head_dim, kv = s.kv_heads * s.head_dim;
  Tensors out;
  out.emplace_back("model.embed_tokens.weight", t2(m.embed, s.vocab, h));
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const RefLayer& l = m.layers[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    out.emplace_back(p + "input_layernorm.weight", t1(l.norm1));
    out.emplace_back(p + "post_attention_layernorm.weight", t1(l.norm2));
    out.emplace_back(p + "self_attn.q_proj.weight", t2(rows_of(l.qkv, h, 0, q), q, h));
    out.emplace_back(p + "self_attn.k_proj.weight", t2(rows_of(l.qkv, h, q, q + kv), kv, h));
    out.emplace_back(p + "self_attn.v_proj.weight", t2(rows_of(l.qkv, h, q + kv, q + 2 * kv), kv, h));
    out.emplace_back(p + "self_attn.o_proj.weight", t2(l.o, h, q));
    if (!l.moe) {
      put_mlp(out, p + "block_sparse_moe.mlp.", l.dense, h, true);
      continue;
    }
    out.emplace_back(p + "block_sparse_moe.gate.weight", t2(l.router, s.experts, h));
    for (int64_t e = 0; e < s.experts; ++e)
      put_mlp(out, p + "block_sparse_moe.experts." + std::to_string(e) + ".", l.experts[e], h, true);
    if (l.residual.width > 0) {
      out.emplace_back(p + "residual_layernorm.weight", t1(l.residual_norm));
      put_mlp(out, p + "residual_mlp.", l.residual, h, true);
    }
  }
  out.emplace_back("model.norm.weight", t1(m.final_norm));
  out.emplace_back("lm_head.weight", t2(m.lm_head, s.vocab, h));
  return out;
}

TEST(Arctic, MatchesDoublePrecisionReference) {
  std::mt19937 rng(8);
  Sizes sizes;
  sizes.dense_inter = sizes.inter;  // Arctic's dense layers are intermediate_size wide too
  RefModel m = random_model(rng, {false, true}, 0, 24, false, sizes);  // a residual MLP of hidden_size
  m.theta = 1000000.0;
  const fs::path dir = scratch("arctic");
  write(dir, arctic_config(m, 2), arctic_tensors(m));
  expect_matches_reference(dir, m);
  const json spec = describe(arctic_config(m, 2));
  EXPECT_EQ(spec["moe"]["layers"], json({1}));
  EXPECT_EQ(spec["layers"][1]["residual_mlp"], 24);
  EXPECT_FALSE(spec["layers"][0].contains("residual_mlp"));  // a const json has no [] for absent keys
  fs::remove_all(dir);
}

TEST(Arctic, EveryLayerMoEWithoutResidualIsMixtral) {
  std::mt19937 rng(9);
  RefModel m = random_model(rng, {true, true}, 0, 0, false);
  m.s.top_k = 1;  // one expert: its weight is 1 (not renormalised, softmax probability)
  m.renormalize = false;
  json config = arctic_config(m, 1);
  config["use_residual"] = false;
  config["parallel_attn_mlp_res"] = false;
  const fs::path dir = scratch("arctic_plain");
  write(dir, config, arctic_tensors(m));
  expect_matches_reference(dir, m);
  fs::remove_all(dir);
}

TEST(Arctic, RefusesWhatItCannotRun) {
  RefModel m;
  json config = arctic_config(m, 1);
  config["parallel_attn_mlp_res"] = false;
  EXPECT_NE(describe_error(config).find("parallel_attn_mlp_res"), std::string::npos);
  config = arctic_config(m, 1);
  config["quantization"] = {{"bits", 8}};
  EXPECT_NE(describe_error(config).find("quantization"), std::string::npos);
  config = arctic_config(m, 1);
  config["hidden_act"] = "gelu";
  EXPECT_NE(describe_error(config).find("silu"), std::string::npos);
}

}  // namespace
