// Structural tags: free text in which triggers start constrained tags (vLLM's structures +
// triggers, and xgrammar's format tree), checked byte by byte against hand-written languages.
#include <gtest/gtest.h>

#include "core/error.h"
#include "structured/frontends.h"
#include "structured_test_util.h"

namespace vllm::structured {
namespace {

testing::ByteRecognizer recognizer(const std::string& spec) {
  return testing::ByteRecognizer(grammar_from_structural_tag(spec, JsonWhitespace{}));
}

void expect_invalid(const std::string& spec, const std::string& mention) {
  try {
    lower(grammar_from_structural_tag(spec, JsonWhitespace{}));
    ADD_FAILURE() << "accepted: " << spec;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument) << e.what();
    EXPECT_NE(std::string(e.what()).find(mention), std::string::npos) << e.what();
  }
}

// vLLM's example: a get_weather call inside a free answer.
const char* kWeather = R"J({
  "type": "structural_tag",
  "structures": [{
    "begin": "<function=get_weather>",
    "schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
               "additionalProperties": false},
    "end": "</function>"
  }],
  "triggers": ["<function="]
})J";

TEST(StructuralTag, FreeTextAroundConstrainedCalls) {
  auto rec = recognizer(kWeather);
  EXPECT_TRUE(rec.matches(""));
  EXPECT_TRUE(rec.matches("I will look it up. <b>bold</b> < x <function"));  // no full trigger
  EXPECT_TRUE(rec.matches(R"(Sure: <function=get_weather>{"city": "Paris"}</function>)"));
  EXPECT_TRUE(rec.matches(R"(a<function=get_weather>{"city":"A"}</function> then b <function=get_weather>{"city": "B"}</function>!)"));
  EXPECT_TRUE(rec.matches("caf\xC3\xA9 \xE2\x82\xAC <func"));  // any UTF-8 outside tags
  // Once the trigger is out, the tag must follow exactly.
  EXPECT_FALSE(rec.viable("x <function=get_time>"));
  EXPECT_FALSE(rec.viable(R"(<function=get_weather>{"town": "Paris"})"));
  EXPECT_FALSE(rec.viable(R"(<function=get_weather>{"city": "Paris"}</fun>)"));
  EXPECT_FALSE(rec.matches(R"(<function=get_weather>{"city": "Paris"})"));  // unfinished tag
  EXPECT_TRUE(rec.viable(R"(<function=get_weather>{"city": "Pa)"));
  // The trigger found after a partial match that restarts ("<<function=").
  EXPECT_FALSE(rec.viable("<<function=x"));
  EXPECT_TRUE(rec.matches(R"(<<function=get_weather>{"city": "P"}</function>)"));
}

TEST(StructuralTag, SeveralTriggersAndStructuresShareATrigger) {
  auto rec = recognizer(R"J({"type": "structural_tag", "triggers": ["<tool:", "[["],
    "structures": [
      {"begin": "<tool:add>", "schema": {"type": "array", "items": {"type": "integer"}}, "end": "</tool>"},
      {"begin": "<tool:neg>", "schema": {"type": "integer"}, "end": "</tool>"},
      {"begin": "[[note]]", "schema": {"type": "string"}, "end": "[[/note]]"}]})J");
  EXPECT_TRUE(rec.matches("<tool:add>[1, 2]</tool> and <tool:neg>-3</tool>"));
  EXPECT_TRUE(rec.matches(R"(text [[note]]"hi"[[/note]] <tool but [ not [ twice)"));
  EXPECT_FALSE(rec.viable("<tool:mul>"));
  EXPECT_FALSE(rec.viable("<tool:neg>\"x\""));
  EXPECT_FALSE(rec.viable("[[other"));
}

TEST(StructuralTag, FormatTriggeredTagsAtLeastOneAndStopAfterFirst) {
  const std::string tags = R"J("triggers": ["<call>"], "tags": [{"type": "tag", "begin": "<call>",
      "content": {"type": "json_schema", "json_schema": {"type": "boolean"}}, "end": "</call>"}])J";
  auto plain = recognizer(R"({"type": "structural_tag", "format": {"type": "triggered_tags", )" + tags + "}}");
  EXPECT_TRUE(plain.matches("no call at all"));
  EXPECT_TRUE(plain.matches("<call>true</call> x <call>false</call>"));

  auto at_least_one = recognizer(
      R"({"type": "structural_tag", "format": {"type": "triggered_tags", "at_least_one": true, )" + tags + "}}");
  EXPECT_FALSE(at_least_one.matches("no call at all"));
  EXPECT_TRUE(at_least_one.viable("no call yet"));
  EXPECT_TRUE(at_least_one.matches("first <call>true</call>"));
  EXPECT_TRUE(at_least_one.matches("<call>true</call> then text <call>false</call> end"));

  auto first_only = recognizer(
      R"({"type": "structural_tag", "format": {"type": "triggered_tags", "stop_after_first": true, )" + tags + "}}");
  EXPECT_TRUE(first_only.matches("text"));
  EXPECT_TRUE(first_only.matches("x <call>true</call>"));
  EXPECT_FALSE(first_only.viable("x <call>true</call> more"));

  auto exactly_one = recognizer(R"({"type": "structural_tag", "format": {"type": "triggered_tags",
      "at_least_one": true, "stop_after_first": true, )" + tags + "}}");
  EXPECT_FALSE(exactly_one.matches("text"));
  EXPECT_TRUE(exactly_one.matches("<call>false</call>"));
  EXPECT_FALSE(exactly_one.viable("<call>false</call>x"));
}

TEST(StructuralTag, FormatTreeSequencesAlternativesAndAnyText) {
  // A reasoning block of any text up to its end string, then one of two constrained answers.
  auto rec = recognizer(R"J({"type": "structural_tag", "format": {"type": "sequence", "elements": [
      {"type": "tag", "begin": "<think>", "content": {"type": "any_text"}, "end": "</think>"},
      {"type": "or", "elements": [
        {"type": "const_string", "value": "YES"},
        {"type": "regex", "pattern": "NO[0-9]{2}"},
        {"type": "grammar", "grammar": "root ::= \"MAYBE\" [!?]"}]}]}})J");
  EXPECT_TRUE(rec.matches("<think>a < b, </thin and </thinks</think>YES"));
  EXPECT_TRUE(rec.matches("<think></think>NO42"));
  EXPECT_TRUE(rec.matches("<think>\xE2\x9C\x93</think>MAYBE?"));
  EXPECT_FALSE(rec.viable("<think>x</think>NO4x"));
  EXPECT_FALSE(rec.viable("<thinking>"));
  EXPECT_FALSE(rec.matches("<think>never closed"));
  EXPECT_FALSE(rec.viable("<think>x</think></think>"));  // any_text ends at the first end string
  EXPECT_FALSE(rec.viable("<think>x</think> YES"));  // the answer follows the end at once
}

TEST(StructuralTag, TagsWithSeparator) {
  const std::string tag = R"J({"begin": "<a>", "content": {"type": "const_string", "value": "1"}, "end": "</a>"})J";
  auto many = recognizer(R"({"type": "structural_tag", "format": {"type": "tags_with_separator", "separator": ",", "tags": [)" +
                         tag + "]}}");
  EXPECT_TRUE(many.matches(""));
  EXPECT_TRUE(many.matches("<a>1</a>"));
  EXPECT_TRUE(many.matches("<a>1</a>,<a>1</a>,<a>1</a>"));
  EXPECT_FALSE(many.viable("<a>1</a><a>"));
  EXPECT_FALSE(many.viable("x"));
  auto one = recognizer(R"({"type": "structural_tag", "format": {"type": "tags_with_separator", "separator": ",",
      "at_least_one": true, "stop_after_first": true, "tags": [)" + tag + "]}}");
  EXPECT_FALSE(one.matches(""));
  EXPECT_TRUE(one.matches("<a>1</a>"));
  EXPECT_FALSE(one.viable("<a>1</a>,"));
}

TEST(StructuralTag, BadSpecsAreClearErrors) {
  expect_invalid("not json", "not valid JSON");
  expect_invalid(R"({"type": "structural_tag", "structures": []})", "'triggers'");
  expect_invalid(R"({"structures": [{"begin": "<x>", "schema": {}, "end": "</x>"}], "triggers": ["<y"]})",
                 "starts with none of the triggers");
  expect_invalid(R"({"structures": [{"begin": "<x>", "end": "</x>"}], "triggers": ["<x"]})", "'schema'");
  expect_invalid(R"({"structures": [], "triggers": [""]})", "non-empty strings");
  expect_invalid(R"({"format": {"type": "loop"}})", "format type \"loop\" is not supported");
  expect_invalid(R"({"format": {"type": "sequence", "elements": []}})", "non-empty array");
  expect_invalid(R"({"format": {"type": "triggered_tags", "triggers": ["<a"], "tags": [{"begin": "<a>",
      "content": {"type": "any_text"}, "end": "</a>"}], "at_least_one": "yes"}})", "'at_least_one' must be a boolean");
}

}  // namespace
}  // namespace vllm::structured
