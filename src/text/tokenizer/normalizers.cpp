#include "text/tokenizer/normalizers.h"

#include <utf8proc.h>

#include <cstdlib>
#include <vector>

#include "text/tokenizer/unicode.h"

namespace vllm {

using tokenizer_json::Source;
using json = nlohmann::json;

namespace {

bool is_ascii(const std::string& s) {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(int options) : options_(options) {}
  void normalize(std::string& text) const override {
    if (is_ascii(text)) return;
    utf8proc_uint8_t* out = nullptr;
    auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()), text.size(), &out,
                          static_cast<utf8proc_option_t>(options_));
    if (n < 0) return;  // invalid input is left as is (inputs are validated before)
    text.assign(reinterpret_cast<char*>(out), n);
    std::free(out);
  }

 private:
  int options_;
};

class Lowercase : public Normalizer {
 public:
  void normalize(std::string& text) const override {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0, len; i < text.size(); i += len) unicode::append_lowercase(out, unicode::decode(text, i, len));
    text = std::move(out);
  }
};

class Strip : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& text) const override {
    size_t start = 0, end = text.size();
    if (left_) {
      while (start < end) {
        size_t len;
        if (!unicode::is_whitespace(unicode::decode(text, start, len))) break;
        start += len;
      }
    }
    if (right_) {
      while (end > start) {
        size_t begin = end - 1;
        while (begin > start && (static_cast<unsigned char>(text[begin]) & 0xC0) == 0x80) --begin;
        size_t len;
        if (!unicode::is_whitespace(unicode::decode(text, begin, len))) break;
        end = begin;
      }
    }
    text = text.substr(start, end - start);
  }

 private:
  bool left_, right_;
};

// Drops combining marks: Mn, Mc and Me for StripAccents (HF is_combining_mark), only Mn for
// BertNormalizer (HF is_mark_nonspacing).
void strip_marks(std::string& text, bool nonspacing_only = false) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0, len; i < text.size(); i += len) {
    char32_t c = unicode::decode(text, i, len);
    bool drop = nonspacing_only ? utf8proc_category(static_cast<utf8proc_int32_t>(c)) == UTF8PROC_CATEGORY_MN
                                : unicode::is_mark(c);
    if (!drop) out.append(text, i, len);
  }
  text = std::move(out);
}

class StripAccents : public Normalizer {
 public:
  void normalize(std::string& text) const override { strip_marks(text); }
};

class Replace : public Normalizer {
 public:
  Replace(Pattern pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void normalize(std::string& text) const override { text = pattern_.replace_all(text, content_); }

 private:
  Pattern pattern_;
  std::string content_;
};

class Prepend : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

// HF BertNormalizer: clean_text, handle_chinese_chars, strip_accents (defaults to lowercase), lowercase.
class BertNormalizer : public Normalizer {
 public:
  BertNormalizer(bool clean_text, bool chinese, bool strip_accents, bool lowercase)
      : clean_text_(clean_text), chinese_(chinese), strip_accents_(strip_accents), lowercase_(lowercase) {}
  void normalize(std::string& text) const override {
    std::string out;
    out.reserve(text.size() + 8);
    for (size_t i = 0, len; i < text.size(); i += len) {
      char32_t c = unicode::decode(text, i, len);
      if (clean_text_) {
        if (c == 0 || c == 0xFFFD || unicode::is_control(c)) continue;
        if (c == '\t' || c == '\n' || c == '\r' || unicode::is_whitespace(c)) {
          out.push_back(' ');
          continue;
        }
      }
      if (chinese_ && unicode::is_chinese_char(c)) {
        out.push_back(' ');
        out.append(text, i, len);
        out.push_back(' ');
        continue;
      }
      out.append(text, i, len);
    }
    if (strip_accents_) {
      UnicodeNormalizer(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE).normalize(out);
      strip_marks(out, true);
    }
    if (lowercase_) Lowercase().normalize(out);
    text = std::move(out);
  }

 private:
  bool clean_text_, chinese_, strip_accents_, lowercase_;
};

class Sequence : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> items) : items_(std::move(items)) {}
  void normalize(std::string& text) const override {
    for (const auto& n : items_) n->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> items_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const json& j, const Source& parent) {
  if (j.is_null()) return nullptr;
  std::string type = tokenizer_json::type_of(j, parent);
  Source src = parent.child(type);
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_COMPOSE);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT);
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "Strip")
    return std::make_unique<Strip>(tokenizer_json::get_or(j, "strip_left", true, src),
                                   tokenizer_json::get_or(j, "strip_right", true, src));
  if (type == "StripAccents") return std::make_unique<StripAccents>();
  if (type == "Replace")
    return std::make_unique<Replace>(tokenizer_json::parse_pattern(tokenizer_json::field(j, "pattern", src), src),
                                     tokenizer_json::field(j, "content", src).get<std::string>());
  if (type == "Prepend") return std::make_unique<Prepend>(tokenizer_json::field(j, "prepend", src).get<std::string>());
  if (type == "BertNormalizer") {
    bool lowercase = tokenizer_json::get_or(j, "lowercase", true, src);
    return std::make_unique<BertNormalizer>(tokenizer_json::get_or(j, "clean_text", true, src),
                                            tokenizer_json::get_or(j, "handle_chinese_chars", true, src),
                                            tokenizer_json::get_or(j, "strip_accents", lowercase, src), lowercase);
  }
  if (type == "Precompiled") {
    const json& map = tokenizer_json::field(j, "precompiled_charsmap", src);
    if (map.is_null()) return nullptr;  // HF: an empty map normalizes nothing
    return make_precompiled_normalizer(map.get<std::string>(), src);
  }
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Normalizer>> items;
    const json& list = tokenizer_json::field(j, "normalizers", src);
    for (size_t i = 0; i < list.size(); ++i)
      if (auto n = make_normalizer(list[i], parent.child(str("Sequence[", i, "]")))) items.push_back(std::move(n));
    return std::make_unique<Sequence>(std::move(items));
  }
  parent.fail("unknown normalizer type \"", type,
              "\" (known: NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, Replace, Prepend, BertNormalizer, "
              "Precompiled, Sequence)");
}

}  // namespace vllm
