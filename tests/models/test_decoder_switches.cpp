// Pieces behind the dense-decoder switches that the HF fixtures exercise only end to end: ALiBi
// slopes as HF computes them, the fused-qkv reorder, Conv1D transposes and clamp.
#include <gtest/gtest.h>

#include "core/error.h"
#include "models/decoder_spec.h"
#include "models/registry.h"
#include "loader/weight_loader.h"
#include "ops/ops.h"

using namespace vllm;

TEST(AlibiSlopes, BloomMatchesHfIncludingNonPowerOfTwoHeads) {
  EXPECT_EQ(bloom_alibi_slopes(4), (std::vector<float>{0.25f, 0.0625f, 0.015625f, 0.00390625f}));
  // 6 heads: the 4-head slopes, then 2^-1 and 2^-3 (HF's extra_base powers 1, 3).
  EXPECT_EQ(bloom_alibi_slopes(6), (std::vector<float>{0.25f, 0.0625f, 0.015625f, 0.00390625f, 0.5f, 0.125f}));
}

TEST(AlibiSlopes, MptInterleavesForNonPowerOfTwoHeads) {
  EXPECT_EQ(mpt_alibi_slopes(4, 8.0), (std::vector<float>{0.25f, 0.0625f, 0.015625f, 0.00390625f}));
  // 6 heads: 8 slopes 2^-1 .. 2^-8, odd positions first, then even, first 6.
  EXPECT_EQ(mpt_alibi_slopes(6, 8.0),
            (std::vector<float>{0.25f, 0.0625f, 0.015625f, 0.00390625f, 0.5f, 0.125f}));
}

TEST(WeightLayout, DeinterleaveGroupedQkv) {
  // 2 kv heads, 2 queries per kv head, head_dim 1, 2 columns: rows g0q0 g0q1 g0k g0v g1q0 g1q1 g1k g1v.
  std::vector<float> rows = {0, 0, 1, 1, 2, 2, 3, 3, 10, 10, 11, 11, 12, 12, 13, 13};
  Tensor fused = Tensor::from_floats(rows, {8, 2}, DType::F32);
  std::vector<float> out = deinterleave_qkv(fused, 2, 2, 1).to_float_vector();
  EXPECT_EQ(out, (std::vector<float>{0, 0, 1, 1, 10, 10, 11, 11, 2, 2, 12, 12, 3, 3, 13, 13}));
  // A bias (1-D) reorders the same way; GPT-NeoX's [heads, 3, d] is q_per_kv = 1.
  Tensor bias = Tensor::from_floats({0, 1, 2, 10, 11, 12}, {6}, DType::F32);
  EXPECT_EQ(deinterleave_qkv(bias, 2, 1, 1).to_float_vector(), (std::vector<float>{0, 10, 1, 11, 2, 12}));
  EXPECT_THROW(deinterleave_qkv(bias, 2, 2, 1), Error);
}

TEST(WeightLayout, TransposeConv1D) {
  Tensor conv = Tensor::from_floats({1, 2, 3, 4, 5, 6}, {2, 3}, DType::F32);  // [in, out]
  Tensor linear = transpose_2d(conv);
  EXPECT_EQ(linear.shape(), (Shape{3, 2}));
  EXPECT_EQ(linear.to_float_vector(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
}

TEST(Ops, ClampInPlace) {
  Tensor x = Tensor::from_floats({-3, -1, 0, 2, 5}, {5}, DType::F32);
  ops::clamp(x, -2, 2);
  EXPECT_EQ(x.to_float_vector(), (std::vector<float>{-2, -1, 0, 2, 2}));
}

namespace {

nlohmann::json small_config(const std::string& architecture) {
  return {{"architectures", {architecture}}, {"vocab_size", 64},         {"hidden_size", 32},
          {"intermediate_size", 64},         {"num_hidden_layers", 4},   {"num_attention_heads", 4},
          {"num_key_value_heads", 2},        {"max_position_embeddings", 128}};
}

DecoderSpec spec_of(const nlohmann::json& config) {
  const ArchitectureInfo* info = ModelRegistry::find(config["architectures"][0].get<std::string>());
  EXPECT_NE(info, nullptr);
  EXPECT_NE(info->decoder_spec, nullptr);
  return info->decoder_spec(ModelConfig::from_json(config));
}

}  // namespace

// SmolLM3's NoPE layers: every fourth by default, no_rope_layers when given; 4.x configs slide the
// NoPE layers under use_sliding_window; tied embeddings and rope_theta 2e6 by default.
TEST(NewerDenseSpecs, SmolLM3DropsTheRotaryOnNoPELayers) {
  DecoderSpec spec = spec_of(small_config("SmolLM3ForCausalLM"));
  std::vector<bool> rotary;
  for (const DecoderLayerSpec& layer : spec.layers) rotary.push_back(layer.rotary);
  EXPECT_EQ(rotary, (std::vector<bool>{true, true, true, false}));
  EXPECT_TRUE(spec.tie_word_embeddings);
  EXPECT_EQ(spec.layers[0].rope["rope_theta"].get<double>(), 2000000.0);
  nlohmann::json config = small_config("SmolLM3ForCausalLM");
  config["no_rope_layers"] = {0, 1, 0, 1};
  config["use_sliding_window"] = true;
  config["sliding_window"] = 16;
  config["rope_theta"] = 5000.0;
  spec = spec_of(config);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(spec.layers[i].rotary, i % 2 == 1) << i;
    EXPECT_EQ(spec.layers[i].sliding_window, i % 2 == 1 ? 0 : 16) << i;
  }
  EXPECT_EQ(spec.layers[0].rope["rope_theta"].get<double>(), 5000.0);
  config["no_rope_layers"] = {1, 1};
  EXPECT_THROW(spec_of(config), Error);
}

TEST(NewerDenseSpecs, HeliumSeedOssAndOlmo3Switches) {
  DecoderSpec helium = spec_of(small_config("HeliumForCausalLM"));
  EXPECT_FALSE(helium.rope_neox);
  EXPECT_FALSE(helium.o_bias);
  EXPECT_EQ(helium.head_dim, 128);  // Helium's default, not hidden / heads
  EXPECT_FLOAT_EQ(helium.norm_eps, 1e-8f);
  nlohmann::json config = small_config("HeliumForCausalLM");
  config["head_dim"] = 8;
  config["attention_bias"] = true;
  helium = spec_of(config);
  EXPECT_EQ(helium.head_dim, 8);
  EXPECT_TRUE(helium.qkv_bias);
  EXPECT_FALSE(helium.o_bias);

  DecoderSpec seed = spec_of(small_config("SeedOssForCausalLM"));
  EXPECT_TRUE(seed.qkv_bias);
  EXPECT_FALSE(seed.o_bias);
  EXPECT_EQ(seed.head_dim, 128);
  config = small_config("SeedOssForCausalLM");
  config["attention_out_bias"] = true;
  config["attention_bias"] = false;
  seed = spec_of(config);
  EXPECT_FALSE(seed.qkv_bias);
  EXPECT_TRUE(seed.o_bias);

  DecoderSpec olmo3 = spec_of(small_config("Olmo3ForCausalLM"));
  std::vector<int64_t> windows;
  for (const DecoderLayerSpec& layer : olmo3.layers) windows.push_back(layer.sliding_window);
  EXPECT_EQ(windows, (std::vector<int64_t>{4096, 4096, 4096, 0}));
  EXPECT_EQ(olmo3.qk_norm_kind, QkNorm::Full);
  EXPECT_TRUE(olmo3.sandwich_norms);
}
