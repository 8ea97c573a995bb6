#include <gtest/gtest.h>

#include "engine/stop_checker.h"

namespace vllm {
namespace {

SamplingParams with_stop(std::vector<std::string> stop, bool include = false) {
  SamplingParams p;
  p.stop = std::move(stop);
  p.include_stop_str_in_output = include;
  return p;
}

TEST(StopChecker, StopStringSpanningTwoTokens) {
  StopChecker checker(with_stop({"END"}));
  EXPECT_FALSE(checker.append("Hello E"));
  auto match = checker.append("ND and more");
  ASSERT_TRUE(match);
  EXPECT_EQ(match->stop, "END");
  EXPECT_EQ(checker.text(), "Hello ");
  EXPECT_TRUE(checker.stopped());
  EXPECT_FALSE(checker.append("ignored"));
  EXPECT_EQ(checker.text(), "Hello ");
}

TEST(StopChecker, IncludeStopStringInOutput) {
  StopChecker checker(with_stop({"END"}, /*include=*/true));
  EXPECT_FALSE(checker.append("Hello EN"));
  auto match = checker.append("D and more");
  ASSERT_TRUE(match);
  EXPECT_EQ(checker.text(), "Hello END");
}

TEST(StopChecker, SpanningThreeTokens) {
  StopChecker checker(with_stop({"<|stop|>"}));
  EXPECT_FALSE(checker.append("ab<|"));
  EXPECT_FALSE(checker.append("sto"));
  ASSERT_TRUE(checker.append("p|>cd"));
  EXPECT_EQ(checker.text(), "ab");
}

TEST(StopChecker, EarliestOccurrenceWins) {
  StopChecker checker(with_stop({"world", "lo"}));
  auto match = checker.append("hello world");
  ASSERT_TRUE(match);
  EXPECT_EQ(match->stop, "lo");
  EXPECT_EQ(checker.text(), "hel");
}

TEST(StopChecker, OnlySearchesNewText) {
  // A stop string wholly inside old text is not searched again (it was checked when added);
  // the search starts |stop| - 1 bytes before the new text.
  std::string text = "abcXYZdef";
  EXPECT_FALSE(find_stop_string(text, 3, std::vector<std::string>{"XYZ"}, false));
  auto match = find_stop_string(text, 4, std::vector<std::string>{"XYZd"}, false);
  ASSERT_TRUE(match);
  EXPECT_EQ(match->text_length, 3u);
  EXPECT_FALSE(find_stop_string(text, 0, std::vector<std::string>{"d"}, false));
}

TEST(StopChecker, StreamingHoldsBackAPossibleStopPrefix) {
  StopChecker checker(with_stop({"STOP"}));
  checker.append("abcST");
  EXPECT_EQ(checker.streamable_text(false), "ab");  // "cST" may begin "STOP"
  EXPECT_EQ(checker.streamable_text(true), "abcST");
  checker.append("OP");
  EXPECT_EQ(checker.streamable_text(false), "abc");
  // Never cuts a UTF-8 character: "é" is 2 bytes.
  StopChecker utf8(with_stop({"xyz"}));
  utf8.append("a\xC3\xA9!");
  EXPECT_EQ(utf8.streamable_text(false), "a");
  StopChecker none(SamplingParams{});
  none.append("abc");
  EXPECT_EQ(none.streamable_text(false), "abc");
}

}  // namespace
}  // namespace vllm
