// The encoder (pooling) models of issue 25 (src/models/encoder.* and the family files bert.cpp,
// modernbert.cpp, nomic_gte.cpp).
//   - HF parity on the fixtures of tools/make_encoder_fixtures.py (tests/data/encoders): last hidden
//     states, the default pooled embedding (raw and normalised) and classifier logits within 1e-3 of
//     transformers' fp32 run, each sequence alone and all of them in one batch; the
//     sentence-transformers folder's SentenceTransformer.encode embeddings with MEAN pooling.
//   - Without fixtures, on tiny checkpoints written here: the `bert.` prefix, a missing and an
//     unused tensor, RoBERTa's position offset, token types, the pooling requests' switches.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "loader/safetensors.h"
#include "engine/sentence_transformers.h"
#include "models/encoder.h"
#include "models/registry.h"
#include "test_util.h"

namespace vllm {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// Whole prompts of these lengths, one after another, on the CPU.
BatchMetadata prompt_batch(const std::vector<int64_t>& lengths) {
  std::vector<int32_t> positions, token_seq_lens, starts{0}, seq_lens;
  int64_t longest = 0;
  for (int64_t n : lengths) {
    for (int64_t i = 0; i < n; ++i) {
      positions.push_back(static_cast<int32_t>(i));
      token_seq_lens.push_back(static_cast<int32_t>(n));
    }
    starts.push_back(starts.back() + static_cast<int32_t>(n));
    seq_lens.push_back(static_cast<int32_t>(n));
    longest = std::max(longest, n);
  }
  const int64_t tokens = starts.back(), seqs = static_cast<int64_t>(lengths.size());
  BatchMetadata batch;
  batch.positions = Tensor::from_ints(positions, {tokens});
  batch.token_seq_lens = Tensor::from_ints(token_seq_lens, {tokens});
  batch.query_start = Tensor::from_ints(starts, {seqs + 1});
  batch.seq_lens = Tensor::from_ints(seq_lens, {seqs});
  batch.max_query_len = batch.max_seq_len = longest;
  return batch;
}

std::vector<int64_t> host_starts(const BatchMetadata& batch) {
  std::vector<int64_t> out;
  const int32_t* s = batch.query_start.data<int32_t>();
  for (int64_t i = 0; i < batch.query_start.size(0); ++i) out.push_back(s[i]);
  return out;
}

struct EncoderRun {
  Tensor hidden;               // [T, H]
  std::vector<int64_t> starts;  // [B + 1]
};

// forward over the given prompts (token types: empty for none) in one batch.
EncoderRun run(Model& model, const std::vector<std::vector<int32_t>>& ids, const std::vector<std::vector<int32_t>>& types = {}) {
  std::vector<int32_t> flat_ids, flat_types;
  std::vector<int64_t> lengths;
  for (size_t i = 0; i < ids.size(); ++i) {
    flat_ids.insert(flat_ids.end(), ids[i].begin(), ids[i].end());
    if (!types.empty()) flat_types.insert(flat_types.end(), types[i].begin(), types[i].end());
    lengths.push_back(static_cast<int64_t>(ids[i].size()));
  }
  const int64_t tokens = static_cast<int64_t>(flat_ids.size());
  BatchMetadata batch = prompt_batch(lengths);
  ModelInputs inputs{Tensor::from_ints(flat_ids, {tokens}), Tensor(),
                     types.empty() ? Tensor() : Tensor::from_ints(flat_types, {tokens})};
  KVCache cache;
  return {model.forward(inputs, batch, cache), host_starts(batch)};
}

std::vector<Tensor> pool(const Model& model, const EncoderRun& r, PoolingRequestSpec request) {
  PoolingBatch batch;
  batch.query_start = r.starts;
  batch.requests.assign(r.starts.size() - 1, request);
  return model.pool(r.hidden, batch);
}

PoolingRequestSpec request(PoolingTask task) {
  PoolingRequestSpec spec;
  spec.task = task;
  return spec;
}

// |expected - actual| <= tol for every element; reports the first few misses.
void expect_near(const std::vector<float>& expected, const std::vector<float>& actual, double tol, const std::string& what,
                 double* worst = nullptr) {
  ASSERT_EQ(expected.size(), actual.size()) << what;
  int reported = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    const double diff = std::abs(static_cast<double>(expected[i]) - actual[i]);
    if (worst) *worst = std::max(*worst, diff);
    if (!(diff <= tol) && reported++ < 5)
      ADD_FAILURE() << what << ": element " << i << " expected " << expected[i] << " got " << actual[i];
  }
}

std::vector<float> flat(const json& rows) {
  std::vector<float> out;
  for (const json& row : rows) {
    if (row.is_array())
      for (const json& v : row) out.push_back(v.get<float>());
    else
      out.push_back(row.get<float>());
  }
  return out;
}

// ---- HF parity ---------------------------------------------------------------------------------

fs::path fixtures_dir() { return vllm::testing::source_dir() / "tests" / "data" / "encoders"; }

std::vector<fs::path> fixture_dirs() {
  std::vector<fs::path> dirs;
  if (!fs::is_directory(fixtures_dir())) return dirs;
  for (const auto& entry : fs::directory_iterator(fixtures_dir()))
    if (fs::exists(entry.path() / "expected.json")) dirs.push_back(entry.path());
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

// One fixture: every sequence alone, then all in one batch, against transformers.
void check_fixture(const fs::path& dir) {
  SCOPED_TRACE(dir.filename().string());
  std::ifstream in(dir / "expected.json");
  const json expected = json::parse(in);
  ModelLoadOptions options;
  options.model_dir = dir;
  std::unique_ptr<Model> model = load_model(options);
  ASSERT_EQ(model->architecture(), expected["architecture"].get<std::string>());
  auto* encoder = dynamic_cast<EncoderModel*>(model.get());
  ASSERT_NE(encoder, nullptr);
  const bool st_folder = fs::exists(dir / "modules.json");
  if (st_folder) {  // what the engine makes of modules.json, 1_Pooling/config.json and 2_Normalize
    const SentenceTransformersConfig st = read_sentence_transformers(dir);
    ASSERT_TRUE(st.found);
    encoder->set_pooler_config(st.pooler);
  }
  ASSERT_EQ(encoder->pooler_spec().type, parse_pooling_type(expected["pooling"].get<std::string>()))
      << "the family's default pooling differs from the fixture's";

  std::vector<std::vector<int32_t>> ids, types;
  bool with_types = false;
  for (const json& seq : expected["sequences"]) {
    ids.push_back(seq["input_ids"].get<std::vector<int32_t>>());
    with_types = with_types || seq.contains("token_type_ids");
    types.push_back(seq.contains("token_type_ids") ? seq["token_type_ids"].get<std::vector<int32_t>>()
                                                   : std::vector<int32_t>(ids.back().size(), 0));
  }
  if (!with_types) types.clear();
  const bool classifier = encoder->spec().is_classifier();
  double worst_hidden = 0, worst_pooled = 0;
  for (const bool batched : {false, true}) {
    SCOPED_TRACE(batched ? "one batch" : "each sequence alone");
    std::vector<EncoderRun> runs;
    if (batched) {
      runs.push_back(run(*model, ids, types));
    } else {
      for (size_t i = 0; i < ids.size(); ++i)
        runs.push_back(run(*model, {ids[i]}, types.empty() ? std::vector<std::vector<int32_t>>{} : std::vector<std::vector<int32_t>>{types[i]}));
    }
    // Each sequence's hidden rows, pooled outputs (default request and raw).
    std::vector<std::vector<float>> hidden, first, second;
    for (const EncoderRun& r : runs) {
      const PoolingTask task = classifier ? PoolingTask::Classify : PoolingTask::Embed;
      PoolingRequestSpec raw = request(task);
      raw.normalize = false;
      raw.activation = false;
      std::vector<Tensor> defaults = pool(*model, r, request(task)), raws = pool(*model, r, raw);
      for (size_t b = 0; b + 1 < r.starts.size(); ++b) {
        hidden.push_back(r.hidden.slice(0, r.starts[b], r.starts[b + 1]).to_float_vector());
        first.push_back(defaults[b].to_float_vector());
        second.push_back(raws[b].to_float_vector());
      }
    }
    for (size_t i = 0; i < ids.size(); ++i) {
      const json& seq = expected["sequences"][i];
      const std::string what = "sequence " + std::to_string(i) + " (" + std::to_string(ids[i].size()) + " tokens)";
      expect_near(flat(seq["hidden"]), hidden[i], 1e-3, what + " hidden", &worst_hidden);
      if (classifier) {
        const std::vector<float> logits = flat(seq["logits"]);
        expect_near(logits, second[i], 1e-3, what + " logits", &worst_pooled);
        std::vector<float> activated = logits;  // vLLM's default: sigmoid for one label, else softmax
        if (logits.size() == 1) {
          activated[0] = 1.0f / (1.0f + std::exp(-logits[0]));
        } else {
          float top = *std::max_element(logits.begin(), logits.end()), sum = 0;
          for (float& v : activated) sum += (v = std::exp(v - top));
          for (float& v : activated) v /= sum;
        }
        expect_near(activated, first[i], 1e-3, what + " activated logits");
      } else {
        expect_near(flat(seq["embedding"]), first[i], 1e-3, what + " embedding", &worst_pooled);
        if (!st_folder) expect_near(flat(seq["pooled"]), second[i], 1e-3, what + " pooled");
        if (st_folder) expect_near(flat(seq["st_embedding"]), first[i], 1e-3, what + " SentenceTransformer.encode");
      }
    }
  }
  std::cout << "[ fixture ] " << dir.filename().string() << ": max |diff| hidden " << worst_hidden << ", "
            << (classifier ? "logits " : "embedding ") << worst_pooled << "\n";
}

TEST(EncoderParity, EveryFixtureMatchesTransformers) {
  const std::vector<fs::path> dirs = fixture_dirs();
  if (dirs.empty())
    GTEST_SKIP() << fixtures_dir() << " has no fixtures; make them with tools/make_encoder_fixtures.py";
  for (const fs::path& dir : dirs) check_fixture(dir);
  // Every registered encoder architecture has a fixture.
  std::set<std::string> covered;
  for (const fs::path& dir : dirs) {
    std::ifstream in(dir / "config.json");
    covered.insert(json::parse(in)["architectures"][0].get<std::string>());
  }
  for (const std::string& name : ModelRegistry::names()) {
    const ArchitectureInfo* info = ModelRegistry::find(name);
    const bool encoder = info->family == "bert" || info->family == "modernbert" || info->family == "nomic_bert" ||
                         info->family == "gte_new";
    if (encoder) EXPECT_TRUE(covered.count(name)) << name << " has no fixture in " << fixtures_dir();
  }
}

// ---- Without fixtures: tiny checkpoints written here --------------------------------------------

struct TinyBert {
  int64_t vocab = 40, hidden = 16, heads = 2, layers = 2, inter = 24, positions = 40, types = 2;
};

Tensor random(const Shape& shape, std::mt19937& rng, float scale = 0.3f, float offset = 0.0f) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> values(static_cast<size_t>(shape_numel(shape)));
  for (float& v : values) v = offset + scale * dist(rng);
  return Tensor::from_floats(values, shape);
}

// BERT-layout tensors (no prefix), the same for a given seed.
std::vector<std::pair<std::string, Tensor>> bert_tensors(const TinyBert& s, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::pair<std::string, Tensor>> t;
  auto norm = [&](const std::string& name) {
    t.emplace_back(name + ".weight", random({s.hidden}, rng, 0.1f, 1.0f));
    t.emplace_back(name + ".bias", random({s.hidden}, rng, 0.1f));
  };
  auto linear = [&](const std::string& name, int64_t out, int64_t in) {
    t.emplace_back(name + ".weight", random({out, in}, rng));
    t.emplace_back(name + ".bias", random({out}, rng, 0.1f));
  };
  t.emplace_back("embeddings.word_embeddings.weight", random({s.vocab, s.hidden}, rng, 1.0f));
  t.emplace_back("embeddings.position_embeddings.weight", random({s.positions, s.hidden}, rng, 1.0f));
  t.emplace_back("embeddings.token_type_embeddings.weight", random({s.types, s.hidden}, rng, 1.0f));
  norm("embeddings.LayerNorm");
  for (int64_t l = 0; l < s.layers; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    for (const char* name : {"query", "key", "value"}) linear(p + "attention.self." + name, s.hidden, s.hidden);
    linear(p + "attention.output.dense", s.hidden, s.hidden);
    norm(p + "attention.output.LayerNorm");
    linear(p + "intermediate.dense", s.inter, s.hidden);
    linear(p + "output.dense", s.hidden, s.inter);
    norm(p + "output.LayerNorm");
  }
  linear("pooler.dense", s.hidden, s.hidden);
  return t;
}

json bert_config(const std::string& architecture, const TinyBert& s, int64_t pad_token_id = 0) {
  return {{"architectures", {architecture}},
          {"model_type", architecture.rfind("Roberta", 0) == 0 ? "roberta" : "bert"},
          {"vocab_size", s.vocab},
          {"hidden_size", s.hidden},
          {"num_attention_heads", s.heads},
          {"num_hidden_layers", s.layers},
          {"intermediate_size", s.inter},
          {"max_position_embeddings", s.positions},
          {"type_vocab_size", s.types},
          {"layer_norm_eps", 1e-12},
          {"hidden_act", "gelu"},
          {"pad_token_id", pad_token_id},
          {"torch_dtype", "float32"}};
}

fs::path write_checkpoint(const std::string& name, const json& config,
                          const std::vector<std::pair<std::string, Tensor>>& tensors) {
  const fs::path dir = fs::temp_directory_path() / ("vllm_encoder_" + name + "_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << config.dump(2);
  save_safetensors(dir / "model.safetensors", tensors);
  return dir;
}

std::unique_ptr<Model> load(const fs::path& dir) {
  ModelLoadOptions options;
  options.model_dir = dir;
  return load_model(options);
}

std::vector<std::pair<std::string, Tensor>> with_prefix(std::vector<std::pair<std::string, Tensor>> tensors,
                                                       const std::string& prefix) {
  for (auto& [name, tensor] : tensors) name = prefix + name;
  return tensors;
}

float max_diff(const Tensor& a, const Tensor& b) {
  std::vector<float> x = a.to_float_vector(), y = b.to_float_vector();
  EXPECT_EQ(x.size(), y.size());
  float worst = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) worst = std::max(worst, std::abs(x[i] - y[i]));
  return worst;
}

const std::vector<std::vector<int32_t>> kPrompts{{2, 7, 11, 3}, {2, 30, 5, 9, 21, 13, 3}, {4}};

TEST(EncoderWeights, TaskPrefixesAreAccepted) {
  TinyBert s;
  const auto tensors = bert_tensors(s, 1);
  auto plain = load(write_checkpoint("plain", bert_config("BertModel", s), tensors));
  auto prefixed = load(write_checkpoint("prefixed", bert_config("BertModel", s), with_prefix(tensors, "bert.")));
  const EncoderRun a = run(*plain, kPrompts), b = run(*prefixed, kPrompts);
  EXPECT_EQ(max_diff(a.hidden, b.hidden), 0.0f);
  // A classifier checkpoint: `bert.` + `classifier.*`, the pooler used.
  auto classifier_tensors = with_prefix(tensors, "bert.");
  std::mt19937 rng(5);
  classifier_tensors.emplace_back("classifier.weight", random({3, s.hidden}, rng));
  classifier_tensors.emplace_back("classifier.bias", random({3}, rng));
  json config = bert_config("BertForSequenceClassification", s);
  config["id2label"] = {{"0", "a"}, {"1", "b"}, {"2", "c"}};
  auto classifier = load(write_checkpoint("classifier", config, classifier_tensors));
  const EncoderRun c = run(*classifier, kPrompts);
  EXPECT_EQ(max_diff(a.hidden, c.hidden), 0.0f);
  EXPECT_EQ(pool(*classifier, c, request(PoolingTask::Classify))[0].numel(), 3);
}

TEST(EncoderWeights, MissingOrUnusedTensorsAreNamed) {
  TinyBert s;
  auto tensors = bert_tensors(s, 1);
  auto missing = tensors;
  missing.erase(std::find_if(missing.begin(), missing.end(),
                             [](const auto& t) { return t.first == "encoder.layer.1.output.dense.weight"; }));
  try {
    load(write_checkpoint("missing", bert_config("BertModel", s), missing));
    ADD_FAILURE() << "a checkpoint without encoder.layer.1.output.dense.weight loaded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("layers.1.mlp.down.weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("BertModel"), std::string::npos) << e.what();
  }
  auto extra = tensors;
  extra.emplace_back("encoder.layer.0.attention.self.rotary.weight", Tensor::zeros({4}, DType::F32));
  try {
    load(write_checkpoint("extra", bert_config("BertModel", s), extra));
    ADD_FAILURE() << "an unused checkpoint tensor was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("encoder.layer.0.attention.self.rotary.weight"), std::string::npos)
        << e.what();
  }
}

// RoBERTa reads position p at row padding_idx + 1 + p: the same weights as a BertModel whose table
// is shifted by that much give the same hidden states (and differ without the shift).
TEST(EncoderPositions, RobertaStartsAfterThePaddingIndex) {
  TinyBert s;
  s.types = 1;
  const int64_t pad = 3;
  const auto tensors = bert_tensors(s, 2);
  auto roberta = load(write_checkpoint("roberta", bert_config("RobertaModel", s, pad), with_prefix(tensors, "roberta.")));
  EXPECT_EQ(roberta->max_position_embeddings(), s.positions - pad - 1);
  auto shifted = tensors;
  for (auto& [name, tensor] : shifted)
    if (name == "embeddings.position_embeddings.weight") {
      Tensor rows = Tensor::zeros({s.positions, s.hidden}, DType::F32);
      rows.slice(0, 0, s.positions - pad - 1).copy_from(tensor.slice(0, pad + 1, s.positions));
      tensor = rows;
    }
  auto bert = load(write_checkpoint("bert_shifted", bert_config("BertModel", s), shifted));
  auto unshifted = load(write_checkpoint("bert_unshifted", bert_config("BertModel", s), tensors));
  const EncoderRun r = run(*roberta, kPrompts);
  EXPECT_LT(max_diff(r.hidden, run(*bert, kPrompts).hidden), 1e-5f);
  EXPECT_GT(max_diff(r.hidden, run(*unshifted, kPrompts).hidden), 1e-2f);
}

TEST(EncoderInputs, TokenTypesEnterTheEmbedding) {
  TinyBert s;
  auto model = load(write_checkpoint("types", bert_config("BertModel", s), bert_tensors(s, 3)));
  std::vector<std::vector<int32_t>> zeros, pairs;
  for (const auto& p : kPrompts) {
    zeros.emplace_back(p.size(), 0);
    pairs.emplace_back(p.size(), 0);
    for (size_t i = p.size() / 2; i < p.size(); ++i) pairs.back()[i] = 1;
  }
  const EncoderRun none = run(*model, kPrompts), zero = run(*model, kPrompts, zeros), pair = run(*model, kPrompts, pairs);
  EXPECT_EQ(max_diff(none.hidden, zero.hidden), 0.0f);  // undefined token types are all 0
  EXPECT_GT(max_diff(none.hidden, pair.hidden), 1e-2f);
  pairs[0][0] = 2;  // past type_vocab_size
  EXPECT_THROW(run(*model, kPrompts, pairs), Error);
}

// Each prompt attends over its own tokens only: alone or batched, the same rows.
TEST(EncoderInputs, SequencesInABatchAreIndependent) {
  TinyBert s;
  auto model = load(write_checkpoint("batch", bert_config("BertModel", s), bert_tensors(s, 4)));
  const EncoderRun batched = run(*model, kPrompts);
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    const EncoderRun alone = run(*model, {kPrompts[i]});
    EXPECT_LT(max_diff(alone.hidden, batched.hidden.slice(0, batched.starts[i], batched.starts[i + 1])), 1e-5f) << i;
  }
}

TEST(EncoderPooling, EmbedRequestsNormaliseAndTruncate) {
  TinyBert s;
  auto model = load(write_checkpoint("pool", bert_config("BertModel", s), bert_tensors(s, 5)));
  EXPECT_EQ(model->pooling_tasks(), (std::vector<PoolingTask>{PoolingTask::Encode, PoolingTask::Embed}));
  EXPECT_EQ(model->pooler()->spec().type, PoolingType::First);  // BERT's default: CLS
  for (const LayerCacheSpec& layer : model->kv_cache_spec().layers) EXPECT_EQ(layer.kind, CacheKind::None);
  EXPECT_EQ(model->kv_cache_spec().layers.size(), static_cast<size_t>(s.layers));
  const EncoderRun r = run(*model, kPrompts);
  PoolingRequestSpec raw = request(PoolingTask::Embed);
  raw.normalize = false;
  const std::vector<Tensor> raws = pool(*model, r, raw), normed = pool(*model, r, request(PoolingTask::Embed));
  PoolingRequestSpec short_spec = request(PoolingTask::Embed);
  short_spec.dimensions = 5;
  const std::vector<Tensor> shorts = pool(*model, r, short_spec);
  for (size_t b = 0; b < kPrompts.size(); ++b) {
    // CLS: the first row of each sequence.
    EXPECT_EQ(max_diff(raws[b], r.hidden.slice(0, r.starts[b], r.starts[b] + 1).view({s.hidden})), 0.0f);
    std::vector<float> v = raws[b].to_float_vector(), n = normed[b].to_float_vector(), t = shorts[b].to_float_vector();
    double norm = 0, short_norm = 0, got = 0;
    for (float x : v) norm += double(x) * x;
    for (int i = 0; i < 5; ++i) short_norm += double(v[i]) * v[i];
    for (float x : t) got += double(x) * x;
    ASSERT_EQ(t.size(), 5u);
    EXPECT_NEAR(got, 1.0, 1e-5);  // truncated, then normalised
    for (int i = 0; i < 5; ++i) EXPECT_NEAR(t[i], v[i] / std::sqrt(short_norm), 1e-5);
    for (size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(n[i], v[i] / std::sqrt(norm), 1e-5);
  }
  short_spec.dimensions = s.hidden + 1;
  EXPECT_THROW(pool(*model, r, short_spec), Error);
  EXPECT_THROW(pool(*model, r, request(PoolingTask::Classify)), Error);  // an embedder has no classifier
  // The override another stage applies (--pooler-config, 1_Pooling/config.json).
  PoolerConfig mean_pooling;
  mean_pooling.pooling_type = PoolingType::Mean;
  mean_pooling.normalize = false;
  model->set_pooler_config(mean_pooling);
  const std::vector<Tensor> means = pool(*model, r, request(PoolingTask::Embed));
  std::vector<float> mean(static_cast<size_t>(s.hidden), 0.0f);
  for (int64_t t = r.starts[1]; t < r.starts[2]; ++t)
    for (int64_t h = 0; h < s.hidden; ++h) mean[h] += r.hidden.data<float>()[t * s.hidden + h] / (r.starts[2] - r.starts[1]);
  expect_near(mean, means[1].to_float_vector(), 1e-5, "mean pooling");
  try {
    model->compute_logits(r.hidden);
    ADD_FAILURE() << "an encoder computed logits";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
  }
}

TEST(EncoderPooling, ClassifierActivationFollowsTheLabelCount) {
  TinyBert s;
  for (const int64_t labels : {1, 3}) {
    SCOPED_TRACE(labels);
    auto tensors = with_prefix(bert_tensors(s, 6), "bert.");
    std::mt19937 rng(7);
    tensors.emplace_back("classifier.weight", random({labels, s.hidden}, rng));
    tensors.emplace_back("classifier.bias", random({labels}, rng));
    json config = bert_config("BertForSequenceClassification", s);
    config["num_labels"] = labels;  // no id2label: num_labels decides
    auto model = load(write_checkpoint("labels" + std::to_string(labels), config, tensors));
    EXPECT_EQ(model->pooling_tasks(), (std::vector<PoolingTask>{PoolingTask::Classify, PoolingTask::Score}));
    const EncoderRun r = run(*model, kPrompts);
    PoolingRequestSpec raw = request(PoolingTask::Classify);
    raw.activation = false;
    const std::vector<Tensor> logits = pool(*model, r, raw), scores = pool(*model, r, request(PoolingTask::Score));
    for (size_t b = 0; b < kPrompts.size(); ++b) {
      std::vector<float> l = logits[b].to_float_vector(), p = scores[b].to_float_vector();
      ASSERT_EQ(l.size(), static_cast<size_t>(labels));
      if (labels == 1) {
        EXPECT_NEAR(p[0], 1.0 / (1.0 + std::exp(-l[0])), 1e-6);
      } else {
        double sum = 0;
        for (float x : l) sum += std::exp(double(x));
        for (size_t i = 0; i < l.size(); ++i) EXPECT_NEAR(p[i], std::exp(double(l[i])) / sum, 1e-6);
      }
    }
    EXPECT_THROW(pool(*model, r, request(PoolingTask::Embed)), Error);
  }
}

// vLLM's activation as the config names it: problem_type, and a cross-encoder's own function,
// which wins over the label count.
TEST(EncoderPooling, ClassifierActivationFollowsTheConfig) {
  TinyBert s;
  struct Case {
    std::string key;
    json value;
    int64_t labels;
    std::string expect;  // none, sigmoid, softmax
  };
  const std::vector<Case> cases = {
      {"problem_type", "regression", 3, "none"},
      {"problem_type", "multi_label_classification", 3, "sigmoid"},
      {"problem_type", "single_label_classification", 3, "softmax"},
      {"sbert_ce_default_activation_function", "torch.nn.modules.linear.Identity", 1, "none"},
      {"sbert_ce_default_activation_function", "torch.nn.modules.activation.Sigmoid", 3, "sigmoid"},
      {"sentence_transformers", json{{"activation_fn", "torch.nn.modules.linear.Identity"}}, 1, "none"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.key + " " + c.value.dump());
    auto tensors = with_prefix(bert_tensors(s, 6), "bert.");
    std::mt19937 rng(11);
    tensors.emplace_back("classifier.weight", random({c.labels, s.hidden}, rng));
    tensors.emplace_back("classifier.bias", random({c.labels}, rng));
    json config = bert_config("BertForSequenceClassification", s);
    config["num_labels"] = c.labels;
    config[c.key] = c.value;
    auto model = load(write_checkpoint("activation", config, tensors));
    const EncoderRun r = run(*model, kPrompts);
    PoolingRequestSpec raw = request(PoolingTask::Classify);
    raw.activation = false;
    const std::vector<Tensor> logits = pool(*model, r, raw), scores = pool(*model, r, request(PoolingTask::Classify));
    for (size_t b = 0; b < kPrompts.size(); ++b) {
      std::vector<float> l = logits[b].to_float_vector(), p = scores[b].to_float_vector();
      double sum = 0;
      for (float x : l) sum += std::exp(double(x));
      for (size_t i = 0; i < l.size(); ++i) {
        const double want = c.expect == "none"      ? l[i]
                            : c.expect == "sigmoid" ? 1.0 / (1.0 + std::exp(-double(l[i])))
                                                    : std::exp(double(l[i])) / sum;
        EXPECT_NEAR(p[i], want, 1e-6) << "label " << i;
      }
    }
  }
}

}  // namespace
}  // namespace vllm
