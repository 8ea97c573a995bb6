// Reasoning parsers (vLLM's vllm/reasoning/, selected by --reasoning-parser): a finished output ->
// (reasoning_content, content), and a streamed output -> DeltaMessages. One parser object serves
// one choice of one request (it keeps the stream's state).
//
// Streaming works on text: each parser splits a text that may still grow into the reasoning and
// content it already fixes (a marker cut short at the end is held back), and the stream sends
// what each split adds. finish_streaming() releases what was held back once the output is done.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parsers/delta_message.h"

namespace vllm::parsers {

struct ReasoningResult {
  std::optional<std::string> reasoning_content;
  std::optional<std::string> content;
};

class ReasoningParser {
 public:
  virtual ~ReasoningParser() = default;

  // vLLM's extract_reasoning_content: a finished output.
  virtual ReasoningResult extract_reasoning(std::string_view output) const = 0;

  // vLLM's extract_reasoning_content_streaming: current_text = previous_text + delta_text.
  // nullopt when the delta adds nothing to send yet.
  std::optional<DeltaMessage> extract_reasoning_streaming(std::string_view previous_text,
                                                          std::string_view current_text,
                                                          std::string_view delta_text);
  // The output ended with `current_text`: what the stream still holds back.
  std::optional<DeltaMessage> finish_streaming(std::string_view current_text);

  // Whether the request must keep special tokens in its text (the markers are special tokens).
  virtual bool needs_special_tokens() const { return false; }
  // The text that ends the reasoning (vLLM's is_reasoning_end): a structured-output constraint
  // starts after its tokens. Empty: no marker, the constraint holds from the first token.
  virtual std::string_view reasoning_end() const { return {}; }

 protected:
  struct Split {
    std::string reasoning;
    std::string content;
  };
  // What a streamed text fixes: both parts only grow as the text grows. `final`: the text is the
  // whole output (nothing to hold back).
  virtual Split split_streaming(std::string_view text, bool final) const = 0;

 private:
  std::optional<DeltaMessage> advance(std::string_view text, bool final);
  size_t sent_reasoning_ = 0;
  size_t sent_content_ = 0;
};

// vLLM's names: deepseek_r1, qwen3, granite, hunyuan_a13b, mistral, glm45, openai_gptoss
// (also "openai"). An unknown name is InvalidArgument listing the known ones.
std::unique_ptr<ReasoningParser> make_reasoning_parser(std::string_view name);
std::vector<std::string> reasoning_parser_names();
void check_reasoning_parser_name(std::string_view name);

}  // namespace vllm::parsers
