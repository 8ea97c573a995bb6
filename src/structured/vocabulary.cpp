#include "structured/vocabulary.h"

#include <algorithm>
#include <deque>
#include <numeric>

#include "core/error.h"
#include "text/tokenizer/tokenizer.h"

namespace vllm::structured {

namespace {

// GPT-2's bytes_to_unicode, inverted: code point -> byte.
const std::vector<int>& unicode_to_byte() {
  static const std::vector<int> table = [] {
    std::vector<int> t(0x200, -1);
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      int cp = printable ? b : 256 + n++;
      t[cp] = b;
    }
    return t;
  }();
  return table;
}

// Decodes one UTF-8 code point at s[i]; advances i. Invalid bytes come back as -1.
int32_t next_code_point(const std::string& s, size_t& i) {
  unsigned char c = s[i];
  int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (len == 0 || i + len > s.size()) {
    ++i;
    return -1;
  }
  int32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
  for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += len;
  return cp;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string decode_token(const std::string& token, TokenEncoding encoding) {
  switch (encoding) {
    case TokenEncoding::Raw: return token;
    case TokenEncoding::ByteLevel: {
      std::string out;
      const auto& table = unicode_to_byte();
      for (size_t i = 0; i < token.size();) {
        size_t start = i;
        int32_t cp = next_code_point(token, i);
        if (cp >= 0 && cp < static_cast<int32_t>(table.size()) && table[cp] >= 0)
          out += static_cast<char>(table[cp]);
        else
          out.append(token, start, i - start);  // not a mapped character: keep its bytes
      }
      return out;
    }
    case TokenEncoding::SentencePiece: {
      if (token.size() == 6 && token.compare(0, 3, "<0x") == 0 && token[5] == '>') {
        int hi = hex_value(token[3]), lo = hex_value(token[4]);
        if (hi >= 0 && lo >= 0) return std::string(1, static_cast<char>(hi * 16 + lo));
      }
      std::string out;
      static const std::string kSpace = "\xE2\x96\x81";  // ▁
      for (size_t i = 0; i < token.size();) {
        if (token.compare(i, 3, kSpace) == 0) {
          out += ' ';
          i += 3;
        } else {
          out += token[i++];
        }
      }
      return out;
    }
  }
  return token;
}

TokenTrie build_trie(const std::vector<std::string>& bytes, const std::vector<bool>& excluded) {
  TokenTrie trie;
  for (size_t id = 0; id < bytes.size(); ++id)
    if (!excluded[id] && !bytes[id].empty()) trie.order.push_back(static_cast<int32_t>(id));
  std::stable_sort(trie.order.begin(), trie.order.end(),
                   [&](int32_t a, int32_t b) { return bytes[a] < bytes[b]; });
  trie.nodes.push_back({0, 0, 0, 0, 0, static_cast<int32_t>(trie.order.size())});
  std::deque<std::pair<int32_t, int32_t>> queue{{0, 0}};  // (node, depth)
  while (!queue.empty()) {
    auto [node, depth] = queue.front();
    queue.pop_front();
    trie.max_depth = std::max(trie.max_depth, depth);
    int32_t i = trie.nodes[node].order_begin, end = trie.nodes[node].order_end;
    while (i < end && static_cast<int32_t>(bytes[trie.order[i]].size()) == depth) ++i;
    trie.nodes[node].ends_end = i;
    int32_t first_child = static_cast<int32_t>(trie.nodes.size());
    while (i < end) {
      uint8_t b = static_cast<uint8_t>(bytes[trie.order[i]][depth]);
      int32_t j = i;
      while (j < end && static_cast<uint8_t>(bytes[trie.order[j]][depth]) == b) ++j;
      TokenTrie::Node child;
      child.byte = b;
      child.order_begin = i;
      child.order_end = j;
      queue.push_back({static_cast<int32_t>(trie.nodes.size()), depth + 1});
      trie.nodes.push_back(child);
      i = j;
    }
    trie.nodes[node].child_begin = first_child;
    trie.nodes[node].child_end = static_cast<int32_t>(trie.nodes.size());
  }
  return trie;
}

namespace {

std::shared_ptr<const TokenVocabulary> make_vocabulary(std::vector<std::string> bytes, std::vector<bool> excluded,
                                                       std::vector<int32_t> stop_token_ids) {
  auto impl = std::make_shared<TokenVocabulary::Impl>();
  impl->is_stop.assign(bytes.size(), false);
  for (int32_t id : stop_token_ids) {
    VLLM_CHECK(id >= 0 && id < static_cast<int64_t>(bytes.size()), InvalidArgument, "stop token id ", id,
               " is outside the vocabulary of ", bytes.size(), " tokens");
    impl->is_stop[id] = true;
    excluded[id] = true;
  }
  impl->trie = build_trie(bytes, excluded);
  for (size_t id = 0; id < bytes.size(); ++id)
    if (excluded[id] && !impl->is_stop[id]) bytes[id].clear();
  impl->bytes = std::move(bytes);
  impl->stop_token_ids = std::move(stop_token_ids);
  auto vocab = std::make_shared<TokenVocabulary>();
  vocab->impl = std::move(impl);
  return vocab;
}

}  // namespace

std::shared_ptr<const TokenVocabulary> TokenVocabulary::from_tokens(std::vector<std::string> token_bytes,
                                                                    std::vector<int32_t> stop_token_ids) {
  std::vector<bool> excluded(token_bytes.size(), false);
  return make_vocabulary(std::move(token_bytes), std::move(excluded), std::move(stop_token_ids));
}

std::shared_ptr<const TokenVocabulary> TokenVocabulary::from_tokenizer(const Tokenizer& tokenizer,
                                                                       std::vector<int32_t> stop_token_ids,
                                                                       int64_t model_vocab_size) {
  int64_t n = static_cast<int64_t>(tokenizer.vocab_size());
  VLLM_CHECK(model_vocab_size <= 0 || model_vocab_size >= n, InvalidArgument, "model vocabulary size ",
             model_vocab_size, " is smaller than the tokenizer's ", n);
  int64_t size = std::max(n, model_vocab_size);
  // Which encoding the vocabulary strings use (xgrammar reads the decoder; the vocabulary tells
  // the same): SentencePiece byte fallback has <0x0A>, byte-level BPE spells space as Ġ.
  TokenEncoding encoding = TokenEncoding::Raw;
  if (tokenizer.token_to_id("<0x0A>") && tokenizer.token_to_id("\xE2\x96\x81"))
    encoding = TokenEncoding::SentencePiece;
  else if (tokenizer.token_to_id("\xC4\xA0") || tokenizer.token_to_id("\xC4\x8A"))  // Ġ, Ċ
    encoding = TokenEncoding::ByteLevel;
  else if (tokenizer.token_to_id("\xE2\x96\x81"))
    encoding = TokenEncoding::SentencePiece;
  std::vector<std::string> bytes(size);
  std::vector<bool> excluded(size, true);
  for (int64_t id = 0; id < n; ++id) {
    auto i = static_cast<int32_t>(id);
    bytes[id] = decode_token(tokenizer.id_to_token(i), encoding);
    excluded[id] = tokenizer.is_added_token(i) || tokenizer.is_special(i) || bytes[id].empty();
  }
  return make_vocabulary(std::move(bytes), std::move(excluded), std::move(stop_token_ids));
}

int64_t TokenVocabulary::size() const { return static_cast<int64_t>(impl->bytes.size()); }
const std::string& TokenVocabulary::bytes(int32_t id) const { return impl->bytes.at(id); }
const std::vector<int32_t>& TokenVocabulary::stop_token_ids() const { return impl->stop_token_ids; }

}  // namespace vllm::structured
