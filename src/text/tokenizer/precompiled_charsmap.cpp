// The Precompiled normalizer: SentencePiece's compiled character map (a darts-clone double-array
// trie over UTF-8 keys plus a blob of NUL-terminated replacements), applied grapheme by grapheme
// as HF's spm_precompiled crate does.
#include <utf8proc.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "text/tokenizer/normalizers.h"
#include "text/tokenizer/unicode.h"

namespace vllm {

namespace {

std::string base64_decode(const std::string& in, const tokenizer_json::Source& src) {
  static const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=' || c == '\n' || c == '\r') continue;
    size_t v = alphabet.find(c);
    if (v == std::string::npos) src.fail("precompiled_charsmap is not valid base64");
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return out;
}

class Precompiled : public Normalizer {
 public:
  Precompiled(const std::string& blob, const tokenizer_json::Source& src) {
    if (blob.size() < 4) src.fail("precompiled_charsmap is too short");
    uint32_t trie_size;
    std::memcpy(&trie_size, blob.data(), 4);
    if (trie_size % 4 != 0 || 4 + static_cast<size_t>(trie_size) > blob.size())
      src.fail("precompiled_charsmap has a bad trie size");
    units_.resize(trie_size / 4);
    std::memcpy(units_.data(), blob.data() + 4, trie_size);
    normalized_ = blob.substr(4 + trie_size);
  }

  void normalize(std::string& text) const override {
    std::string out;
    out.reserve(text.size());
    size_t i = 0;
    while (i < text.size()) {
      size_t end = next_grapheme(text, i);
      std::string_view grapheme(text.data() + i, end - i);
      const char* replacement = grapheme.size() < 6 ? transform(grapheme) : nullptr;
      if (replacement) {
        out += replacement;
      } else {
        for (size_t j = 0, len; j < grapheme.size(); j += len) {
          unicode::decode(grapheme, j, len);
          std::string_view part = grapheme.substr(j, len);
          const char* r = transform(part);
          if (r) out += r;
          else out.append(part);
        }
      }
      i = end;
    }
    text = std::move(out);
  }

 private:
  static size_t next_grapheme(const std::string& s, size_t pos) {
    size_t len;
    utf8proc_int32_t state = 0;
    char32_t prev = unicode::decode(s, pos, len);
    pos += len;
    while (pos < s.size()) {
      char32_t c = unicode::decode(s, pos, len);
      if (utf8proc_grapheme_break_stateful(static_cast<utf8proc_int32_t>(prev), static_cast<utf8proc_int32_t>(c), &state))
        break;
      prev = c;
      pos += len;
    }
    return pos;
  }

  // The first (shortest) common-prefix match of `key`, as spm_precompiled's transform().
  const char* transform(std::string_view key) const {
    auto offset = [](uint32_t unit) { return (unit >> 10) << ((unit & (1u << 9)) >> 6); };
    auto label = [](uint32_t unit) { return unit & ((1u << 31) | 0xFF); };
    auto has_leaf = [](uint32_t unit) { return (unit >> 8) & 1; };
    if (units_.empty()) return nullptr;
    size_t node = 0;
    uint32_t unit = units_[0];
    node ^= offset(unit);
    for (unsigned char c : key) {
      if (c == 0) break;
      node ^= c;
      if (node >= units_.size()) return nullptr;
      unit = units_[node];
      if (label(unit) != c) return nullptr;
      node ^= offset(unit);
      if (has_leaf(unit)) {
        if (node >= units_.size()) return nullptr;
        uint32_t value = units_[node] & 0x7FFFFFFFu;
        if (value >= normalized_.size()) return nullptr;
        return normalized_.c_str() + value;
      }
    }
    return nullptr;
  }

  std::vector<uint32_t> units_;
  std::string normalized_;
};

}  // namespace

std::unique_ptr<Normalizer> make_precompiled_normalizer(const std::string& charsmap_base64,
                                                        const tokenizer_json::Source& src) {
  return std::make_unique<Precompiled>(base64_decode(charsmap_base64, src), src);
}

}  // namespace vllm
