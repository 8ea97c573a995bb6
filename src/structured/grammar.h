// Structured outputs (issue 19): constraints compiled to a pushdown automaton over bytes, matched
// token by token against the model's vocabulary (the approach xgrammar describes).
//
//   auto vocab = TokenVocabulary::from_tokenizer(tokenizer);        // once per model
//   GrammarCompiler compiler(vocab);                                // caches by constraint text
//   auto grammar = compiler.compile(StructuredOutputSpec::json_schema(schema_text));
//   GrammarMatcher matcher(grammar);                                // one per request sequence
//   matcher.fill_next_token_bitmask(mask);  // before sampling: allowed tokens' bits set
//   matcher.accept_token(sampled);          // after sampling
//   matcher.rollback(k);                    // preemption / speculative tokens
//
// This header is the interface the engine and server use; src/structured holds the engine.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace vllm {

class Tokenizer;

namespace structured {

// What a request constrains its output to (vLLM's StructuredOutputsParams, one field set).
struct StructuredOutputSpec {
  enum class Kind { JsonSchema, JsonObject, Regex, Choice, Grammar, StructuralTag };
  Kind kind = Kind::JsonObject;
  std::string text;                  // the schema (JSON text), regex, grammar (GBNF or Lark) or tag JSON
  std::vector<std::string> choices;  // Choice
  // JSON: whitespace allowed between tokens (vLLM's disable_any_whitespace false), or this
  // pattern when set (whitespace_pattern).
  bool any_whitespace = true;
  std::optional<std::string> whitespace_pattern;

  static StructuredOutputSpec json_schema(std::string schema_json);
  static StructuredOutputSpec json_object();
  static StructuredOutputSpec regex(std::string pattern);
  static StructuredOutputSpec choice(std::vector<std::string> choices);
  static StructuredOutputSpec grammar(std::string ebnf);
  // The cache key: kind, text, choices and the whitespace options.
  std::string key() const;
};

// The byte string of every token id of a model's vocabulary (byte-level BPE's mapping undone,
// SentencePiece's ▁ and <0xNN> resolved), the ids that end a sequence, and the special tokens a
// constrained output never contains.
class TokenVocabulary {
 public:
  static std::shared_ptr<const TokenVocabulary> from_tokenizer(const Tokenizer& tokenizer,
                                                               std::vector<int32_t> stop_token_ids,
                                                               int64_t model_vocab_size);
  // Tests: explicit byte strings per id.
  static std::shared_ptr<const TokenVocabulary> from_tokens(std::vector<std::string> token_bytes,
                                                            std::vector<int32_t> stop_token_ids);
  int64_t size() const;  // the model's vocabulary (the mask's width; ids past the tokenizer's never allowed)
  const std::string& bytes(int32_t id) const;
  const std::vector<int32_t>& stop_token_ids() const;

  struct Impl;
  std::shared_ptr<const Impl> impl;
};

class CompiledGrammar;

// Compiles specs for one vocabulary; thread-safe; identical specs compile once (cached by key()).
// InvalidArgument naming the problem for a malformed schema, regex or grammar; Unsupported naming
// the JSON Schema feature it cannot enforce (never a silently unconstrained grammar).
class GrammarCompiler {
 public:
  explicit GrammarCompiler(std::shared_ptr<const TokenVocabulary> vocabulary);
  ~GrammarCompiler();
  std::shared_ptr<const CompiledGrammar> compile(const StructuredOutputSpec& spec);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// One sequence's position in a compiled grammar.
class GrammarMatcher {
 public:
  explicit GrammarMatcher(std::shared_ptr<const CompiledGrammar> grammar);
  ~GrammarMatcher();
  GrammarMatcher(GrammarMatcher&&) noexcept;
  GrammarMatcher& operator=(GrammarMatcher&&) noexcept;

  // Words of ceil(vocab / 32) bits, bit i of word i / 32 set when token i may come next (a stop
  // token when the output may end here).
  static int64_t bitmask_words(int64_t vocab_size) { return (vocab_size + 31) / 32; }
  void fill_next_token_bitmask(uint32_t* bitmask) const;
  // The tokenizer's vocabulary size: fill_next_token_bitmask writes bitmask_words(vocab_size()).
  int64_t vocab_size() const;
  // Fills `bitmask` of bitmask_words(logits_vocab) words for a logits row that may be wider (ids
  // past the tokenizer's vocabulary are never allowed) or narrower than the tokenizer's vocabulary.
  void fill_bitmask_for(int64_t logits_vocab, uint32_t* bitmask) const;
  // Advances by `id`; false (state unchanged) when the grammar does not allow it. A stop token is
  // accepted where the output may end, and terminates the matcher.
  bool accept_token(int32_t id);
  // Undoes the last `count` accepted tokens (count <= tokens accepted since construction).
  void rollback(int64_t count);
  bool is_terminated() const;  // a stop token was accepted
  bool can_terminate() const;  // the output so far is complete
  int64_t num_accepted_tokens() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace structured
}  // namespace vllm
