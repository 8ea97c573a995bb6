// Python's str.format() and printf-style "%" formatting, for the subset templates use: positional
// and named fields, !r/!s, and [[fill]align][sign][0][width][.precision][type] with s, d, f, e, g, %.
#include <cmath>

#include "core/error.h"
#include "text/chat/jinja_builtins.h"

namespace vllm::jinja {
namespace {

std::string pad(const std::string& text, char32_t fill, char align, int64_t width) {
  int64_t len = static_cast<int64_t>(utf8_length(text));
  if (width <= len) return text;
  std::string f;
  utf8_append(f, fill);
  auto rep = [&](int64_t n) {
    std::string out;
    for (int64_t k = 0; k < n; ++k) out += f;
    return out;
  };
  int64_t total = width - len;
  if (align == '<') return text + rep(total);
  if (align == '>') return rep(total) + text;
  if (align == '^') return rep(total / 2) + text + rep(total - total / 2);
  if (align == '=') {  // padding after the sign
    if (!text.empty() && (text[0] == '-' || text[0] == '+')) return text.substr(0, 1) + rep(total) + text.substr(1);
    return rep(total) + text;
  }
  return text;
}

std::string format_number(const Value& v, char type, int precision, char sign) {
  std::string out;
  if (type == 'd') {
    if (v.kind == Kind::Float) fail(ErrorKind::InvalidArgument, "Unknown format code 'd' for object of type 'float'");
    out = std::to_string(v.kind == Kind::Bool ? v.b : v.i);
  } else if (type == 'f' || type == 'F' || type == 'e' || type == 'E' || type == '%' || type == 'g' || type == 'G') {
    double x = v.as_double();
    if (type == '%') x *= 100;
    char spec[16];
    std::snprintf(spec, sizeof(spec), "%%.%d%c", precision < 0 ? 6 : precision, type == '%' ? 'f' : type);
    char buf[512];
    std::snprintf(buf, sizeof(buf), spec, x);
    out = buf;
    if (type == '%') out += '%';
  } else {
    out = v.to_string();
  }
  if (sign == '+' && !out.empty() && out[0] != '-') out = "+" + out;
  if (sign == ' ' && !out.empty() && out[0] != '-') out = " " + out;
  return out;
}

std::string apply_spec(const Value& v, const std::string& spec) {
  if (spec.empty()) return v.to_string();
  std::u32string s = utf8_decode(spec);
  size_t k = 0;
  char32_t fill = ' ';
  char align = 0;
  auto is_align = [](char32_t c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  if (s.size() >= 2 && is_align(s[1])) {
    fill = s[0];
    align = static_cast<char>(s[1]);
    k = 2;
  } else if (!s.empty() && is_align(s[0])) {
    align = static_cast<char>(s[0]);
    k = 1;
  }
  char sign = 0;
  if (k < s.size() && (s[k] == '+' || s[k] == '-' || s[k] == ' ')) sign = static_cast<char>(s[k++]);
  if (k < s.size() && s[k] == '0') {
    if (!align) {
      fill = '0';
      align = '=';
    }
    ++k;
  }
  int64_t width = 0;
  while (k < s.size() && s[k] >= '0' && s[k] <= '9') width = width * 10 + (s[k++] - '0');
  int precision = -1;
  if (k < s.size() && s[k] == '.') {
    precision = 0;
    ++k;
    while (k < s.size() && s[k] >= '0' && s[k] <= '9') precision = precision * 10 + static_cast<int>(s[k++] - '0');
  }
  char type = k < s.size() ? static_cast<char>(s[k]) : 0;
  std::string text;
  if (v.is_number()) {
    if (!type && precision >= 0) type = 'g';
    text = format_number(v, type ? type : 's', precision, sign);
    if (!align) align = '>';
  } else {
    text = v.to_string();
    if (precision >= 0) text = utf8_encode(utf8_decode(text).substr(0, precision));
    if (!align) align = '<';
  }
  return pad(text, fill, align, width);
}

}  // namespace

std::string python_str_format(Interpreter& in, const std::string& format, const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t k = 0; k < format.size(); ++k) {
    char c = format[k];
    if (c == '{' && k + 1 < format.size() && format[k + 1] == '{') {
      out += '{';
      ++k;
      continue;
    }
    if (c == '}' && k + 1 < format.size() && format[k + 1] == '}') {
      out += '}';
      ++k;
      continue;
    }
    if (c == '}') fail(ErrorKind::InvalidArgument, "Single '}' encountered in format string");
    if (c != '{') {
      out += c;
      continue;
    }
    size_t end = format.find('}', k);
    if (end == std::string::npos) fail(ErrorKind::InvalidArgument, "Single '{' encountered in format string");
    std::string field = format.substr(k + 1, end - k - 1);
    k = end;
    std::string spec, conversion;
    size_t colon = field.find(':');
    if (colon != std::string::npos) {
      spec = field.substr(colon + 1);
      field = field.substr(0, colon);
    }
    size_t bang = field.find('!');
    if (bang != std::string::npos) {
      conversion = field.substr(bang + 1);
      field = field.substr(0, bang);
    }
    size_t accessor = field.find_first_of(".[");
    std::string head = field.substr(0, accessor);
    Value value;
    if (head.empty() || std::all_of(head.begin(), head.end(), ::isdigit)) {
      size_t index = head.empty() ? auto_index++ : std::stoul(head);
      if (index >= args.positional.size())
        fail(ErrorKind::InvalidArgument, "Replacement index ", index, " out of range for positional args tuple");
      value = args.positional[index];
    } else {
      const Value* found = nullptr;
      for (const auto& [key, v] : args.keyword)
        if (key == head) found = &v;
      if (!found) fail(ErrorKind::InvalidArgument, "KeyError: '", head, "'");
      value = *found;
    }
    while (accessor != std::string::npos && accessor < field.size()) {
      if (field[accessor] == '.') {
        size_t next = field.find_first_of(".[", accessor + 1);
        value = in.getattr(value, field.substr(accessor + 1, next - accessor - 1));
        accessor = next;
      } else {
        size_t close = field.find(']', accessor);
        std::string key = field.substr(accessor + 1, close - accessor - 1);
        bool numeric = !key.empty() && std::all_of(key.begin(), key.end(), ::isdigit);
        value = in.getitem(value, numeric ? Value::integer(std::stoll(key)) : Value::string(key));
        accessor = close == std::string::npos ? close : close + 1;
      }
    }
    if (conversion == "r") value = Value::string(value.repr());
    else if (conversion == "s") value = Value::string(value.to_string());
    out += apply_spec(value, spec);
  }
  return out;
}

std::string python_percent_format(const std::string& format, const Value& args) {
  std::vector<Value> items;
  if (args.kind == Kind::Tuple) items = *args.list;
  else items.push_back(args);
  size_t next = 0;
  std::string out;
  for (size_t k = 0; k < format.size(); ++k) {
    if (format[k] != '%') {
      out += format[k];
      continue;
    }
    if (++k >= format.size()) fail(ErrorKind::InvalidArgument, "incomplete format");
    Value value;
    bool have_value = false;
    if (format[k] == '(') {
      size_t close = format.find(')', k);
      if (close == std::string::npos || !args.is_dict()) fail(ErrorKind::InvalidArgument, "format requires a mapping");
      const Value* found = args.dict->find(format.substr(k + 1, close - k - 1));
      if (!found) fail(ErrorKind::InvalidArgument, "KeyError: '", format.substr(k + 1, close - k - 1), "'");
      value = *found;
      have_value = true;
      k = close + 1;
    }
    std::string flags;
    while (k < format.size() && std::string("-+ 0#").find(format[k]) != std::string::npos) flags += format[k++];
    int64_t width = 0;
    while (k < format.size() && std::isdigit(static_cast<unsigned char>(format[k]))) width = width * 10 + (format[k++] - '0');
    int precision = -1;
    if (k < format.size() && format[k] == '.') {
      precision = 0;
      ++k;
      while (k < format.size() && std::isdigit(static_cast<unsigned char>(format[k]))) precision = precision * 10 + (format[k++] - '0');
    }
    if (k >= format.size()) fail(ErrorKind::InvalidArgument, "incomplete format");
    char type = format[k];
    if (type == '%') {
      out += '%';
      continue;
    }
    if (!have_value) {
      if (next >= items.size()) fail(ErrorKind::InvalidArgument, "not enough arguments for format string");
      value = items[next++];
    }
    std::string text;
    if (type == 's') text = value.to_string();
    else if (type == 'r' || type == 'a') text = value.repr();
    else if (type == 'd' || type == 'i' || type == 'u') {
      if (!value.is_number()) fail(ErrorKind::InvalidArgument, "%d format: a real number is required, not ", value.type_name());
      text = std::to_string(value.kind == Kind::Float ? static_cast<int64_t>(value.f) : value.kind == Kind::Bool ? value.b : value.i);
    } else {
      if (!value.is_number()) fail(ErrorKind::InvalidArgument, "must be real number, not ", value.type_name());
      text = format_number(value, type, precision, 0);
    }
    if (precision >= 0 && type == 's') text = utf8_encode(utf8_decode(text).substr(0, precision));
    bool left = flags.find('-') != std::string::npos;
    bool zero = flags.find('0') != std::string::npos && !left && type != 's';
    out += pad(text, zero ? '0' : ' ', left ? '<' : zero ? '=' : '>', width);
  }
  if (args.kind == Kind::Tuple && next < items.size()) fail(ErrorKind::InvalidArgument, "not all arguments converted during string formatting");
  return out;
}

}  // namespace vllm::jinja
