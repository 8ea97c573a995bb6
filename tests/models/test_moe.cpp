// The mixture-of-experts block on the CPU against a dense per-token reference (router, top-k,
// experts, shared expert and its gate, in double precision), expert weights loaded from each
// checkpoint layout giving the same model, and the errors of a checkpoint whose experts do not
// match config.json.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <random>

#include "core/error.h"
#include "engine/input_batch.h"
#include "layers/moe.h"
#include "loader/safetensors.h"
#include "models/decoder_spec.h"
#include "models/registry.h"
#include "moe_test_checkpoint.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace vllm;

namespace {

fs::path scratch(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("vllm_moe_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::vector<float> normal(int64_t count, std::mt19937& rng, float scale) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> values(static_cast<size_t>(count));
  for (float& v : values) v = dist(rng);
  return values;
}

double silu(double x) { return x / (1.0 + std::exp(-x)); }

struct BlockCase {
  const char* name;
  ops::MoERouting routing;
  bool correction_bias;
  bool shared_gate;
};

// One MoE layer's tensors in Qwen2-MoE's per-expert names, loaded through the stacking map, run
// on random tokens, against the reference computed here.
void check_block_against_reference(const BlockCase& c) {
  SCOPED_TRACE(c.name);
  const int64_t hidden = 24, experts = 8, inter = 12, shared = 20, tokens = 7;
  std::mt19937 rng(11);
  std::vector<float> router = normal(experts * hidden, rng, 0.4f), bias = normal(experts, rng, 0.1f);
  std::vector<float> gate_up = normal(experts * 2 * inter * hidden, rng, 0.3f);
  std::vector<float> down = normal(experts * hidden * inter, rng, 0.3f);
  std::vector<float> shared_gate_up = normal(2 * shared * hidden, rng, 0.3f);
  std::vector<float> shared_down = normal(hidden * shared, rng, 0.3f), shared_gate = normal(hidden, rng, 0.3f);
  std::vector<float> xs = normal(tokens * hidden, rng, 1.0f);

  const fs::path dir = scratch(c.name);
  const std::string p = "model.layers.0.mlp.";
  std::vector<std::pair<std::string, Tensor>> tensors;
  tensors.emplace_back(p + "gate.weight", Tensor::from_floats(router, {experts, hidden}, DType::BF16));
  if (c.correction_bias) tensors.emplace_back(p + "gate.e_score_correction_bias", Tensor::from_floats(bias, {experts}));
  Tensor stacked = Tensor::from_floats(gate_up, {experts, 2 * inter, hidden}, DType::BF16);
  Tensor downs = Tensor::from_floats(down, {experts, hidden, inter}, DType::BF16);
  for (int64_t e = 0; e < experts; ++e) {
    const std::string q = p + "experts." + std::to_string(e) + ".";
    tensors.emplace_back(q + "gate_proj.weight", stacked.select(0, e).slice(0, 0, inter).contiguous());
    tensors.emplace_back(q + "up_proj.weight", stacked.select(0, e).slice(0, inter, 2 * inter).contiguous());
    tensors.emplace_back(q + "down_proj.weight", downs.select(0, e).contiguous());
  }
  Tensor shared_stack = Tensor::from_floats(shared_gate_up, {2 * shared, hidden});
  tensors.emplace_back(p + "shared_expert.gate_proj.weight", shared_stack.slice(0, 0, shared).contiguous());
  tensors.emplace_back(p + "shared_expert.up_proj.weight", shared_stack.slice(0, shared, 2 * shared).contiguous());
  tensors.emplace_back(p + "shared_expert.down_proj.weight", Tensor::from_floats(shared_down, {hidden, shared}));
  if (c.shared_gate) tensors.emplace_back(p + "shared_expert_gate.weight", Tensor::from_floats(shared_gate, {1, hidden}));
  save_safetensors(dir / "model.safetensors", tensors);

  MoESpec spec;
  spec.hidden_size = hidden;
  spec.num_experts = experts;
  spec.intermediate_size = inter;
  spec.routing = c.routing;
  spec.correction_bias = c.correction_bias;
  spec.shared_intermediate_size = shared;
  spec.shared_expert_gate = c.shared_gate;
  WeightMap map = llama_weight_map();
  add_expert_stacking(map);
  Checkpoint checkpoint = Checkpoint::open(dir);
  WeightLoader loader(checkpoint, map, "test");
  std::unique_ptr<MoEFeedForward> block = MoEFeedForward::load(loader, p, spec, Device::cpu());
  loader.finish();  // every tensor consumed
  Tensor out = block->forward(Tensor::from_floats(xs, {tokens, hidden}));

  // The reference, from the bf16-rounded weights as loaded.
  std::vector<float> r = Tensor::from_floats(router, {experts, hidden}, DType::BF16).to_float_vector();
  std::vector<float> gu = stacked.to_float_vector(), dn = downs.to_float_vector();
  const int k = c.routing.top_k;
  for (int64_t t = 0; t < tokens; ++t) {
    const float* x = xs.data() + t * hidden;
    std::vector<double> logits(experts), score(experts), choice(experts);
    for (int64_t e = 0; e < experts; ++e)
      for (int64_t h = 0; h < hidden; ++h) logits[e] += static_cast<double>(r[e * hidden + h]) * x[h];
    const double max = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (double l : logits) sum += std::exp(l - max);
    for (int64_t e = 0; e < experts; ++e) {
      score[e] = c.routing.scoring == ops::MoEScoring::Softmax ? std::exp(logits[e] - max) / sum
                                                               : 1.0 / (1.0 + std::exp(-logits[e]));
      choice[e] = score[e] + (c.correction_bias ? bias[e] : 0.0);
    }
    std::vector<int> order(experts);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return choice[a] > choice[b]; });
    double total = 0;
    for (int j = 0; j < k; ++j) total += score[order[j]];
    std::vector<double> expected(hidden, 0.0);
    for (int j = 0; j < k; ++j) {
      const int e = order[j];
      const double w = (c.routing.renormalize ? score[e] / total : score[e]) * c.routing.scaling;
      std::vector<double> product(inter);
      for (int64_t i = 0; i < inter; ++i) {
        double g = 0, u = 0;
        for (int64_t h = 0; h < hidden; ++h) {
          g += gu[(e * 2 * inter + i) * hidden + h] * static_cast<double>(x[h]);
          u += gu[(e * 2 * inter + inter + i) * hidden + h] * static_cast<double>(x[h]);
        }
        product[i] = silu(g) * u;
      }
      for (int64_t h = 0; h < hidden; ++h) {
        double d = 0;
        for (int64_t i = 0; i < inter; ++i) d += dn[(e * hidden + h) * inter + i] * product[i];
        expected[h] += w * d;
      }
    }
    double gate = 1.0;
    if (c.shared_gate) {
      double g = 0;
      for (int64_t h = 0; h < hidden; ++h) g += static_cast<double>(shared_gate[h]) * x[h];
      gate = 1.0 / (1.0 + std::exp(-g));
    }
    std::vector<double> product(shared);
    for (int64_t i = 0; i < shared; ++i) {
      double g = 0, u = 0;
      for (int64_t h = 0; h < hidden; ++h) {
        g += shared_gate_up[i * hidden + h] * static_cast<double>(x[h]);
        u += shared_gate_up[(shared + i) * hidden + h] * static_cast<double>(x[h]);
      }
      product[i] = silu(g) * u;
    }
    for (int64_t h = 0; h < hidden; ++h) {
      double d = 0;
      for (int64_t i = 0; i < shared; ++i) d += shared_down[h * shared + i] * product[i];
      expected[h] += gate * d;
      EXPECT_NEAR(out.data<float>()[t * hidden + h], expected[h], 1e-4 * std::max(1.0, std::abs(expected[h])))
          << "token " << t << " column " << h;
    }
  }
  fs::remove_all(dir);
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

std::unique_ptr<Model> load(const fs::path& dir) {
  ModelLoadOptions options;
  options.model_dir = dir;
  return load_model(options);
}

std::string load_error(const fs::path& dir) {
  try {
    load(dir);
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

const std::vector<int32_t> kPrompt = {3, 17, 5, 29, 11, 2, 8, 31, 14};

}  // namespace

TEST(MoEBlock, SoftmaxTopKWithGatedSharedExpertMatchesDenseReference) {  // Qwen2-MoE
  ops::MoERouting routing;
  routing.scoring = ops::MoEScoring::Softmax;
  routing.top_k = 3;
  check_block_against_reference({"qwen2_moe", routing, false, true});
}

TEST(MoEBlock, SigmoidWithCorrectionBiasAndUngatedSharedExpertMatchesDenseReference) {  // DeepSeek-V3 style
  ops::MoERouting routing;
  routing.scoring = ops::MoEScoring::Sigmoid;
  routing.top_k = 2;
  routing.renormalize = true;
  routing.scaling = 2.5f;
  check_block_against_reference({"deepseek_v3", routing, true, false});
}

TEST(MoEWeights, PerExpertFusedAndGraniteLayoutsGiveTheSameModel) {
  const fs::path per_expert = scratch("per_expert"), fused = scratch("fused"), granite = scratch("granite");
  vllm::testing::write_tiny_moe(per_expert, vllm::testing::ExpertLayout::PerExpert);
  vllm::testing::write_tiny_moe(fused, vllm::testing::ExpertLayout::Fused);
  vllm::testing::write_tiny_moe(granite, vllm::testing::ExpertLayout::Granite);
  std::vector<float> a = run_logits(*load(per_expert), kPrompt).to_float_vector();
  std::vector<float> b = run_logits(*load(fused), kPrompt).to_float_vector();
  std::vector<float> c = run_logits(*load(granite), kPrompt).to_float_vector();
  EXPECT_EQ(a, b);  // the same stacked tensors
  ASSERT_EQ(a.size(), c.size());
  // GraniteMoe's softmax over the top-k logits equals Mixtral's renormalised top-k probabilities.
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], c[i], 1e-4) << i;
  for (const fs::path& dir : {per_expert, fused, granite}) fs::remove_all(dir);
}

TEST(MoEWeights, MissingExpertTensorIsNamed) {
  const fs::path dir = scratch("missing");
  vllm::testing::write_tiny_moe(dir, vllm::testing::ExpertLayout::PerExpert);
  std::vector<std::pair<std::string, Tensor>> tensors;
  {
    Checkpoint checkpoint = Checkpoint::open(dir);
    for (const std::string& name : checkpoint.names())
      if (name != "model.layers.1.block_sparse_moe.experts.3.w3.weight")
        tensors.emplace_back(name, checkpoint.get(name).clone());
  }
  save_safetensors(dir / "model.safetensors", tensors);
  const std::string error = load_error(dir);
  EXPECT_NE(error.find("expert tensor 'model.layers.1.mlp.experts.3.up_proj.weight'"), std::string::npos) << error;
  EXPECT_NE(error.find("expert 3 of 4"), std::string::npos) << error;
  fs::remove_all(dir);
}

TEST(MoEWeights, MoreExpertsThanTheConfigIsAnError) {
  const fs::path dir = scratch("extra");
  vllm::testing::TinyMoE five;
  five.experts = 5;
  vllm::testing::write_tiny_moe(dir, vllm::testing::ExpertLayout::PerExpert, 1, five);
  std::ofstream(dir / "config.json") << vllm::testing::tiny_moe_config(vllm::testing::ExpertLayout::PerExpert).dump(2);
  // A 5-row router is a shape error naming it; with 4-row routers, expert 4 is left over.
  EXPECT_NE(load_error(dir).find("'model.layers.0.mlp.gate.weight' has shape [5, 16]"), std::string::npos);
  std::vector<std::pair<std::string, Tensor>> tensors;
  {
    Checkpoint checkpoint = Checkpoint::open(dir);
    for (const std::string& name : checkpoint.names()) {
      Tensor t = checkpoint.get(name);
      tensors.emplace_back(name, name.find(".gate.weight") != std::string::npos ? t.slice(0, 0, 4).contiguous() : t.clone());
    }
  }
  save_safetensors(dir / "model.safetensors", tensors);
  const std::string error = load_error(dir);
  EXPECT_NE(error.find("experts.4.w1.weight"), std::string::npos) << error;
  EXPECT_NE(error.find("is not used"), std::string::npos) << error;
  fs::remove_all(dir);
}

TEST(MoEWeights, FusedExpertsOfTheWrongShapeAreNamed) {
  const fs::path dir = scratch("shape");
  vllm::testing::write_tiny_moe(dir, vllm::testing::ExpertLayout::Fused);
  nlohmann::json config = vllm::testing::tiny_moe_config(vllm::testing::ExpertLayout::Fused);
  config["intermediate_size"] = 6;
  std::ofstream(dir / "config.json") << config.dump(2);
  const std::string error = load_error(dir);
  EXPECT_NE(error.find("mlp.experts.gate_up_proj"), std::string::npos) << error;
  EXPECT_NE(error.find("[4, 16, 16]"), std::string::npos) << error;
  fs::remove_all(dir);
}

TEST(MoESpecs, FamiliesPlaceTheirMoELayers) {
  auto describe = [](nlohmann::json config) {
    const ModelConfig parsed = ModelConfig::from_json(std::move(config));
    return ModelRegistry::get(parsed).describe(parsed);
  };
  nlohmann::json base = {{"vocab_size", 32}, {"hidden_size", 16}, {"intermediate_size", 40}, {"num_hidden_layers", 4},
                         {"num_attention_heads", 2}, {"num_key_value_heads", 1}};
  // Qwen2-MoE: mlp_only_layers and decoder_sparse_step.
  nlohmann::json qwen = base;
  qwen.update({{"architectures", {"Qwen2MoeForCausalLM"}}, {"num_experts", 8}, {"num_experts_per_tok", 2},
               {"moe_intermediate_size", 8}, {"shared_expert_intermediate_size", 12}, {"decoder_sparse_step", 2},
               {"mlp_only_layers", {3}}});
  nlohmann::json spec = describe(qwen);
  EXPECT_EQ(spec["moe"]["layers"], nlohmann::json({1})) << spec["moe"].dump();
  EXPECT_EQ(spec["moe"]["shared_expert"]["gate"], true);
  EXPECT_EQ(spec["moe"]["routing"]["kind"], "softmax_topk");
  // GLM-4.5: first_k_dense_replace, DeepSeek-V3's router.
  nlohmann::json glm = base;
  glm.update({{"architectures", {"Glm4MoeForCausalLM"}}, {"n_routed_experts", 8}, {"num_experts_per_tok", 2},
              {"moe_intermediate_size", 8}, {"first_k_dense_replace", 2}, {"n_group", 2}, {"topk_group", 1},
              {"routed_scaling_factor", 2.5}});
  spec = describe(glm);
  EXPECT_EQ(spec["moe"]["layers"], nlohmann::json({2, 3}));
  EXPECT_EQ(spec["moe"]["routing"]["kind"], "sigmoid_topk");
  EXPECT_EQ(spec["moe"]["routing"]["correction_bias"], true);
  EXPECT_EQ(spec["moe"]["routing"]["groups"]["n_group"], 2);
  EXPECT_EQ(spec["moe"]["shared_expert"]["intermediate"], 8);
  EXPECT_EQ(spec["layers"][0]["mlp"], nullptr);
  EXPECT_EQ(spec["layers"][2]["mlp"], "moe");
  // ERNIE 4.5: moe_layer_start_index / end / interval.
  nlohmann::json ernie = base;
  ernie.update({{"architectures", {"Ernie4_5_MoeForCausalLM"}}, {"moe_num_experts", 8}, {"moe_k", 2},
                {"moe_intermediate_size", 8}, {"moe_layer_start_index", 1}, {"moe_layer_end_index", 2},
                {"moe_layer_interval", 1}});
  EXPECT_EQ(describe(ernie)["moe"]["layers"], nlohmann::json({1, 2}));
  // DeepSeek V1: first_k_dense_replace and moe_layer_freq.
  nlohmann::json deepseek = base;
  deepseek.update({{"architectures", {"DeepseekForCausalLM"}}, {"n_routed_experts", 8}, {"num_experts_per_tok", 2},
                   {"moe_intermediate_size", 8}, {"n_shared_experts", 2}, {"first_k_dense_replace", 1},
                   {"moe_layer_freq", 2}});
  spec = describe(deepseek);
  EXPECT_EQ(spec["moe"]["layers"], nlohmann::json({2}));
  EXPECT_EQ(spec["moe"]["shared_expert"]["intermediate"], 16);
  // HunYuan: per-layer expert counts and top-k.
  nlohmann::json hunyuan = base;
  hunyuan.update({{"architectures", {"HunYuanMoEV1ForCausalLM"}}, {"num_experts", {4, 8, 8, 8}},
                  {"moe_topk", {1, 2, 2, 2}}});
  hunyuan["rope_scaling"] = {{"type", "dynamic"}, {"alpha", 1000.0}, {"factor", 1.0}};
  hunyuan["rope_theta"] = 10000.0;
  spec = describe(hunyuan);
  EXPECT_EQ(spec["moe"]["experts"], 4);
  EXPECT_EQ(spec["moe"]["top_k"], 1);
  EXPECT_EQ(spec["layers"][1]["experts"], 8);
  EXPECT_EQ(spec["layers"][1]["top_k"], 2);
  // DynamicNTKAlphaRotary: the default rotary with base theta * alpha^(d / (d - 2)), d = 8.
  EXPECT_EQ(spec["layers"][0]["rope"]["rope_type"], "default");
  EXPECT_NEAR(spec["layers"][0]["rope"]["rope_theta"].get<double>(), 10000.0 * std::pow(1000.0, 8.0 / 6.0), 1e-3);
  // PhiMoE routes to exactly two experts.
  nlohmann::json phimoe = base;
  phimoe.update({{"architectures", {"PhiMoEForCausalLM"}}, {"num_local_experts", 4}, {"num_experts_per_tok", 3}});
  EXPECT_THROW(describe(phimoe), Error);
}
