// Reasoning parsers on each family's outputs, finished and streamed in several chunkings.
#include <gtest/gtest.h>

#include "core/error.h"
#include "parser_test_util.h"

namespace vllm::parsers {
namespace {

using testing::chunkings;
using testing::stream_reasoning_parser;

using Opt = std::optional<std::string>;

// The finished split, and every chunking's stream adding up to it (nullopt parts stream as "").
void check(const std::string& parser_name, const std::string& output, Opt reasoning, Opt content,
           bool stream_matches = true) {
  SCOPED_TRACE(parser_name + ": " + output);
  auto parser = make_reasoning_parser(parser_name);
  ReasoningResult result = parser->extract_reasoning(output);
  EXPECT_EQ(result.reasoning_content, reasoning);
  EXPECT_EQ(result.content, content);
  if (!stream_matches) return;
  for (const auto& chunks : chunkings(output)) {
    SCOPED_TRACE(::testing::Message() << chunks.size() << " chunks");
    auto streamed = stream_reasoning_parser(parser_name, chunks);
    EXPECT_EQ(streamed.reasoning, reasoning.value_or(""));
    EXPECT_EQ(streamed.content, content.value_or(""));
  }
}

TEST(ReasoningParsers, DeepSeekR1) {
  check("deepseek_r1", "<think>Let me add 2 and 2.</think>The answer is 4.", "Let me add 2 and 2.", "The answer is 4.");
  // The R1 template puts <think> in the prompt: the output starts inside the reasoning.
  check("deepseek_r1", "Let me add.\n</think>\n\n4", "Let me add.\n", "\n\n4");
  check("deepseek_r1", "Still thinking about it", "Still thinking about it", std::nullopt);
  check("deepseek_r1", "<think>done</think>", "done", std::nullopt);
}

TEST(ReasoningParsers, Qwen3AndGlm45NeedBothTags) {
  for (const char* name : {"qwen3", "glm45"}) {
    check(name, "<think>\nUser wants a greeting.\n</think>\n\nHello!", "\nUser wants a greeting.\n", "\n\nHello!");
    check(name, "Hello! (thinking disabled)", std::nullopt, "Hello! (thinking disabled)");
    check(name, "<think>\n\n</think>\n\nHi", "\n\n", "\n\nHi");
    // Only </think>: vLLM's parser keeps all of it as content.
    check(name, "reasoning</think>answer", std::nullopt, "reasoning</think>answer");
    // Cut short inside the reasoning: the finished output is content; vLLM's stream had sent it as
    // reasoning.
    check(name, "<think>unfinished", std::nullopt, "<think>unfinished", false);
    auto streamed = stream_reasoning_parser(name, {"<think>", "unfin", "ished"});
    EXPECT_EQ(streamed.reasoning, "unfinished");
    EXPECT_EQ(streamed.content, "");
  }
}

TEST(ReasoningParsers, Mistral) {
  check("mistral", "[THINK]Check units.[/THINK]42 km", "Check units.", "42 km");
  check("mistral", "Plain answer.", std::nullopt, "Plain answer.");
  check("mistral", "[THINK]Only thinking", "Only thinking", std::nullopt);
  check("mistral", "stray[/THINK]end", std::nullopt, "strayend");
  EXPECT_TRUE(make_reasoning_parser("mistral")->needs_special_tokens());
}

TEST(ReasoningParsers, Granite) {
  check("granite", "Here is my thought process: 2+2 is 4. Here is my response: 4", " 2+2 is 4. ", " 4");
  check("granite", "Here's my thought process:\nhmm\nHere's my response:\nyes", "\nhmm\n", "\nyes");
  check("granite", "Just an answer.", std::nullopt, "Just an answer.");
  check("granite", "Here is the answer: 4", std::nullopt, "Here is the answer: 4");
}

TEST(ReasoningParsers, HunyuanA13B) {
  check("hunyuan_a13b", "<think>\nThe user asks.\n</think>\n<answer>\nHello there.\n</answer>", "The user asks.",
        "Hello there.");
  check("hunyuan_a13b", "<think>\nR\n</think>\n<answer>\nA, cut short", "R", "A, cut short");
  check("hunyuan_a13b", "no tags at all", std::nullopt, "no tags at all");
}

TEST(ReasoningParsers, GptOssHarmony) {
  std::string output =
      "<|channel|>analysis<|message|>User greets; reply briefly.<|end|><|start|>assistant<|channel|>final"
      "<|message|>Hello! How can I help?<|return|>";
  check("openai_gptoss", output, "User greets; reply briefly.", "Hello! How can I help?");
  check("openai", "<|channel|>analysis<|message|>Thinking only", "Thinking only", std::nullopt);
  EXPECT_TRUE(make_reasoning_parser("openai_gptoss")->needs_special_tokens());
}

TEST(ReasoningParsers, UnknownNameListsKnownOnes) {
  try {
    make_reasoning_parser("bogus");
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::InvalidArgument);
    std::string message = error.what();
    EXPECT_NE(message.find("invalid reasoning parser: bogus"), std::string::npos);
    EXPECT_NE(message.find("deepseek_r1"), std::string::npos);
  }
}

}  // namespace
}  // namespace vllm::parsers
