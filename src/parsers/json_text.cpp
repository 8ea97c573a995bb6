#include "parsers/json_text.h"
#include "text/tokenizer/unicode.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <cstdio>
#include <cstdlib>

namespace vllm::parsers {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// One decoded character of a string, escaped as json.dumps(ensure_ascii=False) escapes it.
void append_escaped(std::string& out, unsigned char c) {
  switch (c) {
    case '"': out += "\\\""; return;
    case '\\': out += "\\\\"; return;
    case '\n': out += "\\n"; return;
    case '\r': out += "\\r"; return;
    case '\t': out += "\\t"; return;
    case '\b': out += "\\b"; return;
    case '\f': out += "\\f"; return;
    default: break;
  }
  if (c < 0x20) {
    char buffer[16];
    std::snprintf(buffer, sizeof(buffer), "\\u%04x", c);
    out += buffer;
  } else {
    out += static_cast<char>(c);
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Recursive descent that writes json.dumps form while it reads; stops where the text ends.
class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) {}

  JsonScan run() {
    JsonScan result;
    Status status = value(0);
    result.dumped = std::move(out_);
    result.complete = status == Status::Done;
    result.error = status == Status::Error;
    result.end = result.complete ? pos_ : 0;
    return result;
  }

 private:
  enum class Status { Done, Incomplete, Error };
  static constexpr int kMaxDepth = 128;

  std::string_view text_;
  size_t pos_ = 0;
  std::string out_;

  void skip_space() {
    while (pos_ < text_.size() && is_space(text_[pos_])) ++pos_;
  }

  Status value(int depth) {
    if (depth > kMaxDepth) return Status::Error;
    skip_space();
    if (pos_ >= text_.size()) return Status::Incomplete;
    char c = text_[pos_];
    if (c == '{') return object(depth);
    if (c == '[') return array(depth);
    if (c == '"') return string();
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    if (c == 't') return literal("true");
    if (c == 'f') return literal("false");
    if (c == 'n') return literal("null");
    return Status::Error;
  }

  Status object(int depth) {
    ++pos_;
    out_ += '{';
    skip_space();
    if (pos_ >= text_.size()) return Status::Incomplete;
    if (text_[pos_] == '}') {
      ++pos_;
      out_ += '}';
      return Status::Done;
    }
    while (true) {
      skip_space();
      if (pos_ >= text_.size()) return Status::Incomplete;
      if (text_[pos_] != '"') return Status::Error;
      if (Status s = string(); s != Status::Done) return s;
      skip_space();
      if (pos_ >= text_.size()) return Status::Incomplete;
      if (text_[pos_] != ':') return Status::Error;
      ++pos_;
      out_ += ": ";
      if (Status s = value(depth + 1); s != Status::Done) return s;
      skip_space();
      if (pos_ >= text_.size()) return Status::Incomplete;
      if (text_[pos_] == ',') {
        ++pos_;
        out_ += ", ";
        continue;
      }
      if (text_[pos_] == '}') {
        ++pos_;
        out_ += '}';
        return Status::Done;
      }
      return Status::Error;
    }
  }

  Status array(int depth) {
    ++pos_;
    out_ += '[';
    skip_space();
    if (pos_ >= text_.size()) return Status::Incomplete;
    if (text_[pos_] == ']') {
      ++pos_;
      out_ += ']';
      return Status::Done;
    }
    while (true) {
      if (Status s = value(depth + 1); s != Status::Done) return s;
      skip_space();
      if (pos_ >= text_.size()) return Status::Incomplete;
      if (text_[pos_] == ',') {
        ++pos_;
        out_ += ", ";
        continue;
      }
      if (text_[pos_] == ']') {
        ++pos_;
        out_ += ']';
        return Status::Done;
      }
      return Status::Error;
    }
  }

  // Four hex digits at `at` (-2: the text ends first, -1: not hex).
  int32_t hex4(size_t at) const {
    int32_t v = 0;
    for (size_t i = 0; i < 4; ++i) {
      if (at + i >= text_.size()) return -2;
      int h = hex_value(text_[at + i]);
      if (h < 0) return -1;
      v = v * 16 + h;
    }
    return v;
  }

  Status string() {
    ++pos_;
    out_ += '"';
    while (pos_ < text_.size()) {
      unsigned char c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        out_ += '"';
        return Status::Done;
      }
      if (c != '\\') {
        append_escaped(out_, c);
        ++pos_;
        continue;
      }
      if (pos_ + 1 >= text_.size()) return Status::Incomplete;
      char e = text_[pos_ + 1];
      switch (e) {
        case '"': append_escaped(out_, '"'); break;
        case '\\': append_escaped(out_, '\\'); break;
        case '/': out_ += '/'; break;
        case 'n': append_escaped(out_, '\n'); break;
        case 'r': append_escaped(out_, '\r'); break;
        case 't': append_escaped(out_, '\t'); break;
        case 'b': append_escaped(out_, '\b'); break;
        case 'f': append_escaped(out_, '\f'); break;
        case 'u': {
          int32_t cp = hex4(pos_ + 2);
          if (cp == -2) return Status::Incomplete;
          if (cp < 0) return Status::Error;
          size_t used = 6;
          if (cp >= 0xD800 && cp < 0xDC00) {  // a high surrogate: its pair must follow
            if (pos_ + 8 > text_.size()) return Status::Incomplete;
            if (text_[pos_ + 6] == '\\' && text_[pos_ + 7] == 'u') {
              int32_t low = hex4(pos_ + 8);
              if (low == -2) return Status::Incomplete;
              if (low >= 0xDC00 && low < 0xE000) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                used = 12;
              }
            }
          }
          if (cp >= 0xD800 && cp < 0xE000) {  // a lone surrogate: Python writes it escaped
            char buffer[16];
            std::snprintf(buffer, sizeof(buffer), "\\u%04x", cp);
            out_ += buffer;
          } else if (cp < 0x20 || cp == '"' || cp == '\\') {
            append_escaped(out_, static_cast<unsigned char>(cp));
          } else {
            unicode::append(out_, static_cast<char32_t>(cp));
          }
          pos_ += used;
          continue;
        }
        default: return Status::Error;
      }
      pos_ += 2;
    }
    return Status::Incomplete;
  }

  Status number() {
    size_t begin = pos_;
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') ++pos_;
      else break;
    }
    if (pos_ >= text_.size()) return Status::Incomplete;  // more digits may follow
    std::string_view token = text_.substr(begin, pos_ - begin);
    Json parsed = Json::parse(token, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded() || !parsed.is_number()) return Status::Error;
    bool integral = token.find_first_of(".eE") == std::string_view::npos;
    if (integral) {
      // Python ints are unbounded: keep the digits (without a "-" on zero).
      std::string digits(token);
      if (digits == "-0") digits = "0";
      out_ += digits;
    } else {
      out_ += python_float_repr(parsed.get<double>());
    }
    return Status::Done;
  }

  Status literal(std::string_view word) {
    for (size_t i = 0; i < word.size(); ++i) {
      if (pos_ + i >= text_.size()) return Status::Incomplete;
      if (text_[pos_ + i] != word[i]) return Status::Error;
    }
    pos_ += word.size();
    out_ += word;
    return Status::Done;
  }
};

void dump(const Json& value, std::string& out) {
  switch (value.type()) {
    case Json::value_t::object: {
      out += '{';
      bool first = true;
      for (auto it = value.begin(); it != value.end(); ++it) {
        if (!first) out += ", ";
        first = false;
        out += python_json_quote(it.key());
        out += ": ";
        dump(it.value(), out);
      }
      out += '}';
      return;
    }
    case Json::value_t::array: {
      out += '[';
      bool first = true;
      for (const Json& item : value) {
        if (!first) out += ", ";
        first = false;
        dump(item, out);
      }
      out += ']';
      return;
    }
    case Json::value_t::string: out += python_json_quote(value.get_ref<const std::string&>()); return;
    case Json::value_t::number_float: out += python_float_repr(value.get<double>()); return;
    case Json::value_t::discarded: out += "null"; return;
    default: out += value.dump(); return;  // integers, booleans, null
  }
}

}  // namespace

std::string python_float_repr(double value) {
  if (value != value) return "NaN";
  if (value == std::numeric_limits<double>::infinity()) return "Infinity";
  if (value == -std::numeric_limits<double>::infinity()) return "-Infinity";
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
  std::string sci(buffer, end);  // "-d.ddde+XX", the shortest digits that read back the same
  bool negative = sci[0] == '-';
  if (negative) sci.erase(0, 1);
  size_t e = sci.find('e');
  std::string digits = sci.substr(0, e);
  int exponent = std::atoi(sci.c_str() + e + 1);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  std::string out = negative ? "-" : "";
  if (exponent >= -4 && exponent < 16) {  // repr's fixed-point range
    if (exponent < 0) {
      out += "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
    } else if (static_cast<int>(digits.size()) <= exponent + 1) {
      out += digits + std::string(static_cast<size_t>(exponent + 1) - digits.size(), '0') + ".0";
    } else {
      out += digits.substr(0, static_cast<size_t>(exponent + 1)) + "." + digits.substr(static_cast<size_t>(exponent + 1));
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  char exp_text[16];
  std::snprintf(exp_text, sizeof(exp_text), "e%c%02d", exponent < 0 ? '-' : '+', exponent < 0 ? -exponent : exponent);
  return out + exp_text;
}

std::string python_json_quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) append_escaped(out, static_cast<unsigned char>(c));
  out += '"';
  return out;
}

std::string python_json_dumps(const Json& value) {
  std::string out;
  dump(value, out);
  return out;
}

JsonScan scan_json(std::string_view text) { return Scanner(text).run(); }

bool parse_json_prefix(std::string_view text, Json& value, size_t& end) {
  JsonScan scan = scan_json(text);
  if (!scan.complete) return false;
  value = Json::parse(text.substr(0, scan.end), nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    // The scanner is lenient where nlohmann is strict (raw control characters in strings):
    // read back its own Python form, which is strict JSON.
    value = Json::parse(scan.dumped, nullptr, false);
    if (value.is_discarded()) return false;
  }
  end = scan.end;
  return true;
}

bool parse_json_exact(std::string_view text, Json& value) {
  // The whole text is given: a number at its very end is complete (the scanner waits for a
  // delimiter after numbers, so give it one).
  std::string padded = std::string(text) + " ";
  size_t end = 0;
  if (!parse_json_prefix(padded, value, end)) return false;
  for (size_t i = end; i < padded.size(); ++i)
    if (!is_space(padded[i])) return false;
  return true;
}

}  // namespace vllm::parsers
