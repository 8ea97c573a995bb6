// The pushdown automaton over bytes that runs a FlatGrammar. A stack is a chain of frames, each
// a position in the grammar (the element to match next, or the continuation after a reference);
// stacks share their tails and are interned, so a state is a sorted set of stack ids whose top
// is a byte-set element, plus whether the input so far is a complete match. Nondeterminism
// (ambiguous grammars) is kept as several stacks, as llama.cpp's grammar sampler does.
#pragma once

#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "structured/grammar_ir.h"

namespace vllm::structured {

// Interned frames: (position, parent frame). Parent kBottom: the root's end; kSentinel: the end
// of a frame being analysed on its own (token_mask.cpp's context-independent analysis).
class StackPool {
 public:
  static constexpr int32_t kBottom = -1;
  static constexpr int32_t kSentinel = -2;
  struct Frame {
    int32_t position;
    int32_t parent;
  };
  int32_t intern(int32_t position, int32_t parent);
  const Frame& operator[](int32_t id) const { return frames_[id]; }
  size_t size() const { return frames_.size(); }

 private:
  std::vector<Frame> frames_;
  std::unordered_map<uint64_t, int32_t> index_;
};

struct StackSet {
  std::vector<int32_t> stacks;  // sorted, unique; each top is a Bytes element
  bool accepting = false;       // a stack emptied: the input so far is a complete match
  bool popped = false;          // a stack reached kSentinel
  bool dead() const { return stacks.empty() && !accepting && !popped; }
  bool operator==(const StackSet&) const = default;
};

class Automaton {
 public:
  Automaton(const FlatGrammar& grammar, StackPool& pool) : g_(grammar), pool_(pool) {}

  StackSet initial();
  // The stacks after frame `frame` resumes (its position is a continuation).
  StackSet resume(int32_t frame);
  // The set for a lone frame at `position` over kSentinel.
  StackSet isolated(int32_t position);
  // `in` after one more byte (accepting/popped refer to the new input only).
  void advance(const StackSet& in, uint8_t byte, StackSet& out);
  // `in` after `bytes`; false when some byte is refused.
  bool advance(const StackSet& in, std::string_view bytes, StackSet& out);

 private:
  void expand(int32_t position, int32_t parent, StackSet& out);
  void finish(StackSet& out);

  const FlatGrammar& g_;
  StackPool& pool_;
  std::vector<uint64_t> expanded_;  // (rule, base) pairs expanded in the current step
};

}  // namespace vllm::structured
