// The request fields that name a structured-output constraint (vLLM's structured_outputs, the
// older guided_* fields, OpenAI's response_format) and --structured-outputs-config.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "engine/sampling_params.h"
#include "engine/vllm_config.h"

using namespace vllm;
using json = nlohmann::json;
using Kind = structured::StructuredOutputSpec::Kind;

namespace {

std::string error_of(const json& body) {
  try {
    SamplingParams::from_json(body);
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::InvalidArgument);
    return error.what();
  }
  return "";
}

}  // namespace

TEST(StructuredOutputFields, EverySpellingNamesItsConstraint) {
  struct Case {
    json body;
    Kind kind;
    std::string text;
  };
  const json schema = {{"type", "object"}, {"properties", {{"a", {{"type", "integer"}}}}}};
  const std::vector<Case> cases = {
      {{{"structured_outputs", {{"json", schema}}}}, Kind::JsonSchema, schema.dump()},
      {{{"structured_outputs", {{"json", schema.dump()}}}}, Kind::JsonSchema, schema.dump()},
      {{{"structured_outputs", {{"regex", "[0-9]+"}}}}, Kind::Regex, "[0-9]+"},
      {{{"structured_outputs", {{"grammar", "root ::= \"a\""}}}}, Kind::Grammar, "root ::= \"a\""},
      {{{"structured_outputs", {{"json_object", true}}}}, Kind::JsonObject, ""},
      {{{"guided_json", schema}}, Kind::JsonSchema, schema.dump()},
      {{{"guided_regex", "a|b"}}, Kind::Regex, "a|b"},
      {{{"guided_grammar", "root ::= \"b\""}}, Kind::Grammar, "root ::= \"b\""},
      {{{"response_format", {{"type", "json_object"}}}}, Kind::JsonObject, ""},
      {{{"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "x"}, {"schema", schema}, {"strict", true}}}}}},
       Kind::JsonSchema, schema.dump()},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body.dump());
    const SamplingParams params = SamplingParams::from_json(c.body);
    ASSERT_TRUE(params.structured_outputs.has_value());
    EXPECT_EQ(params.structured_outputs->kind, c.kind);
    if (!c.text.empty()) EXPECT_EQ(params.structured_outputs->text, c.text);
    EXPECT_TRUE(params.structured_outputs->any_whitespace);
  }
  const SamplingParams choice = SamplingParams::from_json({{"guided_choice", {"yes", "no"}}});
  ASSERT_TRUE(choice.structured_outputs.has_value());
  EXPECT_EQ(choice.structured_outputs->kind, Kind::Choice);
  EXPECT_EQ(choice.structured_outputs->choices, (std::vector<std::string>{"yes", "no"}));
  EXPECT_FALSE(SamplingParams::from_json({{"response_format", {{"type", "text"}}}}).structured_outputs.has_value());
  EXPECT_FALSE(SamplingParams::from_json(json::object()).structured_outputs.has_value());
}

TEST(StructuredOutputFields, WhitespaceOptionsTravelWithTheConstraint) {
  SamplingParams params = SamplingParams::from_json(
      {{"structured_outputs", {{"json_object", true}, {"disable_any_whitespace", true}, {"whitespace_pattern", "[ ]?"}}}});
  ASSERT_TRUE(params.structured_outputs.has_value());
  EXPECT_FALSE(params.structured_outputs->any_whitespace);
  EXPECT_EQ(params.structured_outputs->whitespace_pattern, "[ ]?");
  EXPECT_TRUE(params.is_set("disable_any_whitespace"));
  params = SamplingParams::from_json({{"guided_regex", "a"}, {"guided_whitespace_pattern", " *"}});
  EXPECT_EQ(params.structured_outputs->whitespace_pattern, " *");
  EXPECT_FALSE(params.is_set("disable_any_whitespace"));
}

TEST(StructuredOutputFields, BadFieldsAreNamedWithVllmsMessages) {
  EXPECT_NE(error_of({{"guided_json", {{"type", "object"}}}, {"guided_regex", "a"}})
                .find("You can only use one kind of structured outputs constraint but multiple are specified: "
                      "guided_json, guided_regex"),
            std::string::npos);
  EXPECT_NE(error_of({{"structured_outputs", {{"regex", "a"}}}, {"response_format", {{"type", "json_object"}}}})
                .find("multiple are specified: regex, json_object"),
            std::string::npos);
  EXPECT_NE(error_of({{"structured_outputs", {{"whitespace_pattern", " "}}}}).find("none are specified"),
            std::string::npos);
  EXPECT_NE(error_of({{"guided_regex", 5}}).find("'guided_regex' must be a string"), std::string::npos);
  EXPECT_NE(error_of({{"guided_choice", json::array()}}).find("'guided_choice' must be a non-empty list"),
            std::string::npos);
  EXPECT_NE(error_of({{"guided_choice", {"a", 1}}}).find("'guided_choice' must be a list of strings"), std::string::npos);
  EXPECT_NE(error_of({{"guided_json", "{not json"}}).find("'guided_json' is not valid JSON"), std::string::npos);
  EXPECT_NE(error_of({{"structured_outputs", "json"}}).find("'structured_outputs' must be an object"), std::string::npos);
  EXPECT_NE(error_of({{"response_format", {{"type", "json_schema"}}}}).find("needs a 'json_schema' object"),
            std::string::npos);
  EXPECT_NE(error_of({{"response_format", {{"type", "yaml"}}}}).find("response_format type \"yaml\" is not supported"),
            std::string::npos);
  EXPECT_NE(error_of({{"structured_outputs", {{"json_object", "yes"}}}})
                .find("'structured_outputs.json_object' must be a boolean"),
            std::string::npos);
}

TEST(StructuredOutputsConfigFlag, ParsesVllmsKeysAndBackends) {
  StructuredOutputsConfig config = StructuredOutputsConfig::parse("", "");
  EXPECT_EQ(config.backend, "auto");
  EXPECT_FALSE(config.disable_any_whitespace);
  config = StructuredOutputsConfig::parse(R"({"backend": "xgrammar", "disable_any_whitespace": true})", "");
  EXPECT_EQ(config.backend, "xgrammar");
  EXPECT_TRUE(config.disable_any_whitespace);
  EXPECT_EQ(StructuredOutputsConfig::parse("", "outlines").backend, "outlines");
  EXPECT_EQ(StructuredOutputsConfig::parse(R"({"backend": "guidance"})", "outlines").backend, "guidance");
  EXPECT_THROW(StructuredOutputsConfig::parse(R"({"backend": "magic"})", ""), Error);
  EXPECT_THROW(StructuredOutputsConfig::parse(R"({"speed": 1})", ""), Error);
  EXPECT_THROW(StructuredOutputsConfig::parse(R"({"disable_any_whitespace": "yes"})", ""), Error);
  EXPECT_THROW(StructuredOutputsConfig::parse("[1]", ""), Error);
}
