#include "structured/pda.h"

#include <algorithm>

namespace vllm::structured {

int32_t StackPool::intern(int32_t position, int32_t parent) {
  uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(position)) << 32) | static_cast<uint32_t>(parent);
  auto [it, inserted] = index_.try_emplace(key, static_cast<int32_t>(frames_.size()));
  if (inserted) frames_.push_back({position, parent});
  return it->second;
}

void Automaton::expand(int32_t position, int32_t parent, StackSet& out) {
  for (;;) {
    const auto& el = g_.elements[position];
    if (el.kind == FlatGrammar::Element::Bytes) {
      out.stacks.push_back(pool_.intern(position, parent));
      return;
    }
    if (el.kind == FlatGrammar::Element::End) {
      if (parent == StackPool::kBottom) {
        out.accepting = true;
        return;
      }
      if (parent == StackPool::kSentinel) {
        out.popped = true;
        return;
      }
      const auto& frame = pool_[parent];
      position = frame.position;
      parent = frame.parent;
      continue;
    }
    // A reference: the continuation becomes a frame unless it is the alternative's end (a tail
    // call pushes nothing, so repetition runs in constant stack depth).
    int32_t rule = el.value;
    int32_t next = position + 1;
    int32_t base = g_.elements[next].kind == FlatGrammar::Element::End ? parent : pool_.intern(next, parent);
    uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(rule)) << 32) | static_cast<uint32_t>(base);
    if (std::find(expanded_.begin(), expanded_.end(), key) != expanded_.end()) return;
    expanded_.push_back(key);
    const auto& alts = g_.alternatives[rule];
    for (size_t i = 0; i + 1 < alts.size(); ++i) expand(alts[i], base, out);
    if (alts.empty()) return;
    position = alts.back();
    parent = base;
  }
}

void Automaton::finish(StackSet& out) {
  std::sort(out.stacks.begin(), out.stacks.end());
  out.stacks.erase(std::unique(out.stacks.begin(), out.stacks.end()), out.stacks.end());
}

StackSet Automaton::initial() {
  StackSet out;
  expanded_.clear();
  for (int32_t start : g_.alternatives[g_.root]) expand(start, StackPool::kBottom, out);
  finish(out);
  return out;
}

StackSet Automaton::resume(int32_t frame) {
  StackSet out;
  expanded_.clear();
  if (frame == StackPool::kBottom) {
    out.accepting = true;
  } else {
    expand(pool_[frame].position, pool_[frame].parent, out);
  }
  finish(out);
  return out;
}

StackSet Automaton::isolated(int32_t position) {
  StackSet out;
  out.stacks.push_back(pool_.intern(position, StackPool::kSentinel));
  return out;
}

void Automaton::advance(const StackSet& in, uint8_t byte, StackSet& out) {
  out.stacks.clear();
  out.accepting = out.popped = false;
  expanded_.clear();
  for (int32_t s : in.stacks) {
    const auto& frame = pool_[s];
    if (g_.byte_sets[g_.elements[frame.position].value].test(byte)) expand(frame.position + 1, frame.parent, out);
  }
  finish(out);
}

bool Automaton::advance(const StackSet& in, std::string_view bytes, StackSet& out) {
  out = in;
  StackSet next;
  for (size_t i = 0; i < bytes.size(); ++i) {
    advance(out, static_cast<uint8_t>(bytes[i]), next);
    std::swap(out, next);
    if (out.stacks.empty() && i + 1 < bytes.size()) return false;
  }
  return !out.dead();
}

}  // namespace vllm::structured
