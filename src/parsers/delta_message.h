// What the parsers return, in OpenAI's (and vLLM's) shapes without JSON: a finished output's tool
// calls and content, and a streamed step's DeltaMessage (reasoning_content, content, tool-call
// deltas). vllm/entrypoints/openai/protocol.py: ExtractedToolCallInformation, DeltaMessage,
// DeltaToolCall.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace vllm::parsers {

struct FunctionCall {
  std::string name;
  std::string arguments;  // a JSON text (json.dumps of the arguments object, as vLLM sends it)
};

struct ToolCall {
  std::string id;  // "chatcmpl-tool-<32 hex>" (Kimi-K2: "functions.NAME:IDX", Mistral: 9 alphanumerics)
  std::string type = "function";
  FunctionCall function;
};

// A finished output: tools_called with its calls and the text outside them (nullopt: none), or
// the whole output as content when it holds no (valid) call.
struct ExtractedToolCalls {
  bool tools_called = false;
  std::vector<ToolCall> tool_calls;
  std::optional<std::string> content;
};

// One streamed tool-call delta: the first of a call carries index, id, type and name (arguments
// ""), the later ones index and an arguments fragment.
struct DeltaToolCall {
  int index = 0;
  std::optional<std::string> id;    // with type "function", first delta only
  std::optional<std::string> name;  // first delta only
  std::optional<std::string> arguments;
};

struct DeltaMessage {
  std::optional<std::string> reasoning_content;
  std::optional<std::string> content;
  std::vector<DeltaToolCall> tool_calls;

  bool empty() const { return !reasoning_content && !content && tool_calls.empty(); }
};

}  // namespace vllm::parsers
