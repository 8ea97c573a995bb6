// Regular expressions compiled into the grammar IR: what they accept and what they refuse.
#include <gtest/gtest.h>

#include "core/error.h"
#include "structured/frontends.h"
#include "structured_test_util.h"

namespace vllm::structured {
namespace {

testing::ByteRecognizer re(const std::string& p) { return testing::ByteRecognizer(grammar_from_regex(p)); }

void expect_error(const std::string& pattern, ErrorKind kind, const std::string& mention) {
  try {
    grammar_from_regex(pattern);
    ADD_FAILURE() << "/" << pattern << "/ compiled";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_NE(std::string(e.what()).find(mention), std::string::npos) << e.what();
  }
}

TEST(Regex, LiteralsClassesAndQuantifiers) {
  auto phone = re("^\\(?\\d{3}\\)?[- ]?\\d{3}-\\d{4}$");
  EXPECT_TRUE(phone.matches("(555) 123-4567"));
  EXPECT_TRUE(phone.matches("555-123-4567"));
  EXPECT_FALSE(phone.matches("555-123-456"));
  EXPECT_FALSE(phone.viable("55a"));
  auto word = re("[A-Za-z_]\\w*");
  EXPECT_TRUE(word.matches("_abc9"));
  EXPECT_FALSE(word.matches("9abc"));
  auto notq = re("[^\"\\\\]+");
  EXPECT_TRUE(notq.matches("h\xC3\xA9llo"));
  EXPECT_FALSE(notq.viable("a\"b"));
  auto ws = re("\\s*x\\S");
  EXPECT_TRUE(ws.matches(" \t\nx!"));
  EXPECT_FALSE(ws.matches("x "));
  auto bounded = re("a{2,3}b{2}c{1,}");
  EXPECT_TRUE(bounded.matches("aabbc"));
  EXPECT_TRUE(bounded.matches("aaabbccc"));
  EXPECT_FALSE(bounded.matches("abbc"));
  EXPECT_FALSE(bounded.viable("aaaa"));
}

TEST(Regex, GroupsAlternationDotAndEscapes) {
  auto r = re("(?:cat|dog)s?|(?<n>bird)+");
  EXPECT_TRUE(r.matches("cats"));
  EXPECT_TRUE(r.matches("dog"));
  EXPECT_TRUE(r.matches("birdbird"));
  EXPECT_FALSE(r.matches("catdog"));
  auto dot = re("a.c");
  EXPECT_TRUE(dot.matches("a\xE2\x82\xAC" "c"));  // a€c: '.' is one character
  EXPECT_FALSE(dot.matches("a\nc"));
  auto esc = re("\\x41\\u00e9\\.\\[\\t");
  EXPECT_TRUE(esc.matches("A\xC3\xA9.[\t"));
  auto unicode = re("[\\u0391-\\u03A9]+");
  EXPECT_TRUE(unicode.matches("\xCE\x91\xCE\xA9"));
  auto negated_class_escape = re("[^\\d\\s]+");
  EXPECT_TRUE(negated_class_escape.matches("ab"));
  EXPECT_FALSE(negated_class_escape.viable("a1"));
  auto brace = re("a{b");  // a lone '{' is a literal
  EXPECT_TRUE(brace.matches("a{b"));
}

TEST(Regex, RefusesWhatItCannotEnforce) {
  expect_error("(a)\\1", ErrorKind::Unsupported, "backreference");
  expect_error("(?<x>a)\\k<x>", ErrorKind::Unsupported, "backreference");
  expect_error("a(?=b)", ErrorKind::Unsupported, "lookahead");
  expect_error("(?!b)a", ErrorKind::Unsupported, "lookahead");
  expect_error("(?<=a)b", ErrorKind::Unsupported, "lookbehind");
  expect_error("\\bword\\b", ErrorKind::Unsupported, "word boundary");
  expect_error("\\p{L}", ErrorKind::Unsupported, "Unicode property");
  expect_error("(?i)abc", ErrorKind::Unsupported, "inline flags");
  expect_error("a^b", ErrorKind::Unsupported, "anchor");
}

TEST(Regex, MalformedIsInvalidWithPosition) {
  expect_error("(ab", ErrorKind::InvalidArgument, "missing ')'");
  expect_error("ab)", ErrorKind::InvalidArgument, "position 2");
  expect_error("[a-", ErrorKind::InvalidArgument, "unterminated character class");
  expect_error("*a", ErrorKind::InvalidArgument, "nothing to repeat");
  expect_error("[z-a]", ErrorKind::InvalidArgument, "out of order");
  expect_error("a{3,2}", ErrorKind::InvalidArgument, "n < m");
}

TEST(Regex, TokenMasksOverAToyVocabulary) {
  Grammar g = grammar_from_regex("[0-9]{3}-[a-z]+");
  auto vocab = TokenVocabulary::from_tokens({"1", "12", "123", "3-", "-", "-a", "ab", "b", "9-x", "A", "<e>"}, {10});
  testing::ByteRecognizer rec(g);
  GrammarMatcher m(compile_grammar(g, vocab));
  std::string out;
  for (int32_t id : {1, 8, 6, 7}) {
    testing::expect_mask_exact(m, *vocab, rec, out);
    ASSERT_TRUE(m.accept_token(id));
    out += vocab->bytes(id);
  }
  testing::expect_mask_exact(m, *vocab, rec, out);
  EXPECT_TRUE(m.accept_token(10));
}

}  // namespace
}  // namespace vllm::structured
