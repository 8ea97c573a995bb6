// Internal to src/server: tool calling and reasoning in /v1/chat/completions (vLLM's
// serving_chat.py with --enable-auto-tool-choice, --tool-call-parser and --reasoning-parser):
// the request's tool fields, and an output's text -> reasoning_content, content and tool_calls,
// finished or streamed. The parsers are src/parsers'.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parsers/reasoning_parser.h"
#include "parsers/tool_parser.h"
#include "server/openai_protocol.h"

namespace vllm::server::detail {

// tools, tool_choice, parallel_tool_calls with vLLM's checks (400s with its messages).
ChatToolPlan read_tool_plan(const Json& body, const ServingModel& model);
// tool_choice "required" or a named function: the JSON Schema the output is held to (vLLM's
// _get_json_schema_from_tool): the named function's parameters, or a non-empty list of
// {"name", "parameters"} over the request's tools (one item when parallel_tool_calls is false).
// nullopt for none and auto.
std::optional<std::string> tool_choice_schema(const ChatToolPlan& plan);
// With --reasoning-parser a structured-output constraint starts after the parser's end marker.
void start_constraint_after_reasoning(SamplingParams& params, const ServingModel& model);
// Whether the request's text must keep special tokens (a parser's markers are special tokens).
bool parsing_needs_special_tokens(const ChatToolPlan& plan, const ServingModel& model);
// Whether chat answers of this model and request go through a parser at all.
bool parses_chat_output(const ChatToolPlan& plan, const ServingModel& model);

struct ParsedChatOutput {
  std::optional<std::string> reasoning_content;
  std::optional<std::string> content;
  std::vector<parsers::ToolCall> tool_calls;
  bool tools_called = false;
};
ParsedChatOutput parse_chat_output(const ChatToolPlan& plan, const ServingModel& model, std::string_view text);

Json tool_calls_json(const std::vector<parsers::ToolCall>& calls);
Json delta_tool_calls_json(const std::vector<parsers::DeltaToolCall>& calls);

}  // namespace vllm::server::detail

namespace vllm::server {

// One streamed choice: the reasoning parser splits the text, its content goes to the tool parser.
// The tool calls of a required or named tool_choice, streamed while the constrained JSON grows
// (as vLLM streams them): named, the output is the arguments object, sent as it comes; required,
// a JSON list of {"name", "parameters"} objects, each call announced (id and name) once its name
// is complete, then its parameters' text as it grows. The arguments' deltas join into the
// parameters exactly as the model wrote them.
class ForcedToolCallStream {
 public:
  explicit ForcedToolCallStream(const ChatToolPlan& plan) : plan_(plan) {}
  // The whole constrained text so far; returns the new deltas.
  std::vector<parsers::DeltaToolCall> next(std::string_view text);
  bool called() const { return !calls_.empty(); }

 private:
  struct Call {
    size_t sent = 0;  // bytes of its arguments already sent
  };
  const ChatToolPlan& plan_;
  std::vector<Call> calls_;
};

class ChatStreamParser {
 public:
  ChatStreamParser(const ChatToolPlan& plan, const ServingModel& model);
  // The output's whole text so far; `finished`: it is the last.
  parsers::DeltaMessage on_text(std::string_view text, bool finished);
  bool tools_called() const;
  bool auto_tools() const { return auto_tools_; }

 private:
  const ChatToolPlan& plan_;
  std::unique_ptr<parsers::ReasoningParser> reasoning_;
  std::unique_ptr<parsers::ToolParser> tools_;
  bool auto_tools_ = false;
  std::string content_;  // content the reasoning parser has passed on (the tool parser's input)
  std::unique_ptr<ForcedToolCallStream> forced_;  // required / named tool_choice
};

// One choice's answer as parsed deltas, for the APIs that stream items rather than chat chunks
// (Responses, Messages): each call takes the cumulative output and returns what is new in it,
// split into reasoning, content and tool-call deltas when the request or model parses output.
class ChatDeltaReader {
 public:
  ChatDeltaReader(const ChatToolPlan& plan, const ServingModel& model);
  parsers::DeltaMessage next(const CompletionOutput& output);
  bool tools_called() const { return parser_ && parser_->tools_called(); }

 private:
  std::unique_ptr<ChatStreamParser> parser_;  // null: the text is all content
  size_t text_bytes_ = 0;
};

}  // namespace vllm::server
