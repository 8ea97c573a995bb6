// GrammarCompiler: every spec kind, the cache by key() (thread-safe, one pointer per spec), and
// choice.
#include <gtest/gtest.h>

#include <thread>

#include "core/error.h"
#include "structured/frontends.h"
#include "structured_test_util.h"

namespace vllm::structured {
namespace {

std::shared_ptr<const TokenVocabulary> vocab() {
  return TokenVocabulary::from_tokens({"yes", "no", "y", "es", "n", "o", "maybe", "{", "}", "<eos>", "\"", "1"}, {9});
}

TEST(Choice, OnlyTheAlternatives) {
  auto v = vocab();
  Grammar g = grammar_from_choices({"yes", "no", "n/a"});
  testing::ByteRecognizer rec(g);
  EXPECT_TRUE(rec.matches("n/a"));
  EXPECT_FALSE(rec.matches("ye"));
  GrammarCompiler compiler(v);
  GrammarMatcher m(compiler.compile(StructuredOutputSpec::choice({"yes", "no", "n/a"})));
  testing::expect_mask_exact(m, *v, rec, "");
  EXPECT_FALSE(m.accept_token(6));
  ASSERT_TRUE(m.accept_token(2));
  testing::expect_mask_exact(m, *v, rec, "y");
  ASSERT_TRUE(m.accept_token(3));
  EXPECT_TRUE(m.can_terminate());
  EXPECT_TRUE(m.accept_token(9));
  EXPECT_THROW(grammar_from_choices({}), Error);
}

TEST(GrammarCompiler, CachesBySpecKey) {
  GrammarCompiler compiler(vocab());
  auto a = compiler.compile(StructuredOutputSpec::choice({"yes", "no"}));
  EXPECT_EQ(a.get(), compiler.compile(StructuredOutputSpec::choice({"yes", "no"})).get());
  EXPECT_NE(a.get(), compiler.compile(StructuredOutputSpec::choice({"no", "yes"})).get());
  auto obj = compiler.compile(StructuredOutputSpec::json_object());
  auto compact_spec = StructuredOutputSpec::json_object();
  compact_spec.any_whitespace = false;
  EXPECT_NE(obj.get(), compiler.compile(compact_spec).get());
  EXPECT_EQ(obj.get(), compiler.compile(StructuredOutputSpec::json_object()).get());
  // regex "yes" and choice ["yes"] differ in kind, so in key.
  EXPECT_NE(StructuredOutputSpec::regex("yes").key(), StructuredOutputSpec::choice({"yes"}).key());
  EXPECT_NE(StructuredOutputSpec::regex("yes").key(), StructuredOutputSpec::grammar("yes").key());
}

TEST(GrammarCompiler, ConcurrentCompilesShareOnePointer) {
  GrammarCompiler compiler(vocab());
  std::vector<const CompiledGrammar*> seen(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i] { seen[i] = compiler.compile(StructuredOutputSpec::regex("(yes|no)+")).get(); });
  for (auto& t : threads) t.join();
  for (auto* p : seen) EXPECT_EQ(p, seen[0]);
}

TEST(GrammarCompiler, EveryKindCompilesAndErrorsPropagate) {
  GrammarCompiler compiler(vocab());
  EXPECT_NO_THROW(compiler.compile(StructuredOutputSpec::json_schema(R"({"type":"integer"})")));
  EXPECT_NO_THROW(compiler.compile(StructuredOutputSpec::regex("y(es)?")));
  EXPECT_NO_THROW(compiler.compile(StructuredOutputSpec::grammar("root ::= \"yes\" | \"no\"")));
  EXPECT_NO_THROW(compiler.compile(StructuredOutputSpec::grammar("start: \"yes\" | \"no\"")));
  StructuredOutputSpec tag;
  tag.kind = StructuredOutputSpec::Kind::StructuralTag;
  tag.text = R"({"structures": [{"begin": "<a>", "schema": {"type": "integer"}, "end": "</a>"}], "triggers": ["<a"]})";
  EXPECT_NO_THROW(compiler.compile(tag));
  tag.text = "";  // not JSON
  try {
    compiler.compile(tag);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
  }
  try {
    compiler.compile(StructuredOutputSpec::json_schema(R"({"not":{}})"));
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
  }
  // A failed compile is not cached: the same spec fails again.
  EXPECT_THROW(compiler.compile(StructuredOutputSpec::regex("(")), Error);
  EXPECT_THROW(compiler.compile(StructuredOutputSpec::regex("(")), Error);
}

TEST(GrammarCompiler, MatchersOfOneGrammarAreIndependent) {
  auto v = vocab();
  GrammarCompiler compiler(v);
  auto g = compiler.compile(StructuredOutputSpec::regex("(yes|no)+"));
  GrammarMatcher a(g), b(g);
  ASSERT_TRUE(a.accept_token(0));
  ASSERT_TRUE(b.accept_token(1));
  ASSERT_TRUE(a.accept_token(4));
  EXPECT_FALSE(b.accept_token(3));
  GrammarMatcher moved(std::move(a));
  EXPECT_EQ(moved.num_accepted_tokens(), 2);
  EXPECT_TRUE(moved.accept_token(5));
}

}  // namespace
}  // namespace vllm::structured
