// The grammar IR every front end (GBNF, Lark, regex, JSON Schema) builds: named rules whose bodies
// are expressions (literals, Unicode character classes, sequences, alternatives, repetition, rule
// references), and its lowering to the flat byte-level form the pushdown automaton runs
// (pda.h): per rule, alternatives of elements that are byte sets or rule references.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace vllm::structured {

// One expression of a rule body. Repeat's max_count < 0 means unbounded.
struct Expr {
  enum class Kind { Empty, Literal, CharClass, Sequence, Alternation, Repeat, RuleRef };
  Kind kind = Kind::Empty;
  std::string literal;                                   // Literal: bytes (UTF-8 text)
  std::vector<std::pair<uint32_t, uint32_t>> ranges;     // CharClass: code point ranges, inclusive
  bool negated = false;                                  // CharClass: the complement of `ranges`
  std::vector<Expr> children;                            // Sequence, Alternation, Repeat (one)
  int64_t min_count = 0, max_count = -1;                 // Repeat
  int32_t rule = -1;                                     // RuleRef

  static Expr empty() { return Expr{}; }
  static Expr lit(std::string bytes);
  static Expr char_class(std::vector<std::pair<uint32_t, uint32_t>> ranges, bool negated = false);
  static Expr any_char() { return char_class({{0, 0x10FFFF}}); }
  static Expr seq(std::vector<Expr> items);
  static Expr alt(std::vector<Expr> items);
  static Expr repeat(Expr item, int64_t min_count, int64_t max_count);
  static Expr star(Expr item) { return repeat(std::move(item), 0, -1); }
  static Expr plus(Expr item) { return repeat(std::move(item), 1, -1); }
  static Expr opt(Expr item) { return repeat(std::move(item), 0, 1); }
  static Expr ref(int32_t rule);
};

// Named rules; `root` is where a match starts.
struct Grammar {
  struct Rule {
    std::string name;
    Expr body;
    bool defined = false;
  };
  std::vector<Rule> rules;
  int32_t root = -1;

  // The id of rule `name`, added (undefined) when new; front ends define it later.
  int32_t rule_id(const std::string& name);
  int32_t add_rule(const std::string& name, Expr body);  // a fresh rule (name made unique)
  void define(int32_t id, Expr body);
  std::string to_string() const;  // GBNF-like text, for messages and tests
};

// A set of bytes.
struct ByteSet {
  std::array<uint64_t, 4> bits{};
  void set(uint8_t b) { bits[b >> 6] |= uint64_t{1} << (b & 63); }
  void set_range(uint8_t lo, uint8_t hi) {
    for (int b = lo; b <= hi; ++b) set(static_cast<uint8_t>(b));
  }
  bool test(uint8_t b) const { return (bits[b >> 6] >> (b & 63)) & 1; }
  bool operator==(const ByteSet&) const = default;
  auto operator<=>(const ByteSet&) const = default;
};

// The lowered grammar. Each alternative is a run of `elements` ended by an End element; a
// position is an index into `elements`.
struct FlatGrammar {
  struct Element {
    enum Kind : uint8_t { Bytes, Ref, End };
    Kind kind;
    int32_t value;  // Bytes: index into byte_sets; Ref: rule id
  };
  std::vector<Element> elements;
  std::vector<ByteSet> byte_sets;
  std::vector<std::vector<int32_t>> alternatives;  // per rule: start positions
  std::vector<std::string> rule_names;
  int32_t root = 0;
};

// Lowers `grammar`: repetition becomes right-recursive helper rules (constant stack depth: the
// automaton does not push a frame for a reference in tail position), character classes become
// UTF-8 byte sequences. InvalidArgument for an undefined rule; Unsupported for left recursion,
// which a top-down automaton cannot run.
FlatGrammar lower(const Grammar& grammar);

// The UTF-8 byte-range sequences covering code points [lo, hi] (surrogates skipped): each is a
// list of per-byte ranges (as the `utf8-ranges` construction of RE2 / regex-syntax does).
std::vector<std::vector<std::pair<uint8_t, uint8_t>>> utf8_sequences(uint32_t lo, uint32_t hi);

}  // namespace vllm::structured
