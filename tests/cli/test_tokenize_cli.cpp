// `vllm-cpp tokenize` / `detokenize` end to end on a committed fixture tokenizer.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "test_util.h"

namespace {

// Runs `command` with `input` on stdin; returns stdout.
std::string run_with_stdin(const std::string& command, const std::string& input, int* status = nullptr) {
  auto path = std::filesystem::temp_directory_path() / ("vllm_tok_cli_" + std::to_string(::getpid()) + ".in");
  std::ofstream(path, std::ios::binary) << input;
  std::string full = command + " < '" + path.string() + "' 2>/dev/null";
  std::string out;
  FILE* pipe = popen(full.c_str(), "r");
  std::array<char, 4096> buffer;
  for (size_t n; (n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0;) out.append(buffer.data(), n);
  int rc = pclose(pipe);
  if (status) *status = rc;
  std::filesystem::remove(path);
  return out;
}

std::string tokenizer_dir() {
  return (vllm::testing::source_dir() / "tests/data/tokenizer/synthetic/bpe_spm_byte_fallback").string();
}

nlohmann::json first_case(const std::string& text) {
  auto expected = nlohmann::json::parse(std::ifstream(tokenizer_dir() + "/expected.json"));
  for (const auto& c : expected.at("cases"))
    if (c.at("text") == text) return c;
  return {};
}

TEST(TokenizeCli, TokenizeAndDetokenize) {
  std::string bin = std::string(VLLM_BINARY) + " ";
  auto c = first_case("hello world! How are you?");
  ASSERT_FALSE(c.is_null());
  std::string ids = run_with_stdin(bin + "tokenize --tokenizer " + tokenizer_dir(), "hello world! How are you?");
  EXPECT_EQ(nlohmann::json::parse(ids), c.at("ids"));
  ids = run_with_stdin(bin + "tokenize --no-special-tokens --tokenizer " + tokenizer_dir(), "hello world! How are you?");
  EXPECT_EQ(nlohmann::json::parse(ids), c.at("ids_no_special"));
  EXPECT_EQ(run_with_stdin(bin + "detokenize --tokenizer " + tokenizer_dir(), c.at("ids").dump()), c.at("decode"));
  EXPECT_EQ(run_with_stdin(bin + "detokenize --skip-special-tokens --tokenizer " + tokenizer_dir(), c.at("ids").dump()),
            c.at("decode_skip"));
}

TEST(TokenizeCli, JsonLines) {
  std::string bin = std::string(VLLM_BINARY) + " ";
  auto a = first_case("Hello world"), b = first_case("café naïve résumé Ångström Zürich");
  std::string input = nlohmann::json{{"text", a.at("text")}, {"add_special_tokens", true}}.dump() + "\n" +
                      nlohmann::json{{"text", b.at("text")}, {"add_special_tokens", false}}.dump() + "\n";
  std::string out = run_with_stdin(bin + "tokenize --jsonl --tokenizer " + tokenizer_dir(), input);
  std::istringstream lines(out);
  std::string line;
  std::getline(lines, line);
  EXPECT_EQ(nlohmann::json::parse(line).at("ids"), a.at("ids"));
  std::getline(lines, line);
  EXPECT_EQ(nlohmann::json::parse(line).at("ids"), b.at("ids_no_special"));

  input = nlohmann::json{{"ids", a.at("ids")}, {"skip_special_tokens", false}}.dump() + "\n" +
          nlohmann::json{{"ids", a.at("ids")}, {"skip_special_tokens", true}}.dump() + "\n";
  out = run_with_stdin(bin + "detokenize --jsonl --tokenizer " + tokenizer_dir(), input);
  std::istringstream texts(out);
  std::getline(texts, line);
  EXPECT_EQ(nlohmann::json::parse(line).at("text"), a.at("decode"));
  std::getline(texts, line);
  EXPECT_EQ(nlohmann::json::parse(line).at("text"), a.at("decode_skip"));
}

TEST(TokenizeCli, ErrorsExitNonZero) {
  int status = 0;
  run_with_stdin(std::string(VLLM_BINARY) + " detokenize --tokenizer " + tokenizer_dir(), "[1, \"x\"]", &status);
  EXPECT_NE(status, 0);
  run_with_stdin(std::string(VLLM_BINARY) + " tokenize --tokenizer /nonexistent", "x", &status);
  EXPECT_NE(status, 0);
  // Issue 26: ids outside the vocabulary are refused, as the server's /detokenize refuses them.
  for (const char* ids : {"[-1]", "[99999999]", "[4294967297]"}) {
    run_with_stdin(std::string(VLLM_BINARY) + " detokenize --tokenizer " + tokenizer_dir(), ids, &status);
    EXPECT_NE(status, 0) << ids;
  }
  run_with_stdin(std::string(VLLM_BINARY) + " detokenize --tokenizer " + tokenizer_dir(), "[1]", &status);
  EXPECT_EQ(status, 0);
}

// Issue 26: `bench --help` is help, not a usage error.
TEST(BenchCli, HelpExitsZero) {
  int status = -1;
  run_with_stdin(std::string(VLLM_BINARY) + " bench --help", "", &status);
  EXPECT_EQ(status, 0);
}

}  // namespace
