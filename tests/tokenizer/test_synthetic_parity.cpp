// Tokenizers built with HF tokenizers by tools/make_tokenizer_fixtures.py (one per component
// combination, plus the fallback formats), against their recorded encodings and decodings.
#include <gtest/gtest.h>

#include "parity_util.h"
#include "text/tokenizer/tokenizer.h"

namespace vllm {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::ParityCounter;

// Encode/decode records: {"text", "ids", "ids_no_special", "decode", "decode_skip"}.
void check_cases(const Tokenizer& tok, const json& cases, ParityCounter& counter, bool check_decode = true,
                 const char* decode_key = "ids") {
  for (const json& c : cases) {
    std::string text = c.at("text");
    std::string label = "text " + c.at("text").dump();
    if (c.contains("ids")) counter.check(tok.encode(text, true), c.at("ids").get<std::vector<int32_t>>(), label + " (special)");
    if (c.contains("ids_no_special"))
      counter.check(tok.encode(text, false), c.at("ids_no_special").get<std::vector<int32_t>>(), label + " (no special)");
    if (!check_decode) continue;
    auto ids = c.at(decode_key).get<std::vector<int32_t>>();
    if (c.contains("decode"))
      counter.check(tok.decode(ids, false), c.at("decode").get<std::string>(), "decode of " + label);
    if (c.contains("decode_skip"))
      counter.check(tok.decode(ids, true), c.at("decode_skip").get<std::string>(), "decode(skip) of " + label);
  }
}

void check_stream(const std::shared_ptr<Tokenizer>& tok, const json& streams, ParityCounter& counter) {
  for (const json& s : streams) {
    auto prompt = s.at("prompt_ids").get<std::vector<int32_t>>();
    IncrementalDetokenizer detok(tok, prompt, s.at("skip_special_tokens").get<bool>(), true);
    std::vector<std::string> pieces;
    for (int32_t id : s.at("ids").get<std::vector<int32_t>>()) pieces.push_back(detok.add_token(id));
    counter.check(pieces, s.at("pieces").get<std::vector<std::string>>(), "stream " + s.at("ids").dump());
  }
}

class SyntheticParity : public ::testing::TestWithParam<std::string> {};

TEST_P(SyntheticParity, MatchesHuggingFace) {
  fs::path dir = testing::tokenizer_data_dir() / "synthetic" / GetParam();
  json expected = testing::read_json(dir / "expected.json");
  auto tok = Tokenizer::from_directory(dir);
  ParityCounter counter{"synthetic/" + GetParam()};
  if (expected.contains("cases")) {  // HF tokenizers on tokenizer.json
    check_cases(*tok, expected.at("cases"), counter);
    for (const json& d : expected.at("decodes")) {
      auto ids = d.at("ids").get<std::vector<int32_t>>();
      // The recorded "decode" used Python's default, skip_special_tokens=True.
      counter.check(tok->decode(ids, true), d.at("decode").get<std::string>(), "decode " + d.at("ids").dump());
      counter.check(tok->decode(ids, true), d.at("decode_skip").get<std::string>(), "decode(skip) " + d.at("ids").dump());
    }
    counter.check(tok->vocab_size(), expected.at("vocab_size").get<size_t>(), "vocab_size");
  } else if (expected.contains("transformers") && !expected.at("transformers").is_null()) {  // fallback formats
    check_cases(*tok, expected.at("transformers").at("cases"), counter);
  }
  if (expected.contains("sentencepiece")) check_cases(*tok, expected.at("sentencepiece"), counter, true, "ids_no_special");
  if (expected.contains("transformers") && !expected.at("transformers").is_null())
    check_stream(tok, expected.at("transformers").at("stream"), counter);
}

std::vector<std::string> synthetic_names() {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(testing::tokenizer_data_dir() / "synthetic")) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, SyntheticParity, ::testing::ValuesIn(synthetic_names()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace vllm
