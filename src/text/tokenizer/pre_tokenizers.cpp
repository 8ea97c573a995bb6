#include "text/tokenizer/pre_tokenizers.h"

#include <array>
#include <mutex>

#include "text/tokenizer/unicode.h"

namespace vllm {

using json = nlohmann::json;
using tokenizer_json::Source;

namespace {

enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

Behavior parse_behavior(const json& j, const Source& src) {
  std::string name = j.is_string() ? j.get<std::string>() : "";
  if (name == "Removed") return Behavior::Removed;
  if (name == "Isolated") return Behavior::Isolated;
  if (name == "MergedWithPrevious") return Behavior::MergedWithPrevious;
  if (name == "MergedWithNext") return Behavior::MergedWithNext;
  if (name == "Contiguous") return Behavior::Contiguous;
  src.fail("unknown split behavior ", j.dump(),
           " (known: Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous)");
}

// HF SplitDelimiterBehavior applied to the spans of Pattern::find_matches.
std::vector<Span> apply_behavior(std::vector<Span> spans, Behavior behavior) {
  std::vector<Span> out;
  out.reserve(spans.size());
  switch (behavior) {
    case Behavior::Isolated:
      return spans;
    case Behavior::Removed:
      for (const Span& s : spans)
        if (!s.is_match) out.push_back(s);
      return out;
    case Behavior::MergedWithPrevious: {
      bool previous_match = false;
      for (const Span& s : spans) {
        if (s.is_match && !previous_match && !out.empty()) out.back().end = s.end;
        else out.push_back({s.start, s.end, s.is_match && !previous_match && out.empty()});
        previous_match = s.is_match;
      }
      return out;
    }
    case Behavior::MergedWithNext: {
      bool previous_match = false;
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->is_match && !previous_match && !out.empty()) out.back().start = it->start;
        else out.push_back(*it);
        previous_match = it->is_match;
      }
      return {out.rbegin(), out.rend()};
    }
    case Behavior::Contiguous: {
      bool previous_match = false;
      for (const Span& s : spans) {
        if (s.is_match == previous_match && !out.empty()) out.back().end = s.end;
        else out.push_back(s);
        previous_match = s.is_match;
      }
      return out;
    }
  }
  return spans;
}

// Splits every piece with `find` (text -> spans) and `behavior`, dropping empty results.
template <typename Find>
void split_pieces(std::vector<PreToken>& pieces, Behavior behavior, Find&& find) {
  std::vector<PreToken> out;
  out.reserve(pieces.size() * 2);
  for (PreToken& piece : pieces) {
    std::vector<Span> spans = apply_behavior(find(piece.text), behavior);
    for (const Span& s : spans) {
      if (s.end <= s.start) continue;
      out.push_back({piece.text.substr(s.start, s.end - s.start), piece.at_start && s.start == 0});
    }
  }
  pieces = std::move(out);
}

// Each character satisfying `pred` is one match (HF's Pattern impl for Fn(char) -> bool).
template <typename Pred>
std::vector<Span> char_matches(const std::string& text, Pred&& pred) {
  std::vector<Span> spans;
  size_t prev = 0;
  for (size_t i = 0, len; i < text.size(); i += len) {
    char32_t c = unicode::decode(text, i, len);
    if (pred(c)) {
      if (prev != i) spans.push_back({prev, i, false});
      spans.push_back({i, i + len, true});
      prev = i + len;
    }
  }
  if (prev != text.size() || text.empty()) spans.push_back({prev, text.size(), false});
  return spans;
}

std::vector<Span> invert(std::vector<Span> spans) {
  for (Span& s : spans) s.is_match = !s.is_match;
  return spans;
}

const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteLevel : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex) : add_prefix_space_(add_prefix_space) {
    if (use_regex) regex_ = std::make_unique<Pattern>(Pattern::regex(kGpt2Pattern));
  }
  void pre_tokenize(std::vector<PreToken>& pieces) const override {
    if (add_prefix_space_)
      for (PreToken& p : pieces)
        if (!p.text.empty() && p.text[0] != ' ') p.text.insert(0, 1, ' ');
    if (regex_) split_pieces(pieces, Behavior::Isolated, [&](const std::string& t) { return regex_->find_matches(t); });
    for (PreToken& p : pieces) {
      std::string mapped;
      mapped.reserve(p.text.size() + 4);
      for (unsigned char b : p.text) mapped += byte_level_char(b);
      p.text = std::move(mapped);
    }
    std::erase_if(pieces, [](const PreToken& p) { return p.text.empty(); });
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Pattern> regex_;
};

class Split : public PreTokenizer {
 public:
  Split(Pattern pattern, Behavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(std::vector<PreToken>& pieces) const override {
    split_pieces(pieces, behavior_, [&](const std::string& t) {
      auto spans = pattern_.find_matches(t);
      return invert_ ? invert(std::move(spans)) : spans;
    });
  }

 private:
  Pattern pattern_;
  Behavior behavior_;
  bool invert_;
};

class CharSplit : public PreTokenizer {  // WhitespaceSplit, Punctuation, Digits, CharDelimiterSplit
 public:
  CharSplit(bool (*pred)(char32_t), Behavior behavior, char32_t delimiter = 0)
      : pred_(pred), behavior_(behavior), delimiter_(delimiter) {}
  void pre_tokenize(std::vector<PreToken>& pieces) const override {
    split_pieces(pieces, behavior_, [&](const std::string& t) {
      return char_matches(t, [&](char32_t c) { return pred_ ? pred_(c) : c == delimiter_; });
    });
  }

 private:
  bool (*pred_)(char32_t);
  Behavior behavior_;
  char32_t delimiter_;
};

class BertPreTokenizer : public PreTokenizer {
 public:
  void pre_tokenize(std::vector<PreToken>& pieces) const override {
    split_pieces(pieces, Behavior::Removed, [](const std::string& t) { return char_matches(t, unicode::is_whitespace); });
    split_pieces(pieces, Behavior::Isolated, [](const std::string& t) { return char_matches(t, unicode::is_punctuation); });
  }
};

class Whitespace : public PreTokenizer {  // \w+|[^\w\s]+, keeping the matches
 public:
  // Oniguruma's \w (Unicode TR18: Alphabetic, Mark, Decimal_Number, Connector_Punctuation,
  // Join_Control), which is wider than PCRE2's.
  Whitespace()
      : pattern_(Pattern::regex(R"([\p{L}\p{Nl}\p{M}\p{Nd}\p{Pc}\x{200C}\x{200D}]+|[^\p{L}\p{Nl}\p{M}\p{Nd}\p{Pc}\x{200C}\x{200D}\s]+)")) {}
  void pre_tokenize(std::vector<PreToken>& pieces) const override {
    split_pieces(pieces, Behavior::Removed, [&](const std::string& t) { return invert(pattern_.find_matches(t)); });
  }

 private:
  Pattern pattern_;
};

enum class PrependScheme { First, Always, Never };

class Metaspace : public PreTokenizer {
 public:
  Metaspace(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {
    size_t len;
    replacement_char_ = unicode::decode(replacement_, 0, len);
  }
  void pre_tokenize(std::vector<PreToken>& pieces) const override {
    for (PreToken& p : pieces) {
      std::string out;
      out.reserve(p.text.size() + 8);
      for (char c : p.text) {
        if (c == ' ') out += replacement_;
        else out.push_back(c);
      }
      bool starts = out.compare(0, replacement_.size(), replacement_) == 0;
      if (!starts && !out.empty() && (scheme_ == PrependScheme::Always || (scheme_ == PrependScheme::First && p.at_start)))
        out.insert(0, replacement_);
      p.text = std::move(out);
    }
    std::erase_if(pieces, [](const PreToken& p) { return p.text.empty(); });
    if (split_)
      split_pieces(pieces, Behavior::MergedWithNext,
                   [&](const std::string& t) { return char_matches(t, [&](char32_t c) { return c == replacement_char_; }); });
  }

 private:
  std::string replacement_;
  char32_t replacement_char_;
  PrependScheme scheme_;
  bool split_;
};

// HF's UnicodeScripts: splits where the script changes; spaces belong to any script, and
// Hiragana, Katakana and U+30FC count as Han (as SentencePiece's IsValidSentencePiece).
class UnicodeScripts : public PreTokenizer {
 public:
  void pre_tokenize(std::vector<PreToken>& pieces) const override {
    split_pieces(pieces, Behavior::Isolated, [&](const std::string& t) {
      // HF: a cut before each character whose script differs from the last non-space one; the
      // text before the first non-space character is dropped.
      std::vector<size_t> cuts;
      int last = -2;  // none yet
      for (size_t i = 0, len; i < t.size(); i += len) {
        char32_t c = unicode::decode(t, i, len);
        int script = script_of(c, t.substr(i, len));
        if (script != -1 && last != script) cuts.push_back(i);
        if (script != -1) last = script;
      }
      cuts.push_back(t.size());
      std::vector<Span> spans;
      for (size_t k = 0; k + 1 < cuts.size(); ++k) spans.push_back({cuts[k], cuts[k + 1], false});
      return spans;
    });
  }

 private:
  static constexpr const char* kScripts[] = {
      "Han", "Hiragana", "Katakana", "Latin", "Greek", "Cyrillic", "Armenian", "Hebrew", "Arabic", "Syriac",
      "Thaana", "Devanagari", "Bengali", "Gurmukhi", "Gujarati", "Oriya", "Tamil", "Telugu", "Kannada",
      "Malayalam", "Sinhala", "Thai", "Lao", "Tibetan", "Myanmar", "Georgian", "Hangul", "Ethiopic", "Cherokee",
      "Khmer", "Mongolian", "Bopomofo", "Yi", "Inherited", "Common"};
  static constexpr size_t kCount = sizeof(kScripts) / sizeof(kScripts[0]);

  // Index into kScripts (Hiragana and Katakana folded into Han), kCount for other scripts, -1: Any.
  int script_of(char32_t c, const std::string& ch) const {
    if (c == 0x30FC) return 0;
    if (c == ' ') return -1;
    std::call_once(init_, [&] {
      for (size_t k = 0; k < kCount; ++k) per_script_[k] = std::make_unique<Regex>(str("^\\p{sc:", kScripts[k], "}$"));
    });
    for (size_t k = 0; k < kCount; ++k) {
      bool hit = false;
      per_script_[k]->for_each_match(ch, [&](size_t, size_t) { hit = true; });
      if (hit) return k <= 2 ? 0 : static_cast<int>(k);
    }
    return static_cast<int>(kCount);
  }

  mutable std::once_flag init_;
  mutable std::array<std::unique_ptr<Regex>, kCount> per_script_;
};

class Sequence : public PreTokenizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PreTokenizer>> items) : items_(std::move(items)) {}
  void pre_tokenize(std::vector<PreToken>& pieces) const override {
    for (const auto& p : items_) p->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> items_;
};

bool is_digit_char(char32_t c) { return unicode::is_numeric(c); }

}  // namespace

const std::string& byte_level_char(unsigned char b) {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    int n = 0;
    for (int i = 0; i < 256; ++i) {
      bool printable = (i >= '!' && i <= '~') || (i >= 0xA1 && i <= 0xAC) || (i >= 0xAE && i <= 0xFF);
      char32_t cp = printable ? static_cast<char32_t>(i) : static_cast<char32_t>(256 + n++);
      t[i] = unicode::encode(cp);
    }
    return t;
  }();
  return table[b];
}

int byte_level_byte(char32_t c) {
  static const std::array<int, 512> inverse = [] {
    std::array<int, 512> inv;
    inv.fill(-1);
    for (int b = 0; b < 256; ++b) {
      size_t len;
      inv[unicode::decode(byte_level_char(static_cast<unsigned char>(b)), 0, len)] = b;
    }
    return inv;
  }();
  return c < 512 ? inverse[c] : -1;
}

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j, const Source& parent) {
  if (j.is_null()) return nullptr;
  std::string type = tokenizer_json::type_of(j, parent);
  Source src = parent.child(type);
  using tokenizer_json::get_or;
  if (type == "ByteLevel")
    return std::make_unique<ByteLevel>(get_or(j, "add_prefix_space", true, src), get_or(j, "use_regex", true, src));
  if (type == "Split")
    return std::make_unique<Split>(tokenizer_json::parse_pattern(tokenizer_json::field(j, "pattern", src), src),
                                   parse_behavior(tokenizer_json::field(j, "behavior", src), src),
                                   get_or(j, "invert", false, src));
  if (type == "Whitespace") return std::make_unique<Whitespace>();
  if (type == "WhitespaceSplit") return std::make_unique<CharSplit>(unicode::is_whitespace, Behavior::Removed);
  if (type == "BertPreTokenizer") return std::make_unique<BertPreTokenizer>();
  if (type == "Punctuation")
    return std::make_unique<CharSplit>(unicode::is_punctuation,
                                       j.contains("behavior") ? parse_behavior(j.at("behavior"), src) : Behavior::Isolated);
  if (type == "Digits")
    return std::make_unique<CharSplit>(is_digit_char, get_or(j, "individual_digits", false, src) ? Behavior::Isolated
                                                                                                  : Behavior::Contiguous);
  if (type == "CharDelimiterSplit") {
    std::string d = tokenizer_json::field(j, "delimiter", src).get<std::string>();
    size_t len;
    if (d.empty()) src.fail("delimiter is empty");
    return std::make_unique<CharSplit>(nullptr, Behavior::Removed, unicode::decode(d, 0, len));
  }
  if (type == "Metaspace") {
    std::string replacement = get_or<std::string>(j, "replacement", "\xE2\x96\x81", src);
    PrependScheme scheme = PrependScheme::Always;
    if (j.contains("prepend_scheme") && !j.at("prepend_scheme").is_null()) {
      std::string s = j.at("prepend_scheme").get<std::string>();
      if (s == "first") scheme = PrependScheme::First;
      else if (s == "never") scheme = PrependScheme::Never;
      else if (s != "always") src.fail("unknown prepend_scheme \"", s, "\" (known: first, always, never)");
    } else if (!get_or(j, "add_prefix_space", true, src)) {
      scheme = PrependScheme::Never;  // the legacy spelling
    }
    if (replacement.empty()) src.fail("replacement is empty");
    return std::make_unique<Metaspace>(replacement, scheme, get_or(j, "split", true, src));
  }
  if (type == "UnicodeScripts") return std::make_unique<UnicodeScripts>();
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PreTokenizer>> items;
    const json& list = tokenizer_json::field(j, "pretokenizers", src);
    for (size_t i = 0; i < list.size(); ++i)
      if (auto p = make_pre_tokenizer(list[i], parent.child(str("Sequence[", i, "]")))) items.push_back(std::move(p));
    return std::make_unique<Sequence>(std::move(items));
  }
  parent.fail("unknown pre_tokenizer type \"", type,
              "\" (known: ByteLevel, Split, Whitespace, WhitespaceSplit, BertPreTokenizer, Metaspace, Digits, "
              "Punctuation, CharDelimiterSplit, UnicodeScripts, Sequence)");
}

}  // namespace vllm
