// The real tokenizers of ../shared/data against transformers 5's AutoTokenizer, what vLLM runs
// on (issue 26): tests/data/tokenizer/transformers5/<name>.json (a broad string set recorded by
// tools/record_tokenizer_strings.py) and the "transformers" sections of real/<name>.json. Each
// case checks encode with and without special tokens, decode and decode(skip_special_tokens).
// Those are skipped when ../shared/data is absent; the small hand-made tokenizers below are not.
#include <gtest/gtest.h>

#include "core/error.h"
#include "parity_util.h"
#include "text/tokenizer/tokenizer.h"

namespace vllm {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

void check_cases(const std::string& label, const std::string& name, const json& cases) {
  auto tok = testing::load_real(name);
  ASSERT_TRUE(tok) << name;
  testing::ParityCounter counter{label};
  for (const json& c : cases) {
    std::string text = c.at("text");
    std::string quoted = json(text).dump();
    auto ids = c.at("ids").get<std::vector<int32_t>>();
    counter.check(tok->encode(text, true), ids, "ids of " + quoted);
    counter.check(tok->encode(text, false), c.at("ids_no_special").get<std::vector<int32_t>>(), "ids_no_special of " + quoted);
    counter.check(tok->decode(ids, false), c.at("decode").get<std::string>(), "decode of " + quoted);
    counter.check(tok->decode(ids, true), c.at("decode_skip").get<std::string>(), "decode(skip) of " + quoted);
  }
}

// A Llama 2 style tokenizer.json (Prepend + Replace normalizer, byte fallback) with a tiny
// vocabulary; the ids below are worked out by hand from it.
std::string llama_style_json() {
  const std::string u = "\xE2\x96\x81";  // ▁
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}, {u, 3}, {u + u, 4}, {"a", 5}, {u + "a", 6}};
  json file = {
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", {u + " " + u, u + " a"}}, {"unk_token", "<unk>"},
                 {"fuse_unk", true}, {"byte_fallback", true}}},
      {"normalizer", {{"type", "Sequence"}, {"normalizers", {{{"type", "Prepend"}, {"prepend", u}},
                                                             {{"type", "Replace"}, {"pattern", {{"String", " "}}},
                                                              {"content", u}}}}}},
      {"decoder", {{"type", "Sequence"}, {"decoders", {{{"type", "Replace"}, {"pattern", {{"String", u}}}, {"content", " "}},
                                                       {{"type", "ByteFallback"}}, {{"type", "Fuse"}},
                                                       {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
      {"added_tokens", {{{"id", 1}, {"content", "<s>"}, {"special", true}, {"normalized", false}}}}};
  return file.dump();
}

TEST(Transformers5Classes, LlamaTokenizerRebuildsTheSentencePiecePipeline) {
  auto as_written = Tokenizer::from_json_string(llama_style_json());
  auto llama = Tokenizer::from_json_string(llama_style_json(), {{"tokenizer_class", "LlamaTokenizerFast"}});
  using Ids = std::vector<int32_t>;
  // As written (HF tokenizers, transformers 4): a ▁ is prepended to the whole text.
  EXPECT_EQ(as_written->encode(" ", false), Ids({4}));
  EXPECT_EQ(as_written->encode(" a", false), Ids({4, 5}));
  // transformers 5 (legacy=False): Metaspace prepends only where the text does not already begin
  // with a space, and only at the start of the input (not after an added token).
  EXPECT_EQ(llama->encode(" ", false), Ids({3}));
  EXPECT_EQ(llama->encode(" a", false), Ids({6}));
  EXPECT_EQ(llama->encode("a", false), Ids({6}));
  EXPECT_EQ(llama->encode("<s>a", false), Ids({1, 5}));
  EXPECT_EQ(llama->decode(Ids({6, 6})), "a a");
  // legacy=True: prepend_scheme "always" (after added tokens too); add_prefix_space=False: never.
  auto legacy = Tokenizer::from_json_string(llama_style_json(), {{"tokenizer_class", "LlamaTokenizer"}, {"legacy", true}});
  EXPECT_EQ(legacy->encode("<s>a", false), Ids({1, 6}));
  auto no_prefix = Tokenizer::from_json_string(llama_style_json(),
                                               {{"tokenizer_class", "LlamaTokenizer"}, {"add_prefix_space", false}});
  EXPECT_EQ(no_prefix->encode("a", false), Ids({5}));
  EXPECT_EQ(no_prefix->decode(Ids({6})), " a");  // no Strip step without the prefix space
}

// TokenizersBackend.update_post_processor: add_bos_token / add_eos_token in the config replace the
// file's post-processor for every class, not only the Llama family.
TEST(Transformers5Classes, AddBosTokenAppliesToEveryClass) {
  json config = {{"tokenizer_class", "PreTrainedTokenizerFast"}, {"bos_token", "<s>"}, {"eos_token", "</s>"},
                 {"add_bos_token", true}};
  using Ids = std::vector<int32_t>;
  EXPECT_EQ(Tokenizer::from_json_string(llama_style_json(), config)->encode("a", true), Ids({1, 6}));
  config["add_bos_token"] = false;
  config["add_eos_token"] = true;
  EXPECT_EQ(Tokenizer::from_json_string(llama_style_json(), config)->encode("a", true), Ids({6, 2}));
}

TEST(Transformers5Classes, Gpt2TokenizerUsesGpt2RegexOthersKeepByteLevelFiles) {
  json vocab = {{"1", 0}, {"2", 1}, {"12", 2}, {"\xC4\xA0", 3}, {"\xC4\xA0" "1", 4}, {".", 5}};
  json file = {{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"1 2", "\xC4\xA0 1"}}}},
               {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", {{{"type", "Digits"}, {"individual_digits", true}},
                                                                          {{"type", "ByteLevel"}, {"add_prefix_space", false}}}}}},
               {"decoder", {{"type", "ByteLevel"}}}};
  json config = {{"tokenizer_class", "GPT2Tokenizer"}, {"clean_up_tokenization_spaces", true}};
  auto as_written = Tokenizer::from_json_string(file.dump());
  auto gpt2 = Tokenizer::from_json_string(file.dump(), config);
  using Ids = std::vector<int32_t>;
  EXPECT_EQ(as_written->encode("12", false), Ids({0, 1}));  // the file's Digits split
  EXPECT_EQ(as_written->encode(" 1", false), Ids({3, 0}));
  EXPECT_EQ(gpt2->encode("12", false), Ids({2}));  // GPT-2's regex keeps digit runs together
  EXPECT_EQ(gpt2->encode(" 1", false), Ids({4}));
  // A byte-level file labelled LlamaTokenizerFast (DeepSeek) keeps its pipeline: spaces survive.
  json llama_label = {{"tokenizer_class", "LlamaTokenizerFast"}};
  EXPECT_EQ(Tokenizer::from_json_string(file.dump(), llama_label)->encode("12", false), Ids({0, 1}));
  EXPECT_EQ(Tokenizer::from_json_string(file.dump(), llama_label)->decode(Ids({3, 0})), " 1");
  // clean_up_tokenization_spaces is ignored for every BPE model, whatever the class.
  EXPECT_EQ(gpt2->decode(Ids({3, 5})), " .");
  json forced = config;
  forced["clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output"] = true;
  EXPECT_EQ(Tokenizer::from_json_string(file.dump(), forced)->decode(Ids({3, 5})), ".");
}

// A malformed file under a rebuilding class still gives the loader's error naming the file.
TEST(Transformers5Classes, MalformedFilesGiveErrors) {
  json config = {{"tokenizer_class", "LlamaTokenizer"}};
  for (const char* text : {R"({"model": {"type": "BPE", "vocab": "oops", "merges": []}})",
                           R"({"model": {"type": 7, "vocab": {"a": 0}, "merges": []}})",
                           R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}})"}) {
    try {
      Tokenizer::from_json_string(text, config, "/models/x/tokenizer.json");
      ADD_FAILURE() << "no error for " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("/models/x/tokenizer.json"), std::string::npos) << e.what();
    }
  }
}

TEST(Transformers5Tokenizers, MatchRecordedStringSet) {
  SKIP_WITHOUT_SHARED_DATA();
  ASSERT_FALSE(testing::real_tokenizers_dir().empty()) << "cannot extract tokenizers.tar.xz";
  int files = 0;
  for (const auto& entry : fs::directory_iterator(testing::tokenizer_data_dir() / "transformers5")) {
    std::string name = entry.path().stem();
    json rec = testing::read_json(entry.path());
    check_cases("transformers5/" + name + " (" + rec.at("class").get<std::string>() + ")", name, rec.at("cases"));
    ++files;
  }
  EXPECT_EQ(files, 14);
}

TEST(Transformers5Tokenizers, MatchRecordedRealSections) {
  SKIP_WITHOUT_SHARED_DATA();
  ASSERT_FALSE(testing::real_tokenizers_dir().empty()) << "cannot extract tokenizers.tar.xz";
  for (const auto& entry : fs::directory_iterator(testing::tokenizer_data_dir() / "real")) {
    std::string name = entry.path().stem();
    json rec = testing::read_json(entry.path());
    if (!rec.contains("transformers") || rec.at("transformers").is_null()) continue;
    check_cases("real/" + name + " (transformers ids, decode)", name, rec.at("transformers").at("cases"));
  }
}

// Streaming stays consistent with decode: each case's ids (without special tokens) streamed one
// by one through vLLM's incremental detokenizer concatenate to decode(ids) of the same ids.
// Special tokens are kept: with skip_special_tokens vLLM's streaming path drops transformers'
// all_special_ids (not every added token flagged special, as decode does; BERT's [UNK],
// RoBERTa's <s> without a tokenizer_config.json) and never applies
// clean_up_tokenization_spaces (T5), so there the two legitimately differ.
TEST(Transformers5Tokenizers, StreamingMatchesDecode) {
  SKIP_WITHOUT_SHARED_DATA();
  ASSERT_FALSE(testing::real_tokenizers_dir().empty()) << "cannot extract tokenizers.tar.xz";
  for (const auto& entry : fs::directory_iterator(testing::tokenizer_data_dir() / "transformers5")) {
    std::string name = entry.path().stem();
    auto tok = testing::load_real(name);
    testing::ParityCounter counter{"transformers5/" + name + " (stream = decode)"};
    json rec = testing::read_json(entry.path());
    for (const json& c : rec.at("cases")) {
      auto ids = c.at("ids_no_special").get<std::vector<int32_t>>();
      IncrementalDetokenizer detok(tok, {}, false, true);
      std::string streamed;
      for (int32_t id : ids) streamed += detok.add_token(id);
      counter.check(streamed, tok->decode(ids, false), "stream of " + json(c.at("text")).dump());
    }
  }
}

}  // namespace
}  // namespace vllm
