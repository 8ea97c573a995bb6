// Unigram (HF tokenizers/src/models/unigram): the best-scoring segmentation by Viterbi over
// the pieces found in a byte trie; unknown characters cost min_score - 10 and are fused.
#include <cstdio>
#include <limits>

#include "text/tokenizer/models.h"
#include "text/tokenizer/unicode.h"

namespace vllm {

using tokenizer_json::Source;

namespace {

constexpr double kUnkPenalty = 10.0;

class Unigram : public TokenizerModel {
 public:
  Unigram(std::vector<std::pair<std::string, double>> pieces, std::optional<size_t> unk_id, bool byte_fallback,
          const Source& src)
      : byte_fallback_(byte_fallback) {
    VocabMap vocab;
    vocab.reserve(pieces.size());
    scores_.reserve(pieces.size());
    min_score_ = std::numeric_limits<double>::max();
    nodes_.push_back(-1);
    for (size_t i = 0; i < pieces.size(); ++i) {
      vocab.emplace(pieces[i].first, static_cast<int32_t>(i));
      scores_.push_back(pieces[i].second);
      min_score_ = std::min(min_score_, pieces[i].second);
      insert(pieces[i].first, static_cast<int32_t>(i));
    }
    set_vocab(std::move(vocab));
    if (unk_id) {
      if (*unk_id >= pieces.size()) src.fail("unk_id ", *unk_id, " is outside the vocabulary");
      unk_id_ = static_cast<int32_t>(*unk_id);
    }
  }

  void tokenize(std::string_view text, std::vector<int32_t>& out) const override {
    if (text.empty()) return;
    struct Node {
      int32_t id = -1;
      double score = 0.0;
      int64_t starts_at = -1;
    };
    const size_t size = text.size();
    std::vector<Node> best(size + 1);
    const double unk_score = min_score_ - kUnkPenalty;
    size_t start = 0;
    while (start < size) {
      double base = best[start].score;
      size_t mblen = std::min(unicode::char_len(static_cast<unsigned char>(text[start])), size - start);
      bool has_single = false;
      int32_t node = 0;
      for (size_t k = start; k < size; ++k) {
        auto it = children_.find((static_cast<uint64_t>(node) << 8) | static_cast<unsigned char>(text[k]));
        if (it == children_.end()) break;
        node = it->second;
        int32_t id = nodes_[node];
        if (id < 0) continue;
        size_t end = k + 1;
        double candidate = base + scores_[id];
        if (best[end].starts_at < 0 || candidate > best[end].score) best[end] = {id, candidate, static_cast<int64_t>(start)};
        if (end - start == mblen) has_single = true;
      }
      if (!has_single) {
        double candidate = base + unk_score;
        Node& target = best[start + mblen];
        if (target.starts_at < 0 || candidate > target.score)
          target = {unk_id_ ? *unk_id_ : -1, candidate, static_cast<int64_t>(start)};
      }
      start += mblen;
    }
    // Walk back; consecutive unknowns are fused into one piece.
    std::vector<std::pair<size_t, size_t>> pieces;  // reversed
    size_t end = size;
    size_t unk_end = 0;
    bool in_unk = false;
    while (end > 0) {
      const Node& n = best[end];
      size_t s = static_cast<size_t>(n.starts_at);
      bool is_unk = unk_id_ && n.id == *unk_id_;
      if (is_unk) {
        if (!in_unk) unk_end = end;
        in_unk = true;
      } else {
        if (in_unk) pieces.emplace_back(end, unk_end);
        in_unk = false;
        pieces.emplace_back(s, end);
      }
      end = s;
    }
    if (in_unk) pieces.emplace_back(0, unk_end);
    for (auto it = pieces.rbegin(); it != pieces.rend(); ++it) emit(text.substr(it->first, it->second - it->first), out);
  }

 private:
  void emit(std::string_view piece, std::vector<int32_t>& out) const {
    if (auto id = token_to_id(piece)) {
      out.push_back(*id);
      return;
    }
    if (byte_fallback_) {
      std::vector<int32_t> bytes;
      for (unsigned char b : piece) {
        char name[8];
        std::snprintf(name, sizeof(name), "<0x%02X>", b);
        auto id = token_to_id(name);
        if (!id) break;
        bytes.push_back(*id);
      }
      if (bytes.size() == piece.size()) {
        out.insert(out.end(), bytes.begin(), bytes.end());
        return;
      }
    }
    if (unk_id_) out.push_back(*unk_id_);
  }

  void insert(const std::string& piece, int32_t id) {
    int32_t node = 0;
    for (unsigned char c : piece) {
      uint64_t k = (static_cast<uint64_t>(node) << 8) | c;
      auto it = children_.find(k);
      if (it == children_.end()) {
        nodes_.push_back(-1);
        it = children_.emplace(k, static_cast<int32_t>(nodes_.size() - 1)).first;
      }
      node = it->second;
    }
    if (nodes_[node] < 0) nodes_[node] = id;
  }

  bool byte_fallback_;
  std::vector<double> scores_;
  double min_score_;
  std::optional<int32_t> unk_id_;
  std::vector<int32_t> nodes_;                        // trie node -> piece id or -1
  std::unordered_map<uint64_t, int32_t> children_;  // (node << 8 | byte) -> child node
};

}  // namespace

std::unique_ptr<TokenizerModel> make_unigram(std::vector<std::pair<std::string, double>> vocab, std::optional<size_t> unk_id,
                                    bool byte_fallback, const Source& src) {
  return std::make_unique<Unigram>(std::move(vocab), unk_id, byte_fallback, src);
}

}  // namespace vllm
