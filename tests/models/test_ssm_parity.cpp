// Every fixture in tests/data/ssm (tools/make_ssm_fixtures.py: tiny random state-space checkpoints
// with transformers' fp32 outputs) run on the CPU through its state slots: prompt top-k logprobs
// within 1e-3 of HF, the prompt fed in chunks giving the same logits, and a greedy continuation
// decoded token by token from the slot equal to HF's (a divergence allowed only where HF's top-2
// margin is below 1e-3). Skipped while no fixture is there.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "models/registry.h"
#include "ops/ops.h"
#include "ssm_runner.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace vllm {
namespace {

constexpr double kLogprobTolerance = 1e-3;
constexpr double kTieMargin = 1e-3;

fs::path fixtures_dir() { return testing::source_dir() / "tests" / "data" / "ssm"; }

std::vector<std::string> fixture_names() {
  std::vector<std::string> names;
  if (fs::is_directory(fixtures_dir()))
    for (const auto& entry : fs::directory_iterator(fixtures_dir()))
      if (fs::exists(entry.path() / "expected.json")) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<float> log_softmax_row(const std::vector<float>& rows, int64_t row, int64_t vocab) {
  Tensor one = Tensor::from_floats(std::vector<float>(rows.begin() + row * vocab, rows.begin() + (row + 1) * vocab),
                                   {1, vocab});
  ops::log_softmax(one, one);
  return one.to_float_vector();
}

// HF's top entries [[token, logprob], ...] against ours.
void expect_top(const nlohmann::json& top, const std::vector<float>& logprobs, const std::string& where) {
  for (const auto& entry : top) {
    const int token = entry[0].get<int>();
    EXPECT_NEAR(logprobs[static_cast<size_t>(token)], entry[1].get<double>(), kLogprobTolerance)
        << where << " token " << token;
  }
}

TEST(SsmParity, EveryFixtureMatchesTransformers) {
  const std::vector<std::string> names = fixture_names();
  if (names.empty()) GTEST_SKIP() << "no fixtures in " << fixtures_dir() << " (tools/make_ssm_fixtures.py makes them)";
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    std::ifstream in(fixtures_dir() / name / "expected.json");
    const nlohmann::json expected = nlohmann::json::parse(in);
    ModelLoadOptions options;
    options.model_dir = fixtures_dir() / name;
    std::unique_ptr<Model> model = load_model(options);
    const int64_t vocab = model->vocab_size();
    std::ifstream config_file(fixtures_dir() / name / "config.json");
    const nlohmann::json config = nlohmann::json::parse(config_file);
    const int64_t eos = config.value("eos_token_id", nlohmann::json(-1)).is_number() ? config["eos_token_id"].get<int64_t>() : -1;
    for (const nlohmann::json& prompt : expected["prompts"]) {
      const std::vector<int32_t> ids = prompt["input_ids"].get<std::vector<int32_t>>();
      const int64_t length = static_cast<int64_t>(ids.size());
      testing::SsmRunner runner(*model, 2);
      const std::vector<float> whole = runner.run_chunked(0, ids, {length});
      for (int64_t p = 0; p < length; ++p)
        expect_top(prompt["prompt_top"][static_cast<size_t>(p)], log_softmax_row(whole, p, vocab),
                   "prompt position " + std::to_string(p));
      // Chunked prefill must not change a logit.
      std::vector<int64_t> sizes{std::min<int64_t>(3, length)};
      if (length > 3) sizes.push_back(1);
      if (length > 4) sizes.push_back(length - 4);
      const std::vector<float> chunked = runner.run_chunked(1, ids, sizes);
      ASSERT_EQ(chunked.size(), whole.size());
      for (size_t i = 0; i < whole.size(); ++i) ASSERT_NEAR(chunked[i], whole[i], 1e-4) << "chunked value " << i;

      // Greedy decode from slot 0, which holds the prompt's state.
      std::vector<float> last(whole.end() - vocab, whole.end());
      int64_t position = length;
      const nlohmann::json& steps = prompt["greedy_steps"];
      const std::vector<int32_t> tokens = prompt["greedy_tokens"].get<std::vector<int32_t>>();
      for (size_t step = 0; step < tokens.size(); ++step) {
        const std::vector<float> logprobs = log_softmax_row(last, 0, vocab);
        expect_top(steps[step]["top"], logprobs, "greedy step " + std::to_string(step));
        // HF generated with min_new_tokens: its EOS was masked at every step.
        std::vector<float> masked = logprobs;
        if (eos >= 0 && eos < vocab) masked[static_cast<size_t>(eos)] = -INFINITY;
        const int32_t ours = static_cast<int32_t>(std::max_element(masked.begin(), masked.end()) - masked.begin());
        if (ours != tokens[step]) {
          EXPECT_LT(steps[step]["margin"].get<double>(), kTieMargin) << "greedy step " << step << ": ours " << ours
                                                                     << ", HF " << tokens[step];
          break;
        }
        Tensor logits = runner.step({runner.chunk(0, position++, {tokens[step]})});
        last = logits.to_float_vector();
      }
    }
  }
}

}  // namespace
}  // namespace vllm
