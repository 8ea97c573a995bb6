#include "structured/grammar.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "structured/compiled_grammar.h"
#include "structured/frontends.h"

namespace vllm::structured {

StructuredOutputSpec StructuredOutputSpec::json_schema(std::string schema_json) {
  StructuredOutputSpec s;
  s.kind = Kind::JsonSchema;
  s.text = std::move(schema_json);
  return s;
}

StructuredOutputSpec StructuredOutputSpec::json_object() { return StructuredOutputSpec{}; }

StructuredOutputSpec StructuredOutputSpec::regex(std::string pattern) {
  StructuredOutputSpec s;
  s.kind = Kind::Regex;
  s.text = std::move(pattern);
  return s;
}

StructuredOutputSpec StructuredOutputSpec::choice(std::vector<std::string> choices) {
  StructuredOutputSpec s;
  s.kind = Kind::Choice;
  s.choices = std::move(choices);
  return s;
}

StructuredOutputSpec StructuredOutputSpec::grammar(std::string ebnf) {
  StructuredOutputSpec s;
  s.kind = Kind::Grammar;
  s.text = std::move(ebnf);
  return s;
}

std::string StructuredOutputSpec::key() const {
  nlohmann::json j = {static_cast<int>(kind), text, choices, any_whitespace,
                      whitespace_pattern ? nlohmann::json(*whitespace_pattern) : nlohmann::json()};
  return j.dump();
}

// --- GrammarCompiler ------------------------------------------------------------------------

struct GrammarCompiler::State {
  std::shared_ptr<const TokenVocabulary> vocabulary;
  std::mutex mutex;
  std::map<std::string, std::shared_ptr<const CompiledGrammar>> cache;
};

GrammarCompiler::GrammarCompiler(std::shared_ptr<const TokenVocabulary> vocabulary)
    : state_(std::make_unique<State>()) {
  VLLM_CHECK(vocabulary, InvalidArgument, "GrammarCompiler needs a vocabulary");
  state_->vocabulary = std::move(vocabulary);
}

GrammarCompiler::~GrammarCompiler() = default;

namespace {

Grammar grammar_of(const StructuredOutputSpec& spec) {
  JsonWhitespace ws{spec.any_whitespace, spec.whitespace_pattern};
  switch (spec.kind) {
    case StructuredOutputSpec::Kind::JsonSchema: return grammar_from_json_schema(spec.text, ws);
    case StructuredOutputSpec::Kind::JsonObject: return json_object_grammar(ws);
    case StructuredOutputSpec::Kind::Regex: return grammar_from_regex(spec.text);
    case StructuredOutputSpec::Kind::Choice: return grammar_from_choices(spec.choices);
    case StructuredOutputSpec::Kind::Grammar: return grammar_from_ebnf(spec.text);
    case StructuredOutputSpec::Kind::StructuralTag: return grammar_from_structural_tag(spec.text, ws);
  }
  fail(ErrorKind::Internal, "unknown structured output kind");
}

}  // namespace

std::shared_ptr<const CompiledGrammar> GrammarCompiler::compile(const StructuredOutputSpec& spec) {
  std::string key = spec.key();
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    auto it = state_->cache.find(key);
    if (it != state_->cache.end()) return it->second;
  }
  // Compiled outside the lock; when two threads race on one spec the first stored wins, so
  // every caller sees the same pointer.
  auto compiled = compile_grammar(grammar_of(spec), state_->vocabulary);
  std::lock_guard<std::mutex> lock(state_->mutex);
  auto [it, inserted] = state_->cache.try_emplace(key, std::move(compiled));
  return it->second;
}

// --- GrammarMatcher -------------------------------------------------------------------------

struct GrammarMatcher::State {
  explicit State(std::shared_ptr<const CompiledGrammar> g) : grammar(std::move(g)), automaton(grammar->flat, pool) {}
  struct Entry {
    StackSet set;
    bool terminated = false;
  };
  std::shared_ptr<const CompiledGrammar> grammar;
  StackPool pool;
  Automaton automaton;
  std::vector<Entry> history;   // one entry per accepted token, after the initial state
  std::vector<StackSet> levels; // scratch of fill_next_token_bitmask
};

GrammarMatcher::GrammarMatcher(std::shared_ptr<const CompiledGrammar> grammar) {
  VLLM_CHECK(grammar, InvalidArgument, "GrammarMatcher needs a compiled grammar");
  state_ = std::make_unique<State>(std::move(grammar));
  state_->history.push_back({state_->automaton.initial(), false});
}

GrammarMatcher::~GrammarMatcher() = default;
GrammarMatcher::GrammarMatcher(GrammarMatcher&&) noexcept = default;
GrammarMatcher& GrammarMatcher::operator=(GrammarMatcher&&) noexcept = default;

int64_t GrammarMatcher::vocab_size() const { return static_cast<int64_t>(state_->grammar->vocab->impl->bytes.size()); }

void GrammarMatcher::fill_bitmask_for(int64_t logits_vocab, uint32_t* bitmask) const {
  const int64_t words = bitmask_words(logits_vocab), own = bitmask_words(vocab_size());
  if (own <= words) {
    std::fill(bitmask + own, bitmask + words, 0u);
    fill_next_token_bitmask(bitmask);
    return;
  }
  std::vector<uint32_t> full(static_cast<size_t>(own));
  fill_next_token_bitmask(full.data());
  std::copy(full.begin(), full.begin() + words, bitmask);
}

void GrammarMatcher::fill_next_token_bitmask(uint32_t* bitmask) const {
  State& s = *state_;
  const auto& vocab = *s.grammar->vocab->impl;
  int64_t words = bitmask_words(static_cast<int64_t>(vocab.bytes.size()));
  std::fill(bitmask, bitmask + words, 0u);
  const auto& entry = s.history.back();
  if (entry.terminated) return;
  auto set_bit = [&](int32_t id) { bitmask[id >> 5] |= uint32_t{1} << (id & 31); };
  // Each stack's context: its top frames' positions, and the frame that resumes below them.
  size_t n = entry.set.stacks.size();
  std::vector<std::vector<int32_t>> contexts(n);
  std::vector<int32_t> resume(n);
  for (size_t i = 0; i < n; ++i) {
    int32_t f = entry.set.stacks[i];
    for (int k = 0; k < kContextFrames && f >= 0; ++k) {
      contexts[i].push_back(s.pool[f].position);
      f = s.pool[f].parent;
    }
    if (f == StackPool::kBottom) contexts[i].push_back(StackPool::kBottom);
    resume[i] = f;
  }
  std::vector<const PositionMask*> masks(n);
  for (size_t i = 0; i < n; ++i) {
    masks[i] = &s.grammar->context_mask(contexts[i]);
    bool seen = false;
    for (size_t j = 0; j < i; ++j) seen = seen || masks[j] == masks[i];
    if (seen) continue;
    const PositionMask& m = *masks[i];
    if (!m.accepted_bits.empty()) {
      for (int64_t w = 0; w < words; ++w) bitmask[w] |= m.accepted_bits[w];
    } else {
      for (int32_t id : m.accepted_ids) set_bit(id);
    }
  }
  // Uncertain tokens: the suffix past the context's end, run from the frame below, sharing the
  // work of common prefixes (the suffixes are sorted).
  for (size_t i = 0; i < n; ++i) {
    const PositionMask& m = *masks[i];
    if (m.uncertain.empty()) continue;
    auto& levels = s.levels;
    if (levels.size() < 2) levels.resize(2);
    levels[0] = s.automaton.resume(resume[i]);
    const std::string* prev = nullptr;
    size_t computed = 0;  // levels[0..computed] hold the states of prev's first bytes
    for (const auto& u : m.uncertain) {
      const std::string& suffix = u.suffix;
      size_t lcp = 0;
      if (prev) {
        size_t limit = std::min({prev->size(), suffix.size(), computed});
        while (lcp < limit && (*prev)[lcp] == suffix[lcp]) ++lcp;
      }
      size_t d = lcp;
      if (levels.size() < suffix.size() + 1) levels.resize(suffix.size() + 1);
      while (d < suffix.size() && !levels[d].stacks.empty()) {
        s.automaton.advance(levels[d], static_cast<uint8_t>(suffix[d]), levels[d + 1]);
        ++d;
      }
      computed = d;
      prev = &suffix;
      if (d == suffix.size() && !levels[d].dead()) set_bit(u.id);
    }
  }
  if (entry.set.accepting)
    for (int32_t id : vocab.stop_token_ids) set_bit(id);
}

bool GrammarMatcher::accept_token(int32_t id) {
  State& s = *state_;
  const auto& vocab = *s.grammar->vocab->impl;
  const auto& entry = s.history.back();
  if (entry.terminated || id < 0 || id >= static_cast<int64_t>(vocab.bytes.size())) return false;
  if (vocab.is_stop[id]) {
    if (!entry.set.accepting) return false;
    s.history.push_back({entry.set, true});
    return true;
  }
  const std::string& bytes = vocab.bytes[id];
  if (bytes.empty()) return false;
  StackSet next;
  if (!s.automaton.advance(entry.set, bytes, next)) return false;
  s.history.push_back({std::move(next), false});
  return true;
}

void GrammarMatcher::rollback(int64_t count) {
  VLLM_CHECK(count >= 0 && count <= num_accepted_tokens(), InvalidArgument, "rollback of ", count,
             " tokens, but only ", num_accepted_tokens(), " were accepted");
  state_->history.resize(state_->history.size() - count);
}

bool GrammarMatcher::is_terminated() const { return state_->history.back().terminated; }
bool GrammarMatcher::can_terminate() const { return state_->history.back().set.accepting; }
int64_t GrammarMatcher::num_accepted_tokens() const { return static_cast<int64_t>(state_->history.size()) - 1; }

}  // namespace vllm::structured
