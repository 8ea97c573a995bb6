// The front ends that build the grammar IR from a request's constraint (internal).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "structured/grammar_ir.h"

namespace vllm::structured {

// GBNF (llama.cpp: `root ::= ...`) or vLLM's Lark subset (`start: ...`), told apart by the
// first rule's definition operator.
Grammar grammar_from_ebnf(const std::string& text);
Grammar grammar_from_gbnf(const std::string& text);
Grammar grammar_from_lark(const std::string& text);

// A regular expression (JSON Schema `pattern` / vLLM `regex`), matched in full.
Expr regex_to_expr(const std::string& pattern, Grammar& grammar);
Grammar grammar_from_regex(const std::string& pattern);

// JSON: the whitespace allowed between tokens. Runs are capped at kMaxJsonWhitespace characters
// (a newline and 15 spaces: 4-space indentation three levels deep, 2-space seven): an unbounded
// run lets a model that favours whitespace pad until max_tokens and never close the value.
inline constexpr int64_t kMaxJsonWhitespace = 16;
struct JsonWhitespace {
  bool any_whitespace = true;
  std::optional<std::string> pattern;  // a regex replacing the default
};
Grammar json_object_grammar(const JsonWhitespace& ws);
Grammar grammar_from_json_schema(const std::string& schema_json, const JsonWhitespace& ws);

Grammar grammar_from_choices(const std::vector<std::string>& choices);

// A structural tag (structural_tag.cpp): vLLM's {"structures", "triggers"} or xgrammar's
// {"format": ...}, as JSON text.
Grammar grammar_from_structural_tag(const std::string& spec_json, const JsonWhitespace& ws);

}  // namespace vllm::structured
