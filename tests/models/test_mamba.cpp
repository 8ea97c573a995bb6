// MambaForCausalLM, FalconMambaForCausalLM and Mamba2ForCausalLM on tiny hand-written checkpoints
// (tests/ssm_test_checkpoint.h): the cache they declare, and the same logits whether a prompt is
// fed whole, in chunks or one token at a time through its state slot, or batched with others.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "models/registry.h"
#include "ssm_runner.h"
#include "ssm_test_checkpoint.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace vllm {
namespace {

using testing::SsmKind;
using testing::SsmRunner;
using testing::TinySsm;

struct Case {
  const char* name;
  SsmKind kind;
  TinySsm sizes;
};

std::vector<Case> cases() {
  TinySsm plain;
  TinySsm no_bias;
  no_bias.use_bias = no_bias.use_conv_bias = false;
  no_bias.tie = true;
  no_bias.conv_kernel = 3;
  TinySsm groups;
  groups.n_groups = 4;
  groups.state = 6;
  return {{"mamba", SsmKind::Mamba, plain},
          {"mamba_tied_no_bias_k3", SsmKind::Mamba, no_bias},
          {"falcon_mamba", SsmKind::FalconMamba, plain},
          {"mamba2", SsmKind::Mamba2, plain},
          {"mamba2_tied_no_bias_k3", SsmKind::Mamba2, no_bias},
          {"mamba2_groups4", SsmKind::Mamba2, groups}};
}

class MambaModels : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vllm_mamba_" + std::to_string(::getpid()) + "_" + GetParam().name);
    testing::write_tiny_ssm(dir_, GetParam().kind, 3, GetParam().sizes);
    ModelLoadOptions options;
    options.model_dir = dir_;
    model_ = load_model(options);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::vector<int32_t> prompt(int64_t length, int32_t seed) {
    std::vector<int32_t> ids;
    for (int64_t i = 0; i < length; ++i) ids.push_back(static_cast<int32_t>((seed * 13 + i * 7) % 48));
    return ids;
  }

  fs::path dir_;
  std::unique_ptr<Model> model_;
};

void expect_close(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-4) << what << " value " << i;
}

TEST_P(MambaModels, DeclaresOneStateSlotPerLayerAndNoPagedCache) {
  const KVCacheSpec& spec = model_->kv_cache_spec();
  ASSERT_EQ(spec.layers.size(), 2u);
  for (const LayerCacheSpec& layer : spec.layers) {
    EXPECT_EQ(layer.kind, CacheKind::RecurrentState);
    EXPECT_FALSE(layer.paged());
  }
  EXPECT_TRUE(spec.group_windows().empty());
  EXPECT_EQ(spec.bytes_per_block(16, DType::F32), 0u);
  const TinySsm& s = GetParam().sizes;
  const int64_t inner = s.expand * s.hidden;
  const int64_t conv_dim = GetParam().kind == SsmKind::Mamba2 ? inner + 2 * s.n_groups * s.state : inner;
  EXPECT_EQ(spec.layers[0].conv_state_shape, (std::vector<int64_t>{conv_dim, s.conv_kernel - 1}));
  const std::vector<int64_t> ssm = GetParam().kind == SsmKind::Mamba2
                                       ? std::vector<int64_t>{s.heads, inner / s.heads, s.state}
                                       : std::vector<int64_t>{inner, s.state};
  EXPECT_EQ(spec.layers[0].ssm_state_shape, ssm);
  const int64_t per_layer = conv_dim * (s.conv_kernel - 1) + inner * s.state;  // both kinds: inner x d_state
  EXPECT_EQ(spec.state_bytes_per_slot(), static_cast<size_t>(2 * per_layer) * sizeof(float));
}

TEST_P(MambaModels, WholeChunkedAndTokenByTokenPrefillsAgree) {
  const std::vector<int32_t> ids = prompt(11, 1);
  SsmRunner runner(*model_, 3);
  const std::vector<float> whole = runner.run_chunked(0, ids, {11});
  expect_close(runner.run_chunked(1, ids, {4, 1, 6}), whole, "chunks 4+1+6");
  expect_close(runner.run_chunked(2, ids, std::vector<int64_t>(11, 1)), whole, "token by token");
  expect_close(runner.run_chunked(0, ids, {2, 9}), whole, "a reused slot starts from zero");
  // Without slots (a stateless forward) the whole prompt gives the same rows.
  SequenceChunk stateless = runner.chunk(0, 0, ids);
  stateless.state_slot = -1;
  expect_close(runner.step({stateless}).to_float_vector(), whole, "stateless");
}

TEST_P(MambaModels, BatchedSequencesOfDifferentLengthsMatchEachAlone) {
  const std::vector<int32_t> a = prompt(9, 2), b = prompt(3, 3), c = prompt(6, 4);
  SsmRunner alone(*model_, 1);
  const std::vector<float> want_a = alone.run_chunked(0, a, {9});
  const std::vector<float> want_b = alone.run_chunked(0, b, {3});
  const std::vector<float> want_c = alone.run_chunked(0, c, {6});
  const int64_t vocab = model_->vocab_size();
  // Step 1: a's first 5 tokens, b whole, c's first 2; step 2: a decode-style remainder mix.
  SsmRunner batched(*model_, 4);
  std::vector<float> got_a, got_b, got_c;
  auto take = [&](const Tensor& logits, int64_t row, int64_t count, std::vector<float>& into) {
    std::vector<float> values = logits.slice(0, row, row + count).contiguous().to_float_vector();
    into.insert(into.end(), values.begin(), values.end());
  };
  Tensor first = batched.step({batched.chunk(3, 0, {a.begin(), a.begin() + 5}), batched.chunk(1, 0, b),
                               batched.chunk(0, 0, {c.begin(), c.begin() + 2})});
  take(first, 0, 5, got_a);
  take(first, 5, 3, got_b);
  take(first, 8, 2, got_c);
  Tensor second = batched.step({batched.chunk(0, 2, {c.begin() + 2, c.begin() + 3}),
                                batched.chunk(3, 5, {a.begin() + 5, a.end()})});
  take(second, 0, 1, got_c);
  take(second, 1, 4, got_a);
  Tensor third = batched.step({batched.chunk(0, 3, {c.begin() + 3, c.end()})});
  take(third, 0, 3, got_c);
  ASSERT_EQ(static_cast<int64_t>(got_a.size()), 9 * vocab);
  expect_close(got_a, want_a, "a");
  expect_close(got_b, want_b, "b");
  expect_close(got_c, want_c, "c");
}

INSTANTIATE_TEST_SUITE_P(Ssm, MambaModels, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

TEST(MambaConfig, Mamba2SizesMustAgree) {
  const fs::path dir = fs::temp_directory_path() / ("vllm_mamba_bad_" + std::to_string(::getpid()));
  testing::write_tiny_ssm(dir, SsmKind::Mamba2);
  nlohmann::json config = testing::tiny_ssm_config(SsmKind::Mamba2);
  config["num_heads"] = 3;  // 3 x 8 != 2 x 16
  std::ofstream(dir / "config.json") << config.dump();
  ModelLoadOptions options;
  options.model_dir = dir;
  try {
    load_model(options);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("must equal num_heads x head_dim"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace vllm
