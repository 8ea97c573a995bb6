// gpt-oss's harmony format as text (the request keeps special tokens):
//   <|channel|>analysis<|message|>...<|end|><|start|>assistant<|channel|>final<|message|>...<|return|>
//   <|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{...}<|call|>
// The generation starts after the prompt's "<|start|>assistant". vLLM parses the token ids with
// openai_harmony's StreamableParser; this reads the same messages from the text.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace vllm::parsers {

struct HarmonyMessage {
  std::string channel;       // analysis, commentary, final
  std::string recipient;     // "functions.NAME" for a tool call ("to=" in the header)
  std::string content_type;  // "json" from "<|constrain|>json"
  std::string body;          // the text after <|message|>
  bool header_complete = false;  // <|message|> seen
  bool complete = false;         // <|end|>, <|call|> or <|return|> seen
};

// The messages of an output. A streamed text that may grow (final false) holds back a marker
// cut short at its end.
std::vector<HarmonyMessage> parse_harmony(std::string_view text, bool final);

}  // namespace vllm::parsers
