#include "text/tokenizer/added_vocabulary.h"

#include "text/tokenizer/normalizers.h"
#include "text/tokenizer/unicode.h"

namespace vllm {

void AddedVocabulary::add(AddedToken token) {
  auto it = by_id_.find(token.id);
  if (it != by_id_.end()) {
    tokens_[it->second] = std::move(token);
    return;
  }
  by_id_.emplace(token.id, tokens_.size());
  tokens_.push_back(std::move(token));
}

void AddedVocabulary::Matcher::insert(const std::string& pattern, int32_t index) {
  if (pattern.empty()) return;
  int32_t node = 0;
  for (unsigned char c : pattern) {
    auto it = children[node].find(c);
    if (it == children[node].end()) {
      children.emplace_back();
      terminal.push_back(-1);
      it = children[node].emplace(c, static_cast<int32_t>(children.size() - 1)).first;
    }
    node = it->second;
  }
  if (terminal[node] < 0) terminal[node] = index;
  first_bytes.set(static_cast<unsigned char>(pattern[0]));
}

void AddedVocabulary::build(const Normalizer* normalizer) {
  raw_ = Matcher();
  normalized_ = Matcher();
  for (size_t i = 0; i < tokens_.size(); ++i) {
    AddedToken& t = tokens_[i];
    t.decoded = t.content;
    if (t.normalized) {
      std::string content = t.content;
      if (normalizer) normalizer->normalize(content);
      normalized_.insert(content, static_cast<int32_t>(i));
      t.decoded = content;
    } else {
      raw_.insert(t.content, static_cast<int32_t>(i));
    }
  }
}

static bool is_word_char(char32_t c) { return c == '_' || unicode::is_alphanumeric(c); }

static char32_t last_char(std::string_view s) {
  size_t begin = s.size() - 1;
  while (begin > 0 && (static_cast<unsigned char>(s[begin]) & 0xC0) == 0x80) --begin;
  size_t len;
  return unicode::decode(s, begin, len);
}

std::vector<TextSegment> AddedVocabulary::split(std::string_view text, bool normalized_set) const {
  const Matcher& m = normalized_set ? normalized_ : raw_;
  std::vector<TextSegment> out;
  if (m.empty() || text.empty()) {
    out.push_back({0, text.size(), -1});
    return out;
  }
  size_t start_offset = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (!m.first_bytes.test(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    // The longest token starting at i.
    int32_t node = 0, best = -1;
    size_t best_end = 0;
    for (size_t k = i; k < text.size(); ++k) {
      auto it = m.children[node].find(static_cast<unsigned char>(text[k]));
      if (it == m.children[node].end()) break;
      node = it->second;
      if (m.terminal[node] >= 0) best = m.terminal[node], best_end = k + 1;
    }
    if (best < 0) {
      ++i;
      continue;
    }
    const AddedToken& token = tokens_[best];
    size_t start = i, stop = best_end;
    if (token.single_word) {
      bool start_space = start == 0 || !is_word_char(last_char(text.substr(0, start)));
      size_t len;
      bool stop_space = stop == text.size() || !is_word_char(unicode::decode(text, stop, len));
      if (!start_space || !stop_space) {  // rejected; the search resumes after it, as HF's iterator
        i = best_end;
        continue;
      }
    }
    if (token.lstrip) {
      size_t s = start;
      while (s > 0) {
        size_t b = s - 1;
        while (b > 0 && (static_cast<unsigned char>(text[b]) & 0xC0) == 0x80) --b;
        size_t len;
        if (!unicode::is_whitespace(unicode::decode(text, b, len))) break;
        s = b;
      }
      start = std::max(s, start_offset);
    }
    if (token.rstrip) {
      size_t len;
      while (stop < text.size() && unicode::is_whitespace(unicode::decode(text, stop, len))) stop += len;
    }
    if (start_offset < start) out.push_back({start_offset, start, -1});
    out.push_back({start, stop, token.id});
    start_offset = stop;
    i = stop;
  }
  if (start_offset != text.size()) out.push_back({start_offset, text.size(), -1});
  return out;
}

const AddedToken* AddedVocabulary::find_id(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

std::optional<int32_t> AddedVocabulary::find_content(std::string_view content) const {
  for (const AddedToken& t : tokens_)
    if (t.content == content) return t.id;
  return std::nullopt;
}

}  // namespace vllm
