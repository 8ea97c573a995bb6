#include "text/chat/jinja_value.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "core/error.h"

namespace vllm::jinja {

const Value* CallArgs::get(size_t index, const std::string& name) const {
  if (index < positional.size()) return &positional[index];
  for (const auto& [key, value] : keyword)
    if (key == name) return &value;
  return nullptr;
}

Value Value::undefined(std::string hint) {
  Value v;
  if (!hint.empty()) v.s = std::make_shared<const std::string>(std::move(hint));
  return v;
}
Value Value::none() {
  Value v;
  v.kind = Kind::None;
  return v;
}
Value Value::boolean(bool x) {
  Value v;
  v.kind = Kind::Bool;
  v.b = x;
  return v;
}
Value Value::integer(int64_t x) {
  Value v;
  v.kind = Kind::Int;
  v.i = x;
  return v;
}
Value Value::number(double x) {
  Value v;
  v.kind = Kind::Float;
  v.f = x;
  return v;
}
Value Value::string(std::string x) {
  Value v;
  v.kind = Kind::String;
  v.s = std::make_shared<std::string>(std::move(x));
  return v;
}
Value Value::borrowed_string(const std::string& text) {
  Value v;
  v.kind = Kind::String;
  v.s = std::shared_ptr<const std::string>(std::shared_ptr<const std::string>(), &text);  // no owner, no count
  return v;
}
Value Value::make_list(Array items) {
  Value v;
  v.kind = Kind::List;
  v.list = std::make_shared<Array>(std::move(items));
  return v;
}
Value Value::make_tuple(Array items) {
  Value v = make_list(std::move(items));
  v.kind = Kind::Tuple;
  return v;
}
Value Value::make_dict() {
  Value v;
  v.kind = Kind::Dict;
  v.dict = std::make_shared<Object>();
  return v;
}
Value Value::make_namespace() {
  Value v = make_dict();
  v.kind = Kind::Namespace;
  return v;
}
Value Value::function(std::string name, NativeFunction fn) {
  Value v;
  v.kind = Kind::Callable;
  v.fn = std::make_shared<Callable>(Callable{std::move(name), std::move(fn)});
  return v;
}

template <typename Json>
Value value_from_json(const Json& j, bool borrow) {
  switch (j.type()) {
    case Json::value_t::null: return Value::none();
    case Json::value_t::boolean: return Value::boolean(j.template get<bool>());
    case Json::value_t::number_integer: return Value::integer(j.template get<int64_t>());
    case Json::value_t::number_unsigned: {
      uint64_t u = j.template get<uint64_t>();
      if (u <= static_cast<uint64_t>(INT64_MAX)) return Value::integer(static_cast<int64_t>(u));
      return Value::number(static_cast<double>(u));
    }
    case Json::value_t::number_float: return Value::number(j.template get<double>());
    case Json::value_t::string: {
      const auto& text = j.template get_ref<const std::string&>();
      return borrow ? Value::borrowed_string(text) : Value::string(text);
    }
    case Json::value_t::array: {
      Array items;
      items.reserve(j.size());
      for (const auto& item : j) items.push_back(value_from_json(item, borrow));
      return Value::make_list(std::move(items));
    }
    case Json::value_t::object: {
      Value d = Value::make_dict();
      d.dict->entries.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it)
        d.dict->entries.emplace_back(borrow ? Value::borrowed_string(it.key()) : Value::string(it.key()),
                                     value_from_json(it.value(), borrow));
      return d;
    }
    default: return Value::none();
  }
}

Value Value::from_json(const nlohmann::json& j) { return value_from_json(j, false); }
Value Value::from_json(const nlohmann::ordered_json& j) { return value_from_json(j, false); }
Value Value::borrow_json(const nlohmann::ordered_json& j) { return value_from_json(j, true); }

bool Value::truthy() const {
  switch (kind) {
    case Kind::Undefined:
    case Kind::None: return false;
    case Kind::Bool: return b;
    case Kind::Int: return i != 0;
    case Kind::Float: return f != 0.0;
    case Kind::String: return !s->empty();
    case Kind::List:
    case Kind::Tuple: return generator || !list->empty();
    case Kind::Dict: return !dict->entries.empty();
    default: return true;
  }
}

std::string format_float(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == 0) return std::signbit(v) ? "-0.0" : "0.0";
  // Shortest round-trip digits, then Python's layout: scientific when exp < -4 or exp >= 16.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  bool negative = sci[0] == '-';
  if (negative) sci.erase(0, 1);
  size_t epos = sci.find('e');
  std::string mantissa = sci.substr(0, epos);
  int exponent = std::stoi(sci.substr(epos + 1));
  std::string digits;
  for (char c : mantissa)
    if (c != '.') digits += c;
  std::string out;
  if (exponent < -4 || exponent >= 16) {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char ebuf[16];
    std::snprintf(ebuf, sizeof(ebuf), "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    out += ebuf;
  } else if (exponent < 0) {
    out = "0." + std::string(-exponent - 1, '0') + digits;
  } else {
    if (digits.size() <= static_cast<size_t>(exponent) + 1) {
      out = digits + std::string(exponent + 1 - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, exponent + 1) + "." + digits.substr(exponent + 1);
    }
  }
  return negative ? "-" + out : out;
}

static std::string repr_string(const std::string& s) {
  char quote = '\'';
  if (s.find('\'') != std::string::npos && s.find('"') == std::string::npos) quote = '"';
  std::string out(1, quote);
  for (unsigned char c : s) {
    if (c == static_cast<unsigned char>(quote) || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += quote;
  return out;
}

std::string Value::repr() const {
  if (kind == Kind::String) return repr_string(*s);
  return to_string();
}

std::string Value::to_string() const {
  switch (kind) {
    case Kind::Undefined: return "";
    case Kind::None: return "None";
    case Kind::Bool: return b ? "True" : "False";
    case Kind::Int: return std::to_string(i);
    case Kind::Float: return format_float(f);
    case Kind::String: return *s;
    case Kind::List:
    case Kind::Tuple: {
      if (generator) return "<generator object>";
      std::string out = kind == Kind::List ? "[" : "(";
      for (size_t k = 0; k < list->size(); ++k) {
        if (k) out += ", ";
        out += (*list)[k].repr();
      }
      if (kind == Kind::Tuple && list->size() == 1) out += ",";
      out += kind == Kind::List ? "]" : ")";
      return out;
    }
    case Kind::Dict: {
      std::string out = "{";
      bool first = true;
      for (const auto& [key, value] : dict->entries) {
        if (!first) out += ", ";
        first = false;
        out += key.repr() + ": " + value.repr();
      }
      return out + "}";
    }
    case Kind::Namespace: return "<Namespace>";
    case Kind::Callable: return "<function " + fn->name + ">";
  }
  return "";
}

std::string Value::type_name() const {
  switch (kind) {
    case Kind::Undefined: return "Undefined";
    case Kind::None: return "NoneType";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::String: return "str";
    case Kind::List: return generator ? "generator" : "list";
    case Kind::Tuple: return "tuple";
    case Kind::Dict: return "dict";
    case Kind::Namespace: return "Namespace";
    case Kind::Callable: return "function";
  }
  return "object";
}

nlohmann::json Value::to_json() const {
  switch (kind) {
    case Kind::None: return nullptr;
    case Kind::Bool: return b;
    case Kind::Int: return i;
    case Kind::Float: return f;
    case Kind::String: return *s;
    case Kind::List:
    case Kind::Tuple: {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& item : *list) arr.push_back(item.to_json());
      return arr;
    }
    case Kind::Dict: {
      nlohmann::json obj = nlohmann::json::object();
      for (const auto& [key, value] : dict->entries) obj[key.to_string()] = value.to_json();
      return obj;
    }
    default: fail(ErrorKind::InvalidArgument, "Object of type ", type_name(), " is not JSON serializable");
  }
}

const Value* Object::find(const Value& key) const {
  for (const auto& entry : entries)
    if (equals(entry.first, key)) return &entry.second;
  return nullptr;
}

const Value* Object::find(const std::string& key) const {
  for (const auto& entry : entries)
    if (entry.first.kind == Kind::String && *entry.first.s == key) return &entry.second;
  return nullptr;
}

void Object::set(const Value& key, Value value) {
  for (auto& entry : entries)
    if (equals(entry.first, key)) {
      entry.second = std::move(value);
      return;
    }
  entries.emplace_back(key, std::move(value));
}

bool equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.kind == Kind::Float || b.kind == Kind::Float) return a.as_double() == b.as_double();
    return (a.kind == Kind::Bool ? a.b : a.i) == (b.kind == Kind::Bool ? b.b : b.i);
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Kind::Undefined:
    case Kind::None: return true;
    case Kind::String: return *a.s == *b.s;
    case Kind::List:
    case Kind::Tuple:
      if (a.list->size() != b.list->size()) return false;
      for (size_t k = 0; k < a.list->size(); ++k)
        if (!equals((*a.list)[k], (*b.list)[k])) return false;
      return true;
    case Kind::Dict:
      if (a.dict->entries.size() != b.dict->entries.size()) return false;
      for (const auto& [key, value] : a.dict->entries) {
        const Value* other = b.dict->find(key);
        if (!other || !equals(value, *other)) return false;
      }
      return true;
    case Kind::Namespace: return a.dict == b.dict;
    case Kind::Callable: return a.fn == b.fn;
    default: return false;
  }
}

bool less(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.kind == Kind::Float || b.kind == Kind::Float) return a.as_double() < b.as_double();
    return (a.kind == Kind::Bool ? a.b : a.i) < (b.kind == Kind::Bool ? b.b : b.i);
  }
  if (a.kind == Kind::String && b.kind == Kind::String) return *a.s < *b.s;
  if (a.kind == b.kind && a.is_sequence()) {
    const Array& x = *a.list;
    const Array& y = *b.list;
    for (size_t k = 0; k < x.size() && k < y.size(); ++k) {
      if (!equals(x[k], y[k])) return less(x[k], y[k]);
    }
    return x.size() < y.size();
  }
  fail(ErrorKind::InvalidArgument, "'<' not supported between instances of '", a.type_name(), "' and '",
       b.type_name(), "'");
}

std::u32string utf8_decode(const std::string& s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t k = 0; k < s.size();) {
    unsigned char c = s[k];
    char32_t cp;
    int extra;
    if (c < 0x80) {
      cp = c;
      extra = 0;
    } else if ((c >> 5) == 6) {
      cp = c & 0x1f;
      extra = 1;
    } else if ((c >> 4) == 14) {
      cp = c & 0x0f;
      extra = 2;
    } else if ((c >> 3) == 30) {
      cp = c & 0x07;
      extra = 3;
    } else {
      cp = 0xfffd;
      extra = 0;
    }
    ++k;
    for (int e = 0; e < extra && k < s.size(); ++e, ++k) cp = (cp << 6) | (s[k] & 0x3f);
    out.push_back(cp);
  }
  return out;
}

void utf8_append(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xc0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3f));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xe0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (c & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (c & 0x3f));
  }
}

std::string utf8_encode(const std::u32string& s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) utf8_append(out, c);
  return out;
}

size_t utf8_length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xc0) != 0x80) ++n;
  return n;
}

bool is_python_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
         c == 0x205f || c == 0x3000;
}

static void dump_string(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

static void dump_value(std::string& out, const Value& v, const std::string* indent, const std::string& item_sep,
                       const std::string& key_sep, bool sort_keys, int depth) {
  if (depth > 500) fail(ErrorKind::InvalidArgument, "tojson: value nested too deeply");
  auto newline = [&](int level) {
    if (!indent) return;
    out += '\n';
    for (int k = 0; k < level; ++k) out += *indent;
  };
  switch (v.kind) {
    case Kind::None: out += "null"; return;
    case Kind::Bool: out += v.b ? "true" : "false"; return;
    case Kind::Int: out += std::to_string(v.i); return;
    case Kind::Float:
      if (std::isnan(v.f)) out += "NaN";
      else if (std::isinf(v.f)) out += v.f > 0 ? "Infinity" : "-Infinity";
      else out += format_float(v.f);
      return;
    case Kind::String: dump_string(out, *v.s); return;
    case Kind::List:
    case Kind::Tuple: {
      if (v.generator) fail(ErrorKind::InvalidArgument, "Object of type generator is not JSON serializable");
      if (v.list->empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t k = 0; k < v.list->size(); ++k) {
        if (k) out += item_sep;
        newline(depth + 1);
        dump_value(out, (*v.list)[k], indent, item_sep, key_sep, sort_keys, depth + 1);
      }
      newline(depth);
      out += ']';
      return;
    }
    case Kind::Dict: {
      if (v.dict->entries.empty()) {
        out += "{}";
        return;
      }
      std::vector<std::pair<std::string, const Value*>> items;
      for (const auto& [key, value] : v.dict->entries) {
        std::string name;
        if (key.kind == Kind::String) name = *key.s;
        else if (key.kind == Kind::None) name = "null";
        else if (key.kind == Kind::Bool) name = key.b ? "true" : "false";
        else if (key.kind == Kind::Int || key.kind == Kind::Float) name = key.to_string();
        else fail(ErrorKind::InvalidArgument, "keys must be str, int, float, bool or None, not ", key.type_name());
        items.emplace_back(std::move(name), &value);
      }
      if (sort_keys)
        std::stable_sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      out += '{';
      for (size_t k = 0; k < items.size(); ++k) {
        if (k) out += item_sep;
        newline(depth + 1);
        dump_string(out, items[k].first);
        out += key_sep;
        dump_value(out, *items[k].second, indent, item_sep, key_sep, sort_keys, depth + 1);
      }
      newline(depth);
      out += '}';
      return;
    }
    default: fail(ErrorKind::InvalidArgument, "Object of type ", v.type_name(), " is not JSON serializable");
  }
}

std::string dump_json(const Value& value, const std::string* indent, const std::string& item_sep,
                      const std::string& key_sep, bool sort_keys) {
  std::string out;
  dump_value(out, value, indent, item_sep, key_sep, sort_keys, 0);
  return out;
}

}  // namespace vllm::jinja
