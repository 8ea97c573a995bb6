// JSON: the json_object grammar and JSON Schema compilation (accepted and refused outputs at
// the byte level, masks at the token level), unsupported keywords refused by name.
#include <gtest/gtest.h>

#include "core/error.h"
#include "structured/frontends.h"
#include "structured_test_util.h"

namespace vllm::structured {
namespace {

testing::ByteRecognizer schema(const std::string& text, bool any_whitespace = true) {
  return testing::ByteRecognizer(grammar_from_json_schema(text, {any_whitespace, std::nullopt}));
}

void expect_refused(const std::string& text, ErrorKind kind, const std::string& mention) {
  try {
    lower(grammar_from_json_schema(text, {}));
    ADD_FAILURE() << "compiled: " << text;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_NE(std::string(e.what()).find(mention), std::string::npos) << e.what();
  }
}

TEST(JsonObject, AnyObject) {
  testing::ByteRecognizer rec(json_object_grammar({}));
  EXPECT_TRUE(rec.matches("{}"));
  EXPECT_TRUE(rec.matches("{ \"a\" : [1, -2.5e+3, true, null, {\"b\": \"\\u00e9\\n\"}] }"));
  EXPECT_FALSE(rec.matches("[1]"));
  EXPECT_FALSE(rec.viable("{\"a\": 01"));
  EXPECT_FALSE(rec.viable("{\"a\": \"\n"));
  EXPECT_FALSE(rec.viable("{'a'"));
  EXPECT_FALSE(rec.matches("{\"a\": 1,}"));
  testing::ByteRecognizer compact(json_object_grammar({false, std::nullopt}));
  EXPECT_TRUE(compact.matches("{\"a\":[1,2]}"));
  EXPECT_FALSE(compact.viable("{ "));
  testing::ByteRecognizer custom(json_object_grammar({true, std::string("[ ]?")}));
  EXPECT_TRUE(custom.matches("{ \"a\": 1 }"));
  EXPECT_FALSE(custom.viable("{\n"));
}

TEST(JsonObject, WhitespaceRunsAreCapped) {
  testing::ByteRecognizer rec(json_object_grammar({}));
  const std::string longest = "\n" + std::string(kMaxJsonWhitespace - 1, ' ');
  EXPECT_TRUE(rec.matches("{" + longest + "\"a\":" + longest + "1}"));
  EXPECT_FALSE(rec.viable("{\"a\"" + longest + " "));
  EXPECT_FALSE(rec.viable("{\"a\": 1" + std::string(kMaxJsonWhitespace + 1, '\t')));
}

TEST(JsonSchema, PropertiesInOrderWithOptionalOnesAbsent) {
  auto rec = schema(R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},
                        "tags":{"type":"array","items":{"type":"string"}}},"required":["name","tags"]})");
  EXPECT_TRUE(rec.matches("{\"name\": \"x\", \"age\": 3, \"tags\": []}"));
  EXPECT_TRUE(rec.matches("{\"name\":\"x\",\"tags\":[\"a\",\"b\"]}"));
  EXPECT_FALSE(rec.matches("{\"name\": \"x\"}"));                       // tags required
  EXPECT_FALSE(rec.viable("{\"age\": 3"));                             // name first
  EXPECT_FALSE(rec.viable("{\"name\": \"x\", \"other\""));             // additionalProperties false
  EXPECT_FALSE(rec.viable("{\"name\": \"x\", \"age\": 3.5"));          // integer
  EXPECT_FALSE(rec.viable("{\"name\": \"x\", \"tags\": [1"));
}

TEST(JsonSchema, AdditionalPropertiesTrueFalseAndSchema) {
  auto open = schema(R"({"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":true})");
  EXPECT_TRUE(open.matches("{\"a\": 1, \"b\": [null]}"));
  EXPECT_TRUE(open.matches("{\"b\": {}}"));
  auto typed = schema(R"({"type":"object","additionalProperties":{"type":"number"}})");
  EXPECT_TRUE(typed.matches("{\"x\": 1.5, \"y\": -2}"));
  EXPECT_FALSE(typed.viable("{\"x\": \""));
  auto closed = schema(R"({"type":"object","properties":{},"additionalProperties":false})");
  EXPECT_TRUE(closed.matches("{}"));
  EXPECT_FALSE(closed.viable("{\""));
}

TEST(JsonSchema, EnumConstAnyOfAllOf) {
  auto e = schema(R"({"enum":["red","green",3,null]})");
  EXPECT_TRUE(e.matches("\"green\""));
  EXPECT_TRUE(e.matches("3"));
  EXPECT_TRUE(e.matches("null"));
  EXPECT_FALSE(e.viable("\"blue"));
  auto c = schema(R"({"type":"object","properties":{"v":{"const":"fixed"}},"required":["v"]})");
  EXPECT_TRUE(c.matches("{\"v\": \"fixed\"}"));
  EXPECT_FALSE(c.viable("{\"v\": \"fix\"\""));
  auto any = schema(R"({"anyOf":[{"type":"integer"},{"type":"string","maxLength":2}]})");
  EXPECT_TRUE(any.matches("12"));
  EXPECT_TRUE(any.matches("\"ab\""));
  EXPECT_FALSE(any.matches("\"abc\""));
  auto all = schema(R"({"allOf":[{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]},
                               {"properties":{"b":{"type":"boolean"}},"required":["b"]}]})");
  EXPECT_TRUE(all.matches("{\"a\": 1, \"b\": true}"));
  EXPECT_FALSE(all.matches("{\"a\": 1}"));
  auto types = schema(R"({"type":["string","null"]})");
  EXPECT_TRUE(types.matches("null"));
  EXPECT_TRUE(types.matches("\"s\""));
}

TEST(JsonSchema, RefsDefsAndRecursion) {
  auto tree = schema(R"({"$ref":"#/$defs/node","$defs":{"node":{"type":"object","properties":{
      "value":{"type":"integer"},"children":{"type":"array","items":{"$ref":"#/$defs/node"}}},
      "required":["value"]}}})");
  EXPECT_TRUE(tree.matches("{\"value\": 1}"));
  EXPECT_TRUE(tree.matches("{\"value\": 1, \"children\": [{\"value\": 2, \"children\": [{\"value\": 3}]}]}"));
  EXPECT_FALSE(tree.viable("{\"value\": 1, \"children\": [{\"children\""));
  auto self = schema(R"({"type":"object","properties":{"next":{"$ref":"#"}}})");
  EXPECT_TRUE(self.matches("{\"next\": {\"next\": {}}}"));
  auto legacy = schema(R"({"definitions":{"d":{"type":"boolean"}},"type":"array","items":{"$ref":"#/definitions/d"}})");
  EXPECT_TRUE(legacy.matches("[true, false]"));
}

TEST(JsonSchema, ArraysPrefixItemsAndCounts) {
  auto counted = schema(R"({"type":"array","items":{"type":"integer"},"minItems":2,"maxItems":3})");
  EXPECT_FALSE(counted.matches("[1]"));
  EXPECT_TRUE(counted.matches("[1, 2]"));
  EXPECT_TRUE(counted.matches("[1,2,3]"));
  EXPECT_FALSE(counted.viable("[1,2,3,"));
  auto tuple = schema(R"({"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}],"items":false,"minItems":1})");
  EXPECT_TRUE(tuple.matches("[\"a\"]"));
  EXPECT_TRUE(tuple.matches("[\"a\", 2]"));
  EXPECT_FALSE(tuple.matches("[]"));
  EXPECT_FALSE(tuple.viable("[\"a\", 2,"));
  auto tuple_rest = schema(R"({"type":"array","prefixItems":[{"type":"string"}],"items":{"type":"boolean"}})");
  EXPECT_TRUE(tuple_rest.matches("[\"a\", true, false]"));
  EXPECT_TRUE(tuple_rest.matches("[]"));
  EXPECT_FALSE(tuple_rest.viable("[true"));
}

TEST(JsonSchema, StringPatternLengthAndFormats) {
  auto p = schema(R"({"type":"string","pattern":"^[A-Z]{2}-\\d+$"})");
  EXPECT_TRUE(p.matches("\"AB-12\""));
  EXPECT_FALSE(p.viable("\"A1"));
  auto dot = schema(R"({"type":"string","pattern":"a.*"})");
  EXPECT_FALSE(dot.matches("\"a\"\"\""));  // '.' never produces a raw quote inside the string
  auto len = schema(R"({"type":"string","minLength":2,"maxLength":3})");
  EXPECT_FALSE(len.matches("\"a\""));
  EXPECT_TRUE(len.matches("\"a\\n\""));  // an escape is one character
  EXPECT_FALSE(len.viable("\"abcd"));
  EXPECT_TRUE(schema(R"({"type":"string","format":"date"})").matches("\"2024-02-29\""));
  EXPECT_FALSE(schema(R"({"type":"string","format":"date"})").viable("\"2024-13"));
  EXPECT_TRUE(schema(R"({"type":"string","format":"time"})").matches("\"23:59:59.5Z\""));
  EXPECT_TRUE(schema(R"({"type":"string","format":"date-time"})").matches("\"2024-01-02T03:04:05+01:00\""));
  EXPECT_TRUE(schema(R"({"type":"string","format":"email"})").matches("\"a.b+c@example.co.uk\""));
  EXPECT_FALSE(schema(R"({"type":"string","format":"email"})").matches("\"a@b\""));
  EXPECT_TRUE(schema(R"({"type":"string","format":"uuid"})").matches("\"123e4567-e89b-12d3-a456-426614174000\""));
  EXPECT_TRUE(schema(R"({"type":"string","format":"ipv4"})").matches("\"192.168.0.255\""));
  EXPECT_FALSE(schema(R"({"type":"string","format":"ipv4"})").matches("\"256.1.1.1\""));
}

// Only dates that exist and no leap second: what Python's jsonschema (date.fromisoformat,
// rfc3339-validator) accepts.
TEST(JsonSchema, DateFormatsAreRealDates) {
  auto date = schema(R"({"type":"string","format":"date"})");
  for (const char* ok : {"2024-02-29", "2000-02-29", "2023-02-28", "2023-04-30", "2023-12-31", "0001-01-01", "1600-02-29"})
    EXPECT_TRUE(date.matches(std::string("\"") + ok + "\"")) << ok;
  for (const char* bad : {"2023-02-29", "1900-02-29", "2024-02-30", "2023-04-31", "2023-11-31", "0000-01-01", "0000-02-29"})
    EXPECT_FALSE(date.matches(std::string("\"") + bad + "\"")) << bad;
  auto time = schema(R"({"type":"string","format":"time"})");
  EXPECT_FALSE(time.matches("\"23:59:60Z\""));
  EXPECT_TRUE(time.matches("\"23:59:59-23:30\""));
  auto date_time = schema(R"({"type":"string","format":"date-time"})");
  EXPECT_TRUE(date_time.matches("\"2024-02-29T12:00:00Z\""));
  EXPECT_FALSE(date_time.matches("\"2023-02-29T12:00:00Z\""));
  EXPECT_FALSE(date_time.matches("\"2023-06-30T23:59:60Z\""));
}

TEST(JsonSchema, IntegerBounds) {
  auto check = [](const std::string& bounds, int64_t lo, int64_t hi) {
    auto rec = schema("{\"type\":\"integer\"," + bounds + "}");
    for (int64_t v = lo - 150; v <= hi + 150; ++v)
      EXPECT_EQ(rec.matches(std::to_string(v)), v >= lo && v <= hi) << bounds << " value " << v;
    EXPECT_FALSE(rec.matches("-0"));
    EXPECT_FALSE(rec.matches("007"));
  };
  check("\"minimum\":3,\"maximum\":117", 3, 117);
  check("\"minimum\":-45,\"maximum\":210", -45, 210);
  check("\"minimum\":-300,\"maximum\":-12", -300, -12);
  check("\"exclusiveMinimum\":0,\"exclusiveMaximum\":100", 1, 99);
  auto lower = schema(R"({"type":"integer","minimum":18})");
  EXPECT_FALSE(lower.matches("17"));
  EXPECT_TRUE(lower.matches("18"));
  EXPECT_TRUE(lower.matches("99"));
  EXPECT_TRUE(lower.matches("100000"));
  EXPECT_FALSE(lower.matches("-5"));
  auto upper = schema(R"({"type":"integer","maximum":-3})");
  EXPECT_TRUE(upper.matches("-3"));
  EXPECT_TRUE(upper.matches("-12345"));
  EXPECT_FALSE(upper.matches("-2"));
  EXPECT_FALSE(upper.matches("0"));
  auto nonneg = schema(R"({"type":"number","minimum":0})");
  EXPECT_TRUE(nonneg.matches("0.5"));
  EXPECT_FALSE(nonneg.viable("-"));
}

TEST(JsonSchema, RefusedKeywordsAreNamed) {
  expect_refused(R"({"type":"number","maximum":5.5})", ErrorKind::Unsupported, "minimum/maximum on a number");
  expect_refused(R"({"not":{"type":"string"}})", ErrorKind::Unsupported, "'not'");
  expect_refused(R"({"type":"object","patternProperties":{"^a":{}}})", ErrorKind::Unsupported, "'patternProperties'");
  expect_refused(R"({"type":"array","uniqueItems":true})", ErrorKind::Unsupported, "'uniqueItems'");
  expect_refused(R"({"type":"integer","multipleOf":3})", ErrorKind::Unsupported, "'multipleOf'");
  expect_refused(R"({"type":"string","format":"uri"})", ErrorKind::Unsupported, "format \"uri\"");
  expect_refused(R"({"type":"string","pattern":"(a)\\1"})", ErrorKind::Unsupported, "backreference");
  expect_refused(R"({"$ref":"http://x/y.json"})", ErrorKind::Unsupported, "remote $ref");
  expect_refused(R"({"$ref":"#/$defs/missing"})", ErrorKind::InvalidArgument, "points nowhere");
  expect_refused(R"({"type":"strin"})", ErrorKind::InvalidArgument, "unknown type");
  expect_refused("{not json", ErrorKind::InvalidArgument, "not valid JSON");
  expect_refused(R"({"allOf":[{"type":"string"},{"type":"integer"}]})", ErrorKind::Unsupported, "allOf");
}

TEST(JsonSchema, TokenMasksMatchBruteForce) {
  const std::string text = R"({"type":"object","properties":{"id":{"type":"integer","minimum":1,"maximum":50},
      "name":{"type":"string","maxLength":4},"ok":{"type":"boolean"}},"required":["id","ok"]})";
  Grammar g = grammar_from_json_schema(text, {});
  testing::ByteRecognizer rec(g);
  auto vocab = TokenVocabulary::from_tokens(
      {"{", "}", "\"", "id", "\":", " ", "4", "2", "42", "51", ",", " \"", "name", "\xC3", "\xA9", "\xC3\xA9\"", "ok",
       "true", "false", " }", "{\"id\": ", "\"ok", "<eos>", "\n", "x\",", "\\u"},
      {22});
  GrammarCompiler compiler(vocab);
  auto compiled = compiler.compile(StructuredOutputSpec::json_schema(text));
  EXPECT_EQ(compiled.get(), compiler.compile(StructuredOutputSpec::json_schema(text)).get());
  GrammarMatcher m(compiled);
  std::string out;
  // {"id": 42, "name": "éé"... split bytes ...
  for (int32_t id : {20, 8, 10, 11, 12, 4, 11, 13, 14, 15, 10, 21, 4, 17, 19}) {
    testing::expect_mask_exact(m, *vocab, rec, out);
    ASSERT_TRUE(m.accept_token(id)) << out << " + " << vocab->bytes(id);
    out += vocab->bytes(id);
  }
  EXPECT_EQ(out, "{\"id\": 42, \"name\": \"\xC3\xA9\xC3\xA9\",\"ok\":true }");
  testing::expect_mask_exact(m, *vocab, rec, out);
  EXPECT_TRUE(m.accept_token(22));
  EXPECT_TRUE(m.is_terminated());
}

}  // namespace
}  // namespace vllm::structured
