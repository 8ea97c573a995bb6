// Sentence-pair encoding (HF `tokenizer(text, text_pair=...)`): the post-processors' pair layouts
// and token type ids, on synthetic pipelines and on the real BERT, MiniLM and RoBERTa tokenizers
// (skipped without ../shared/data). No pair encodings are recorded in ../shared/data, so the
// expected ids are the documented layouts over each tokenizer's own single-sequence ids.
#include <gtest/gtest.h>

#include "parity_util.h"
#include "text/tokenizer/tokenizer.h"

namespace vllm {
namespace {

using nlohmann::json;
using Ids = std::vector<int32_t>;

std::shared_ptr<Tokenizer> word_level(const json& post_processor) {
  json vocab = {{"[UNK]", 0}, {"[CLS]", 1}, {"[SEP]", 2}, {"a", 3}, {"b", 4}, {"c", 5}};
  json tokenizer = {{"version", "1.0"},
                    {"added_tokens", json::array()},
                    {"normalizer", nullptr},
                    {"pre_tokenizer", {{"type", "WhitespaceSplit"}}},
                    {"post_processor", post_processor},
                    {"decoder", nullptr},
                    {"model", {{"type", "WordLevel"}, {"vocab", vocab}, {"unk_token", "[UNK]"}}}};
  return Tokenizer::from_json_string(tokenizer.dump());
}

json special(const char* name, int type_id) { return {{"SpecialToken", {{"id", name}, {"type_id", type_id}}}}; }
json sequence(const char* name, int type_id) { return {{"Sequence", {{"id", name}, {"type_id", type_id}}}}; }
json specials() {
  return {{"[CLS]", {{"id", "[CLS]"}, {"ids", {1}}, {"tokens", {"[CLS]"}}}},
          {"[SEP]", {{"id", "[SEP]"}, {"ids", {2}}, {"tokens", {"[SEP]"}}}}};
}

TEST(PairEncoding, TemplateProcessingPairTemplate) {
  auto tok = word_level({{"type", "TemplateProcessing"},
                         {"single", {special("[CLS]", 0), sequence("A", 0), special("[SEP]", 0)}},
                         {"pair", {special("[CLS]", 0), sequence("A", 0), special("[SEP]", 0), sequence("B", 1),
                                   special("[SEP]", 1)}},
                         {"special_tokens", specials()}});
  auto pair = tok->encode_pair("a b", "c");
  EXPECT_EQ(pair.ids, (Ids{1, 3, 4, 2, 5, 2}));
  EXPECT_EQ(pair.type_ids, (Ids{0, 0, 0, 0, 1, 1}));
  EXPECT_EQ(tok->encode("a b"), (Ids{1, 3, 4, 2}));  // single sequences unchanged
  auto plain = tok->encode_pair("a b", "c", /*add_special_tokens=*/false);
  EXPECT_EQ(plain.ids, (Ids{3, 4, 5}));
  EXPECT_EQ(plain.type_ids, (Ids{0, 0, 1}));
}

TEST(PairEncoding, TemplateWithoutPairWrapsEachSequence) {
  auto tok = word_level({{"type", "TemplateProcessing"},
                         {"single", {special("[CLS]", 0), sequence("A", 0)}},
                         {"special_tokens", specials()}});
  auto pair = tok->encode_pair("a", "b c");
  EXPECT_EQ(pair.ids, (Ids{1, 3, 1, 4, 5}));
  EXPECT_EQ(pair.type_ids, (Ids{0, 0, 1, 1, 1}));
}

TEST(PairEncoding, BertAndRobertaProcessing) {
  auto bert = word_level({{"type", "BertProcessing"}, {"cls", {"[CLS]", 1}}, {"sep", {"[SEP]", 2}}});
  auto pair = bert->encode_pair("a", "b");
  EXPECT_EQ(pair.ids, (Ids{1, 3, 2, 4, 2}));
  EXPECT_EQ(pair.type_ids, (Ids{0, 0, 0, 1, 1}));
  auto roberta = word_level({{"type", "RobertaProcessing"}, {"cls", {"[CLS]", 1}}, {"sep", {"[SEP]", 2}}});
  pair = roberta->encode_pair("a", "b");
  EXPECT_EQ(pair.ids, (Ids{1, 3, 2, 2, 4, 2}));
  EXPECT_EQ(pair.type_ids, (Ids{0, 0, 0, 0, 0, 0}));
}

TEST(PairEncoding, SequenceUsesTheProcessorThatAddsTokens) {
  auto tok = word_level({{"type", "Sequence"},
                         {"processors", {{{"type", "ByteLevel"}, {"trim_offsets", false}},
                                         {{"type", "BertProcessing"}, {"cls", {"[CLS]", 1}}, {"sep", {"[SEP]", 2}}}}}});
  auto pair = tok->encode_pair("a", "b");
  EXPECT_EQ(pair.ids, (Ids{1, 3, 2, 4, 2}));
  EXPECT_EQ(pair.type_ids, (Ids{0, 0, 0, 1, 1}));
  auto none = word_level(nullptr);
  pair = none->encode_pair("a", "b");
  EXPECT_EQ(pair.ids, (Ids{3, 4}));
  EXPECT_EQ(pair.type_ids, (Ids{0, 1}));
}

// [CLS] A [SEP] B [SEP] with the single-sequence ids of each text (bert-base-uncased: [CLS] 101,
// [SEP] 102; "hello world" 7592 2088, "the cat" 1996 4937).
TEST(PairEncoding, RealBertAndMiniLM) {
  SKIP_WITHOUT_SHARED_DATA();
  ASSERT_FALSE(testing::real_tokenizers_dir().empty());
  for (const char* name : {"bert-base-uncased", "all-MiniLM-L6-v2"}) {
    auto tok = Tokenizer::from_directory(testing::real_tokenizers_dir() / name);
    auto pair = tok->encode_pair("Hello world", "The cat");
    EXPECT_EQ(pair.ids, (Ids{101, 7592, 2088, 102, 1996, 4937, 102})) << name;
    EXPECT_EQ(pair.type_ids, (Ids{0, 0, 0, 0, 1, 1, 1})) << name;
  }
}

// RoBERTa: <s> A </s></s> B </s>, all type ids 0.
TEST(PairEncoding, RealRoberta) {
  SKIP_WITHOUT_SHARED_DATA();
  ASSERT_FALSE(testing::real_tokenizers_dir().empty());
  auto tok = Tokenizer::from_directory(testing::real_tokenizers_dir() / "roberta-base");
  Ids a = tok->encode("Hello world", false), b = tok->encode("The cat", false);
  Ids expected = {0};
  expected.insert(expected.end(), a.begin(), a.end());
  expected.insert(expected.end(), {2, 2});
  expected.insert(expected.end(), b.begin(), b.end());
  expected.push_back(2);
  auto pair = tok->encode_pair("Hello world", "The cat");
  EXPECT_EQ(pair.ids, expected);
  EXPECT_EQ(pair.type_ids, Ids(expected.size(), 0));
}

}  // namespace
}  // namespace vllm
