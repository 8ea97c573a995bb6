#include "structured/compiled_grammar.h"

#include <algorithm>

namespace vllm::structured {

namespace {

class PositionAnalysis {
 public:
  PositionAnalysis(const FlatGrammar& g, const TokenVocabulary::Impl& vocab)
      : vocab_(vocab), trie_(vocab.trie), automaton_(g, pool_) {}

  PositionMask run(const std::vector<int32_t>& context) {
    levels_.resize(trie_.max_depth + 2);
    int32_t frame = StackPool::kSentinel;
    size_t n = context.size();
    if (n > 0 && context.back() == StackPool::kBottom) {
      frame = StackPool::kBottom;
      --n;
    }
    for (size_t i = n; i-- > 0;) frame = pool_.intern(context[i], frame);
    levels_[0] = StackSet{{frame}, false, false};
    walk(0, 0);
    PositionMask out;
    int64_t size = static_cast<int64_t>(vocab_.bytes.size());
    if (static_cast<int64_t>(accepted_.size()) * 32 > size) {
      out.accepted_bits.assign((size + 31) / 32, 0);
      for (int32_t id : accepted_) out.accepted_bits[id >> 5] |= uint32_t{1} << (id & 31);
    } else {
      out.accepted_ids = std::move(accepted_);
    }
    std::sort(uncertain_.begin(), uncertain_.end(),
              [](const auto& a, const auto& b) { return a.suffix < b.suffix || (a.suffix == b.suffix && a.id < b.id); });
    out.uncertain = std::move(uncertain_);
    return out;
  }

 private:
  void mark_uncertain(int32_t id) {
    const std::string& bytes = vocab_.bytes[id];
    for (int32_t offset : pops_) uncertain_.push_back({bytes.substr(offset), id});
  }

  void walk(int32_t node_id, int32_t depth) {
    const auto& node = trie_.nodes[node_id];
    for (int32_t c = node.child_begin; c < node.child_end; ++c) {
      const auto& child = trie_.nodes[c];
      StackSet& next = levels_[depth + 1];
      automaton_.advance(levels_[depth], child.byte, next);
      bool alive = !next.stacks.empty();
      bool popped = next.popped;
      bool ended = popped || next.accepting;  // the context (or the whole output) ended here
      for (int32_t i = child.order_begin; i < child.ends_end; ++i) {
        int32_t id = trie_.order[i];
        if (alive || ended) accepted_.push_back(id);
        else if (!pops_.empty()) mark_uncertain(id);
      }
      if (popped) pops_.push_back(depth + 1);
      if (alive) {
        walk(c, depth + 1);
      } else if (!pops_.empty()) {
        for (int32_t i = child.ends_end; i < child.order_end; ++i) mark_uncertain(trie_.order[i]);
      }
      if (popped) pops_.pop_back();
    }
  }

  const TokenVocabulary::Impl& vocab_;
  const TokenTrie& trie_;
  StackPool pool_;
  Automaton automaton_;
  std::vector<StackSet> levels_;
  std::vector<int32_t> pops_;  // depths at which the analysed frame ended on the current path
  std::vector<int32_t> accepted_;
  std::vector<PositionMask::Uncertain> uncertain_;
};

}  // namespace

PositionMask analyse_context(const FlatGrammar& grammar, const TokenVocabulary::Impl& vocab,
                             const std::vector<int32_t>& context) {
  return PositionAnalysis(grammar, vocab).run(context);
}

const PositionMask& CompiledGrammar::context_mask(const std::vector<int32_t>& context) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = masks_[context];
  if (!slot) slot = std::make_unique<PositionMask>(analyse_context(flat, *vocab->impl, context));
  return *slot;
}

std::shared_ptr<const CompiledGrammar> compile_grammar(const Grammar& grammar,
                                                       std::shared_ptr<const TokenVocabulary> vocabulary) {
  return std::make_shared<CompiledGrammar>(lower(grammar), std::move(vocabulary));
}

}  // namespace vllm::structured
