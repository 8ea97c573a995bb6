// Helpers of the structured-output tests: byte-level recognition of a grammar and a brute-force
// check of token masks against it.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "structured/compiled_grammar.h"
#include "structured/grammar.h"
#include "structured/grammar_ir.h"
#include "structured/pda.h"

namespace vllm::structured::testing {

// Byte-level: is `text` in the language (full) or a prefix of a word of it (viable)?
struct ByteRecognizer {
  explicit ByteRecognizer(const Grammar& g) : flat(lower(g)) {}
  explicit ByteRecognizer(FlatGrammar f) : flat(std::move(f)) {}
  FlatGrammar flat;
  bool run(const std::string& text, bool full) const {
    StackPool pool;
    Automaton a(flat, pool);
    StackSet s = a.initial(), next;
    bool ok = a.advance(s, text, next);
    if (!ok) return false;
    return full ? next.accepting : !next.dead();
  }
  bool matches(const std::string& text) const { return run(text, true); }
  bool viable(const std::string& text) const { return run(text, false); }
};

inline std::vector<uint32_t> mask_of(const GrammarMatcher& m, int64_t vocab_size) {
  std::vector<uint32_t> mask(GrammarMatcher::bitmask_words(vocab_size), 0xFFFFFFFFu);
  m.fill_next_token_bitmask(mask.data());
  return mask;
}

inline bool bit(const std::vector<uint32_t>& mask, int32_t id) { return (mask[id >> 5] >> (id & 31)) & 1; }

// The mask allows exactly the tokens whose bytes keep `output` a viable prefix (stop tokens:
// exactly when `output` is complete); also that accept_token agrees with the mask.
inline void expect_mask_exact(GrammarMatcher& m, const TokenVocabulary& vocab, const ByteRecognizer& rec,
                              const std::string& output, int max_reports = 5) {
  auto mask = mask_of(m, vocab.size());
  const auto& stops = vocab.stop_token_ids();
  // The output's state once, then each token's bytes from it.
  StackPool pool;
  Automaton automaton(rec.flat, pool);
  StackSet after_output, after_token;
  bool output_ok = automaton.advance(automaton.initial(), output, after_output);
  int reports = 0;
  for (int32_t id = 0; id < vocab.size(); ++id) {
    bool is_stop = std::find(stops.begin(), stops.end(), id) != stops.end();
    bool expected;
    if (is_stop) {
      expected = output_ok && after_output.accepting;
    } else if (vocab.bytes(id).empty() || !output_ok) {
      expected = false;
    } else {
      expected = automaton.advance(after_output, vocab.bytes(id), after_token);
    }
    if (bit(mask, id) != expected && reports++ < max_reports) {
      ADD_FAILURE() << "after \"" << output << "\": token " << id << " \"" << vocab.bytes(id) << "\" mask "
                    << bit(mask, id) << " expected " << expected;
    }
  }
  // Words past the vocabulary are zero.
  int64_t tail = vocab.size() % 32;
  if (tail) {
    EXPECT_EQ(mask.back() >> tail, 0u);
  }
}

}  // namespace vllm::structured::testing
