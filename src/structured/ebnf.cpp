// EBNF front ends: GBNF (llama.cpp's grammar format: `root ::= ...`) and the subset of Lark that
// vLLM accepts (`start: ...`). Both build the grammar IR; a malformed grammar is InvalidArgument
// naming the line and column.
#include <algorithm>
#include <cctype>

#include "core/error.h"
#include "structured/frontends.h"
#include "text/tokenizer/unicode.h"

namespace vllm::structured {

namespace {

using Ranges = std::vector<std::pair<uint32_t, uint32_t>>;

// What GBNF and Lark share: positions, names, quoted literals with escapes, comments.
class EbnfParser {
 public:
  EbnfParser(const std::string& text, const char* format) : t_(text), format_(format) {}

 protected:
  [[noreturn]] void error(const std::string& what, size_t at) const {
    size_t line = 1 + std::count(t_.begin(), t_.begin() + std::min(at, t_.size()), '\n');
    size_t line_start = t_.rfind('\n', at == 0 ? 0 : at - 1);
    size_t column = at - (line_start == std::string::npos || at == 0 ? 0 : line_start + 1) + 1;
    fail(ErrorKind::InvalidArgument, format_, " grammar: ", what, " at line ", line, " column ", column);
  }
  [[noreturn]] void error(const std::string& what) const { error(what, pos_); }
  [[noreturn]] void unsupported(const std::string& what) const {
    fail(ErrorKind::Unsupported, format_, " grammar: ", what, " is not supported");
  }

  bool at_end() const { return pos_ >= t_.size(); }
  char peek(size_t ahead = 0) const { return pos_ + ahead < t_.size() ? t_[pos_ + ahead] : '\0'; }

  // Skips spaces and comments (`comment` starts one; '/' stands for Lark's //); newlines too
  // when `newlines`.
  void skip_space(bool newlines, char comment) {
    while (!at_end()) {
      char c = peek();
      if (comment == '/' ? (c == '/' && peek(1) == '/') : c == comment) {
        while (!at_end() && peek() != '\n') ++pos_;
      } else if (c == ' ' || c == '\t' || c == '\r' || (newlines && c == '\n')) {
        ++pos_;
      } else {
        break;
      }
    }
  }

  static bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; }

  std::string name() {
    size_t start = pos_;
    while (!at_end() && is_name_char(peek())) ++pos_;
    if (pos_ == start) error("expected a rule name");
    return t_.substr(start, pos_ - start);
  }

  uint32_t code_point() {
    unsigned char c = t_[pos_];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || pos_ + len > t_.size()) error("invalid UTF-8");
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(t_[pos_ + k]) & 0x3F);
    pos_ += len;
    return cp;
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

  // One character of a literal or class, escapes resolved.
  uint32_t literal_char() {
    if (peek() != '\\') return code_point();
    ++pos_;
    if (at_end()) error("unterminated escape");
    char c = peek();
    ++pos_;
    switch (c) {
      case 'n': return '\n';
      case 'r': return '\r';
      case 't': return '\t';
      case 'f': return '\f';
      case 'v': return '\v';
      case '0': return 0;
      case 'x': return hex(2);
      case 'u': return hex(4);
      case 'U': return hex(8);
      case '\\': case '"': case '\'': case '[': case ']': case '-': case '^': case '/': return static_cast<uint8_t>(c);
      default: error(std::string("unknown escape \\") + c, pos_ - 2);
    }
  }

  Expr quoted_literal() {
    size_t start = pos_;
    ++pos_;  // '"'
    std::string bytes;
    while (!at_end() && peek() != '"') {
      if (peek() == '\n') error("newline in a string literal", start);
      unicode::append(bytes, static_cast<char32_t>(literal_char()));
    }
    if (at_end()) error("unterminated string literal", start);
    ++pos_;
    return Expr::lit(bytes);
  }

  Expr char_class() {
    size_t start = pos_;
    ++pos_;  // '['
    bool negated = false;
    if (peek() == '^') {
      negated = true;
      ++pos_;
    }
    Ranges ranges;
    while (!at_end() && peek() != ']') {
      uint32_t lo = literal_char(), hi = lo;
      if (peek() == '-' && peek(1) != ']' && pos_ + 1 < t_.size()) {
        ++pos_;
        hi = literal_char();
        if (hi < lo) error("character range out of order", start);
      }
      ranges.push_back({lo, hi});
    }
    if (at_end()) error("unterminated character class", start);
    ++pos_;
    return Expr::char_class(std::move(ranges), negated);
  }

  int64_t number() {
    size_t start = pos_;
    int64_t n = 0;
    while (!at_end() && std::isdigit(static_cast<unsigned char>(peek()))) {
      n = n * 10 + (peek() - '0');
      if (n > 100000) error("repetition count too large", start);
      ++pos_;
    }
    if (pos_ == start) error("expected a number");
    return n;
  }

  // Postfix operators shared by both formats: ?, *, +, {m}, {m,}, {m,n}.
  Expr postfix(Expr e, char comment) {
    for (;;) {
      char c = peek();
      if (c == '?') e = Expr::opt(std::move(e));
      else if (c == '*') e = Expr::star(std::move(e));
      else if (c == '+') e = Expr::plus(std::move(e));
      else if (c == '{') {
        size_t start = pos_;
        ++pos_;
        skip_space(false, comment);
        int64_t lo = number(), hi = lo;
        skip_space(false, comment);
        if (peek() == ',') {
          ++pos_;
          skip_space(false, comment);
          hi = peek() == '}' ? -1 : number();
          skip_space(false, comment);
        }
        if (peek() != '}') error("expected '}'", pos_);
        if (hi >= 0 && hi < lo) error("repetition {m,n} with n < m", start);
        e = Expr::repeat(std::move(e), lo, hi);
      } else {
        return e;
      }
      ++pos_;
    }
  }

  const std::string& t_;
  const char* format_;
  size_t pos_ = 0;
  Grammar g_;
};

class GbnfParser : public EbnfParser {
 public:
  explicit GbnfParser(const std::string& text) : EbnfParser(text, "GBNF") {}

  Grammar parse() {
    std::vector<size_t> defined_at;
    for (;;) {
      skip_space(true, '#');
      if (at_end()) break;
      size_t start = pos_;
      std::string rule = name();
      skip_space(false, '#');
      if (t_.compare(pos_, 3, "::=") != 0) error("expected '::=' after rule name '" + rule + "'");
      pos_ += 3;
      int32_t id = g_.rule_id(rule);
      if (g_.rules[id].defined) error("rule '" + rule + "' is defined twice", start);
      g_.define(id, alternatives(false));
    }
    for (const auto& r : g_.rules)
      if (!r.defined) fail(ErrorKind::InvalidArgument, "GBNF grammar: rule '", r.name, "' is used but not defined");
    auto it = std::find_if(g_.rules.begin(), g_.rules.end(), [](const auto& r) { return r.name == "root"; });
    VLLM_CHECK(it != g_.rules.end(), InvalidArgument, "GBNF grammar: no 'root' rule (the output matches root)");
    g_.root = static_cast<int32_t>(it - g_.rules.begin());
    return std::move(g_);
  }

 private:
  // Is the text at pos_ the start of the next rule (`name ::=`)?
  bool at_rule_start() const {
    size_t p = pos_;
    while (p < t_.size() && is_name_char(t_[p])) ++p;
    if (p == pos_) return false;
    while (p < t_.size() && (t_[p] == ' ' || t_[p] == '\t')) ++p;
    return t_.compare(p, 3, "::=") == 0;
  }

  Expr alternatives(bool nested) {
    std::vector<Expr> alts{sequence(nested)};
    while (peek() == '|') {
      ++pos_;
      alts.push_back(sequence(nested));
    }
    return Expr::alt(std::move(alts));
  }

  Expr sequence(bool nested) {
    std::vector<Expr> items;
    for (;;) {
      // A rule continues over newlines; it ends where the next `name ::=` starts.
      skip_space(true, '#');
      if (at_end() || peek() == '|' || peek() == ')') break;
      if (!nested && at_rule_start()) break;
      items.push_back(postfix(primary(), '#'));
    }
    return Expr::seq(std::move(items));
  }

  Expr primary() {
    char c = peek();
    if (c == '"') return quoted_literal();
    if (c == '[') return char_class();
    if (c == '.') {
      ++pos_;
      return Expr::any_char();
    }
    if (c == '(') {
      size_t start = pos_;
      ++pos_;
      Expr e = alternatives(true);
      skip_space(true, '#');
      if (peek() != ')') error("missing ')'", start);
      ++pos_;
      return e;
    }
    if (is_name_char(c)) return Expr::ref(g_.rule_id(name()));
    error(std::string("unexpected '") + c + "'");
  }
};

// vLLM's Lark subset: `name: a b | c`, terminals (`NAME: ...`), "literals", /regex/, [optional],
// ( groups ), ?, *, +, rule references; `?rule` and `!rule` prefixes read as plain rules.
class LarkParser : public EbnfParser {
 public:
  explicit LarkParser(const std::string& text) : EbnfParser(text, "Lark") {}

  Grammar parse() {
    for (;;) {
      skip_space(true, '/');
      if (at_end()) break;
      size_t start = pos_;
      if (peek() == '%') {
        ++pos_;
        std::string directive = name();
        unsupported("the %" + directive + " directive (whitespace must be written into the rules)");
      }
      if (peek() == '?' || peek() == '!') ++pos_;
      std::string rule = name();
      if (peek() == '.') {  // priority: NAME.2
        ++pos_;
        number();
      }
      skip_space(false, '/');
      if (peek() != ':') error("expected ':' after rule name '" + rule + "'");
      ++pos_;
      int32_t id = g_.rule_id(rule);
      if (g_.rules[id].defined) error("rule '" + rule + "' is defined twice", start);
      g_.define(id, alternatives());
    }
    for (const auto& r : g_.rules)
      if (!r.defined) fail(ErrorKind::InvalidArgument, "Lark grammar: rule '", r.name, "' is used but not defined");
    auto it = std::find_if(g_.rules.begin(), g_.rules.end(), [](const auto& r) { return r.name == "start"; });
    VLLM_CHECK(it != g_.rules.end(), InvalidArgument, "Lark grammar: no 'start' rule (the output matches start)");
    g_.root = static_cast<int32_t>(it - g_.rules.begin());
    return std::move(g_);
  }

 private:
  // Inside brackets newlines are spaces; at the top of a rule a newline ends it unless the
  // next line continues with '|'.
  void space(bool nested) {
    skip_space(nested, '/');
    if (nested) return;
    size_t save = pos_;
    skip_space(true, '/');
    if (peek() != '|') pos_ = save;
  }

  Expr alternatives(bool nested = false) {
    std::vector<Expr> alts{sequence(nested)};
    space(nested);
    while (peek() == '|') {
      ++pos_;
      alts.push_back(sequence(nested));
      space(nested);
    }
    return Expr::alt(std::move(alts));
  }

  Expr sequence(bool nested) {
    std::vector<Expr> items;
    for (;;) {
      skip_space(nested, '/');
      char c = peek();
      if (at_end() || c == '|' || c == ')' || c == ']' || c == '\n') break;
      Expr e = postfix(primary(), '/');
      if (peek() == '~') unsupported("the ~ repetition operator");
      items.push_back(std::move(e));
    }
    return Expr::seq(std::move(items));
  }

  Expr primary() {
    char c = peek();
    if (c == '"') {
      Expr e = quoted_literal();
      if (peek() == 'i') unsupported("case-insensitive literals (\"...\"i)");
      return e;
    }
    if (c == '/') {
      size_t start = pos_;
      ++pos_;
      std::string pattern;
      while (!at_end() && peek() != '/') {
        if (peek() == '\\' && peek(1) == '/') {
          pattern += '/';
          pos_ += 2;
          continue;
        }
        if (peek() == '\\') pattern += t_[pos_++];
        if (peek() == '\n') error("newline in a regular expression", start);
        pattern += t_[pos_++];
      }
      if (at_end()) error("unterminated regular expression", start);
      ++pos_;
      if (std::isalpha(static_cast<unsigned char>(peek()))) unsupported("regular expression flags (/.../flags)");
      return regex_to_expr(pattern, g_);
    }
    if (c == '(' || c == '[') {
      size_t start = pos_;
      char close = c == '(' ? ')' : ']';
      ++pos_;
      Expr e = alternatives(true);
      skip_space(true, '/');
      if (peek() != close) error(std::string("missing '") + close + "'", start);
      ++pos_;
      return c == '[' ? Expr::opt(std::move(e)) : e;
    }
    if (is_name_char(c)) return Expr::ref(g_.rule_id(name()));
    error(std::string("unexpected '") + c + "'");
  }
};

}  // namespace

Grammar grammar_from_gbnf(const std::string& text) { return GbnfParser(text).parse(); }
Grammar grammar_from_lark(const std::string& text) { return LarkParser(text).parse(); }

Grammar grammar_from_ebnf(const std::string& text) {
  return text.find("::=") != std::string::npos ? grammar_from_gbnf(text) : grammar_from_lark(text);
}

}  // namespace vllm::structured
