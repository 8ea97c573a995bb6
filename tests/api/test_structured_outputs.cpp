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
#include "structured/frontends.h"
#include "test_util.h"

using namespace vllm;
using namespace std::string_literals;
using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;
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

// Each [name, schema, instance text] case checked by Python's jsonschema in one run; a line per
// failure, "name: text: first line of the error". Formats are checked by the schema's draft
// (2020-12 by default): the draft-less FormatChecker() reads "time" as draft 3's, with no offset.
std::string validate_with_jsonschema(const ordered_json& cases) {
  const auto dir = std::filesystem::temp_directory_path() / ("vllm_jsonschema_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "cases.json") << cases.dump();
  const std::string script =
      "import json, sys, jsonschema\n"
      "bad = []\n"
      "for name, schema, text in json.load(open(sys.argv[1])):\n"
      "    cls = jsonschema.validators.validator_for(schema)\n"
      "    try:\n"
      "        jsonschema.validate(json.loads(text), schema, cls=cls, format_checker=cls.FORMAT_CHECKER)\n"
      "    except Exception as e:\n"
      "        bad.append(name + ': ' + repr(text) + ': ' + str(e).splitlines()[0])\n"
      "print('\\n'.join(bad))\n";
  std::ofstream(dir / "check.py") << script;
  const std::string command =
      "python3 '" + (dir / "check.py").string() + "' '" + (dir / "cases.json").string() + "' 2>&1";
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  const int status = pclose(pipe);
  std::filesystem::remove_all(dir);
  if (status != 0) return "python3 jsonschema failed: " + output;
  return output;
}

// Every instance against one schema.
std::string validate_with_jsonschema(const json& schema, const std::vector<std::string>& instances) {
  ordered_json cases = ordered_json::array();
  for (const std::string& text : instances) cases.push_back({"instance", ordered_json::parse(schema.dump()), text});
  return validate_with_jsonschema(cases);
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

// Realistic API payload schemas (tests/data/structured/schemas.json, bounded so that a random
// output fits the default model's 512-token context), two seeds each, sampled in one batch and
// checked in one Python run.
TEST_F(StructuredOutputs, ManyRealisticSchemasGiveValidInstances) {
  if (!have_jsonschema()) GTEST_SKIP() << "python3-jsonschema is not installed";
  std::ifstream file(vllm::testing::source_dir() / "tests" / "data" / "structured" / "schemas.json");
  ASSERT_TRUE(file) << "tests/data/structured/schemas.json";
  const ordered_json schemas = ordered_json::parse(file);  // properties in the file's order
  ASSERT_GE(schemas.size(), 100u);
  const std::vector<int32_t> prompt =
      llm_->generate(std::vector<std::string>{"Once upon a time"}, SamplingParams{})[0].prompt_token_ids;
  constexpr int kSeeds = 2;
  std::vector<std::vector<int32_t>> prompts;
  std::vector<SamplingParams> params;
  std::vector<std::string> names;  // per request: "schema 3 (order), seed 1"
  for (size_t i = 0; i < schemas.size(); ++i) {
    const std::string name = "schema " + std::to_string(i) + " (" + schemas[i].value("title", "") + ")";
    // A schema the compiler refuses would fail the whole batch: compile each first, by name.
    try {
      structured::grammar_from_json_schema(schemas[i].dump(), structured::JsonWhitespace{});
    } catch (const Error& error) {
      ADD_FAILURE() << name << ": " << error.what();
      continue;
    }
    for (int seed = 0; seed < kSeeds; ++seed) {
      SamplingParams p;
      p.temperature = 1.0;
      p.seed = seed;
      p.max_tokens = 480;  // with the short prompt, within the 512-token context
      p.structured_outputs = StructuredOutputSpec::json_schema(schemas[i].dump());
      prompts.push_back(prompt);
      params.push_back(p);
      names.push_back(name + ", seed " + std::to_string(seed));
    }
  }
  const std::vector<RequestOutput> outs = llm_->generate(prompts, params);
  ASSERT_EQ(outs.size(), prompts.size());
  ordered_json cases = ordered_json::array();
  for (size_t r = 0; r < outs.size(); ++r) {
    const CompletionOutput& out = outs[r].outputs[0];
    EXPECT_EQ(out.finish_reason, "stop") << names[r] << ": " << out.text;
    cases.push_back({names[r], ordered_json::parse(params[r].structured_outputs->text), out.text});
  }
  EXPECT_EQ(validate_with_jsonschema(cases), "\n");
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

// Under asynchronous scheduling (the CUDA default) grammar rows are drawn by the device sampler
// under their token bitmask (on the CPU too, where this test runs it): outputs still match, and
// each equals the synchronous engine's (host-masked) output for the same seed.
TEST_F(StructuredOutputs, AsynchronousSchedulingMasksOnTheDevicePath) {
  EngineArgs args;
  args.model = (vllm::testing::source_dir() / "models" / "default").string();
  args.device = vllm::testing::test_device();
  args.async_scheduling = true;
  LLM async_llm(args);
  const std::string pattern = "[0-9]{2,3}(-[a-z]{1,4})+";
  for (int seed = 0; seed < 4; ++seed) {
    SamplingParams params;
    params.temperature = 1.0;
    params.seed = seed;
    params.max_tokens = 60;
    params.structured_outputs = StructuredOutputSpec::regex(pattern);
    const std::string text = async_llm.generate(std::vector<std::string>{"Once"}, params)[0].outputs[0].text;
    EXPECT_TRUE(std::regex_match(text, std::regex(pattern))) << text;
    EXPECT_EQ(text, llm_->generate(std::vector<std::string>{"Once"}, params)[0].outputs[0].text) << "seed " << seed;
  }
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

// structural_tag (xgrammar's format tree): free text in which every " the" must go on as
// " the big" or " the small"; and a forced tag whose JSON content must follow its schema.
TEST_F(StructuredOutputs, StructuralTagsConstrainWhatTheirTriggersStart) {
  StructuredOutputSpec triggered;
  triggered.kind = StructuredOutputSpec::Kind::StructuralTag;
  triggered.text = R"J({"type": "structural_tag", "format": {"type": "triggered_tags", "triggers": [" the"],
      "tags": [{"begin": " the", "content": {"type": "regex", "pattern": " (big|small)"}, "end": ""}]}})J";
  int tags = 0;
  for (int seed = 0; seed < 4; ++seed) {
    SamplingParams params;
    params.temperature = 1.0;
    params.seed = seed;
    params.max_tokens = 60;
    params.structured_outputs = triggered;
    const std::string text = llm_->generate(std::vector<std::string>{"Once upon a time"}, params)[0].outputs[0].text;
    for (size_t at = text.find(" the"); at != std::string::npos; at = text.find(" the", at + 1)) {
      const std::string rest = text.substr(at + 4);
      const bool tagged = rest.rfind(" big", 0) == 0 || rest.rfind(" small", 0) == 0;
      // A trigger at the very end of a length-capped output may be cut before its content.
      EXPECT_TRUE(tagged || " big"s.rfind(rest, 0) == 0 || " small"s.rfind(rest, 0) == 0) << text;
      tags += tagged;
    }
  }
  EXPECT_GT(tags, 0) << "no sample used the trigger: the test checks nothing";

  StructuredOutputSpec forced;
  forced.kind = StructuredOutputSpec::Kind::StructuralTag;
  const json schema = json::parse(R"({"type": "object", "properties": {"name": {"type": "string", "maxLength": 12},
      "age": {"type": "integer", "minimum": 0, "maximum": 120}}, "required": ["name", "age"], "additionalProperties": false})");
  forced.text = json{{"type", "structural_tag"},
                     {"format", {{"type", "tag"}, {"begin", "<person>"},
                                 {"content", {{"type", "json_schema"}, {"json_schema", schema}}}, {"end", "</person>"}}}}
                    .dump();
  std::vector<std::string> instances;
  for (const std::string& text : sample(forced, 3)) {
    ASSERT_EQ(text.rfind("<person>", 0), 0u) << text;
    ASSERT_GE(text.size(), 17u) << text;
    ASSERT_EQ(text.substr(text.size() - 9), "</person>") << text;
    instances.push_back(text.substr(8, text.size() - 17));
  }
  if (have_jsonschema()) EXPECT_EQ(validate_with_jsonschema(schema, instances), "\n");
  for (const std::string& instance : instances) EXPECT_NO_THROW(json::parse(instance)) << instance;

  // A begin that no trigger starts: refused when the request is added, naming the problem.
  SamplingParams bad;
  bad.structured_outputs = forced;
  bad.structured_outputs->text = R"({"structures": [{"begin": "<x>", "schema": {}, "end": "</x>"}], "triggers": ["<y"]})";
  try {
    llm_->generate(std::vector<std::string>{"A"}, bad);
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::InvalidArgument) << error.what();
    EXPECT_NE(std::string(error.what()).find("starts with none of the triggers"), std::string::npos) << error.what();
  }
}
