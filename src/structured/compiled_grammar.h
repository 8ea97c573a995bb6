// A grammar compiled for one vocabulary: the lowered automaton and, per byte-set position, the
// tokens whose fate does not depend on the stack below (xgrammar's context-independent tokens),
// computed on first use and shared by every matcher of the grammar.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "structured/grammar.h"
#include "structured/grammar_ir.h"
#include "structured/pda.h"
#include "structured/vocabulary.h"

namespace vllm::structured {

// The tokens seen from one position p of the grammar with nothing known below p's frame:
// accepted whatever follows, or `uncertain`: p's frame ends inside the token and the rest of
// its bytes (`suffix`) must be accepted by whatever frame resumes then. Every other token is
// rejected at p.
struct PositionMask {
  std::vector<uint32_t> accepted_bits;  // a full bitmask when many tokens are accepted
  std::vector<int32_t> accepted_ids;    // otherwise the ids
  struct Uncertain {
    std::string suffix;
    int32_t id;
  };
  std::vector<Uncertain> uncertain;  // sorted by suffix
};

PositionMask analyse_position(const FlatGrammar& grammar, const TokenVocabulary::Impl& vocab, int32_t position);

class CompiledGrammar {
 public:
  CompiledGrammar(FlatGrammar grammar, std::shared_ptr<const TokenVocabulary> vocabulary)
      : flat(std::move(grammar)), vocab(std::move(vocabulary)) {}
  const PositionMask& position_mask(int32_t position) const;

  FlatGrammar flat;
  std::shared_ptr<const TokenVocabulary> vocab;

 private:
  mutable std::mutex mutex_;
  mutable std::unordered_map<int32_t, std::unique_ptr<PositionMask>> masks_;
};

std::shared_ptr<const CompiledGrammar> compile_grammar(const Grammar& grammar,
                                                       std::shared_ptr<const TokenVocabulary> vocabulary);

}  // namespace vllm::structured
