// Pooling models through the engine and the offline API (issue 25): a model with no paged layers
// (built here) needs no KV cache; several pooling requests share a step within the token budget;
// generation and pooling requests are refused on the other runner; prompts longer than
// max_model_len are refused with vLLM's message; decoders served with --convert embed.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "api/llm.h"
#include "core/error.h"
#include "loader/safetensors.h"
#include "models/pooling_decoder.h"
#include "models/registry.h"
#include "test_util.h"

using namespace vllm;

namespace {

// hidden[t] = (token id, position, token type, 1): an encoder with no cache of any kind.
class NoCacheEncoder : public Model {
 public:
  NoCacheEncoder() : pooler_(PoolerSpec{PoolingType::Mean, false, false}) {
    spec_.layers.assign(2, LayerCacheSpec{CacheKind::None});
  }
  Tensor embed_input_ids(const Tensor& ids) const override {
    const Tensor host = ids.to(Device::cpu()).contiguous();
    std::vector<float> rows;
    for (int64_t t = 0; t < host.numel(); ++t) rows.insert(rows.end(), {float(host.data<int32_t>()[t]), 0, 0, 1});
    return Tensor::from_floats(rows, {host.numel(), 4});
  }
  Tensor forward(const ModelInputs& inputs, const BatchMetadata& batch, KVCache& cache) override {
    EXPECT_TRUE(cache.key.empty() || !cache.key[0].defined()) << "an encoder gets no cache tensors";
    Tensor hidden = embed_input_ids(inputs.token_ids);
    const Tensor positions = batch.positions.to(Device::cpu()).contiguous();
    Tensor types = inputs.token_type_ids.defined() ? inputs.token_type_ids.to(Device::cpu()).contiguous() : Tensor();
    for (int64_t t = 0; t < hidden.size(0); ++t) {
      hidden.data<float>()[t * 4 + 1] = float(positions.data<int32_t>()[t]);
      if (types.defined()) hidden.data<float>()[t * 4 + 2] = float(types.data<int32_t>()[t]);
    }
    ++forwards;
    return hidden;
  }
  Tensor compute_logits(const Tensor&) const override { fail(ErrorKind::Unsupported, "no logits"); }
  const Pooler* pooler() const override { return &pooler_; }
  std::vector<PoolingTask> pooling_tasks() const override { return {PoolingTask::Encode, PoolingTask::Embed}; }
  const KVCacheSpec& kv_cache_spec() const override { return spec_; }
  int64_t vocab_size() const override { return 100; }
  int64_t hidden_size() const override { return 4; }
  int64_t max_position_embeddings() const override { return 64; }
  const std::string& architecture() const override { return name_; }

  static inline int forwards = 0;

 private:
  KVCacheSpec spec_;
  Pooler pooler_;
  std::string name_ = "TestNoCacheEncoder";
};

ModelRegistrar no_cache_encoder{{"TestNoCacheEncoder", "test", {Task::Embed}, {},
                                 [](const ModelConfig&, const ModelLoadOptions&) -> std::unique_ptr<Model> {
                                   return std::make_unique<NoCacheEncoder>();
                                 }, {}}};

std::filesystem::path encoder_dir() {
  const auto dir = std::filesystem::temp_directory_path() / "vllm_test_no_cache_encoder";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << R"({"architectures": ["TestNoCacheEncoder"], "vocab_size": 100,
      "hidden_size": 4, "num_hidden_layers": 2, "num_attention_heads": 1, "max_position_embeddings": 64})";
  return dir;
}

EngineArgs encoder_args() {
  EngineArgs args;
  args.model = encoder_dir().string();
  args.skip_tokenizer_init = true;
  args.load_format = "dummy";
  args.device = "cpu";
  return args;
}

EngineArgs decoder_args(const std::string& name, const std::string& convert) {
  EngineArgs args;
  args.model = (vllm::testing::source_dir() / "tests/data/models" / name).string();
  args.skip_tokenizer_init = true;
  args.convert = convert;
  args.device = vllm::testing::test_device();
  if (args.device == "cuda") args.dtype = "float32";
  return args;
}

std::vector<int32_t> prompt_of(int length, int start) {
  std::vector<int32_t> ids;
  for (int i = 0; i < length; ++i) ids.push_back((start + i) % 90 + 5);
  return ids;
}

double norm(const std::vector<float>& v) {
  double sum = 0;
  for (float x : v) sum += double(x) * x;
  return std::sqrt(sum);
}

}  // namespace

TEST(PoolingEngine, ModelWithoutPagedLayersRunsWithNoKVCache) {
  LLM llm(encoder_args());
  EXPECT_TRUE(llm.engine().is_pooling());
  std::vector<EmbeddingRequestOutput> out = llm.embed(std::vector<std::vector<int32_t>>{{10, 20, 30}, {7}});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].outputs.embedding, (std::vector<float>{20, 1, 0, 1}));  // MEAN of (id, position, type, 1)
  EXPECT_EQ(out[1].outputs.embedding, (std::vector<float>{7, 0, 0, 1}));
  EXPECT_TRUE(out[0].finished);
  EXPECT_EQ(llm.engine().model_info().pooling_tasks, (std::vector<PoolingTask>{PoolingTask::Encode, PoolingTask::Embed}));
}

TEST(PoolingEngine, SeveralPoolingRequestsShareAStepWithinTheTokenBudget) {
  EngineArgs args = encoder_args();
  args.max_num_batched_tokens = 64;  // = max_model_len: three 20-token prompts per step
  LLMEngine engine(args);
  for (int i = 0; i < 5; ++i) {
    EngineRequest request;
    request.request_id = std::to_string(i);
    request.prompt_token_ids = prompt_of(20, i);
    request.pooling = PoolingRequestSpec{PoolingTask::Encode};
    engine.add_request(std::move(request));
  }
  NoCacheEncoder::forwards = 0;
  std::vector<RequestOutput> first = engine.step();
  EXPECT_EQ(first.size(), 3u);
  for (const RequestOutput& out : first) {
    EXPECT_TRUE(out.finished);
    ASSERT_TRUE(out.pooling.has_value());
    EXPECT_EQ(out.pooling->shape, (std::vector<int64_t>{20, 4}));  // encode is per token
  }
  EXPECT_EQ(engine.step().size(), 2u);
  EXPECT_EQ(NoCacheEncoder::forwards, 2);
  EXPECT_FALSE(engine.has_unfinished_requests());
}

TEST(PoolingEngine, RefusesGenerationOnThePoolingRunnerAndLongPrompts) {
  LLM llm(encoder_args());
  SamplingParams params;
  params.max_tokens = 2;
  EXPECT_THROW(llm.generate(std::vector<std::vector<int32_t>>{{1, 2}}, params), Error);
  try {
    llm.embed(std::vector<std::vector<int32_t>>{prompt_of(65, 0)});
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("The decoder prompt (length 65) is longer than the maximum model length of 64"),
              std::string::npos)
        << error.what();
  }
  // A pooling prompt may fill max_model_len (nothing is generated after it).
  EXPECT_EQ(llm.embed(std::vector<std::vector<int32_t>>{prompt_of(64, 0)}).size(), 1u);
  // truncate_prompt_tokens keeps the last k tokens.
  PoolingRequestSpec params_truncated;
  params_truncated.truncate_prompt_tokens = 2;
  std::vector<EmbeddingRequestOutput> out = llm.embed(std::vector<std::vector<int32_t>>{{10, 20, 30}}, params_truncated);
  EXPECT_EQ(out[0].prompt_token_ids, (std::vector<int32_t>{20, 30}));
  EXPECT_EQ(out[0].outputs.embedding[0], 25.0f);
  // Matryoshka dimensions on a model without is_matryoshka: vLLM's error.
  PoolingRequestSpec dims;
  dims.dimensions = 2;
  EXPECT_THROW(llm.embed(std::vector<std::vector<int32_t>>{{10}}, dims), Error);
  // A task the model does not serve.
  EXPECT_THROW(llm.classify(std::vector<std::vector<int32_t>>{{10}}), Error);
}

TEST(PoolingEngine, PoolerConfigOverridesTheModelsDefault) {
  EngineArgs args = encoder_args();
  args.pooler_config = R"({"pooling_type": "LAST"})";
  LLM llm(args);
  EXPECT_EQ(llm.embed(std::vector<std::vector<int32_t>>{{10, 20, 30}})[0].outputs.embedding,
            (std::vector<float>{30, 2, 0, 1}));
  args.pooler_config = R"({"pooling_type": "CLS", "normalize": true})";
  LLM normalized(args);
  EXPECT_NEAR(norm(normalized.embed(std::vector<std::vector<int32_t>>{{10, 20, 30}})[0].outputs.embedding), 1.0, 1e-6);
}

TEST(PoolingEngine, DecoderConvertedToAnEmbedderGivesTheSameUnitVectorsAloneAndBatched) {
  LLM llm(decoder_args("qwen3_qk_norm_5x", "embed"));
  std::vector<std::vector<int32_t>> prompts = {prompt_of(5, 1), prompt_of(40, 2), prompt_of(17, 3)};
  std::vector<EmbeddingRequestOutput> batched = llm.embed(prompts);
  for (size_t i = 0; i < prompts.size(); ++i) {
    std::vector<EmbeddingRequestOutput> alone = llm.embed(std::vector<std::vector<int32_t>>{prompts[i]});
    ASSERT_EQ(alone[0].outputs.embedding.size(), 64u);
    EXPECT_NEAR(norm(alone[0].outputs.embedding), 1.0, 1e-5);
    for (size_t h = 0; h < 64; ++h)
      EXPECT_NEAR(alone[0].outputs.embedding[h], batched[i].outputs.embedding[h], 1e-5);
  }
  // 1:N scoring of an embedder: cosine similarity, 1 for identical texts.
  SamplingParams params;
  EXPECT_THROW(llm.generate(prompts, params), Error);
}

TEST(PoolingEngine, GenerativeRunnerRefusesPoolingRequests) {
  LLM llm(decoder_args("qwen3_qk_norm_5x", "auto"));
  EXPECT_FALSE(llm.engine().is_pooling());
  EXPECT_THROW(llm.embed(std::vector<std::vector<int32_t>>{{5, 6, 7}}), Error);
  EngineArgs task = decoder_args("qwen3_qk_norm_5x", "auto");
  task.task = "embed";
  EXPECT_TRUE(LLM(task).engine().is_pooling());
}

// A sentence-transformers folder with a Dense module after pooling: the embedding is
// normalize(tanh(W mean + b)), the mean being the same folder's raw pooled vector without it.
TEST(PoolingEngine, SentenceTransformersDenseModuleProjectsBeforeNormalizing) {
  const std::filesystem::path source = vllm::testing::source_dir() / "tests/data/encoders/st_bert_mean_normalize";
  if (!std::filesystem::exists(source / "expected.json")) GTEST_SKIP() << source << " is absent";
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "vllm_st_dense";
  std::filesystem::remove_all(dir);
  std::filesystem::copy(source, dir, std::filesystem::copy_options::recursive);
  auto args_for = [](const std::filesystem::path& model) {
    EngineArgs args;
    args.model = model.string();
    args.skip_tokenizer_init = true;
    args.device = vllm::testing::test_device();
    if (args.device == "cuda") args.dtype = "float32";
    return args;
  };
  const std::vector<std::vector<int32_t>> prompts = {{2, 17, 33, 9, 3}, {2, 40, 3}};
  PoolingRequestSpec raw;
  raw.normalize = false;
  std::vector<EmbeddingRequestOutput> means = LLM(args_for(dir)).embed(prompts, raw);

  const int64_t in = static_cast<int64_t>(means[0].outputs.embedding.size()), out = 5;
  std::vector<float> weight(static_cast<size_t>(out * in)), bias(static_cast<size_t>(out));
  for (size_t i = 0; i < weight.size(); ++i) weight[i] = std::sin(0.37f * float(i));
  for (size_t o = 0; o < bias.size(); ++o) bias[o] = 0.1f * float(o) - 0.2f;
  std::filesystem::create_directories(dir / "2_Dense");
  save_safetensors(dir / "2_Dense/model.safetensors", {{"linear.weight", Tensor::from_floats(weight, {out, in})},
                                                        {"linear.bias", Tensor::from_floats(bias, {out})}});
  std::ofstream(dir / "2_Dense/config.json")
      << R"({"in_features": )" << in << R"(, "out_features": )" << out
      << R"(, "bias": true, "activation_function": "torch.nn.modules.activation.Tanh"})";
  std::ofstream(dir / "modules.json") << R"([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
    {"idx": 3, "name": "3", "path": "3_Normalize", "type": "sentence_transformers.models.Normalize"}])";
  std::vector<EmbeddingRequestOutput> projected = LLM(args_for(dir)).embed(prompts);
  ASSERT_EQ(projected.size(), prompts.size());
  for (size_t p = 0; p < prompts.size(); ++p) {
    std::vector<double> want(static_cast<size_t>(out));
    double norm = 0;
    for (int64_t o = 0; o < out; ++o) {
      double sum = bias[static_cast<size_t>(o)];
      for (int64_t i = 0; i < in; ++i) sum += double(weight[static_cast<size_t>(o * in + i)]) * means[p].outputs.embedding[static_cast<size_t>(i)];
      want[static_cast<size_t>(o)] = std::tanh(sum);
      norm += want[static_cast<size_t>(o)] * want[static_cast<size_t>(o)];
    }
    ASSERT_EQ(projected[p].outputs.embedding.size(), static_cast<size_t>(out));
    for (int64_t o = 0; o < out; ++o)
      EXPECT_NEAR(projected[p].outputs.embedding[static_cast<size_t>(o)], want[static_cast<size_t>(o)] / std::sqrt(norm), 1e-5);
  }
  std::filesystem::remove_all(dir);
}

// GritLM over its tiny Llama fixture: token ids of its pattern tokens given through
// --hf-overrides (the engine looks them up in the tokenizer otherwise).
// kGritLMTokens: <s>, ▁<, <, |, embed, >, <0x0A>, user.
constexpr const char* kGritLMOverrides =
    R"({"architectures": ["GritLM"], "gritlm_token_ids": [1, 10, 11, 12, 13, 14, 15, 16]})";

EngineArgs gritlm_args(const std::string& runner) {
  EngineArgs args = decoder_args("gritlm_4x", "auto");
  args.runner = runner;
  args.hf_overrides = kGritLMOverrides;
  return args;
}

TEST(GritLM, InstructionLengthFollowsVllmsPatterns) {
  PoolingDecoderOptions::GritLMPatterns p;
  p.bos = 1;
  p.user = {10, 12, 16, 12, 14, 15};
  p.embed = {10, 12, 13, 12, 14, 15};
  p.embed_newline = {15, 11, 12, 13, 12, 14, 15};
  // <s> <|user|>\n instruction \n<|embed|>\n text: the instruction ends after the newline marker.
  EXPECT_EQ(gritlm_instruction_length(p, {1, 10, 12, 16, 12, 14, 15, 40, 41, 15, 11, 12, 13, 12, 14, 15, 50, 51}), 16);
  // <s> <|embed|>\n text: no instruction, the marker alone.
  EXPECT_EQ(gritlm_instruction_length(p, {1, 10, 12, 13, 12, 14, 15, 50, 51}), 7);
  // With a user turn the bare marker does not count; without any marker only BOS is skipped.
  EXPECT_EQ(gritlm_instruction_length(p, {1, 10, 12, 16, 12, 14, 15, 10, 12, 13, 12, 14, 15, 50}), 1);
  EXPECT_EQ(gritlm_instruction_length(p, {1, 50, 51}), 1);
  // No BOS: every token is pooled.
  EXPECT_EQ(gritlm_instruction_length(p, {10, 12, 13, 12, 14, 15, 50}), 0);
}

// Generate runner: GritLM is the Llama decoder (same greedy tokens); pooling runner: encode is
// bidirectional (the first row depends on later tokens), and embed is the normalised mean of the
// raw encode rows after the instruction.
TEST(GritLM, GeneratesAsLlamaAndEmbedsPastTheInstructionBidirectionally) {
  const std::vector<int32_t> prompt = {1, 10, 12, 16, 12, 14, 15, 40, 41, 15, 11, 12, 13, 12, 14, 15, 50, 51, 52};
  SamplingParams greedy;
  greedy.temperature = 0;
  greedy.max_tokens = 6;
  LLM generator(gritlm_args("auto"));
  EXPECT_FALSE(generator.engine().is_pooling());
  const std::vector<int32_t> gritlm_tokens = generator.generate({prompt}, greedy)[0].outputs[0].token_ids;
  EngineArgs llama_args = decoder_args("gritlm_4x", "auto");
  llama_args.hf_overrides = R"({"architectures": ["LlamaForCausalLM"]})";
  EXPECT_EQ(gritlm_tokens, LLM(llama_args).generate({prompt}, greedy)[0].outputs[0].token_ids);

  LLM embedder(gritlm_args("pooling"));
  ASSERT_TRUE(embedder.engine().is_pooling());
  PoolingRequestSpec raw;
  raw.normalize = false;
  const PoolingOutput rows = embedder.encode({prompt}, raw)[0].outputs;
  ASSERT_EQ(rows.shape, (std::vector<int64_t>{static_cast<int64_t>(prompt.size()), 64}));
  std::vector<double> mean(64, 0.0);
  for (size_t r = 16; r < prompt.size(); ++r)
    for (size_t h = 0; h < 64; ++h) mean[h] += rows.data[r * 64 + h] / double(prompt.size() - 16);
  double norm = 0;
  for (double v : mean) norm += v * v;
  const std::vector<float> embedding = embedder.embed({prompt})[0].outputs.embedding;
  ASSERT_EQ(embedding.size(), 64u);
  for (size_t h = 0; h < 64; ++h) EXPECT_NEAR(embedding[h], mean[h] / std::sqrt(norm), 1e-5) << h;

  std::vector<int32_t> changed = prompt;
  changed.back() = 90;
  const PoolingOutput other = embedder.encode({changed}, raw)[0].outputs;
  double first_row_change = 0;
  for (size_t h = 0; h < 64; ++h) first_row_change += std::abs(rows.data[h] - other.data[h]);
  EXPECT_GT(first_row_change, 1e-4) << "the first token's state must see the last token";

  // The same model as a causal embedder (--convert embed): the first row ignores later tokens,
  // unless the config says is_causal false.
  EngineArgs causal = decoder_args("gritlm_4x", "embed");
  causal.hf_overrides = R"({"architectures": ["LlamaForCausalLM"]})";
  const PoolingOutput a = LLM(causal).encode({prompt}, raw)[0].outputs, b = LLM(causal).encode({changed}, raw)[0].outputs;
  for (size_t h = 0; h < 64; ++h) EXPECT_EQ(a.data[h], b.data[h]);
  causal.hf_overrides = R"({"architectures": ["LlamaForCausalLM"], "is_causal": false})";
  LLM bidirectional(causal);
  const PoolingOutput c = bidirectional.encode({prompt}, raw)[0].outputs, d = bidirectional.encode({changed}, raw)[0].outputs;
  double change = 0;
  for (size_t h = 0; h < 64; ++h) change += std::abs(c.data[h] - d.data[h]);
  EXPECT_GT(change, 1e-4);
}

TEST(GritLM, EmbeddingWithoutTheTokenIdsIsAClearError) {
  EngineArgs args = decoder_args("gritlm_4x", "auto");
  args.runner = "pooling";
  args.hf_overrides = R"({"architectures": ["GritLM"]})";
  try {
    LLM llm(args);
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("GritLM's embedding pooler finds its instruction with the tokenizer"),
              std::string::npos)
        << error.what();
  }
}

// The engine looks GritLM's pattern tokens up in the tokenizer: a folder whose tokenizer.json
// gives them the ids of kGritLMOverrides embeds exactly as those overrides do.
TEST(GritLM, PatternTokenIdsComeFromTheTokenizer) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "vllm_gritlm_tokenizer";
  std::filesystem::remove_all(dir);
  std::filesystem::copy(vllm::testing::source_dir() / "tests/data/models/gritlm_4x", dir,
                        std::filesystem::copy_options::recursive);
  nlohmann::json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}, {"\u2581<", 10}, {"<", 11}, {"|", 12},
                          {"embed", 13}, {">", 14}, {"<0x0A>", 15}, {"user", 16}};
  for (int i = 20; i < 60; ++i) vocab["t" + std::to_string(i)] = i;
  const nlohmann::json tokenizer = {{"version", "1.0"}, {"added_tokens", nlohmann::json::array()},
                                    {"normalizer", nullptr}, {"pre_tokenizer", nullptr}, {"post_processor", nullptr},
                                    {"decoder", nullptr},
                                    {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array()}}}};
  std::ofstream(dir / "tokenizer.json") << tokenizer.dump();
  EngineArgs args;
  args.model = dir.string();
  args.runner = "pooling";
  args.device = vllm::testing::test_device();
  if (args.device == "cuda") args.dtype = "float32";
  const std::vector<int32_t> prompt = {1, 10, 12, 13, 12, 14, 15, 40, 41, 42};  // <s> <|embed|>\n text
  const std::vector<float> looked_up = LLM(args).embed({prompt})[0].outputs.embedding;
  const std::vector<float> given = LLM(gritlm_args("pooling")).embed({prompt})[0].outputs.embedding;
  ASSERT_EQ(looked_up.size(), given.size());
  for (size_t h = 0; h < given.size(); ++h) EXPECT_NEAR(looked_up[h], given[h], 1e-6) << h;
  std::filesystem::remove_all(dir);
}

// A classifier pools one row per sequence: --pooler-config with a per-token type is refused at
// start-up, naming the type; an embedder under ALL returns one unit row per token.
TEST(PoolingEngine, PerTokenPoolingTypesAreForEmbeddersAndEncodeOnly) {
  const std::filesystem::path classifier = vllm::testing::source_dir() / "tests/data/encoders/bert_classifier";
  const std::filesystem::path embedder = vllm::testing::source_dir() / "tests/data/encoders/bert_model";
  if (!std::filesystem::exists(classifier) || !std::filesystem::exists(embedder)) GTEST_SKIP() << "encoder fixtures absent";
  EngineArgs args;
  args.skip_tokenizer_init = true;
  args.device = vllm::testing::test_device();
  if (args.device == "cuda") args.dtype = "float32";
  for (const char* type : {"ALL", "STEP"}) {
    args.model = classifier.string();
    args.pooler_config = std::string(R"({"pooling_type": ")") + type + "\"}";
    try {
      LLM llm(args);
      FAIL() << type << ": no error";
    } catch (const Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::InvalidArgument);
      EXPECT_NE(std::string(error.what()).find(std::string("pooling_type ") + type + " keeps one row per token"),
                std::string::npos)
          << error.what();
    }
  }
  args.model = embedder.string();
  args.pooler_config = R"({"pooling_type": "ALL"})";
  const EmbeddingRequestOutput out = LLM(args).embed(std::vector<std::vector<int32_t>>{{1, 5, 7, 2}})[0];
  const size_t width = out.outputs.embedding.size() / 4;
  ASSERT_EQ(out.outputs.embedding.size(), 4 * width);
  for (size_t t = 0; t < 4; ++t) {
    double n = 0;
    for (size_t h = 0; h < width; ++h) n += double(out.outputs.embedding[t * width + h]) * out.outputs.embedding[t * width + h];
    EXPECT_NEAR(n, 1.0, 1e-5) << "row " << t;
  }
}
