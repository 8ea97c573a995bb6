// Structured outputs end to end with the built-in default model (a 20M Llama that knows nothing of
// JSON) and random sampling: whatever it draws, every output matches its constraint. JSON outputs
// are checked by Python's jsonschema (Debian's python3-jsonschema), regexes by std::regex.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>

#include <nlohmann/json.hpp>

#include "api/llm.h"
#include "core/error.h"
#include "test_util.h"

using namespace vllm;
using json = nlohmann::json;
using structured::StructuredOutputSpec;

namespace {

class StructuredOutputs : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    EngineArgs args;
    args.model = (vllm::testing::source_dir() / "models" / "default").string();
    args.device = vllm::testing::test_device();
    llm_ = new LLM(args);
  }
  static void TearDownTestSuite() { delete llm_; }

  // n outputs of `prompt` under `spec`, seeds 0..n-1, temperature 1.
  static std::vector<std::string> sample(const StructuredOutputSpec& spec, int count, int max_tokens = 400) {
    std::vector<std::string> texts;
    for (int seed = 0; seed < count; ++seed) {
      SamplingParams params;
      params.temperature = 1.0;
      params.seed = seed;
      params.max_tokens = max_tokens;
      params.structured_outputs = spec;
      RequestOutput out = llm_->generate(std::vector<std::string>{"Once upon a time"}, params)[0];
      EXPECT_EQ(out.outputs[0].finish_reason, "stop") << "seed " << seed << ": " << out.outputs[0].text;
      texts.push_back(out.outputs[0].text);
    }
    return texts;
  }
  static LLM* llm_;
};

LLM* StructuredOutputs::llm_ = nullptr;

// Every instance against the schema with Python's jsonschema; the failures' messages.
std::string validate_with_jsonschema(const json& schema, const std::vector<std::string>& instances) {
  const auto dir = std::filesystem::temp_directory_path() / ("vllm_jsonschema_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "schema.json") << schema.dump();
  std::ofstream(dir / "instances.json") << json(instances).dump();
  const std::string script =
      "import json, sys, jsonschema\n"
      "schema = json.load(open(sys.argv[1]))\n"
      "bad = []\n"
      "for text in json.load(open(sys.argv[2])):\n"
      "    try:\n"
      "        jsonschema.validate(json.loads(text), schema, format_checker=jsonschema.FormatChecker())\n"
      "    except Exception as e:\n"
      "        bad.append(repr(text) + ': ' + str(e).splitlines()[0])\n"
      "print('\\n'.join(bad))\n";
  std::ofstream(dir / "check.py") << script;
  const std::string command = "python3 '" + (dir / "check.py").string() + "' '" + (dir / "schema.json").string() +
                              "' '" + (dir / "instances.json").string() + "' 2>&1";
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  const int status = pclose(pipe);
  std::filesystem::remove_all(dir);
  if (status != 0) return "python3 jsonschema failed: " + output;
  return output;
}

bool have_jsonschema() { return std::system("python3 -c 'import jsonschema' >/dev/null 2>&1") == 0; }

}  // namespace

TEST_F(StructuredOutputs, JsonSchemasGiveValidInstances) {
  if (!have_jsonschema()) GTEST_SKIP() << "python3-jsonschema is not installed";
  const std::vector<json> schemas = {
      {{"type", "object"},
       {"properties", {{"name", {{"type", "string"}, {"maxLength", 8}}}, {"age", {{"type", "integer"}, {"minimum", 0}, {"maximum", 120}}}}},
       {"required", {"name", "age"}},
       {"additionalProperties", false}},
      {{"type", "object"},
       {"properties", {{"colour", {{"enum", {"red", "green", "blue"}}}}, {"ok", {{"type", "boolean"}}}}},
       {"required", {"colour", "ok"}},
       {"additionalProperties", false}},
      {{"type", "array"}, {"items", {{"type", "integer"}, {"minimum", 0}, {"maximum", 9}}}, {"minItems", 1}, {"maxItems", 3}},
      {{"type", "object"},
       {"properties", {{"id", {{"type", "string"}, {"format", "uuid"}}}, {"when", {{"type", "string"}, {"format", "date"}}}}},
       {"required", {"id", "when"}},
       {"additionalProperties", false}},
  };
  for (const json& schema : schemas) {
    SCOPED_TRACE(schema.dump());
    const std::vector<std::string> outputs = sample(StructuredOutputSpec::json_schema(schema.dump()), 4);
    EXPECT_EQ(validate_with_jsonschema(schema, outputs), "\n");
  }
}

TEST_F(StructuredOutputs, RegexAndChoiceOutputsMatch) {
  const std::string pattern = "[0-9]{3}-[a-z]{2,4}";
  for (const std::string& text : sample(StructuredOutputSpec::regex(pattern), 4))
    EXPECT_TRUE(std::regex_match(text, std::regex(pattern))) << text;
  const std::vector<std::string> choices = {"yes", "no", "maybe so"};
  for (const std::string& text : sample(StructuredOutputSpec::choice(choices), 4))
    EXPECT_NE(std::find(choices.begin(), choices.end(), text), choices.end()) << text;
  for (const std::string& text : sample(StructuredOutputSpec::grammar("root ::= \"(\" [a-c]{1,3} \")\""), 4))
    EXPECT_TRUE(std::regex_match(text, std::regex("\\([a-c]{1,3}\\)"))) << text;
}

// n > 1: each sequence has its own matcher; every one matches.
TEST_F(StructuredOutputs, EverySequenceOfARequestIsConstrained) {
  SamplingParams params;
  params.n = 3;
  params.temperature = 1.0;
  params.seed = 7;
  params.max_tokens = 50;
  params.structured_outputs = StructuredOutputSpec::regex("(cat|dog)s?");
  RequestOutput out = llm_->generate(std::vector<std::string>{"A"}, params)[0];
  ASSERT_EQ(out.outputs.size(), 3u);
  for (const auto& sequence : out.outputs) EXPECT_TRUE(std::regex_match(sequence.text, std::regex("(cat|dog)s?"))) << sequence.text;
}

TEST_F(StructuredOutputs, AnUnsupportedSchemaIsRefusedNotIgnored) {
  SamplingParams params;
  params.structured_outputs = StructuredOutputSpec::json_schema(R"({"type": "string", "pattern": "(a)\\1"})");
  try {
    llm_->generate(std::vector<std::string>{"A"}, params);
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_TRUE(error.kind() == ErrorKind::Unsupported || error.kind() == ErrorKind::InvalidArgument) << error.what();
  }
}

// With a reasoning parser the server sets structured_outputs_after (its end marker): the output is
// free until the marker's tokens, then held to the constraint; a prompt already holding the marker
// starts constrained. "." stands in for "</think>" here (the default model writes it often).
TEST_F(StructuredOutputs, ConstraintStartsAfterTheMarker) {
  for (int seed = 0; seed < 3; ++seed) {
    SamplingParams params;
    params.temperature = 1.0;
    params.seed = seed;
    params.max_tokens = 300;
    params.structured_outputs = StructuredOutputSpec::regex("[0-9]{3}");
    params.structured_outputs_after = ".";
    const CompletionOutput out = llm_->generate(std::vector<std::string>{"Once upon a time"}, params)[0].outputs[0];
    EXPECT_EQ(out.finish_reason, "stop") << out.text;
    EXPECT_TRUE(std::regex_match(out.text, std::regex("[^]*\\.[0-9]{3}"))) << out.text;
    EXPECT_GT(out.text.size(), 4u) << "the text before the marker is free";
  }
  SamplingParams params;
  params.temperature = 1.0;
  params.seed = 7;
  params.structured_outputs = StructuredOutputSpec::regex("[0-9]{3}");
  params.structured_outputs_after = ".";
  const CompletionOutput out = llm_->generate(std::vector<std::string>{"It rained. Then"}, params)[0].outputs[0];
  EXPECT_TRUE(std::regex_match(out.text, std::regex("[0-9]{3}"))) << out.text;
}
