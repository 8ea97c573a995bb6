// Each normalizer, pre-tokenizer and decoder against HF tokenizers' recorded outputs
// (tests/data/tokenizer/components.json, made by tools/make_tokenizer_fixtures.py).
#include <gtest/gtest.h>

#include "parity_util.h"
#include "text/tokenizer/decoders.h"
#include "text/tokenizer/normalizers.h"
#include "text/tokenizer/pre_tokenizers.h"

namespace vllm {
namespace {

using nlohmann::json;
using testing::ParityCounter;

TEST(TokenizerComponents, MatchHuggingFace) {
  json all = testing::read_json(testing::tokenizer_data_dir() / "components.json");
  ASSERT_GT(all.size(), 50u);
  ParityCounter normalizers{"components/normalizers"}, pre_tokenizers{"components/pre_tokenizers"},
      decoders{"components/decoders"};
  for (const json& entry : all) {
    if (entry.is_null()) continue;
    std::string kind = entry.at("kind");
    const json& config = entry.at("config");
    tokenizer_json::Source src{"components.json", kind};
    std::string label = config.dump().substr(0, 160);
    if (kind == "normalizer") {
      auto n = make_normalizer(config, src);
      for (const json& c : entry.at("cases")) {
        std::string text = c.at("input");
        n->normalize(text);
        normalizers.check(text, c.at("output").get<std::string>(), label + " on " + c.at("input").dump());
      }
    } else if (kind == "pre_tokenizer") {
      auto p = make_pre_tokenizer(config, src);
      for (const json& c : entry.at("cases")) {
        std::vector<PreToken> pieces{{c.at("input").get<std::string>(), true}};
        p->pre_tokenize(pieces);
        std::vector<std::string> words;
        for (const PreToken& w : pieces) words.push_back(w.text);
        pre_tokenizers.check(words, c.at("output").get<std::vector<std::string>>(), label + " on " + c.at("input").dump());
      }
    } else if (kind == "decoder") {
      auto d = make_decoder(config, src);
      for (const json& c : entry.at("cases"))
        decoders.check(d->decode(c.at("input").get<std::vector<std::string>>()), c.at("output").get<std::string>(),
                       label + " on " + c.at("input").dump());
    }
  }
}

}  // namespace
}  // namespace vllm
