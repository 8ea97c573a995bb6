// Tool-call parsers against outputs in each family's format (written from the models' chat
// templates and docs), finished and streamed in several chunkings: the deltas of every stream
// add up to the finished output's calls and content. Malformed outputs come back as content.
#include <gtest/gtest.h>

#include "core/error.h"
#include "parser_test_util.h"

namespace vllm::parsers {
namespace {

using testing::chunkings;
using testing::stream_tool_parser;

struct ExpectedCall {
  std::string name, arguments;
};

struct Case {
  std::string parser;
  std::string output;
  std::vector<ExpectedCall> calls;          // empty: no tool call, the output is content
  std::optional<std::string> content;       // the content when calls were made
  Json tools = nullptr;
  bool stream_matches = true;               // false: vLLM's stream may differ (malformed mid-call)
};

void check(const Case& c) {
  SCOPED_TRACE(c.parser + ": " + c.output);
  auto parser = make_tool_parser(c.parser, c.tools);
  ExtractedToolCalls extracted = parser->extract_tool_calls(c.output);
  if (c.calls.empty()) {
    EXPECT_FALSE(extracted.tools_called);
    EXPECT_TRUE(extracted.tool_calls.empty());
    EXPECT_EQ(extracted.content, c.output);
  } else {
    EXPECT_TRUE(extracted.tools_called);
    ASSERT_EQ(extracted.tool_calls.size(), c.calls.size());
    for (size_t i = 0; i < c.calls.size(); ++i) {
      EXPECT_EQ(extracted.tool_calls[i].type, "function");
      EXPECT_FALSE(extracted.tool_calls[i].id.empty());
      EXPECT_EQ(extracted.tool_calls[i].function.name, c.calls[i].name);
      EXPECT_EQ(extracted.tool_calls[i].function.arguments, c.calls[i].arguments);
      Json parsed = Json::parse(extracted.tool_calls[i].function.arguments, nullptr, false);
      EXPECT_FALSE(parsed.is_discarded()) << "arguments are JSON";
    }
    EXPECT_EQ(extracted.content, c.content);
  }
  for (const auto& chunks : chunkings(c.output)) {
    SCOPED_TRACE(::testing::Message() << chunks.size() << " chunks");
    auto streamed = stream_tool_parser(c.parser, chunks, c.tools);
    if (!c.stream_matches) continue;
    ASSERT_EQ(streamed.calls.size(), c.calls.size());
    for (size_t i = 0; i < c.calls.size(); ++i) {
      EXPECT_EQ(streamed.calls[i].name, c.calls[i].name);
      EXPECT_EQ(streamed.calls[i].arguments, c.calls[i].arguments);
    }
    if (c.calls.empty()) EXPECT_EQ(streamed.content, c.output);
    else EXPECT_EQ(streamed.content, c.content.value_or(""));
  }
}

const Json kWeatherTools = Json::parse(R"([
  {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
   "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"},
   "metric": {"type": "boolean"}, "threshold": {"type": "number"}, "tags": {"type": "array"}}}}},
  {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object",
   "properties": {"tz": {"type": "string"}}}}}])");

TEST(ToolParsers, Hermes) {
  check({"hermes",
         "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 3}}\n</tool_call>",
         {{"get_weather", R"({"city": "Paris", "days": 3})"}},
         std::nullopt});
  check({"hermes",
         "Let me check both.\n<tool_call>\n{\"name\":\"get_weather\",\"arguments\":{\"city\":\"S\\u00e3o Paulo\","
         "\"unit\":\"c\\\"\",\"nested\":{\"a\":[1,2.50,true,null]}}}\n</tool_call>\n<tool_call>\n{\"name\": "
         "\"get_time\", \"arguments\": {}}\n</tool_call>",
         {{"get_weather", R"({"city": "São Paulo", "unit": "c\"", "nested": {"a": [1, 2.5, true, null]}})"},
          {"get_time", "{}"}},
         std::string("Let me check both.\n")});
  check({"hermes", "The weather in Paris is sunny today.", {}, std::nullopt});
  check({"hermes", "A tag <tool_cal is not a call", {}, std::nullopt});
  // Malformed JSON inside the tags: content, whole.
  check({"hermes", "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": Paris}}\n</tool_call>", {},
         std::nullopt, nullptr, false});
  check({"hermes", "<tool_call>\n{\"arguments\": {}}\n</tool_call>", {}, std::nullopt});
}

TEST(ToolParsers, Llama3Json) {
  check({"llama3_json", R"({"name": "get_weather", "parameters": {"city": "Paris"}})",
         {{"get_weather", R"({"city": "Paris"})"}}, std::nullopt});
  check({"llama3_json",
         R"(<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}; {"name": "get_time", "arguments": {"tz": "CET"}})",
         {{"get_weather", R"({"city": "Paris"})"}, {"get_time", R"({"tz": "CET"})"}}, std::nullopt});
  check({"llama4_json", R"({"name": "get_time", "parameters": {}})", {{"get_time", "{}"}}, std::nullopt});
  check({"llama3_json", "I cannot call a tool for that.", {}, std::nullopt});
  check({"llama3_json", R"({"name": "get_weather", "parameters": {"city": )", {}, std::nullopt, nullptr, false});
}

TEST(ToolParsers, Mistral) {
  // Tokenizers before v11: a JSON list.
  check({"mistral",
         R"([TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "get_time", "arguments": {"tz": "UTC"}}])",
         {{"get_weather", R"({"city": "Paris"})"}, {"get_time", R"({"tz": "UTC"})"}}, std::nullopt});
  // v11+: name[ARGS]{...}
  check({"mistral", R"(Sure. [TOOL_CALLS]get_weather[ARGS]{"city": "Paris", "days": 2}[TOOL_CALLS]get_time[ARGS]{})",
         {{"get_weather", R"({"city": "Paris", "days": 2})"}, {"get_time", "{}"}}, std::string("Sure. ")});
  check({"mistral", "No tools needed.", {}, std::nullopt});
  check({"mistral", R"([TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Par)", {}, std::nullopt, nullptr,
         false});
  auto parser = make_tool_parser("mistral");
  auto extracted = parser->extract_tool_calls(R"([TOOL_CALLS]get_time[ARGS]{})");
  ASSERT_EQ(extracted.tool_calls.size(), 1u);
  EXPECT_EQ(extracted.tool_calls[0].id.size(), 9u);  // Mistral's templates want 9 alphanumerics
}

TEST(ToolParsers, Qwen3Coder) {
  std::string output =
      "I'll look it up.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nNew York\n</parameter>\n"
      "<parameter=days>\n5\n</parameter>\n<parameter=metric>\nTrue\n</parameter>\n<parameter=threshold>\n2.0\n"
      "</parameter>\n<parameter=tags>\n[\"a\", \"b\"]\n</parameter>\n</function>\n</tool_call>\n<tool_call>\n"
      "<function=get_time>\n<parameter=tz>\n0800\n</parameter>\n</function>\n</tool_call>";
  for (const char* name : {"qwen3_coder", "qwen3_xml"}) {
    check({name, output,
           {{"get_weather", R"({"city": "New York", "days": 5, "metric": true, "threshold": 2, "tags": ["a", "b"]})"},
            {"get_time", R"({"tz": "0800"})"}},
           std::string("I'll look it up.\n"), kWeatherTools});
    // Without the schema every value stays a string.
    check({name, "<tool_call>\n<function=lookup>\n<parameter=x>\n42\n</parameter>\n</function>\n</tool_call>",
           {{"lookup", R"({"x": "42"})"}}, std::nullopt});
    check({name, "Plain answer with <b>html</b>.", {}, std::nullopt});
    check({name, "<tool_call>\n<function", {}, std::nullopt, nullptr, false});
  }
}

TEST(ToolParsers, DeepSeek) {
  check({"deepseek_v3",
         "Checking.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
         "{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n```json\n"
         "{}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
         {{"get_weather", R"({"city": "Paris"})"}, {"get_time", "{}"}}, std::string("Checking.")});
  check({"deepseek_v31",
         "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": \"Paris\"}<｜tool▁call▁end｜>"
         "<｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{\"tz\": \"UTC\"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
         {{"get_weather", R"({"city": "Paris"})"}, {"get_time", R"({"tz": "UTC"})"}}, std::nullopt});
  check({"deepseek_v31", "Just text, 你好.", {}, std::nullopt});
  check({"deepseek_v31", "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather", {}, std::nullopt});
}

TEST(ToolParsers, Pythonic) {
  check({"pythonic", R"([get_weather(city="Paris", days=3, metric=True), get_time()])",
         {{"get_weather", R"({"city": "Paris", "days": 3, "metric": true})"}, {"get_time", "{}"}}, std::nullopt});
  check({"pythonic", R"([get_weather(city='San Francisco', tags=['a', "b"], opts={'x': 1.5, 'y': None})])",
         {{"get_weather", R"({"city": "San Francisco", "tags": ["a", "b"], "opts": {"x": 1.5, "y": null}})"}},
         std::nullopt});
  check({"llama4_pythonic", R"(<|python_start|>[get_time(tz="UTC")]<|python_end|>)", {{"get_time", R"({"tz": "UTC"})"}},
         std::nullopt});
  check({"pythonic", "[1, 2, 3]", {}, std::nullopt});
  check({"pythonic", "The answer is 4.", {}, std::nullopt});
  check({"pythonic", R"([get_weather("Paris")])", {}, std::nullopt, nullptr, false});  // positional
  check({"pythonic", R"([get_weather(city="Paris")] and more)", {}, std::nullopt, nullptr, false});
}

TEST(ToolParsers, Granite) {
  check({"granite", R"(<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris"}}])",
         {{"get_weather", R"({"city": "Paris"})"}}, std::nullopt});
  check({"granite", R"( <tool_call>[{"name": "get_time", "arguments": {}}, {"name": "get_weather", "arguments": {"city": "Rome"}}])",
         {{"get_time", "{}"}, {"get_weather", R"({"city": "Rome"})"}}, std::nullopt});
  check({"granite", "Hello! How can I help?", {}, std::nullopt});
  check({"granite", "<|tool_call|>[{\"name\": 5}]", {}, std::nullopt});
}

TEST(ToolParsers, OpenAIHarmony) {
  std::string output =
      "<|channel|>analysis<|message|>Need the weather.<|end|><|start|>assistant<|channel|>commentary "
      "to=functions.get_weather <|constrain|>json<|message|>{\"city\": \"Paris\"}<|call|>";
  check({"openai", output, {{"get_weather", R"({"city": "Paris")" "}"}}, std::nullopt});
  check({"openai",
         "<|channel|>analysis<|message|>Think.<|end|><|start|>assistant<|channel|>final<|message|>It is sunny.<|return|>",
         {}, std::nullopt, nullptr, false});
  auto parser = make_tool_parser("openai");
  EXPECT_TRUE(parser->needs_special_tokens());
  EXPECT_TRUE(parser->reads_whole_output());
}

TEST(ToolParsers, KimiGlmAndOthers) {
  std::string kimi =
      "Let me see.<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>"
      "{\"city\": \"Paris\"}<|tool_call_end|><|tool_call_begin|>functions.get_time:1<|tool_call_argument_begin|>{}"
      "<|tool_call_end|><|tool_calls_section_end|>";
  check({"kimi_k2", kimi, {{"get_weather", R"({"city": "Paris"})"}, {"get_time", "{}"}}, std::string("Let me see.")});
  auto parser = make_tool_parser("kimi_k2");
  auto extracted = parser->extract_tool_calls(kimi);
  ASSERT_EQ(extracted.tool_calls.size(), 2u);
  EXPECT_EQ(extracted.tool_calls[0].id, "functions.get_weather:0");

  check({"glm45",
         "Checking.\n<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Beijing</arg_value>\n<arg_key>days"
         "</arg_key>\n<arg_value>2</arg_value>\n</tool_call>",
         {{"get_weather", R"({"city": "Beijing", "days": 2})"}}, std::string("Checking.\n"), kWeatherTools});
  check({"glm45", "<tool_call>get_time\n</tool_call>", {{"get_time", "{}"}}, std::nullopt});
  check({"glm45", "No call here.", {}, std::nullopt});

  check({"internlm",
         "Sure.<|action_start|><|plugin|>\n{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}"
         "<|action_end|>",
         {{"get_weather", R"({"city": "Paris"})"}}, std::string("Sure.")});
  check({"jamba", R"(<tool_calls>[{"name": "get_weather", "arguments": {"city": "Paris"}}]</tool_calls>)",
         {{"get_weather", R"({"city": "Paris"})"}}, std::nullopt});
  check({"phi4_mini_json", R"(functools[{"name": "get_time", "arguments": {"tz": "UTC"}}])",
         {{"get_time", R"({"tz": "UTC"})"}}, std::nullopt});
  check({"xlam", R"([{"name": "get_weather", "arguments": {"city": "Paris"}}])",
         {{"get_weather", R"({"city": "Paris"})"}}, std::nullopt});
  check({"xlam", "Here you go:\n```json\n[{\"name\": \"get_time\", \"arguments\": {}}]\n```",
         {{"get_time", "{}"}}, std::string("Here you go:\n")});
  check({"xlam", "Nothing to call.", {}, std::nullopt});
}

TEST(ToolParsers, StreamedDeltasHaveOpenAIShape) {
  auto parser = make_tool_parser("hermes");
  std::string text;
  std::vector<DeltaToolCall> deltas;
  for (std::string piece : {"<tool_call>\n{\"name\": \"get_", "weather\", \"arguments\": {\"ci", "ty\": \"Paris\"}}",
                            "\n</tool_call>"}) {
    std::string previous = text;
    text += piece;
    if (auto delta = parser->extract_tool_calls_streaming(previous, text, piece))
      for (auto& call : delta->tool_calls) deltas.push_back(call);
  }
  ASSERT_GE(deltas.size(), 2u);
  EXPECT_EQ(deltas[0].index, 0);
  EXPECT_EQ(deltas[0].name, "get_weather");
  EXPECT_EQ(deltas[0].id.value_or("").rfind("chatcmpl-tool-", 0), 0u);
  for (size_t i = 1; i < deltas.size(); ++i) {
    EXPECT_FALSE(deltas[i].id);
    EXPECT_FALSE(deltas[i].name);
    EXPECT_TRUE(deltas[i].arguments);
  }
  EXPECT_EQ(parser->streamed_tool_calls(), 1u);
}

TEST(ToolParsers, UnknownNameListsKnownOnes) {
  try {
    make_tool_parser("nope");
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::InvalidArgument);
    std::string message = error.what();
    EXPECT_NE(message.find("invalid tool call parser: nope"), std::string::npos);
    EXPECT_NE(message.find("hermes"), std::string::npos);
    EXPECT_NE(message.find("qwen3_coder"), std::string::npos);
  }
  EXPECT_EQ(tool_parser_names().size(), 18u);
}

}  // namespace
}  // namespace vllm::parsers
