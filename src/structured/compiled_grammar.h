// A grammar compiled for one vocabulary: the lowered automaton and, per top of stack (the
// positions of its top kContextFrames frames), the tokens whose fate does not depend on the
// stack below (xgrammar's context-independent tokens), computed on first use and shared by
// every matcher of the grammar.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <map>
#include <vector>

#include "structured/grammar.h"
#include "structured/grammar_ir.h"
#include "structured/pda.h"
#include "structured/vocabulary.h"

namespace vllm::structured {

// The tokens seen from the top frames of a stack with nothing known below them: accepted
// whatever follows, or `uncertain`: the top frames end inside the token and the rest of its
// bytes (`suffix`) must be accepted by whatever frame resumes then. Every other token is
// rejected there. Several frames, not one: a small rule (a string's character) ends inside
// nearly every token, its caller's frames rarely do.
struct PositionMask {
  std::vector<uint32_t> accepted_bits;  // a full bitmask when many tokens are accepted
  std::vector<int32_t> accepted_ids;    // otherwise the ids
  struct Uncertain {
    std::string suffix;
    int32_t id;
  };
  std::vector<Uncertain> uncertain;  // sorted by suffix
};

// How many frames the context key holds.
constexpr int kContextFrames = 3;

// `context`: positions from the top frame down; a trailing StackPool::kBottom when the stack
// ends there (then nothing is uncertain).
PositionMask analyse_context(const FlatGrammar& grammar, const TokenVocabulary::Impl& vocab,
                             const std::vector<int32_t>& context);

class CompiledGrammar {
 public:
  CompiledGrammar(FlatGrammar grammar, std::shared_ptr<const TokenVocabulary> vocabulary)
      : flat(std::move(grammar)), vocab(std::move(vocabulary)) {}
  const PositionMask& context_mask(const std::vector<int32_t>& context) const;

  FlatGrammar flat;
  std::shared_ptr<const TokenVocabulary> vocab;

 private:
  mutable std::mutex mutex_;
  mutable std::map<std::vector<int32_t>, std::unique_ptr<PositionMask>> masks_;
};

std::shared_ptr<const CompiledGrammar> compile_grammar(const Grammar& grammar,
                                                       std::shared_ptr<const TokenVocabulary> vocabulary);

}  // namespace vllm::structured
