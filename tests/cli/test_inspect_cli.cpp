// `vllm-cpp inspect` on committed fixtures: architecture, family, tasks, parameter count, spec,
// fields without effect, and --model-impl generic for an unregistered architecture name.
#include <gtest/gtest.h>

#include <algorithm>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "moe_test_checkpoint.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace {

std::string run(const std::string& args, int* status = nullptr) {
  std::string command = std::string(VLLM_BINARY) + " inspect " + args + " 2>&1";
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  std::array<char, 4096> buffer;
  for (size_t n; (n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0;) out.append(buffer.data(), n);
  int rc = pclose(pipe);
  if (status) *status = rc;
  return out;
}

fs::path fixture(const std::string& name) { return vllm::testing::source_dir() / "tests/data/models" / name; }

TEST(InspectCli, Gpt2Fixture) {
  int status = 0;
  std::string out = run("--json " + fixture("gpt2_4x").string() + " --hf-overrides '{\"my_unused_field\": 3}'", &status);
  ASSERT_EQ(status, 0) << out;
  nlohmann::json report = nlohmann::json::parse(out);
  EXPECT_EQ(report["architecture"], "GPT2LMHeadModel");
  EXPECT_EQ(report["family"], "gpt2");
  EXPECT_EQ(report["tasks"], nlohmann::json::array({"generate"}));
  // wte 512x64 + wpe 64x64 + final norm 2x64 + 2 layers of (2 norms 4x64, qkv 64x192+192,
  // o 64x64+64, fc 64x128+128, proj 128x64+64).
  int64_t per_layer = 4 * 64 + 64 * 192 + 192 + 64 * 64 + 64 + 64 * 128 + 128 + 128 * 64 + 64;
  EXPECT_EQ(report["parameters"]["count"].get<int64_t>(), 512 * 64 + 64 * 64 + 2 * 64 + 2 * per_layer);
  EXPECT_EQ(report["parameters"]["by_dtype"].begin().key(), "bfloat16");
  const nlohmann::json& spec = report["spec"];
  EXPECT_EQ(spec["norm"]["kind"], "layer_norm");
  EXPECT_EQ(spec["positions"]["learned"], true);
  EXPECT_EQ(spec["block"]["gated_mlp"], false);
  EXPECT_EQ(spec["lm_head"]["tied"], true);
  std::vector<std::string> unused = report["fields_without_effect"].get<std::vector<std::string>>();
  EXPECT_NE(std::find(unused.begin(), unused.end(), "my_unused_field"), unused.end()) << out;
  EXPECT_EQ(std::find(unused.begin(), unused.end(), "n_embd"), unused.end()) << out;
}

// A mixture of experts: experts, top-k, routing kind, and the parameters one token uses.
TEST(InspectCli, MixtureOfExpertsShowsExpertsRoutingAndActiveParameters) {
  const fs::path dir = fs::temp_directory_path() / ("vllm_inspect_moe_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  vllm::testing::write_tiny_moe(dir, vllm::testing::ExpertLayout::PerExpert);
  int status = 0;
  std::string out = run("--json " + dir.string(), &status);
  ASSERT_EQ(status, 0) << out;
  nlohmann::json report = nlohmann::json::parse(out);
  EXPECT_EQ(report["family"], "mixtral");
  // Per layer: 2 norms 2x16, q/o 16x16, k/v 8x16, router 4x16, 4 experts of 3 x 16x8.
  const int64_t per_layer = 2 * 16 + 2 * 256 + 2 * 128 + 64 + 4 * 3 * 128;
  EXPECT_EQ(report["parameters"]["count"].get<int64_t>(), 2 * 32 * 16 + 16 + 2 * per_layer);
  // Each token reads 2 of the 4 experts in each of the 2 layers.
  EXPECT_EQ(report["parameters"]["active_per_token"].get<int64_t>(), 2 * 32 * 16 + 16 + 2 * (per_layer - 2 * 3 * 128));
  const nlohmann::json& moe = report["spec"]["moe"];
  EXPECT_EQ(moe["experts"], 4);
  EXPECT_EQ(moe["top_k"], 2);
  EXPECT_EQ(moe["routing"]["kind"], "softmax_topk");
  EXPECT_EQ(moe["routing"]["renormalize"], true);
  EXPECT_EQ(moe["layers"], nlohmann::json({0, 1}));
  std::string text = run(dir.string(), &status);
  ASSERT_EQ(status, 0) << text;
  EXPECT_NE(text.find("active parameters per token: 4,304"), std::string::npos) << text;
  EXPECT_NE(text.find("experts: 4, top-k 2, routing softmax_topk, no shared expert, on 2 of 2 layers"),
            std::string::npos)
      << text;
  fs::remove_all(dir);
}

TEST(InspectCli, TextReport) {
  int status = 0;
  std::string out = run(fixture("bloom_alibi_4x").string(), &status);
  ASSERT_EQ(status, 0) << out;
  EXPECT_NE(out.find("architecture: BloomForCausalLM"), std::string::npos) << out;
  EXPECT_NE(out.find("family: bloom (generic decoder)"), std::string::npos) << out;
  EXPECT_NE(out.find("tasks: generate"), std::string::npos) << out;
  EXPECT_NE(out.find("parameters: "), std::string::npos) << out;
  EXPECT_NE(out.find("\"alibi_slopes\""), std::string::npos) << out;
}

TEST(InspectCli, ModelImplGenericRunsAnUnknownLlamaLayoutName) {
  fs::path dir = fs::temp_directory_path() / ("vllm_inspect_generic_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy(fixture("llama_gqa_5x"), dir, fs::copy_options::recursive);
  nlohmann::json config = nlohmann::json::parse(std::ifstream(dir / "config.json"));
  config["architectures"] = {"MyOwnLlamaForCausalLM"};
  std::ofstream(dir / "config.json") << config.dump(2);

  int status = 0;
  std::string out = run(dir.string(), &status);
  EXPECT_NE(status, 0) << out;
  EXPECT_NE(out.find("'MyOwnLlamaForCausalLM' is not supported"), std::string::npos) << out;

  out = run("--model-impl generic " + dir.string(), &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("architecture: MyOwnLlamaForCausalLM"), std::string::npos) << out;
  EXPECT_NE(out.find("generic decoder as LlamaForCausalLM"), std::string::npos) << out;
  EXPECT_NE(out.find("is not registered"), std::string::npos) << out;  // the warning
  fs::remove_all(dir);
}

}  // namespace

namespace {

// Families with their own model class are named as such, not as the generic decoder; the
// layer-wise Llamas (DeciLM) are generic-decoder specs with per-layer overrides.
TEST(InspectCli, OwnModelClassesAreNamed) {
  int status = 0;
  std::string out = run("--json " + fixture("gemma3n_text_4x").string(), &status);
  ASSERT_EQ(status, 0) << out;
  nlohmann::json report = nlohmann::json::parse(out.substr(out.find('{')));
  EXPECT_EQ(report["implementation"], "Gemma 3n text decoder (src/models/gemma3n.cpp)");
  out = run("--json " + fixture("decilm_variable_4x").string(), &status);
  ASSERT_EQ(status, 0) << out;
  report = nlohmann::json::parse(out.substr(out.find('{')));
  EXPECT_EQ(report["implementation"], "generic decoder");
  out = run("--json " + fixture("llama_gqa_5x").string(), &status);
  ASSERT_EQ(status, 0) << out;
  report = nlohmann::json::parse(out.substr(out.find('{')));
  EXPECT_EQ(report["implementation"], "generic decoder");
}

}  // namespace
