// Pooling flags and folders (issue 25): --runner/--convert/--task resolution, --pooler-config
// parsing and merging, sentence-transformers folders.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "engine/engine_args.h"
#include "engine/sentence_transformers.h"
#include "layers/pooler.h"
#include "loader/safetensors.h"

using namespace vllm;

namespace {

RunnerChoice resolve(const std::string& runner, const std::string& convert, const std::string& task,
                     const std::string& architecture = "LlamaForCausalLM", bool generative = true,
                     bool convertible = true) {
  EngineArgs args;
  args.runner = runner;
  args.convert = convert;
  args.task = task;
  return resolve_runner(args, architecture, generative, convertible);
}

void write(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

}  // namespace

TEST(RunnerFlags, AutoPicksGenerateForDecodersAndPoolingForPoolingArchitectures) {
  EXPECT_FALSE(resolve("auto", "auto", "auto").pooling);
  RunnerChoice pooling = resolve("auto", "auto", "auto", "Qwen3Model", /*generative=*/false);
  EXPECT_TRUE(pooling.pooling);
  EXPECT_EQ(pooling.convert, "none");
}

TEST(RunnerFlags, PoolingRunnerConvertsADecoderByItsName) {
  EXPECT_EQ(resolve("pooling", "auto", "auto").convert, "embed");
  EXPECT_EQ(resolve("pooling", "auto", "auto", "FooForSequenceClassification").convert, "classify");
  EXPECT_EQ(resolve("pooling", "auto", "auto", "FooForRewardModel").convert, "reward");
  RunnerChoice classify = resolve("auto", "classify", "auto");
  EXPECT_TRUE(classify.pooling);
  EXPECT_EQ(classify.convert, "classify");
}

TEST(RunnerFlags, TaskMapsOntoRunnerAndConvertAsVllm) {
  EXPECT_FALSE(resolve("auto", "auto", "generate").pooling);
  EXPECT_EQ(resolve("auto", "auto", "embed").convert, "embed");
  EXPECT_EQ(resolve("auto", "auto", "embedding").convert, "embed");
  EXPECT_EQ(resolve("auto", "auto", "classify").convert, "classify");
  EXPECT_EQ(resolve("auto", "auto", "score").convert, "classify");
  EXPECT_EQ(resolve("auto", "auto", "reward").convert, "reward");
  EXPECT_TRUE(resolve("auto", "auto", "reward").pooling);
}

TEST(RunnerFlags, RefusesCombinationsVllmRefuses) {
  EXPECT_THROW(resolve("generate", "embed", "auto"), Error);
  EXPECT_THROW(resolve("generate", "auto", "auto", "Qwen3Model", false), Error);
  EXPECT_THROW(resolve("pooling", "embed", "auto", "Qwen3Model", false), Error);
  EXPECT_THROW(resolve("pooling", "auto", "embed"), Error);  // --task with --runner
  try {
    resolve("pooling", "embed", "auto", "Gemma3nForCausalLM", true, /*convertible=*/false);
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::Unsupported);
    EXPECT_NE(std::string(error.what()).find("Gemma3nForCausalLM"), std::string::npos);
  }
}

TEST(PoolerConfigFlag, ParsesEveryKeyAndTheOlderSoftmaxSpelling) {
  PoolerConfig config = PoolerConfig::parse(
      R"({"pooling_type": "step", "normalize": false, "dimensions": 8, "softmax": true, "step_tag_id": 7,
          "returned_token_ids": [10, 11], "enable_chunked_processing": true})");
  EXPECT_EQ(config.pooling_type, PoolingType::Step);
  EXPECT_EQ(config.normalize, false);
  EXPECT_EQ(config.dimensions, 8);
  EXPECT_EQ(config.activation, true);
  EXPECT_EQ(config.step_tag_id, 7);
  EXPECT_EQ(config.returned_token_ids, (std::vector<int32_t>{10, 11}));
  EXPECT_THROW(PoolerConfig::parse(R"({"pooling_typo": "MEAN"})"), Error);
  EXPECT_THROW(PoolerConfig::parse(R"({"pooling_type": "MAX"})"), Error);
  EXPECT_THROW(PoolerConfig::parse(R"({"normalize": "yes"})"), Error);
  EXPECT_THROW(PoolerConfig::parse("not json"), Error);
}

TEST(PoolerConfigFlag, SetFieldsOverrideTheModelsDefault) {
  PoolerSpec base;
  base.type = PoolingType::Last;
  base.normalize = true;
  PoolerSpec merged = PoolerConfig::parse(R"({"pooling_type": "MEAN"})").apply(base);
  EXPECT_EQ(merged.type, PoolingType::Mean);
  EXPECT_TRUE(merged.normalize);
  EXPECT_FALSE(PoolerConfig::parse(R"({"normalize": false})").apply(base).normalize);
  PoolerSpec sigmoid;
  sigmoid.sigmoid = true;
  EXPECT_FALSE(PoolerConfig::parse(R"({"activation": false})").apply(sigmoid).sigmoid);
  EXPECT_TRUE(PoolerConfig::parse(R"({"activation": true})").apply(sigmoid).sigmoid);
  EXPECT_TRUE(PoolerConfig::parse(R"({"activation": true})").apply(PoolerSpec{}).softmax);
}

TEST(SentenceTransformers, ReadsPoolingModeNormalizeMaxSeqLengthPromptsAndDenseModules) {
  const auto dir = std::filesystem::temp_directory_path() / "vllm_st_folder";
  std::filesystem::remove_all(dir);
  write(dir / "modules.json", R"([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}])");
  write(dir / "1_Pooling/config.json", R"({"word_embedding_dimension": 64, "pooling_mode_cls_token": false,
    "pooling_mode_mean_tokens": true, "pooling_mode_lasttoken": false})");
  write(dir / "sentence_bert_config.json", R"({"max_seq_length": 128, "do_lower_case": false})");
  write(dir / "config_sentence_transformers.json", R"({"prompts": {"query": "query: "}, "default_prompt_name": null})");
  SentenceTransformersConfig st = read_sentence_transformers(dir);
  EXPECT_TRUE(st.found);
  EXPECT_EQ(st.pooler.pooling_type, PoolingType::Mean);
  EXPECT_EQ(st.pooler.normalize, true);
  EXPECT_EQ(st.max_seq_length, 128);
  EXPECT_EQ(st.prompts.at("query"), "query: ");

  // Without a Normalize module, normalisation is off; cls mode maps to CLS.
  write(dir / "modules.json", R"([{"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}])");
  write(dir / "1_Pooling/config.json", R"({"pooling_mode_cls_token": true})");
  st = read_sentence_transformers(dir);
  EXPECT_EQ(st.pooler.pooling_type, PoolingType::First);
  EXPECT_EQ(st.pooler.normalize, false);

  // A Dense module: its config and weights; without model.safetensors a NotFound naming the folder.
  write(dir / "modules.json", R"([{"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}])");
  write(dir / "2_Dense/config.json", R"({"in_features": 3, "out_features": 2, "bias": true,
    "activation_function": "torch.nn.modules.linear.Identity"})");
  try {
    read_sentence_transformers(dir);
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::NotFound);
    EXPECT_NE(std::string(error.what()).find("2_Dense"), std::string::npos);
  }
  save_safetensors(dir / "2_Dense/model.safetensors",
                   {{"linear.weight", Tensor::from_floats({1, 2, 3, 4, 5, 6}, {2, 3})},
                    {"linear.bias", Tensor::from_floats({0.5f, -0.5f}, {2})}});
  st = read_sentence_transformers(dir);
  ASSERT_EQ(st.dense.size(), 1u);
  EXPECT_EQ(st.dense[0].activation, DenseProjection::Activation::Identity);
  const Tensor projected = st.dense[0].forward(Tensor::from_floats({1, 0, -1}, {1, 3}));
  EXPECT_EQ(projected.to_float_vector(), (std::vector<float>{1 - 3 + 0.5f, 4 - 6 - 0.5f}));
  // The weights must match the config's sizes; an unknown activation is named.
  write(dir / "2_Dense/config.json", R"({"in_features": 4, "out_features": 2})");
  EXPECT_THROW(read_sentence_transformers(dir), Error);
  write(dir / "2_Dense/config.json", R"({"in_features": 3, "out_features": 2, "activation_function": "my.Swish"})");
  try {
    read_sentence_transformers(dir);
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::Unsupported);
    EXPECT_NE(std::string(error.what()).find("my.Swish"), std::string::npos);
  }
  EXPECT_FALSE(read_sentence_transformers(dir / "nothing").found);
  std::filesystem::remove_all(dir);
}
