// Regular expressions (the subset JSON Schema `pattern` and vLLM's `regex` use) to the grammar
// IR. The whole output must match (as vLLM's regex and xgrammar's pattern do): ^ and $ are
// accepted only at the ends. Backreferences, lookaround, word boundaries, Unicode properties
// and inline flags are refused by name.
#include <algorithm>

#include "core/error.h"
#include "structured/frontends.h"

namespace vllm::structured {

namespace {

using Ranges = std::vector<std::pair<uint32_t, uint32_t>>;

constexpr int64_t kMaxRepeat = 10000;

Ranges complement(Ranges r) {
  std::sort(r.begin(), r.end());
  Ranges out;
  uint32_t next = 0;
  for (auto [lo, hi] : r) {
    if (lo > next) out.push_back({next, lo - 1});
    next = std::max(next, hi + 1);
  }
  if (next <= 0x10FFFF) out.push_back({next, 0x10FFFF});
  return out;
}

const Ranges& digit_ranges() {
  static const Ranges r = {{'0', '9'}};
  return r;
}
const Ranges& word_ranges() {
  static const Ranges r = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
  return r;
}
// ECMAScript's \s.
const Ranges& space_ranges() {
  static const Ranges r = {{'\t', '\r'}, {' ', ' '},       {0xA0, 0xA0},     {0x1680, 0x1680}, {0x2000, 0x200A},
                           {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000}, {0xFEFF, 0xFEFF}};
  return r;
}

class RegexParser {
 public:
  explicit RegexParser(const std::string& p) : p_(p) {}

  Expr parse() {
    Expr e = alternation();
    if (pos_ < p_.size()) error("unbalanced ')'");
    return e;
  }

 private:
  [[noreturn]] void error(const std::string& what) const {
    fail(ErrorKind::InvalidArgument, "regex: ", what, " at position ", pos_, " of /", p_, "/");
  }
  [[noreturn]] void unsupported(const std::string& what) const {
    fail(ErrorKind::Unsupported, "regex: ", what, " (at position ", pos_, " of /", p_, "/) is not supported");
  }
  bool at_end() const { return pos_ >= p_.size(); }
  char peek() const { return p_[pos_]; }

  uint32_t code_point() {
    unsigned char c = p_[pos_];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || pos_ + len > p_.size()) error("invalid UTF-8");
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(p_[pos_ + k]) & 0x3F);
    pos_ += len;
    return cp;
  }

  Expr alternation() {
    std::vector<Expr> alts{concatenation()};
    while (!at_end() && peek() == '|') {
      ++pos_;
      alts.push_back(concatenation());
    }
    return Expr::alt(std::move(alts));
  }

  Expr concatenation() {
    std::vector<Expr> items;
    while (!at_end() && peek() != '|' && peek() != ')') {
      if (peek() == '^') {
        if (!items.empty() || depth_ > 0) unsupported("an anchor '^' not at the start");
        ++pos_;
        continue;
      }
      if (peek() == '$') {
        ++pos_;
        if (depth_ > 0 || (!at_end() && peek() != '|')) unsupported("an anchor '$' not at the end");
        continue;
      }
      items.push_back(quantified());
    }
    return Expr::seq(std::move(items));
  }

  int64_t number() {
    size_t start = pos_;
    int64_t n = 0;
    while (!at_end() && std::isdigit(static_cast<unsigned char>(peek()))) {
      n = n * 10 + (peek() - '0');
      if (n > kMaxRepeat) unsupported("a repetition count over " + std::to_string(kMaxRepeat));
      ++pos_;
    }
    if (pos_ == start) error("expected a number in {}");
    return n;
  }

  Expr quantified() {
    Expr e = atom();
    while (!at_end()) {
      int64_t lo, hi;
      char c = peek();
      if (c == '?') lo = 0, hi = 1;
      else if (c == '*') lo = 0, hi = -1;
      else if (c == '+') lo = 1, hi = -1;
      else if (c == '{') {
        size_t save = pos_;
        ++pos_;
        if (at_end() || !std::isdigit(static_cast<unsigned char>(peek()))) {
          pos_ = save;  // a literal '{' (ECMAScript's annex B)
          break;
        }
        lo = hi = number();
        if (!at_end() && peek() == ',') {
          ++pos_;
          hi = (!at_end() && peek() == '}') ? -1 : number();
        }
        if (at_end() || peek() != '}') error("expected '}'");
        if (hi >= 0 && hi < lo) error("repetition {m,n} with n < m");
      } else {
        break;
      }
      ++pos_;
      if (!at_end() && peek() == '?') ++pos_;  // lazy: the same language
      else if (!at_end() && peek() == '+') unsupported("a possessive quantifier");
      e = Expr::repeat(std::move(e), lo, hi);
    }
    return e;
  }

  Expr atom() {
    char c = peek();
    if (c == '(') {
      ++pos_;
      if (!at_end() && peek() == '?') {
        ++pos_;
        if (at_end()) error("unterminated group");
        char k = peek();
        if (k == ':') {
          ++pos_;
        } else if (k == '=' || k == '!') {
          unsupported("lookahead");
        } else if (k == '<' && pos_ + 1 < p_.size() && (p_[pos_ + 1] == '=' || p_[pos_ + 1] == '!')) {
          unsupported("lookbehind");
        } else if (k == '<' || k == 'P') {
          if (k == 'P') ++pos_;
          if (at_end() || peek() != '<') unsupported("this group syntax");
          size_t close = p_.find('>', pos_);
          if (close == std::string::npos) error("unterminated group name");
          pos_ = close + 1;
        } else {
          unsupported("inline flags or this group syntax");
        }
      }
      ++depth_;
      Expr inner = alternation();
      --depth_;
      if (at_end() || peek() != ')') error("missing ')'");
      ++pos_;
      return inner;
    }
    if (c == '[') return char_class();
    if (c == '.') {
      ++pos_;
      return Expr::char_class({{'\n', '\n'}, {'\r', '\r'}, {0x2028, 0x2029}}, true);
    }
    if (c == '\\') return escape(false, nullptr);
    if (c == '*' || c == '+' || c == '?') error(std::string("nothing to repeat before '") + c + "'");
    if (c == ')') error("unbalanced ')'");
    uint32_t cp = code_point();
    return Expr::char_class({{cp, cp}});
  }

  uint32_t hex(int digits) {
    uint32_t v = 0;
    for (int i = 0; i < digits; ++i) {
      if (at_end() || !std::isxdigit(static_cast<unsigned char>(peek()))) error("bad hex escape");
      char h = peek();
      v = v * 16 + (std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
      ++pos_;
    }
    return v;
  }

  // An escape after '\'. In a class (`ranges` set) class escapes add to it and single
  // characters come back as an Expr of one code point.
  Expr escape(bool in_class, Ranges* ranges) {
    ++pos_;  // '\'
    if (at_end()) error("trailing backslash");
    char c = peek();
    ++pos_;
    auto cls = [&](const Ranges& r, bool neg) {
      if (ranges) {
        Ranges add = neg ? complement(r) : r;
        ranges->insert(ranges->end(), add.begin(), add.end());
        return Expr::empty();
      }
      return Expr::char_class(r, neg);
    };
    auto single = [&](uint32_t cp) { return Expr::char_class({{cp, cp}}); };
    switch (c) {
      case 'd': return cls(digit_ranges(), false);
      case 'D': return cls(digit_ranges(), true);
      case 'w': return cls(word_ranges(), false);
      case 'W': return cls(word_ranges(), true);
      case 's': return cls(space_ranges(), false);
      case 'S': return cls(space_ranges(), true);
      case 'n': return single('\n');
      case 'r': return single('\r');
      case 't': return single('\t');
      case 'f': return single('\f');
      case 'v': return single('\v');
      case '0': return single(0);
      case 'x': return single(hex(2));
      case 'u':
        if (!at_end() && peek() == '{') {
          ++pos_;
          uint32_t v = 0;
          while (!at_end() && peek() != '}') v = v * 16 + hex(1);
          if (at_end()) error("unterminated \\u{");
          ++pos_;
          return single(v);
        }
        return single(hex(4));
      case 'b':
        if (in_class) return single('\b');
        pos_ -= 2;
        unsupported("a word boundary \\b");
      case 'B': pos_ -= 2; unsupported("a word boundary \\B");
      case 'k': pos_ -= 2; unsupported("a backreference \\k<name>");
      case 'p':
      case 'P': pos_ -= 2; unsupported("a Unicode property escape \\p");
      default:
        if (c >= '1' && c <= '9') {
          pos_ -= 2;
          unsupported("a backreference \\" + std::string(1, c));
        }
        if (std::isalnum(static_cast<unsigned char>(c))) {
          pos_ -= 2;
          error(std::string("unknown escape \\") + c);
        }
        --pos_;
        return single(code_point());
    }
  }

  Expr char_class() {
    ++pos_;  // '['
    bool negated = false;
    if (!at_end() && peek() == '^') {
      negated = true;
      ++pos_;
    }
    Ranges ranges;
    bool first = true;
    for (;;) {
      if (at_end()) error("unterminated character class");
      if (peek() == ']' && !first) break;
      first = false;
      uint32_t lo;
      if (peek() == '\\') {
        Expr e = escape(true, &ranges);
        if (e.kind != Expr::Kind::CharClass) continue;  // a class escape, already added
        lo = e.ranges[0].first;
      } else {
        lo = code_point();
      }
      uint32_t hi = lo;
      if (pos_ + 1 < p_.size() && peek() == '-' && p_[pos_ + 1] != ']') {
        ++pos_;
        if (peek() == '\\') {
          Expr e = escape(true, nullptr);
          if (e.kind != Expr::Kind::CharClass || e.ranges[0].first != e.ranges[0].second)
            error("a class escape cannot end a range");
          hi = e.ranges[0].first;
        } else {
          hi = code_point();
        }
        if (hi < lo) error("character range out of order");
      }
      ranges.push_back({lo, hi});
    }
    ++pos_;  // ']'
    return Expr::char_class(std::move(ranges), negated);
  }

  const std::string& p_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

Expr regex_to_expr(const std::string& pattern, Grammar&) { return RegexParser(pattern).parse(); }

Grammar grammar_from_regex(const std::string& pattern) {
  Grammar g;
  Expr e = regex_to_expr(pattern, g);
  g.root = g.add_rule("root", std::move(e));
  return g;
}

}  // namespace vllm::structured
