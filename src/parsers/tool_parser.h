// Tool-call parsers (vLLM's vllm/entrypoints/openai/tool_parsers/, selected by
// --tool-call-parser): a finished output -> {tools_called, tool_calls, content}, a streamed
// output -> DeltaMessages with OpenAI's DeltaToolCall shape. One parser object serves one choice
// of one request: it holds the request's tools (some formats type arguments by their schema) and
// the stream's state.
//
// Each format reads a text that may still grow into the content and calls it already fixes: a
// call once its name is complete, its arguments as the prefix of their final JSON text
// (json.dumps form) the text fixes. The stream sends what each reading adds, so the deltas of a
// stream add up to the finished output's calls.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parsers/delta_message.h"
#include "parsers/json_text.h"

namespace vllm::parsers {

// "chatcmpl-tool-" + 32 hex digits (vLLM's random_tool_call_id).
std::string random_tool_call_id();

class ToolParser {
 public:
  // `tools`: the request's "tools" (null when none).
  explicit ToolParser(Json tools) : tools_(std::move(tools)) {}
  virtual ~ToolParser() = default;

  // vLLM's extract_tool_calls: a finished output. Output that holds no valid call comes back as
  // content, whole.
  ExtractedToolCalls extract_tool_calls(std::string_view output);

  // vLLM's extract_tool_calls_streaming: current_text = previous_text + delta_text. nullopt when
  // the delta adds nothing to send yet.
  std::optional<DeltaMessage> extract_tool_calls_streaming(std::string_view previous_text,
                                                           std::string_view current_text,
                                                           std::string_view delta_text);
  // The output ended with `current_text`: what the stream still holds back.
  std::optional<DeltaMessage> finish_streaming(std::string_view current_text);
  // Calls the stream has started (vLLM's prev_tool_call_arr): finish_reason "tool_calls" when > 0.
  size_t streamed_tool_calls() const { return sent_arguments_.size(); }

  // A format's reading of an output (public so the formats' helpers can build it).
  struct Call {
    std::string name;
    std::string arguments;  // the final JSON text, or the prefix of it the text fixes so far
    std::string id;         // the format's own id (Kimi-K2); empty: make_id gives one
  };
  struct Parse {
    bool ok = true;  // false when the calls are malformed (the output is then all content)
    std::string content;
    std::vector<Call> calls;
  };
  // vLLM's adjust_request: the format's markers are special tokens the text must keep.
  virtual bool needs_special_tokens() const { return false; }
  // Reads the whole output, reasoning included (harmony: channels carry both), instead of the
  // content a reasoning parser leaves.
  virtual bool reads_whole_output() const { return false; }

 protected:
  // The format: a text that may grow (final false: hold back what may still change) or a
  // finished output (final true).
  virtual Parse parse(std::string_view text, bool final) const = 0;
  virtual std::string make_id(size_t index, const Call& call) const;

  // The type a tool's parameter schema gives ("string" when the tool or parameter is unknown).
  std::string parameter_type(std::string_view function, std::string_view parameter) const;

  Json tools_;

 private:
  std::optional<DeltaMessage> advance(std::string_view text, bool final);
  size_t sent_content_ = 0;
  std::vector<size_t> sent_arguments_;  // per started call
  std::vector<std::string> ids_;
  bool calls_failed_ = false;
};

// vLLM's names: hermes, llama3_json, llama4_json, llama4_pythonic, pythonic, mistral,
// qwen3_coder, qwen3_xml, deepseek_v3, deepseek_v31, kimi_k2, glm45, granite,
// internlm, jamba, xlam, phi4_mini_json, openai. An unknown name is InvalidArgument listing them.
std::unique_ptr<ToolParser> make_tool_parser(std::string_view name, Json tools = nullptr);
std::vector<std::string> tool_parser_names();
void check_tool_parser_name(std::string_view name);

}  // namespace vllm::parsers
