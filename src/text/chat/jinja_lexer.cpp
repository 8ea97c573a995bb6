// The lexer follows jinja2.lexer with the environment transformers builds: trim_blocks (one "\n"
// after a block or comment tag is dropped), lstrip_blocks (spaces and tabs before a block or comment
// tag on its own line are dropped), "-" and "+" whitespace control, {% raw %}, newlines normalised
// to "\n" and a single trailing newline removed (keep_trailing_newline=False).
#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "text/chat/jinja_ast.h"

namespace vllm::jinja {
namespace {

std::string normalize_source(const std::string& source) {
  std::string out;
  out.reserve(source.size());
  for (size_t k = 0; k < source.size(); ++k) {
    if (source[k] == '\r') {
      out += '\n';
      if (k + 1 < source.size() && source[k + 1] == '\n') ++k;
    } else {
      out += source[k];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string rstrip_ws(const std::string& s) {
  size_t end = s.size();
  while (end > 0 && is_space(s[end - 1])) --end;
  return s.substr(0, end);
}

// Python's "unicode-escape" decoding, which Jinja applies to string literals.
std::string decode_escapes(const std::string& raw) {
  std::string out;
  for (size_t k = 0; k < raw.size(); ++k) {
    char c = raw[k];
    if (c != '\\' || k + 1 >= raw.size()) {
      out += c;
      continue;
    }
    char e = raw[++k];
    auto hex = [&](int digits) -> bool {
      char32_t cp = 0;
      for (int d = 1; d <= digits; ++d) {
        if (k + d >= raw.size() || !std::isxdigit(static_cast<unsigned char>(raw[k + d]))) return false;
        char h = static_cast<char>(std::tolower(static_cast<unsigned char>(raw[k + d])));
        cp = cp * 16 + static_cast<char32_t>(h <= '9' ? h - '0' : h - 'a' + 10);
      }
      utf8_append(out, cp);
      k += digits;
      return true;
    };
    switch (e) {
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'v': out += '\v'; break;
      case '\n': break;
      case 'x':
        if (!hex(2)) fail(ErrorKind::InvalidArgument, "truncated \\xXX escape in string literal");
        break;
      case 'u':
        if (!hex(4)) fail(ErrorKind::InvalidArgument, "truncated \\uXXXX escape in string literal");
        break;
      case 'U':
        if (!hex(8)) fail(ErrorKind::InvalidArgument, "truncated \\UXXXXXXXX escape in string literal");
        break;
      default:
        if (e >= '0' && e <= '7') {
          char32_t cp = e - '0';
          for (int d = 0; d < 2 && k + 1 < raw.size() && raw[k + 1] >= '0' && raw[k + 1] <= '7'; ++d)
            cp = cp * 8 + (raw[++k] - '0');
          utf8_append(out, cp);
        } else {
          out += '\\';
          out += e;
        }
    }
  }
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string source) : src_(std::move(source)) {
    line_starts_.push_back(0);
    for (size_t k = 0; k < src_.size(); ++k)
      if (src_[k] == '\n') line_starts_.push_back(k + 1);
  }

  std::vector<Token> run() {
    size_t pos = 0;
    bool line_starting = true;
    while (pos < src_.size()) {
      size_t start = find_tag(pos);
      if (start == std::string::npos) {
        emit_data(src_.substr(pos), pos);
        break;
      }
      char kind = src_[start + 1];
      char sign = start + 2 < src_.size() && (src_[start + 2] == '-' || src_[start + 2] == '+') ? src_[start + 2] : 0;
      std::string text = src_.substr(pos, start - pos);
      text = strip_before_tag(text, sign, kind != '{', line_starting);
      emit_data(text, pos);
      size_t after = start + 2 + (sign ? 1 : 0);
      if (kind == '#') {
        size_t end = src_.find("#}", after);
        if (end == std::string::npos) error(start, "missing end of comment tag");
        pos = end + 2;
        char before = end > after ? src_[end - 1] : 0;
        if (before == '-') pos = skip_ws(pos);
        else if (before != '+' && pos < src_.size() && src_[pos] == '\n') ++pos;
        line_starting = pos > 0 && src_[pos - 1] == '\n';
        continue;
      }
      if (kind == '%' && try_raw(start, after, pos, line_starting)) continue;
      push(kind == '%' ? TokenType::BlockBegin : TokenType::VariableBegin, kind == '%' ? "{%" : "{{", start);
      pos = lex_expression(after, kind == '%');
      line_starting = pos > 0 && src_[pos - 1] == '\n';
    }
    push(TokenType::End, "", src_.size());
    return std::move(tokens_);
  }

 private:
  std::string src_;
  std::vector<size_t> line_starts_;
  std::vector<Token> tokens_;

  [[noreturn]] void error(size_t pos, const std::string& message) {
    auto [line, col] = location(pos);
    fail(ErrorKind::InvalidArgument, "chat template syntax error at line ", line, ", column ", col, ": ", message);
  }

  std::pair<int, int> location(size_t pos) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), pos);
    size_t line = it - line_starts_.begin();
    size_t line_start = line_starts_[line - 1];
    int col = 1;
    for (size_t k = line_start; k < pos && k < src_.size(); ++k)
      if ((static_cast<unsigned char>(src_[k]) & 0xc0) != 0x80) ++col;
    return {static_cast<int>(line), col};
  }

  void push(TokenType type, std::string text, size_t pos) {
    Token token{type, std::move(text)};
    auto [line, col] = location(pos);
    token.line = line;
    token.column = col;
    tokens_.push_back(std::move(token));
  }

  void emit_data(const std::string& text, size_t pos) {
    if (!text.empty()) push(TokenType::Data, text, pos);
  }

  size_t find_tag(size_t pos) const {
    size_t k = pos;
    while ((k = src_.find('{', k)) != std::string::npos) {
      if (k + 1 < src_.size() && (src_[k + 1] == '{' || src_[k + 1] == '%' || src_[k + 1] == '#')) return k;
      ++k;
    }
    return std::string::npos;
  }

  size_t skip_ws(size_t pos) const {
    while (pos < src_.size() && is_space(src_[pos])) ++pos;
    return pos;
  }

  std::string strip_before_tag(const std::string& text, char sign, bool is_block, bool line_starting) const {
    if (sign == '-') return rstrip_ws(text);
    if (sign == '+' || !is_block) return text;
    size_t nl = text.rfind('\n');
    size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
    if (l_pos > 0 || line_starting) {
      bool only_blank = std::all_of(text.begin() + l_pos, text.end(), [](char c) { return c == ' ' || c == '\t'; });
      if (only_blank) return text.substr(0, l_pos);
    }
    return text;
  }

  // Matches "{% raw %}" at `start`; on success emits the raw text as data and moves `pos`.
  bool try_raw(size_t start, size_t after, size_t& pos, bool& line_starting) {
    size_t k = skip_ws(after);
    if (src_.compare(k, 3, "raw") != 0) return false;
    k = skip_ws(k + 3);
    if (src_.compare(k, 3, "-%}") == 0) k = skip_ws(k + 3);
    else if (src_.compare(k, 2, "%}") == 0) k += 2;
    else return false;
    line_starting = k > 0 && src_[k - 1] == '\n';
    size_t search = k;
    while (true) {
      size_t tag = src_.find("{%", search);
      if (tag == std::string::npos) error(start, "missing end of raw directive");
      size_t m = tag + 2;
      char sign = m < src_.size() && (src_[m] == '-' || src_[m] == '+') ? src_[m] : 0;
      if (sign) ++m;
      m = skip_ws(m);
      if (src_.compare(m, 6, "endraw") != 0) {
        search = tag + 2;
        continue;
      }
      m = skip_ws(m + 6);
      size_t end;
      if (src_.compare(m, 3, "+%}") == 0) end = m + 3;
      else if (src_.compare(m, 3, "-%}") == 0) end = skip_ws(m + 3);
      else if (src_.compare(m, 2, "%}") == 0) end = m + 2 + (m + 2 < src_.size() && src_[m + 2] == '\n' ? 1 : 0);
      else {
        search = tag + 2;
        continue;
      }
      emit_data(strip_before_tag(src_.substr(k, tag - k), sign, true, line_starting), k);
      pos = end;
      line_starting = end > 0 && src_[end - 1] == '\n';
      return true;
    }
  }

  size_t lex_expression(size_t pos, bool block) {
    int depth = 0;
    const char* end_tag = block ? "%}" : "}}";
    while (true) {
      while (pos < src_.size() && is_space(src_[pos])) ++pos;
      if (pos >= src_.size()) error(pos, block ? "unexpected end of template, expected '%}'" : "unexpected end of template, expected '}}'");
      if (depth == 0) {
        if ((src_[pos] == '-' || src_[pos] == '+') && src_.compare(pos + 1, 2, end_tag) == 0) {
          push(block ? TokenType::BlockEnd : TokenType::VariableEnd, end_tag, pos);
          pos += 3;
          // "+%}" keeps the newline; "-%}" / "-}}" strip all following whitespace. ("+}}" is not a tag end.)
          if (src_[pos - 3] == '-') pos = skip_ws(pos);
          else if (!block) error(pos - 3, "unexpected '+'");
          return pos;
        }
        if (src_.compare(pos, 2, end_tag) == 0) {
          push(block ? TokenType::BlockEnd : TokenType::VariableEnd, end_tag, pos);
          pos += 2;
          if (block && pos < src_.size() && src_[pos] == '\n') ++pos;
          return pos;
        }
      }
      char c = src_[pos];
      if (std::isdigit(static_cast<unsigned char>(c))) {
        pos = lex_number(pos);
      } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_' || static_cast<unsigned char>(c) >= 0x80) {
        size_t end = pos;
        while (end < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[end])) || src_[end] == '_' ||
                                     static_cast<unsigned char>(src_[end]) >= 0x80))
          ++end;
        push(TokenType::Name, src_.substr(pos, end - pos), pos);
        pos = end;
      } else if (c == '\'' || c == '"') {
        size_t end = pos + 1;
        while (end < src_.size() && src_[end] != c) end += src_[end] == '\\' ? 2 : 1;
        if (end >= src_.size()) error(pos, "unexpected end of string literal");
        push(TokenType::String, decode_escapes(src_.substr(pos + 1, end - pos - 1)), pos);
        pos = end + 1;
      } else {
        static const char* const two[] = {"//", "**", "==", "!=", "<=", ">="};
        std::string op;
        for (const char* candidate : two)
          if (src_.compare(pos, 2, candidate) == 0) op = candidate;
        if (op.empty()) {
          if (!std::strchr("+-*/%~<>=.,:|()[]{};", c)) error(pos, std::string("unexpected char '") + c + "'");
          op = std::string(1, c);
        }
        if (op == "(" || op == "[" || op == "{") ++depth;
        if (op == ")" || op == "]" || op == "}") {
          if (depth == 0) error(pos, "unexpected '" + op + "'");
          --depth;
        }
        push(TokenType::Operator, op, pos);
        pos += op.size();
      }
    }
  }

  size_t lex_number(size_t pos) {
    size_t start = pos;
    auto digits = [&](auto pred) {
      while (pos < src_.size() && (pred(src_[pos]) || (src_[pos] == '_' && pos + 1 < src_.size() && pred(src_[pos + 1]))))
        ++pos;
    };
    auto dec = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
    std::string clean;
    if (src_[pos] == '0' && pos + 1 < src_.size() && std::strchr("xXoObB", src_[pos + 1])) {
      char base_char = static_cast<char>(std::tolower(src_[pos + 1]));
      int base = base_char == 'x' ? 16 : base_char == 'o' ? 8 : 2;
      pos += 2;
      digits([](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
      for (size_t k = start + 2; k < pos; ++k)
        if (src_[k] != '_') clean += src_[k];
      push(TokenType::Integer, src_.substr(start, pos - start), start);
      tokens_.back().int_value = std::stoll(clean, nullptr, base);
      return pos;
    }
    digits(dec);
    bool is_float = false;
    if (pos + 1 < src_.size() && src_[pos] == '.' && dec(src_[pos + 1])) {
      is_float = true;
      ++pos;
      digits(dec);
    }
    if (pos < src_.size() && (src_[pos] == 'e' || src_[pos] == 'E')) {
      size_t e = pos + 1;
      if (e < src_.size() && (src_[e] == '+' || src_[e] == '-')) ++e;
      if (e < src_.size() && dec(src_[e])) {
        is_float = true;
        pos = e;
        digits(dec);
      }
    }
    for (size_t k = start; k < pos; ++k)
      if (src_[k] != '_') clean += src_[k];
    push(is_float ? TokenType::Float : TokenType::Integer, src_.substr(start, pos - start), start);
    if (is_float) tokens_.back().float_value = std::stod(clean);
    else {
      try {
        tokens_.back().int_value = std::stoll(clean);
      } catch (const std::exception&) {
        error(start, "integer literal too large: " + clean);
      }
    }
    return pos;
  }
};

}  // namespace

std::vector<Token> tokenize(const std::string& source) { return Lexer(normalize_source(source)).run(); }

}  // namespace vllm::jinja
