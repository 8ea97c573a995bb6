// Token masks over real vocabularies (../shared/data/tokenizers.tar.xz): the bytes of each id,
// and masks checked by brute force over every token. Skipped when ../shared/data is absent.
#include <gtest/gtest.h>

#include <map>

#include "../tokenizer/parity_util.h"
#include "structured/frontends.h"
#include "structured/vocabulary.h"
#include "structured_test_util.h"
#include "text/tokenizer/tokenizer.h"

namespace vllm::structured {
namespace {

std::shared_ptr<Tokenizer> load(const std::string& name) {
  static std::map<std::string, std::shared_ptr<Tokenizer>> cache;
  auto& slot = cache[name];
  if (!slot) slot = Tokenizer::from_directory(vllm::testing::real_tokenizers_dir() / name);
  return slot;
}

// root ::= "{\"n\": " [0-9]+ (", \"s\": \"" [a-zé ]* "\"")? "}\n"
Grammar small_grammar() {
  Grammar g;
  g.root = g.add_rule(
      "root", Expr::seq({Expr::lit("{\"n\": "), Expr::plus(Expr::char_class({{'0', '9'}})),
                         Expr::opt(Expr::seq({Expr::lit(", \"s\": \""),
                                              Expr::star(Expr::char_class({{'a', 'z'}, {' ', ' '}, {0xE9, 0xE9}})),
                                              Expr::lit("\"")})),
                         Expr::lit("}\n")}));
  return g;
}

void check_masks_along(const std::string& name, const std::string& text, const Grammar& g = small_grammar()) {
  auto tok = load(name);
  int32_t eos = *tok->eos_token_id();
  auto vocab = TokenVocabulary::from_tokenizer(*tok, {eos}, static_cast<int64_t>(tok->vocab_size()) + 40);
  EXPECT_EQ(vocab->size(), static_cast<int64_t>(tok->vocab_size()) + 40);
  testing::ByteRecognizer rec(g);
  ASSERT_TRUE(rec.matches(text));
  GrammarMatcher m(compile_grammar(g, vocab));
  // The longest allowed token that continues `text`, at each step (SentencePiece's encoder
  // would start with a space the text does not have).
  std::string output;
  while (output.size() < text.size()) {
    testing::expect_mask_exact(m, *vocab, rec, output);
    auto mask = testing::mask_of(m, vocab->size());
    int32_t best = -1;
    for (int32_t id = 0; id < vocab->size(); ++id) {
      const std::string& b = vocab->bytes(id);
      if (!testing::bit(mask, id) || b.empty() || text.compare(output.size(), b.size(), b) != 0) continue;
      if (best < 0 || b.size() > vocab->bytes(best).size()) best = id;
    }
    ASSERT_GE(best, 0) << name << ": no token continues " << output;
    ASSERT_TRUE(m.accept_token(best));
    output += vocab->bytes(best);
  }
  EXPECT_EQ(output, text);
  testing::expect_mask_exact(m, *vocab, rec, output);
  EXPECT_TRUE(m.accept_token(eos));
}

TEST(RealVocabulary, TokenBytes) {
  SKIP_WITHOUT_SHARED_DATA();
  auto gpt2 = load("gpt2");
  auto v = TokenVocabulary::from_tokenizer(*gpt2, {*gpt2->eos_token_id()}, 0);
  EXPECT_EQ(v->bytes(*gpt2->token_to_id("\xC4\xA0the")), " the");
  EXPECT_EQ(v->bytes(*gpt2->token_to_id("\xC4\x8A")), "\n");
  auto llama = load("llama2");
  auto l = TokenVocabulary::from_tokenizer(*llama, {*llama->eos_token_id()}, 0);
  EXPECT_EQ(l->bytes(*llama->token_to_id("<0x0A>")), "\n");
  EXPECT_EQ(l->bytes(*llama->token_to_id("<0xE9>")), "\xE9");
  EXPECT_EQ(l->bytes(*llama->token_to_id("\xE2\x96\x81the")), " the");
  EXPECT_EQ(l->bytes(*llama->bos_token_id()), "");  // special: never produced
}

TEST(RealVocabulary, Gpt2MasksMatchBruteForce) {
  SKIP_WITHOUT_SHARED_DATA();
  check_masks_along("gpt2", "{\"n\": 1234, \"s\": \"caf\xC3\xA9 au lait\"}\n");
}

TEST(RealVocabulary, Llama2MasksMatchBruteForce) {
  SKIP_WITHOUT_SHARED_DATA();
  check_masks_along("llama2", "{\"n\": 56, \"s\": \"\xC3\xA9t\xC3\xA9 fini\"}\n");
}

// A JSON Schema grammar: nested rules, strings, numbers, whitespace (the masks come from
// several frames of context and from the suffixes past them).
TEST(RealVocabulary, JsonSchemaMasksMatchBruteForce) {
  SKIP_WITHOUT_SHARED_DATA();
  Grammar g = grammar_from_json_schema(
      R"({"type":"object","properties":{"name":{"type":"string"},"n":{"type":"integer","minimum":0},
          "tags":{"type":"array","items":{"enum":["a b","c\"d"]}},"more":{"type":"object"}},"required":["name"]})",
      {});
  const std::string text = "{\"name\": \"Zo\u00e9 \\\"x\\\"\", \"n\": 120,\n \"tags\": [\"a b\", \"c\\\"d\"], \"more\": {\"k\": [1.5, null, {}]}}";
  check_masks_along("gpt2", text, g);
  check_masks_along("llama2", text, g);
}

TEST(RealVocabulary, IdsPastTheTokenizerAreNeverAllowed) {
  SKIP_WITHOUT_SHARED_DATA();
  auto tok = load("gpt2");
  int64_t n = static_cast<int64_t>(tok->vocab_size());
  auto vocab = TokenVocabulary::from_tokenizer(*tok, {*tok->eos_token_id()}, n + 100);
  Grammar g;
  g.root = g.add_rule("root", Expr::star(Expr::char_class({{0, 0x10FFFF}})));
  GrammarMatcher m(compile_grammar(g, vocab));
  auto mask = testing::mask_of(m, vocab->size());
  for (int64_t id = n; id < n + 100; ++id) EXPECT_FALSE(testing::bit(mask, static_cast<int32_t>(id)));
  EXPECT_TRUE(testing::bit(mask, *tok->eos_token_id()));
  EXPECT_TRUE(testing::bit(mask, *tok->token_to_id("hello")));
  EXPECT_FALSE(m.accept_token(static_cast<int32_t>(n + 5)));
}

}  // namespace
}  // namespace vllm::structured
