// Loading failures a user can cause each give one clear error naming the file and the problem.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "loader/safetensors.h"
#include "engine/input_batch.h"
#include "models/registry.h"
#include "loader/weight_loader.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace vllm;

namespace {

fs::path fixture(const std::string& name) { return vllm::testing::source_dir() / "tests/data/models" / name; }

// A writable copy of a fixture in a fresh temp folder.
fs::path copy_fixture(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("vllm_model_loading_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const char* file : {"config.json", "model.safetensors"}) fs::copy_file(fixture(name) / file, dir / file);
  return dir;
}

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

void write_json(const fs::path& path, const nlohmann::json& value) { std::ofstream(path) << value.dump(2); }

// Rewrites model.safetensors through `edit` (a name -> tensor list).
template <typename Edit>
void rewrite_weights(const fs::path& dir, Edit edit) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  {
    Checkpoint checkpoint = Checkpoint::open(dir);
    for (const std::string& name : checkpoint.names()) tensors.emplace_back(name, checkpoint.get(name).clone());
  }
  edit(tensors);
  save_safetensors(dir / "model.safetensors", tensors);
}

std::string load_error(const fs::path& dir) {
  ModelLoadOptions options;
  options.model_dir = dir;
  try {
    load_model(options);
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

void expect_contains(const std::string& text, const std::string& part) {
  EXPECT_NE(text.find(part), std::string::npos) << "'" << part << "' not in: " << text;
}

TEST(ModelLoading, RegistryKnowsTheFoundationArchitectures) {
  for (const char* name : {"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM",
                           "GemmaForCausalLM", "Gemma2ForCausalLM", "Gemma3ForCausalLM", "Phi3ForCausalLM",
                           "GraniteForCausalLM"}) {
    const ArchitectureInfo* info = ModelRegistry::find(name);
    ASSERT_NE(info, nullptr) << name;
    EXPECT_EQ(info->tasks, std::vector<Task>{Task::Generate});
  }
}

TEST(ModelLoading, UnknownArchitectureNamesItAndTheConfig) {
  fs::path dir = copy_fixture("llama_gqa_5x");
  nlohmann::json config = read_json(dir / "config.json");
  config["architectures"] = {"NoSuchModelForCausalLM"};
  write_json(dir / "config.json", config);
  std::string error = load_error(dir);
  expect_contains(error, "config.json");
  expect_contains(error, "'NoSuchModelForCausalLM' is not supported");
  expect_contains(error, "LlamaForCausalLM");
}

TEST(ModelLoading, MissingConfigFieldIsNamed) {
  fs::path dir = copy_fixture("llama_gqa_5x");
  nlohmann::json config = read_json(dir / "config.json");
  config.erase("intermediate_size");
  write_json(dir / "config.json", config);
  std::string error = load_error(dir);
  expect_contains(error, "config.json");
  expect_contains(error, "intermediate_size");
}

TEST(ModelLoading, IllTypedConfigFieldIsNamed) {
  fs::path dir = copy_fixture("qwen3_qk_norm_5x");
  nlohmann::json config = read_json(dir / "config.json");
  config["num_attention_heads"] = "four";
  write_json(dir / "config.json", config);
  std::string error = load_error(dir);
  expect_contains(error, "config.json");
  expect_contains(error, "num_attention_heads");
}

TEST(ModelLoading, TensorNothingConsumesIsAnError) {
  fs::path dir = copy_fixture("llama_gqa_5x");
  rewrite_weights(dir, [](auto& tensors) { tensors.emplace_back("model.extra_adapter.weight", Tensor::zeros({2, 2}, DType::BF16)); });
  std::string error = load_error(dir);
  expect_contains(error, "'model.extra_adapter.weight' is not used by LlamaForCausalLM");
}

TEST(ModelLoading, ParameterNothingFillsIsAnError) {
  fs::path dir = copy_fixture("llama_gqa_5x");
  rewrite_weights(dir, [](auto& tensors) {
    std::erase_if(tensors, [](const auto& t) { return t.first == "model.layers.1.mlp.down_proj.weight"; });
  });
  std::string error = load_error(dir);
  expect_contains(error, "'model.layers.1.mlp.down_proj.weight'");
  expect_contains(error, "not in the checkpoint");
}

TEST(ModelLoading, ShapeMismatchNamesBothShapes) {
  fs::path dir = copy_fixture("llama_gqa_5x");
  nlohmann::json config = read_json(dir / "config.json");
  config["intermediate_size"] = 96;
  write_json(dir / "config.json", config);
  std::string error = load_error(dir);
  expect_contains(error, "gate_up_proj.weight' has shape [256, 64]");
  expect_contains(error, "expects [192, 64]");
}

TEST(ModelLoading, FusedPartsThatDisagreeAreNamed) {
  fs::path dir = copy_fixture("llama_gqa_5x");
  rewrite_weights(dir, [](auto& tensors) {
    for (auto& [name, tensor] : tensors)
      if (name == "model.layers.0.self_attn.k_proj.weight") tensor = Tensor::zeros({tensor.size(0), 3}, DType::BF16);
  });
  std::string error = load_error(dir);
  expect_contains(error, "'model.layers.0.self_attn.k_proj.weight' (bfloat16 [");
  expect_contains(error, "cannot be fused into 'model.layers.0.self_attn.qkv_proj.weight' with "
                         "'model.layers.0.self_attn.q_proj.weight'");
}

TEST(ModelLoading, TruncatedWeightsNameTheFile) {
  fs::path dir = copy_fixture("llama_gqa_5x");
  fs::resize_file(dir / "model.safetensors", fs::file_size(dir / "model.safetensors") / 2);
  std::string error = load_error(dir);
  expect_contains(error, "model.safetensors");
}

TEST(ModelLoading, FusedCheckpointProjectionsLoadAsIs) {
  // Phi-3 stores qkv_proj and gate_up_proj fused; the Llama layout stores them split. Both load.
  ModelLoadOptions options;
  options.model_dir = fixture("phi3_fused_5x");
  EXPECT_NO_THROW(load_model(options));
  options.model_dir = fixture("llama_gqa_5x");
  EXPECT_NO_THROW(load_model(options));
}

TEST(ModelLoading, HfOverridesMergeOverConfig) {
  ModelLoadOptions options;
  options.model_dir = fixture("llama_gqa_5x");
  // Overriding a shape field must reach the model: the checkpoint then no longer fits.
  try {
    load_model(options, nlohmann::json{{"intermediate_size", 64}});
    FAIL() << "override ignored";
  } catch (const Error& error) {
    expect_contains(error.what(), "expects [128, 64]");
  }
}

TEST(ModelLoading, DummyWeightsNeedNoCheckpoint) {
  fs::path dir = fs::temp_directory_path() / ("vllm_dummy_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::copy_file(fixture("qwen2_tied_bias_4x") / "config.json", dir / "config.json", fs::copy_options::overwrite_existing);
  ModelLoadOptions options;
  options.model_dir = dir;
  options.dummy_weights = true;
  std::unique_ptr<Model> model = load_model(options);
  EXPECT_EQ(model->vocab_size(), 512);
  SequenceChunk chunk;
  chunk.token_ids = {5, 6, 7};
  chunk.block_ids = {0};
  FlatBatch batch = build_flat_batch({chunk}, 16);
  KVCache cache = KVCache::allocate(model->kv_cache_spec(), 2, 16, DType::F32, Device::cpu());
  Tensor logits = forward_logits(*model, batch.token_ids, batch.metadata, cache);
  EXPECT_EQ(logits.shape(), (Shape{1, 512}));
  for (float value : logits.to_float_vector()) ASSERT_TRUE(std::isfinite(value));
}

// A float32 checkpoint's tensors are read-only views of the mapped file: families that rescale a
// weight at load (JAIS's embeddings_scale on the position table) copy it first, and give the
// bf16 checkpoint's logits.
TEST(ModelLoading, Float32CheckpointsLoadWhereAFamilyRescalesAWeight) {
  const fs::path source = fixture("jais_learned_4x");
  fs::path dir = fs::temp_directory_path() / ("vllm_f32_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::copy_file(source / "config.json", dir / "config.json", fs::copy_options::overwrite_existing);
  const Checkpoint bf16 = Checkpoint::open(source);
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const std::string& name : bf16.names()) tensors.emplace_back(name, bf16.get(name, DType::F32).clone());
  save_safetensors(dir / "model.safetensors", tensors);
  auto logits_of = [](const fs::path& model_dir) {
    ModelLoadOptions options;
    options.model_dir = model_dir;
    std::unique_ptr<Model> model = load_model(options);
    SequenceChunk chunk;
    chunk.token_ids = {5, 6, 7, 8};
    chunk.block_ids = {0};
    FlatBatch batch = build_flat_batch({chunk}, 16);
    KVCache cache = KVCache::allocate(model->kv_cache_spec(), 2, 16, DType::F32, Device::cpu());
    return forward_logits(*model, batch.token_ids, batch.metadata, cache).to_float_vector();
  };
  const std::vector<float> from_f32 = logits_of(dir), from_bf16 = logits_of(source);
  ASSERT_EQ(from_f32.size(), from_bf16.size());
  for (size_t i = 0; i < from_f32.size(); ++i) EXPECT_NEAR(from_f32[i], from_bf16[i], 1e-4) << i;
  fs::remove_all(dir);
}

}  // namespace

// --model-impl generic: an unregistered architecture name with Llama-layout weights loads through
// the generic decoder and gives the registered Llama's logits; without it the error stays.
TEST(ModelImpl, GenericFallsBackToTheLlamaLayout) {
  namespace fs = std::filesystem;
  fs::path source = vllm::testing::source_dir() / "tests/data/models/llama_gqa_5x";
  fs::path dir = fs::temp_directory_path() / ("vllm_model_impl_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy(source, dir, fs::copy_options::recursive);
  nlohmann::json config = nlohmann::json::parse(std::ifstream(dir / "config.json"));
  config["architectures"] = {"SomeNewLlamaForCausalLM"};
  std::ofstream(dir / "config.json") << config.dump();

  ModelLoadOptions options;
  options.model_dir = dir;
  EXPECT_THROW(load_model(options), Error);
  options.model_impl = "generic";
  std::unique_ptr<Model> model = load_model(options);
  EXPECT_EQ(model->architecture(), "SomeNewLlamaForCausalLM");
  options.model_impl = "transformers";
  EXPECT_THROW(load_model(options), Error);
  fs::remove_all(dir);
}

namespace {

// --dtype: the CPU keeps weights as stored; on CUDA, auto keeps bf16/f16 and makes float32
// float16 (vLLM's rule), explicit names win, unknown names are an error naming the value.
TEST(WeightDType, DtypeFlagResolvesPerDeviceAndCheckpoint) {
  ModelConfig bf16 = ModelConfig::from_json(nlohmann::json{{"torch_dtype", "bfloat16"}});
  ModelConfig f32 = ModelConfig::from_json(nlohmann::json{{"dtype", "float32"}});
  EXPECT_FALSE(resolve_weight_dtype("auto", Device::cpu(), f32).has_value());
  EXPECT_FALSE(resolve_weight_dtype("half", Device::cpu(), bf16).has_value());
  EXPECT_EQ(resolve_weight_dtype("auto", Device::cuda(0), bf16), DType::BF16);
  EXPECT_EQ(resolve_weight_dtype("auto", Device::cuda(0), f32), DType::F16);
  EXPECT_EQ(resolve_weight_dtype("half", Device::cuda(0), bf16), DType::F16);
  EXPECT_EQ(resolve_weight_dtype("bfloat16", Device::cuda(0), f32), DType::BF16);
  EXPECT_EQ(resolve_weight_dtype("float32", Device::cuda(0), bf16), DType::F32);
  try {
    resolve_weight_dtype("fp7", Device::cuda(0), bf16);
    FAIL() << "no error for --dtype fp7";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::InvalidArgument);
    expect_contains(error.what(), "fp7");
  }
}

// With a weight dtype set, matmul/embedding weights arrive converted; f32 parameters stay f32.
TEST(WeightDType, LoaderConvertsKeptWeights) {
  Checkpoint checkpoint = Checkpoint::open(fixture("llama_gqa_5x"));
  WeightLoader loader(checkpoint, WeightMap{}, "LlamaForCausalLM");
  loader.set_weight_dtype(DType::F16);
  Tensor stored = checkpoint.get("model.embed_tokens.weight");
  ASSERT_EQ(stored.dtype(), DType::BF16);
  Tensor embed = loader.take("model.embed_tokens.weight", stored.shape(), ParamStorage::Keep);
  EXPECT_EQ(embed.dtype(), DType::F16);
  std::vector<float> a = stored.to_float_vector(), b = embed.to_float_vector();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-3f * std::abs(a[i]) + 1e-6f) << i;
  Tensor norm = loader.take("model.norm.weight", {checkpoint.get("model.norm.weight").size(0)}, ParamStorage::Float32);
  EXPECT_EQ(norm.dtype(), DType::F32);
}

}  // namespace
