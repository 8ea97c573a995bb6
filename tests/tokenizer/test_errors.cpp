// Malformed tokenizer.json files and unknown components give errors naming the file and the
// component.
#include <gtest/gtest.h>

#include "core/error.h"
#include "text/tokenizer/tokenizer.h"

namespace vllm {
namespace {

std::string error_of(const std::string& tokenizer_json) {
  try {
    Tokenizer::from_json_string(tokenizer_json, nlohmann::json::object(), "/models/x/tokenizer.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

const char* kModel = R"("model": {"type": "WordLevel", "vocab": {"a": 0, "[UNK]": 1}, "unk_token": "[UNK]"})";

TEST(TokenizerErrors, UnknownComponentTypes) {
  std::string e = error_of(std::string("{") + kModel + R"(, "normalizer": {"type": "Rot13"}})");
  EXPECT_NE(e.find("/models/x/tokenizer.json"), std::string::npos) << e;
  EXPECT_NE(e.find("normalizer"), std::string::npos) << e;
  EXPECT_NE(e.find("Rot13"), std::string::npos) << e;
  e = error_of(std::string("{") + kModel +
               R"(, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Whitespace"}, {"type": "Magic"}]}})");
  EXPECT_NE(e.find("pre_tokenizer.Sequence[1]"), std::string::npos) << e;
  EXPECT_NE(e.find("Magic"), std::string::npos) << e;
  e = error_of(std::string("{") + kModel + R"(, "decoder": {"type": "Nope"}})");
  EXPECT_NE(e.find("decoder"), std::string::npos) << e;
  e = error_of(std::string("{") + kModel + R"(, "post_processor": {"type": "Nope"}})");
  EXPECT_NE(e.find("post_processor"), std::string::npos) << e;
  e = error_of(R"({"model": {"type": "Hmm", "vocab": {}}})");
  EXPECT_NE(e.find("model"), std::string::npos) << e;
  EXPECT_NE(e.find("Hmm"), std::string::npos) << e;
}

TEST(TokenizerErrors, MalformedFiles) {
  EXPECT_NE(error_of("{not json").find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of("{}").find("\"model\" section is missing"), std::string::npos);
  std::string e = error_of(std::string("{") + kModel + R"(, "pre_tokenizer": {"type": "Split", "behavior": "Isolated"}})");
  EXPECT_NE(e.find("pre_tokenizer.Split"), std::string::npos) << e;
  EXPECT_NE(e.find("pattern"), std::string::npos) << e;
  e = error_of(std::string("{") + kModel +
               R"(, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated"}})");
  EXPECT_NE(e.find("does not compile"), std::string::npos) << e;
  e = error_of(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}})");
  EXPECT_NE(e.find("model.BPE"), std::string::npos) << e;
  EXPECT_NE(e.find("not in the vocabulary"), std::string::npos) << e;
  e = error_of(std::string("{") + kModel + R"(, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Sideways"}})");
  EXPECT_NE(e.find("Sideways"), std::string::npos) << e;
}

TEST(TokenizerErrors, MissingDirectory) {
  EXPECT_THROW(Tokenizer::from_directory("/nonexistent/tokenizer/dir"), Error);
}

TEST(Tokenizer, BatchMatchesSingle) {
  auto tok = Tokenizer::from_directory(std::string(VLLM_SOURCE_DIR) + "/tests/data/tokenizer/synthetic/bpe_bytelevel");
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i) texts.push_back("text number " + std::to_string(i) + " with café and 日本語 " + std::string(i % 7, ' '));
  auto batch = tok->encode_batch(texts);
  ASSERT_EQ(batch.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(batch[i], tok->encode(texts[i]));
}

}  // namespace
}  // namespace vllm
