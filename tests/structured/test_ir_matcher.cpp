// The grammar IR and the byte-level automaton; token-level matching over a toy vocabulary.
#include <gtest/gtest.h>

#include "core/error.h"
#include "structured_test_util.h"

namespace vllm::structured {
namespace {

using testing::ByteRecognizer;

Grammar single_rule(Expr body) {
  Grammar g;
  g.root = g.add_rule("root", std::move(body));
  return g;
}

TEST(GrammarIr, LiteralsAlternativesAndRepetition) {
  // root ::= "ab" ("c" | "de")* "f"{1,2}
  ByteRecognizer rec(single_rule(Expr::seq({Expr::lit("ab"), Expr::star(Expr::alt({Expr::lit("c"), Expr::lit("de")})),
                                            Expr::repeat(Expr::lit("f"), 1, 2)})));
  EXPECT_TRUE(rec.matches("abf"));
  EXPECT_TRUE(rec.matches("abcdecff"));
  EXPECT_FALSE(rec.matches("abfff"));
  EXPECT_FALSE(rec.matches("ab"));
  EXPECT_TRUE(rec.viable("ab"));
  EXPECT_TRUE(rec.viable("abd"));
  EXPECT_FALSE(rec.viable("abdf"));
  EXPECT_FALSE(rec.viable("x"));
}

TEST(GrammarIr, BoundedRepetitionCounts) {
  ByteRecognizer rec(single_rule(Expr::repeat(Expr::char_class({{'0', '9'}}), 2, 4)));
  EXPECT_FALSE(rec.matches("1"));
  EXPECT_TRUE(rec.matches("12"));
  EXPECT_TRUE(rec.matches("1234"));
  EXPECT_FALSE(rec.viable("12345"));
}

TEST(GrammarIr, Utf8CharacterClasses) {
  // Greek lower case, and anything but a quote or backslash.
  ByteRecognizer greek(single_rule(Expr::plus(Expr::char_class({{0x3B1, 0x3C9}}))));
  EXPECT_TRUE(greek.matches("\xCE\xB1\xCF\x89"));  // αω
  EXPECT_TRUE(greek.viable("\xCE"));               // half of α
  EXPECT_FALSE(greek.viable("\xCE\x91"));          // Α (capital) is outside
  EXPECT_FALSE(greek.matches("a"));
  ByteRecognizer other(single_rule(Expr::star(Expr::char_class({{'"', '"'}, {'\\', '\\'}}, true))));
  EXPECT_TRUE(other.matches("h\xC3\xA9llo \xF0\x9F\x98\x80"));  // héllo 😀
  EXPECT_FALSE(other.viable("a\"b"));
  EXPECT_FALSE(other.viable("\xC0\x80"));        // overlong encoding
  EXPECT_FALSE(other.viable("\xED\xA0\x80"));    // a surrogate
  EXPECT_FALSE(other.viable("\xF4\x90\x80\x80")); // past U+10FFFF
}

TEST(GrammarIr, Utf8SequencesCoverRanges) {
  auto seqs = utf8_sequences(0, 0x10FFFF);
  // Every sequence is a product of byte ranges; count the code points they cover.
  uint64_t total = 0;
  for (const auto& s : seqs) {
    uint64_t n = 1;
    for (auto [a, b] : s) n *= (b - a + 1);
    total += n;
  }
  EXPECT_EQ(total, 0x110000u - 0x800u);  // all but the surrogates
}

TEST(GrammarIr, RecursionBalancedParentheses) {
  // root ::= "(" root ")" root | ""
  Grammar g;
  int32_t root = g.rule_id("root");
  g.define(root, Expr::alt({Expr::seq({Expr::lit("("), Expr::ref(root), Expr::lit(")"), Expr::ref(root)}), Expr::empty()}));
  g.root = root;
  ByteRecognizer rec(g);
  EXPECT_TRUE(rec.matches(""));
  EXPECT_TRUE(rec.matches("(()())()"));
  EXPECT_TRUE(rec.matches("((((((((((()))))))))))"));
  EXPECT_FALSE(rec.matches("(()"));
  EXPECT_TRUE(rec.viable("(()"));
  EXPECT_FALSE(rec.viable("())"));
}

TEST(GrammarIr, LeftRecursionIsRefusedWithTheRuleName) {
  Grammar g;
  int32_t expr = g.rule_id("expr");
  g.define(expr, Expr::alt({Expr::seq({Expr::ref(expr), Expr::lit("+"), Expr::lit("x")}), Expr::lit("x")}));
  g.root = expr;
  try {
    lower(g);
    FAIL() << "left recursion accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
    EXPECT_NE(std::string(e.what()).find("'expr'"), std::string::npos) << e.what();
  }
}

TEST(GrammarIr, RepeatedNullableBodyTerminates) {
  // ("a"?)* loops on the empty string unless the automaton cuts the cycle.
  ByteRecognizer rec(single_rule(Expr::star(Expr::opt(Expr::lit("a")))));
  EXPECT_TRUE(rec.matches(""));
  EXPECT_TRUE(rec.matches("aaa"));
  EXPECT_FALSE(rec.viable("b"));
}

TEST(GrammarIr, UndefinedRuleIsInvalid) {
  Grammar g;
  g.root = g.add_rule("root", Expr::ref(g.rule_id("missing")));
  EXPECT_THROW(lower(g), Error);
}

// --- token level ----------------------------------------------------------------------------

// root ::= "[" item ("," item)* "]" ; item ::= [α-ω]+ | [0-9]+
Grammar list_grammar() {
  Grammar g;
  int32_t item = g.rule_id("item");
  g.define(item, Expr::alt({Expr::plus(Expr::char_class({{0x3B1, 0x3C9}})), Expr::plus(Expr::char_class({{'0', '9'}}))}));
  g.root = g.add_rule("root", Expr::seq({Expr::lit("["), Expr::ref(item),
                                         Expr::star(Expr::seq({Expr::lit(","), Expr::ref(item)})), Expr::lit("]")}));
  return g;
}

std::shared_ptr<const TokenVocabulary> toy_vocab() {
  return TokenVocabulary::from_tokens(
      {"[", "]", ",", "1", "23", "[1", "1,", "2]", ",2]", "\xCE", "\xB1", "\xCE\xB1", "\xCE\xB1\xCE", "\xB2,",
       "a", "]]", "", "</s>", "[\xCE\xB1]"},
      {17});
}

TEST(GrammarMatcher, MasksMatchBruteForceAlongAnOutput) {
  auto vocab = toy_vocab();
  Grammar g = list_grammar();
  ByteRecognizer rec(g);
  GrammarMatcher m(compile_grammar(g, vocab));
  // [ 1, 23 , α(split) β , 2]  then </s>
  std::vector<int32_t> path = {5, 2, 4, 2, 9, 10, 12, 13, 7};
  std::string output;
  testing::expect_mask_exact(m, *vocab, rec, output);
  for (int32_t id : path) {
    ASSERT_TRUE(m.accept_token(id)) << "token " << id << " after " << output;
    output += vocab->bytes(id);
    testing::expect_mask_exact(m, *vocab, rec, output);
  }
  EXPECT_EQ(output, "[1,23,\xCE\xB1\xCE\xB1\xCE\xB2,2]");
  EXPECT_TRUE(m.can_terminate());
  EXPECT_FALSE(m.is_terminated());
  EXPECT_TRUE(m.accept_token(17));
  EXPECT_TRUE(m.is_terminated());
  EXPECT_FALSE(m.accept_token(1));
  EXPECT_EQ(m.num_accepted_tokens(), 10);
}

TEST(GrammarMatcher, RejectsAndKeepsState) {
  auto vocab = toy_vocab();
  GrammarMatcher m(compile_grammar(list_grammar(), vocab));
  EXPECT_FALSE(m.accept_token(17));  // stop before the output is complete
  EXPECT_FALSE(m.accept_token(1));   // "]" first
  EXPECT_FALSE(m.accept_token(16));  // an empty (excluded) token
  EXPECT_FALSE(m.accept_token(-1));
  EXPECT_FALSE(m.accept_token(1000));
  EXPECT_TRUE(m.accept_token(0));
  EXPECT_FALSE(m.accept_token(14));  // "a"
  EXPECT_FALSE(m.accept_token(10));  // a continuation byte with no lead byte
  EXPECT_TRUE(m.accept_token(9));    // the lead byte of α ...
  EXPECT_FALSE(m.accept_token(3));   // ... cannot be followed by "1"
  EXPECT_TRUE(m.accept_token(10));
  EXPECT_EQ(m.num_accepted_tokens(), 3);
}

TEST(GrammarMatcher, RollbackRestoresEarlierStates) {
  auto vocab = toy_vocab();
  Grammar g = list_grammar();
  ByteRecognizer rec(g);
  GrammarMatcher m(compile_grammar(g, vocab));
  ASSERT_TRUE(m.accept_token(5));   // [1
  ASSERT_TRUE(m.accept_token(7));   // 2]
  ASSERT_TRUE(m.accept_token(17));  // </s>
  EXPECT_TRUE(m.is_terminated());
  m.rollback(2);
  EXPECT_FALSE(m.is_terminated());
  EXPECT_FALSE(m.can_terminate());
  EXPECT_EQ(m.num_accepted_tokens(), 1);
  testing::expect_mask_exact(m, *vocab, rec, "[1");
  ASSERT_TRUE(m.accept_token(6));  // 1,
  testing::expect_mask_exact(m, *vocab, rec, "[11,");
  EXPECT_THROW(m.rollback(3), Error);
  m.rollback(2);
  testing::expect_mask_exact(m, *vocab, rec, "");
}

TEST(GrammarMatcher, StopTokenOnlyWhereTheGrammarMayEnd) {
  auto vocab = toy_vocab();
  Grammar g = list_grammar();
  GrammarMatcher m(compile_grammar(g, vocab));
  auto mask = testing::mask_of(m, vocab->size());
  EXPECT_FALSE(testing::bit(mask, 17));
  ASSERT_TRUE(m.accept_token(18));  // "[α]" in one token
  mask = testing::mask_of(m, vocab->size());
  EXPECT_TRUE(testing::bit(mask, 17));
  for (int32_t id = 0; id < vocab->size(); ++id) {
    if (id != 17) {
      EXPECT_FALSE(testing::bit(mask, id)) << id;
    }
  }
}

TEST(GrammarMatcher, RecursiveGrammarOverTokens) {
  Grammar g;
  int32_t root = g.rule_id("root");
  g.define(root, Expr::alt({Expr::seq({Expr::lit("("), Expr::ref(root), Expr::lit(")"), Expr::ref(root)}), Expr::empty()}));
  g.root = root;
  auto vocab = TokenVocabulary::from_tokens({"(", ")", "()", "((", "))", ")(", "(()", "x", "<eos>"}, {8});
  ByteRecognizer rec(g);
  GrammarMatcher m(compile_grammar(g, vocab));
  std::string output;
  for (int32_t id : {3, 6, 4, 5, 1, 2}) {
    testing::expect_mask_exact(m, *vocab, rec, output);
    ASSERT_TRUE(m.accept_token(id)) << output;
    output += vocab->bytes(id);
  }
  testing::expect_mask_exact(m, *vocab, rec, output);
  EXPECT_TRUE(m.can_terminate());
  EXPECT_FALSE(m.accept_token(1)) << output;
  EXPECT_TRUE(m.accept_token(8));
  EXPECT_TRUE(m.is_terminated());
}

}  // namespace
}  // namespace vllm::structured
