// GBNF and Lark grammars: parsing, matching, and errors with positions.
#include <gtest/gtest.h>

#include "core/error.h"
#include "structured/frontends.h"
#include "structured_test_util.h"

namespace vllm::structured {
namespace {

void expect_error(const std::string& text, ErrorKind kind, const std::string& mention) {
  try {
    lower(grammar_from_ebnf(text));
    ADD_FAILURE() << "compiled:\n" << text;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_NE(std::string(e.what()).find(mention), std::string::npos) << e.what();
  }
}

const char* kArithmetic = R"G(
# arithmetic, llama.cpp style
root  ::= expr "\n"?
expr  ::= term (("+" | "-") term)*
term  ::= factor ([*/] factor)*
factor ::= num | "(" ws expr ws ")"
num   ::= [0-9]+ ("." [0-9]{1,3})?
ws    ::= [ \t]*
)G";

TEST(Gbnf, ArithmeticWithRecursionAndRepetition) {
  testing::ByteRecognizer rec(grammar_from_ebnf(kArithmetic));
  EXPECT_TRUE(rec.matches("1+2*3"));
  EXPECT_TRUE(rec.matches("( 1.25-4 )/7\n"));
  EXPECT_TRUE(rec.matches("((((2))))"));
  EXPECT_FALSE(rec.matches("1+"));
  EXPECT_FALSE(rec.viable("1.2345"));
  EXPECT_FALSE(rec.viable("1++"));
}

TEST(Gbnf, LiteralsEscapesClassesAndAnyChar) {
  testing::ByteRecognizer rec(grammar_from_ebnf(
      "root ::= \"caf\\u00e9\" [^\\n\"]{2} \"\\x41\" . [\\u0391-\\u03A9]? \"\\\"\"\n"));
  EXPECT_TRUE(rec.matches("caf\xC3\xA9xyA\xE2\x82\xAC\xCE\x91\""));
  EXPECT_TRUE(rec.matches("caf\xC3\xA9  A!\""));
  EXPECT_FALSE(rec.viable("caf\xC3\xA9\n"));
}

TEST(Gbnf, MultiLineAlternativesAndGroups) {
  testing::ByteRecognizer rec(grammar_from_ebnf("root ::= (\n  \"yes\" |\n  \"no\"\n) \"!\"\n  | \"maybe\"\nunused ::= \"x\"\n"));
  EXPECT_TRUE(rec.matches("yes!"));
  EXPECT_TRUE(rec.matches("no!"));
  EXPECT_TRUE(rec.matches("maybe"));
  EXPECT_FALSE(rec.viable("x"));
}

TEST(Gbnf, MalformedGrammarsNameThePosition) {
  expect_error("root ::= \"abc", ErrorKind::InvalidArgument, "unterminated string literal at line 1 column 10");
  expect_error("root ::= [a-", ErrorKind::InvalidArgument, "line 1");
  expect_error("root ::= (\"a\" \"b\"\n", ErrorKind::InvalidArgument, "missing ')'");
  expect_error("root ::= \"a\"\nx ::= y", ErrorKind::InvalidArgument, "'y' is used but not defined");
  expect_error("start ::= \"a\"", ErrorKind::InvalidArgument, "no 'root' rule");
  expect_error("root ::= \"a\"{3,1}", ErrorKind::InvalidArgument, "n < m");
  expect_error("root ::= \"a\"\nroot ::= \"b\"", ErrorKind::InvalidArgument, "defined twice at line 2 column 1");
  expect_error("root ::= \"a\" ! \"b\"", ErrorKind::InvalidArgument, "unexpected '!' at line 1 column 14");
  expect_error("root ::= root \"a\" | \"b\"", ErrorKind::Unsupported, "left-recursive");
}

TEST(Gbnf, TokenMasksSpanElements) {
  Grammar g = grammar_from_ebnf(kArithmetic);
  auto vocab = TokenVocabulary::from_tokens({"1", "+", "2*", "(", " (", "( ", "3)", ")\n", "\n", "12.5", "+(", "x", "<stop>"}, {12});
  testing::ByteRecognizer rec(g);
  GrammarMatcher m(compile_grammar(g, vocab));
  std::string out;
  for (int32_t id : {0, 10, 5, 2, 6, 7}) {
    testing::expect_mask_exact(m, *vocab, rec, out);
    ASSERT_TRUE(m.accept_token(id)) << out;
    out += vocab->bytes(id);
  }
  testing::expect_mask_exact(m, *vocab, rec, out);
  EXPECT_TRUE(m.accept_token(12));
}

const char* kLarkJsonish = R"L(
// a small Lark grammar as vLLM users write them
start: value
?value: object
      | "[" [value ("," value)*] "]"
      | NUMBER
      | STRING
object: "{" [pair ("," pair)*] "}"
pair: STRING ":" value
NUMBER: /-?\d+(\.\d+)?/
STRING: /"[^"\\]*"/
)L";

TEST(Lark, RulesTerminalsRegexOptionalsAndContinuationLines) {
  testing::ByteRecognizer rec(grammar_from_ebnf(kLarkJsonish));
  EXPECT_TRUE(rec.matches("{\"a\":[1,2.5,{}],\"b\":\"x\"}"));
  EXPECT_TRUE(rec.matches("[]"));
  EXPECT_TRUE(rec.matches("-3"));
  EXPECT_FALSE(rec.matches("[1,]"));
  EXPECT_FALSE(rec.viable("{1"));
}

TEST(Lark, UnsupportedAndMalformed) {
  expect_error("start: \"a\"\n%ignore \" \"\n", ErrorKind::Unsupported, "%ignore");
  expect_error("%import common.WS\nstart: \"a\"\n", ErrorKind::Unsupported, "%import");
  expect_error("start: \"a\"i\n", ErrorKind::Unsupported, "case-insensitive");
  expect_error("start: /a/i\n", ErrorKind::Unsupported, "flags");
  expect_error("start: \"a\" (\"b\"\n", ErrorKind::InvalidArgument, "missing ')' at line 1 column 12");
  expect_error("start: other\n", ErrorKind::InvalidArgument, "'other' is used but not defined");
  expect_error("begin: \"a\"\n", ErrorKind::InvalidArgument, "no 'start' rule");
  expect_error("start \"a\"\n", ErrorKind::InvalidArgument, "expected ':'");
  expect_error("start: /(a/\n", ErrorKind::InvalidArgument, "regex");
}

TEST(Lark, CompiledThroughTheCompilerAndCached) {
  auto vocab = TokenVocabulary::from_tokens({"[", "]", "1", ",", "[1", "1]", "<s>"}, {6});
  GrammarCompiler compiler(vocab);
  auto a = compiler.compile(StructuredOutputSpec::grammar(kLarkJsonish));
  auto b = compiler.compile(StructuredOutputSpec::grammar(kLarkJsonish));
  EXPECT_EQ(a.get(), b.get());
  GrammarMatcher m(a);
  EXPECT_TRUE(m.accept_token(4));
  EXPECT_TRUE(m.accept_token(3));
  EXPECT_FALSE(m.accept_token(1));
  EXPECT_TRUE(m.accept_token(5));
  EXPECT_TRUE(m.accept_token(6));
}

}  // namespace
}  // namespace vllm::structured
