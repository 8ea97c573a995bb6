// Every tiny HF checkpoint in tests/data/models (made by transformers, 4.x and 5.x spellings)
// loads: config fields, rope parameters for each layer type, every tensor widened to float32.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "loader/model_config.h"
#include "loader/safetensors.h"
#include "test_util.h"

using namespace vllm;
namespace fs = std::filesystem;

namespace {
fs::path models_dir() { return vllm::testing::source_dir() / "tests" / "data" / "models"; }
}  // namespace

TEST(Fixtures, EveryCheckpointLoads) {
  ASSERT_TRUE(fs::is_directory(models_dir())) << models_dir() << " is part of the repository";
  int count = 0;
  for (const auto& item : fs::directory_iterator(models_dir())) {
    if (!fs::exists(item.path() / "config.json")) continue;
    SCOPED_TRACE(item.path().filename().string());
    ++count;
    // Multimodal wrappers (Gemma 3n) name the architecture at the top and keep the decoder's
    // fields under text_config.
    ModelConfig wrapper = ModelConfig::from_directory(item.path());
    EXPECT_FALSE(wrapper.architecture().empty());
    ModelConfig config = wrapper.text_config();
    EXPECT_EQ(config.dtype(), DType::BF16);
    EXPECT_GT(config.hidden_size(), 0);
    EXPECT_EQ(config.num_attention_heads() % config.num_key_value_heads(), 0);
    EXPECT_GT(config.head_dim(), 0);
    EXPECT_GT(config.vocab_size(), 0);
    std::set<std::string> layer_types = {"full_attention"};
    for (const std::string& type : config.layer_types()) layer_types.insert(type);
    for (const std::string& type : layer_types) {
      nlohmann::json rope = config.rope_parameters(type);
      EXPECT_TRUE(rope["rope_type"].is_string()) << type;
      EXPECT_GT(rope["rope_theta"].get<double>(), 0) << type;
    }
    (void)config.sliding_window();

    Checkpoint checkpoint = Checkpoint::open(item.path());
    EXPECT_GT(checkpoint.size(), 0u);
    for (const std::string& name : checkpoint.names()) {
      Tensor weight = checkpoint.get(name, DType::F32);
      EXPECT_EQ(weight.shape(), checkpoint.info(name).shape) << name;
      for (float value : weight.to_float_vector()) ASSERT_TRUE(std::isfinite(value)) << name;
    }
  }
  EXPECT_GT(count, 0);
}

TEST(Fixtures, SpellingsNormalise) {
  ASSERT_TRUE(fs::is_directory(models_dir())) << models_dir() << " is part of the repository";
  auto rope = [](const char* model, const std::string& layer_type = "full_attention") {
    return ModelConfig::from_directory(models_dir() / model).rope_parameters(layer_type);
  };
  EXPECT_EQ(rope("llama_linear_mqa_4x_type"), nlohmann::json({{"rope_type", "linear"}, {"factor", 2.0},
                                                               {"rope_theta", 10000.0}}));
  EXPECT_EQ(rope("gemma3_pattern_4x", "sliding_attention"),
            nlohmann::json({{"rope_type", "default"}, {"rope_theta", 10000.0}}));
  EXPECT_EQ(rope("gemma3_pattern_4x")["factor"], 4.0);
  EXPECT_EQ(rope("gemma3_local_global_5x")["rope_type"], "linear");
  EXPECT_EQ(rope("gemma3_local_global_5x", "sliding_attention")["rope_theta"], 10000.0);
  nlohmann::json phi = rope("phi3_longrope_4x");
  EXPECT_EQ(phi["original_max_position_embeddings"], 21);
  EXPECT_EQ(phi["partial_rotary_factor"], 0.5);
  EXPECT_EQ(ModelConfig::from_directory(models_dir() / "mistral_sliding_4x").sliding_window(), 8);
  EXPECT_EQ(ModelConfig::from_directory(models_dir() / "qwen2_tied_bias_4x").sliding_window(), std::nullopt);
}
