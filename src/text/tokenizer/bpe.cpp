// BPE (HF tokenizers/src/models/bpe): characters (or byte-fallback tokens) merged by rank,
// lowest rank first and leftmost on ties, with a word -> ids cache.
#include <algorithm>
#include <array>
#include <cstdio>
#include <mutex>
#include <shared_mutex>

#include "text/tokenizer/models.h"
#include "text/tokenizer/unicode.h"

namespace vllm {

using tokenizer_json::Source;

namespace {

// A sharded, bounded word cache shared by the threads of encode_batch.
class WordCache {
 public:
  bool get(std::string_view word, std::vector<int32_t>& out) const {
    const Shard& shard = shards_[StringHash{}(word) % kShards];
    std::shared_lock lock(shard.mutex);
    auto it = shard.map.find(word);
    if (it == shard.map.end()) return false;
    out.insert(out.end(), it->second.begin(), it->second.end());
    return true;
  }
  void put(std::string_view word, const int32_t* ids, size_t n) const {
    Shard& shard = shards_[StringHash{}(word) % kShards];
    std::unique_lock lock(shard.mutex);
    if (shard.map.size() >= kCapacityPerShard) return;  // as HF: a full cache stops growing
    shard.map.emplace(std::string(word), std::vector<int32_t>(ids, ids + n));
  }

 private:
  static constexpr size_t kShards = 64;
  static constexpr size_t kCapacityPerShard = 4096;
  struct Shard {
    mutable std::shared_mutex mutex;
    std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> map;
  };
  mutable std::array<Shard, kShards> shards_;
};

struct Symbol {
  int32_t id;
  int32_t prev;
  int32_t next;
  uint32_t len;  // bytes of the word it covers; 0 once merged away
};

class Bpe : public TokenizerModel {
 public:
  bool is_bpe() const override { return true; }
  Bpe(VocabMap vocab, const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options,
      const Source& src)
      : options_(std::move(options)) {
    set_vocab(std::move(vocab));
    merges_.reserve(merges.size() * 2);
    size_t prefix_len = options_.continuing_subword_prefix.size();
    for (size_t rank = 0; rank < merges.size(); ++rank) {
      const auto& [a, b] = merges[rank];
      auto ia = token_to_id(a), ib = token_to_id(b);
      if (!ia) src.fail("merge \"", a, " ", b, "\": token \"", a, "\" is not in the vocabulary");
      if (!ib) src.fail("merge \"", a, " ", b, "\": token \"", b, "\" is not in the vocabulary");
      std::string merged = a;
      merged += b.compare(0, prefix_len, options_.continuing_subword_prefix) == 0 && prefix_len ? b.substr(prefix_len) : b;
      auto id = token_to_id(merged);
      if (!id) src.fail("merge \"", a, " ", b, "\": the merged token \"", merged, "\" is not in the vocabulary");
      merges_.emplace(key(*ia, *ib), std::make_pair(static_cast<int32_t>(rank), *id));
    }
    if (options_.unk_token) {
      unk_id_ = token_to_id(*options_.unk_token);
    }
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof(name), "<0x%02X>", b);
      auto id = token_to_id(name);
      byte_ids_[b] = id ? *id : -1;
    }
  }

  void tokenize(std::string_view word, std::vector<int32_t>& out) const override {
    if (word.empty()) return;
    if (options_.ignore_merges) {
      if (auto id = token_to_id(word)) {
        out.push_back(*id);
        return;
      }
    }
    if (cache_.get(word, out)) return;
    size_t before = out.size();
    merge_word(word, out);
    if (word.size() < 256) cache_.put(word, out.data() + before, out.size() - before);
  }

 private:
  static uint64_t key(int32_t a, int32_t b) { return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b); }

  int32_t rank_of(int32_t a, int32_t b, int32_t* new_id) const {
    auto it = merges_.find(key(a, b));
    if (it == merges_.end()) return -1;
    *new_id = it->second.second;
    return it->second.first;
  }

  // The initial symbols of HF's BPE::merge_word.
  void initial_symbols(std::string_view w, std::vector<Symbol>& symbols) const {
    std::string buffer;
    bool has_unk = false;
    int32_t unk_id = 0;
    uint32_t unk_len = 0;
    auto add = [&](int32_t id, uint32_t len) {
      int32_t index = static_cast<int32_t>(symbols.size());
      symbols.push_back({id, index - 1, -1, len});
      if (index > 0) symbols[index - 1].next = index;
    };
    for (size_t i = 0; i < w.size();) {
      size_t len = std::min(unicode::char_len(static_cast<unsigned char>(w[i])), w.size() - i);
      size_t end = i + len;
      std::string_view piece = w.substr(i, len);
      bool decorate = (i > 0 && !options_.continuing_subword_prefix.empty()) ||
                      (end == w.size() && !options_.end_of_word_suffix.empty());
      if (decorate) {
        buffer.clear();
        if (i > 0) buffer += options_.continuing_subword_prefix;
        buffer += piece;
        if (end == w.size()) buffer += options_.end_of_word_suffix;
        piece = buffer;
      }
      auto id = token_to_id(piece);
      if (id) {
        if (has_unk) {
          add(unk_id, unk_len);
          has_unk = false;
        }
        add(*id, static_cast<uint32_t>(len));
      } else {
        bool done = false;
        if (options_.byte_fallback) {
          bool all = true;
          for (unsigned char b : piece) all = all && byte_ids_[b] >= 0;
          if (all) {
            for (unsigned char b : piece) add(byte_ids_[b], 1);
            done = true;
          }
        }
        if (!done && unk_id_) {
          if (has_unk && options_.fuse_unk) {
            unk_len += static_cast<uint32_t>(len);
          } else {
            if (has_unk) add(unk_id, unk_len);
            has_unk = true;
            unk_id = *unk_id_;
            unk_len = static_cast<uint32_t>(len);
          }
        }
      }
      i = end;
    }
    if (has_unk) add(unk_id, unk_len);
  }

  void merge_word(std::string_view w, std::vector<int32_t>& out) const {
    thread_local std::vector<Symbol> symbols;
    symbols.clear();
    initial_symbols(w, symbols);
    if (symbols.size() < 48) merge_small(symbols);
    else merge_heap(symbols);
    for (const Symbol& s : symbols)
      if (s.len) out.push_back(s.id);
  }

  static void merge_into(std::vector<Symbol>& symbols, int32_t pos, int32_t new_id) {
    Symbol& left = symbols[pos];
    Symbol& right = symbols[left.next];
    left.id = new_id;
    left.len += right.len;
    right.len = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = pos;
  }

  // Few symbols: scan for the lowest (rank, position) pair; the same order as HF's heap.
  void merge_small(std::vector<Symbol>& symbols) const {
    while (true) {
      int32_t best_rank = INT32_MAX, best_pos = -1, best_id = 0;
      for (int32_t pos = 0; pos >= 0 && pos < static_cast<int32_t>(symbols.size()); pos = symbols[pos].next) {
        if (symbols[pos].next < 0) break;
        int32_t new_id = -1;
        int32_t rank = rank_of(symbols[pos].id, symbols[symbols[pos].next].id, &new_id);
        if (rank >= 0 && rank < best_rank) best_rank = rank, best_pos = pos, best_id = new_id;
      }
      if (best_pos < 0) return;
      merge_into(symbols, best_pos, best_id);
    }
  }

  void merge_heap(std::vector<Symbol>& symbols) const {
    struct Entry {
      int32_t rank, pos, new_id;
      bool operator<(const Entry& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::vector<Entry> heap;
    auto push = [&](int32_t pos) {
      if (pos < 0 || symbols[pos].next < 0) return;
      int32_t new_id = -1;
      int32_t rank = rank_of(symbols[pos].id, symbols[symbols[pos].next].id, &new_id);
      if (rank < 0) return;
      heap.push_back({rank, pos, new_id});
      std::push_heap(heap.begin(), heap.end());
    };
    for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) push(i);
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end());
      Entry top = heap.back();
      heap.pop_back();
      Symbol& left = symbols[top.pos];
      if (left.len == 0 || left.next < 0) continue;
      int32_t new_id = -1;
      if (rank_of(left.id, symbols[left.next].id, &new_id) != top.rank || new_id != top.new_id) continue;
      merge_into(symbols, top.pos, top.new_id);
      push(symbols[top.pos].prev);
      push(top.pos);
    }
  }

  BpeOptions options_;
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;  // (a, b) -> (rank, merged id)
  std::optional<int32_t> unk_id_;
  std::array<int32_t, 256> byte_ids_;
  WordCache cache_;
};

}  // namespace

std::unique_ptr<TokenizerModel> make_bpe(VocabMap vocab, const std::vector<std::pair<std::string, std::string>>& merges,
                                BpeOptions options, const Source& src) {
  return std::make_unique<Bpe>(std::move(vocab), merges, std::move(options), src);
}

}  // namespace vllm
