// Jinja2 3.1's built-in filters and tests, with transformers' tojson (json.dumps with
// ensure_ascii=False and the indent, separators and sort_keys options, no HTML escaping).
#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "core/error.h"
#include "text/chat/jinja_builtins.h"

namespace vllm::jinja {
namespace {

const Value* arg(const CallArgs& a, size_t index, const std::string& name) { return a.get(index, name); }
bool flag(const CallArgs& a, size_t index, const std::string& name) {
  const Value* v = arg(a, index, name);
  return v && v->truthy();
}
std::string soft_str(const Value& v) { return v.to_string(); }

}  // namespace

// Jinja's make_attrgetter: "a.b.0" walks items and attributes; integer parts index lists.
Value attribute_of(Interpreter& in, const Value& item, const Value& attribute, const Value* default_value) {
  Value current = item;
  std::vector<Value> parts;
  if (attribute.is_string()) {
    const std::string& path = attribute.str();
    size_t start = 0;
    while (true) {
      size_t dot = path.find('.', start);
      std::string part = path.substr(start, dot - start);
      bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
      parts.push_back(numeric ? Value::integer(std::stoll(part)) : Value::string(part));
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
  } else {
    parts.push_back(attribute);
  }
  for (const auto& part : parts) {
    current = in.getitem(current, part);
    if (current.is_undefined() && default_value) return *default_value;
  }
  return current;
}

namespace {

Value lower_if_string(const Value& v, bool case_sensitive) {
  if (!case_sensitive && v.is_string()) return Value::string(to_lower(v.str()));
  return v;
}

std::vector<Value> sorted_by(Interpreter& in, std::vector<Value> items, bool reverse, bool case_sensitive, const Value* attribute) {
  std::vector<std::pair<Value, size_t>> keyed;
  keyed.reserve(items.size());
  for (size_t k = 0; k < items.size(); ++k) {
    Value key = attribute && !attribute->is_none() ? attribute_of(in, items[k], *attribute) : items[k];
    keyed.emplace_back(lower_if_string(key, case_sensitive), k);
  }
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
    return reverse ? less(b.first, a.first) : less(a.first, b.first);
  });
  std::vector<Value> out;
  out.reserve(items.size());
  for (const auto& [key, index] : keyed) out.push_back(items[index]);
  return out;
}

CallArgs rest_args(const CallArgs& a, size_t from) {
  CallArgs out;
  for (size_t k = from; k < a.positional.size(); ++k) out.positional.push_back(a.positional[k]);
  out.keyword = a.keyword;
  return out;
}

Value generator(Array items) {
  Value v = Value::make_list(std::move(items));
  v.generator = true;
  return v;
}

Value f_select_impl(Interpreter& in, const Value& value, const CallArgs& a, bool by_attr, bool keep) {
  size_t test_at = by_attr ? 1 : 0;
  Value attribute = by_attr ? (a.positional.empty() ? Value() : a.positional[0]) : Value();
  Array out;
  if (!value.truthy()) return generator({});  // Jinja: "if value:" before iterating
  for (const auto& item : in.iterate(value)) {
    Value subject = by_attr ? attribute_of(in, item, attribute) : item;
    bool result;
    if (a.positional.size() > test_at) {
      const Value& test = a.positional[test_at];
      result = in.apply_test(test.to_string(), subject, rest_args(a, test_at + 1));
    } else {
      result = subject.truthy();
    }
    if (result == keep) out.push_back(item);
  }
  return generator(std::move(out));
}

Value f_tojson(Interpreter&, const Value& value, const CallArgs& a) {
  bool ensure_ascii = flag(a, 0, "ensure_ascii");
  const Value* indent_arg = arg(a, 1, "indent");
  const Value* separators = arg(a, 2, "separators");
  bool sort_keys = flag(a, 3, "sort_keys");
  std::string indent_text;
  const std::string* indent = nullptr;
  if (indent_arg && !indent_arg->is_none()) {
    indent_text = indent_arg->is_string() ? indent_arg->str() : std::string(std::max<int64_t>(0, indent_arg->i), ' ');
    indent = &indent_text;
  }
  std::string item_sep = indent ? "," : ", ", key_sep = ": ";
  if (separators && !separators->is_none()) {
    if (!separators->is_sequence() || separators->list->size() != 2) fail(ErrorKind::InvalidArgument, "tojson: separators must be a pair");
    item_sep = (*separators->list)[0].to_string();
    key_sep = (*separators->list)[1].to_string();
  }
  std::string text = dump_json(value, indent, item_sep, key_sep, sort_keys);
  if (!ensure_ascii) return Value::string(std::move(text));
  std::string out;
  for (char32_t c : utf8_decode(text)) {
    char buf[16];
    if (c < 0x80) out += static_cast<char>(c);
    else if (c < 0x10000) {
      std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      char32_t v = c - 0x10000;
      std::snprintf(buf, sizeof(buf), "\\u%04x\\u%04x", static_cast<unsigned>(0xd800 + (v >> 10)), static_cast<unsigned>(0xdc00 + (v & 0x3ff)));
      out += buf;
    }
  }
  return Value::string(std::move(out));
}

Value f_length(Interpreter&, const Value& v, const CallArgs&) {
  switch (v.kind) {
    case Kind::Undefined: return Value::integer(0);
    case Kind::String: return Value::integer(static_cast<int64_t>(utf8_length(v.str())));
    case Kind::List:
    case Kind::Tuple:
      if (v.generator) break;
      return Value::integer(static_cast<int64_t>(v.list->size()));
    case Kind::Dict: return Value::integer(static_cast<int64_t>(v.dict->entries.size()));
    default: break;
  }
  fail(ErrorKind::InvalidArgument, "object of type '", v.type_name(), "' has no len()");
}

Value f_join(Interpreter& in, const Value& v, const CallArgs& a) {
  const Value* sep = arg(a, 0, "d");
  const Value* attribute = arg(a, 1, "attribute");
  std::string d = sep ? sep->to_string() : "";
  std::string out;
  bool first = true;
  for (const auto& item : in.iterate(v)) {
    if (!first) out += d;
    first = false;
    out += (attribute && !attribute->is_none() ? attribute_of(in, item, *attribute) : item).to_string();
  }
  return Value::string(std::move(out));
}

Value f_default(Interpreter&, const Value& v, const CallArgs& a) {
  const Value* fallback = arg(a, 0, "default_value");
  if (v.is_undefined() || (flag(a, 1, "boolean") && !v.truthy())) return fallback ? *fallback : Value::string("");
  return v;
}

Value f_first(Interpreter& in, const Value& v, const CallArgs&) {
  auto items = in.iterate(v);
  if (items.empty()) return Value::undefined("No first item, sequence was empty.");
  return items.front();
}

Value f_last(Interpreter& in, const Value& v, const CallArgs&) {
  auto items = in.iterate(v);
  if (items.empty()) return Value::undefined("No last item, sequence was empty.");
  return items.back();
}

Value f_map(Interpreter& in, const Value& v, const CallArgs& a) {
  const Value* attribute = nullptr;
  const Value* default_value = nullptr;
  for (const auto& [key, value] : a.keyword) {
    if (key == "attribute") attribute = &value;
    if (key == "default") default_value = &value;
  }
  Array out;
  if (!v.truthy()) return generator({});
  if (attribute) {
    for (const auto& item : in.iterate(v)) out.push_back(attribute_of(in, item, *attribute, default_value));
  } else {
    if (a.positional.empty()) return generator(in.iterate(v));
    std::string name = a.positional[0].to_string();
    CallArgs rest = rest_args(a, 1);
    for (const auto& item : in.iterate(v)) out.push_back(in.apply_filter(name, item, rest));
  }
  return generator(std::move(out));
}

Value f_int(Interpreter&, const Value& v, const CallArgs& a) {
  const Value* d = arg(a, 0, "default");
  const Value* base_arg = arg(a, 1, "base");
  Value fallback = d ? *d : Value::integer(0);
  switch (v.kind) {
    case Kind::Int: return v;
    case Kind::Bool: return Value::integer(v.b);
    case Kind::Float:
      if (!std::isfinite(v.f)) fail(ErrorKind::InvalidArgument, "cannot convert float to integer");
      return Value::integer(static_cast<int64_t>(v.f));
    case Kind::String: {
      std::string s;
      for (char c : v.str())
        if (c != '_') s += c;
      size_t b = s.find_first_not_of(" \t\n\r\f\v"), e = s.find_last_not_of(" \t\n\r\f\v");
      if (b == std::string::npos) return fallback;
      s = s.substr(b, e - b + 1);
      int base = base_arg ? static_cast<int>(base_arg->i) : 10;
      try {
        size_t used = 0;
        int64_t n = std::stoll(s, &used, base);
        if (used == s.size()) return Value::integer(n);
      } catch (const std::exception&) {
      }
      try {
        size_t used = 0;
        double x = std::stod(s, &used);
        if (used == s.size() && std::isfinite(x)) return Value::integer(static_cast<int64_t>(x));
      } catch (const std::exception&) {
      }
      return fallback;
    }
    default: return fallback;
  }
}

Value f_float(Interpreter&, const Value& v, const CallArgs& a) {
  const Value* d = arg(a, 0, "default");
  if (v.is_number()) return Value::number(v.as_double());
  if (v.is_string()) {
    try {
      size_t used = 0;
      std::string s = v.str();
      double x = std::stod(s, &used);
      while (used < s.size() && std::isspace(static_cast<unsigned char>(s[used]))) ++used;
      if (used == s.size()) return Value::number(x);
    } catch (const std::exception&) {
    }
  }
  return d ? *d : Value::number(0.0);
}

Value f_round(Interpreter&, const Value& v, const CallArgs& a) {
  const Value* p = arg(a, 0, "precision");
  const Value* m = arg(a, 1, "method");
  int64_t precision = p ? p->i : 0;
  std::string method = m ? m->to_string() : "common";
  if (method != "common" && method != "ceil" && method != "floor")
    fail(ErrorKind::InvalidArgument, "method must be common, ceil or floor");
  if (!v.is_number()) fail(ErrorKind::InvalidArgument, "type ", v.type_name(), " doesn't define __round__ method");
  if (method == "common") {
    if (v.kind != Kind::Float) return Value::integer(v.kind == Kind::Bool ? v.b : v.i);
    char buf[512];
    std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(std::max<int64_t>(0, precision)), v.f);
    return Value::number(std::strtod(buf, nullptr));
  }
  double scale = std::pow(10.0, static_cast<double>(precision));
  double x = v.as_double() * scale;
  return Value::number((method == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
}

std::string jinja_title(const std::string& s) {
  // Jinja splits on runs of "-", whitespace and "({[<" and capitalises each piece.
  std::u32string text = utf8_decode(s);
  std::string out;
  bool word_start = true;
  for (char32_t c : text) {
    bool sep = c == '-' || is_python_space(c) || c == '(' || c == '{' || c == '[' || c == '<';
    std::string ch;
    utf8_append(ch, c);
    if (sep) {
      out += ch;
      word_start = true;
    } else {
      out += word_start ? to_upper(ch) : to_lower(ch);
      word_start = false;
    }
  }
  return out;
}

Value f_indent(Interpreter&, const Value& v, const CallArgs& a) {
  const Value* w = arg(a, 0, "width");
  std::string indention = w ? (w->is_string() ? w->str() : std::string(std::max<int64_t>(0, w->i), ' ')) : "    ";
  bool first = flag(a, 1, "first"), blank = flag(a, 2, "blank");
  std::string s = soft_str(v) + "\n";
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t k = 0; k < s.size(); ++k) {
    if (s[k] == '\n' || s[k] == '\r') {
      lines.push_back(s.substr(start, k - start));
      if (s[k] == '\r' && k + 1 < s.size() && s[k + 1] == '\n') ++k;
      start = k + 1;
    }
  }
  if (start < s.size()) lines.push_back(s.substr(start));
  std::string rv;
  if (blank) {
    for (size_t k = 0; k < lines.size(); ++k) rv += (k ? "\n" + indention : "") + lines[k];
  } else {
    rv = lines.empty() ? "" : lines[0];
    for (size_t k = 1; k < lines.size(); ++k) rv += "\n" + (lines[k].empty() ? lines[k] : indention + lines[k]);
  }
  if (first) rv = indention + rv;
  return Value::string(std::move(rv));
}

Value f_escape(Interpreter&, const Value& v, const CallArgs&) {
  if (v.markup) return v;
  std::string out;
  for (char c : soft_str(v)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  Value result = Value::string(std::move(out));
  result.markup = true;
  return result;
}

Value f_items(Interpreter&, const Value& v, const CallArgs&) {
  if (v.is_undefined()) return Value::make_list();
  if (!v.is_dict()) fail(ErrorKind::InvalidArgument, "Can only get item pairs from a mapping.");
  Array out;
  for (const auto& [key, value] : v.dict->entries) out.push_back(Value::make_tuple({key, value}));
  return generator(std::move(out));
}

Value f_dictsort(Interpreter& in, const Value& v, const CallArgs& a) {
  if (!v.is_dict()) fail(ErrorKind::InvalidArgument, "'", v.type_name(), "' object has no attribute 'items'");
  const Value* by = arg(a, 1, "by");
  std::string by_text = by ? by->to_string() : "key";
  if (by_text != "key" && by_text != "value") fail(ErrorKind::InvalidArgument, "You can only sort by either \"key\" or \"value\"");
  Array items = *f_items(in, v, {}).list;  // a list of pairs; dictsort returns a real list
  Value position = Value::integer(by_text == "key" ? 0 : 1);
  return Value::make_list(sorted_by(in, items, flag(a, 2, "reverse"), flag(a, 0, "case_sensitive"), &position));
}

Value f_sort(Interpreter& in, const Value& v, const CallArgs& a) {
  return Value::make_list(sorted_by(in, in.iterate(v), flag(a, 0, "reverse"), flag(a, 1, "case_sensitive"), arg(a, 2, "attribute")));
}

Value f_unique(Interpreter& in, const Value& v, const CallArgs& a) {
  bool case_sensitive = flag(a, 0, "case_sensitive");
  const Value* attribute = arg(a, 1, "attribute");
  Array out, seen;
  for (const auto& item : in.iterate(v)) {
    Value key = lower_if_string(attribute && !attribute->is_none() ? attribute_of(in, item, *attribute) : item, case_sensitive);
    if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, key); })) continue;
    seen.push_back(key);
    out.push_back(item);
  }
  return generator(std::move(out));
}

Value min_max(Interpreter& in, const Value& v, const CallArgs& a, bool want_max) {
  bool case_sensitive = flag(a, 0, "case_sensitive");
  const Value* attribute = arg(a, 1, "attribute");
  auto items = in.iterate(v);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  size_t best = 0;
  auto key = [&](size_t k) {
    return lower_if_string(attribute && !attribute->is_none() ? attribute_of(in, items[k], *attribute) : items[k], case_sensitive);
  };
  for (size_t k = 1; k < items.size(); ++k)
    if (want_max ? less(key(best), key(k)) : less(key(k), key(best))) best = k;
  return items[best];
}

Value f_sum(Interpreter& in, const Value& v, const CallArgs& a) {
  const Value* attribute = arg(a, 0, "attribute");
  const Value* start = arg(a, 1, "start");
  Value total = start ? *start : Value::integer(0);
  for (const auto& item : in.iterate(v)) {
    Value x = attribute && !attribute->is_none() ? attribute_of(in, item, *attribute) : item;
    if (!total.is_number() || !x.is_number()) fail(ErrorKind::InvalidArgument, "unsupported operand type(s) for +: '", total.type_name(), "' and '", x.type_name(), "'");
    if (total.kind == Kind::Float || x.kind == Kind::Float) total = Value::number(total.as_double() + x.as_double());
    else total = Value::integer((total.kind == Kind::Bool ? total.b : total.i) + (x.kind == Kind::Bool ? x.b : x.i));
  }
  return total;
}

Value f_reverse(Interpreter& in, const Value& v, const CallArgs&) {
  if (v.is_string()) {
    std::u32string text = utf8_decode(v.str());
    std::reverse(text.begin(), text.end());
    return Value::string(utf8_encode(text));
  }
  auto items = in.iterate(v);
  std::reverse(items.begin(), items.end());
  return generator(std::move(items));
}

Value f_batch(Interpreter& in, const Value& v, const CallArgs& a) {
  const Value* count = arg(a, 0, "linecount");
  const Value* fill = arg(a, 1, "fill_with");
  int64_t n = count ? count->i : 1;
  if (n <= 0) fail(ErrorKind::InvalidArgument, "batch size must be positive");
  Array out, current;
  for (const auto& item : in.iterate(v)) {
    current.push_back(item);
    if (static_cast<int64_t>(current.size()) == n) {
      out.push_back(Value::make_list(std::move(current)));
      current.clear();
    }
  }
  if (!current.empty()) {
    if (fill && !fill->is_none())
      while (static_cast<int64_t>(current.size()) < n) current.push_back(*fill);
    out.push_back(Value::make_list(std::move(current)));
  }
  return generator(std::move(out));
}

Value f_wordcount(Interpreter&, const Value& v, const CallArgs&) {
  int64_t n = 0;
  bool in_word = false;
  for (char32_t c : utf8_decode(soft_str(v))) {
    bool word = c == '_' || (c < 0x80 ? std::isalnum(static_cast<int>(c)) != 0 : !is_python_space(c));
    if (word && !in_word) ++n;
    in_word = word;
  }
  return Value::integer(n);
}

Value f_replace(Interpreter& in, const Value& v, const CallArgs& a) {
  return in.call(find_method(Value::string(soft_str(v)), "replace"), a);
}

Value f_trim(Interpreter& in, const Value& v, const CallArgs& a) {
  if (v.is_string() && !v.markup && a.positional.empty() && a.keyword.empty()) {
    // The common case: text that starts and ends with a non-space ASCII character is its own trim.
    const std::string& s = v.str();
    auto keeps = [](unsigned char c) { return c < 0x80 && !is_python_space(c); };
    if (s.empty() || (keeps(s.front()) && keeps(s.back()))) return v;
  }
  return in.call(find_method(Value::string(soft_str(v)), "strip"), a);
}

Value f_center(Interpreter& in, const Value& v, const CallArgs& a) {
  CallArgs args = a;
  if (args.positional.empty() && args.keyword.empty()) args.positional.push_back(Value::integer(80));
  return in.call(find_method(Value::string(soft_str(v)), "center"), args);
}

Value f_format(Interpreter&, const Value& v, const CallArgs& a) {
  if (!a.keyword.empty()) {
    Value d = Value::make_dict();
    for (const auto& [key, value] : a.keyword) d.dict->set(Value::string(key), value);
    return Value::string(python_percent_format(soft_str(v), d));
  }
  return Value::string(python_percent_format(soft_str(v), Value::make_tuple(a.positional)));
}

Value f_attr(Interpreter& in, const Value& v, const CallArgs& a) {
  const Value* name = arg(a, 0, "name");
  return in.getattr(v, name ? name->to_string() : "");
}

const std::unordered_map<std::string, FilterFunction>& filters() {
  static const std::unordered_map<std::string, FilterFunction> table = {
      {"tojson", f_tojson},
      {"length", f_length},
      {"count", f_length},
      {"join", f_join},
      {"default", f_default},
      {"d", f_default},
      {"first", f_first},
      {"last", f_last},
      {"map", f_map},
      {"select", [](Interpreter& in, const Value& v, const CallArgs& a) { return f_select_impl(in, v, a, false, true); }},
      {"reject", [](Interpreter& in, const Value& v, const CallArgs& a) { return f_select_impl(in, v, a, false, false); }},
      {"selectattr", [](Interpreter& in, const Value& v, const CallArgs& a) { return f_select_impl(in, v, a, true, true); }},
      {"rejectattr", [](Interpreter& in, const Value& v, const CallArgs& a) { return f_select_impl(in, v, a, true, false); }},
      {"list", [](Interpreter& in, const Value& v, const CallArgs&) { return Value::make_list(in.iterate(v)); }},
      {"string", [](Interpreter&, const Value& v, const CallArgs&) { return Value::string(soft_str(v)); }},
      {"safe",
       [](Interpreter&, const Value& v, const CallArgs&) {
         Value out = Value::string(soft_str(v));
         out.markup = true;
         return out;
       }},
      {"int", f_int},
      {"float", f_float},
      {"abs",
       [](Interpreter&, const Value& v, const CallArgs&) {
         if (v.kind == Kind::Float) return Value::number(std::fabs(v.f));
         if (v.kind == Kind::Int || v.kind == Kind::Bool) return Value::integer(std::llabs(v.kind == Kind::Bool ? v.b : v.i));
         fail(ErrorKind::InvalidArgument, "bad operand type for abs(): '", v.type_name(), "'");
       }},
      {"round", f_round},
      {"upper", [](Interpreter&, const Value& v, const CallArgs&) { return Value::string(to_upper(soft_str(v))); }},
      {"lower", [](Interpreter&, const Value& v, const CallArgs&) { return Value::string(to_lower(soft_str(v))); }},
      {"capitalize",
       [](Interpreter& in, const Value& v, const CallArgs&) { return in.call(find_method(Value::string(soft_str(v)), "capitalize"), {}); }},
      {"title", [](Interpreter&, const Value& v, const CallArgs&) { return Value::string(jinja_title(soft_str(v))); }},
      {"replace", f_replace},
      {"trim", f_trim},
      {"indent", f_indent},
      {"items", f_items},
      {"dictsort", f_dictsort},
      {"unique", f_unique},
      {"sum", f_sum},
      {"min", [](Interpreter& in, const Value& v, const CallArgs& a) { return min_max(in, v, a, false); }},
      {"max", [](Interpreter& in, const Value& v, const CallArgs& a) { return min_max(in, v, a, true); }},
      {"reverse", f_reverse},
      {"sort", f_sort},
      {"batch", f_batch},
      {"wordcount", f_wordcount},
      {"e", f_escape},
      {"escape", f_escape},
      {"forceescape", f_escape},
      {"center", f_center},
      {"format", f_format},
      {"attr", f_attr},
      {"pprint", [](Interpreter&, const Value& v, const CallArgs&) { return Value::string(v.repr()); }},
  };
  return table;
}

// ---- tests ---------------------------------------------------------------------------------------

const Value& test_arg(const CallArgs& a, const char* test) {
  if (a.positional.empty()) fail(ErrorKind::InvalidArgument, "the '", test, "' test needs an argument");
  return a.positional[0];
}

bool t_divisible(Interpreter& in, const Value& v, const CallArgs& a) {
  const Value& n = test_arg(a, "divisibleby");
  Value r = in.apply_filter("int", v, {});
  if (!v.is_number() || !n.is_number() || n.as_double() == 0) fail(ErrorKind::InvalidArgument, "divisibleby needs numbers");
  (void)r;
  return std::fmod(v.as_double(), n.as_double()) == 0;
}

bool integer_of(const Value& v, int64_t& out) {
  if (v.kind == Kind::Int || v.kind == Kind::Bool) {
    out = v.kind == Kind::Bool ? v.b : v.i;
    return true;
  }
  if (v.is_undefined()) fail(ErrorKind::InvalidArgument, v.s ? *v.s : "value is undefined");
  fail(ErrorKind::InvalidArgument, "unsupported operand type(s) for %: '", v.type_name(), "' and 'int'");
}

bool compare_test(const std::string& name, const Value& v, const CallArgs& a) {
  const Value& other = test_arg(a, name.c_str());
  if (name == "eq" || name == "equalto" || name == "==") return equals(v, other);
  if (name == "ne" || name == "!=") return !equals(v, other);
  if (name == "lt" || name == "lessthan" || name == "<") return less(v, other);
  if (name == "gt" || name == "greaterthan" || name == ">") return less(other, v);
  if (name == "le" || name == "<=") return !less(other, v);
  return !less(v, other);  // ge, >=
}


#define VLLM_COMPARE_TEST(op) \
  {op, [](Interpreter&, const Value& v, const CallArgs& a) { return compare_test(op, v, a); }}

const std::unordered_map<std::string, TestFunction>& tests() {
  static const std::unordered_map<std::string, TestFunction> table = {
      {"defined", [](Interpreter&, const Value& v, const CallArgs&) { return !v.is_undefined(); }},
      {"undefined", [](Interpreter&, const Value& v, const CallArgs&) { return v.is_undefined(); }},
      {"none", [](Interpreter&, const Value& v, const CallArgs&) { return v.is_none(); }},
      {"string", [](Interpreter&, const Value& v, const CallArgs&) { return v.is_string(); }},
      {"number", [](Interpreter&, const Value& v, const CallArgs&) { return v.is_number(); }},
      {"integer", [](Interpreter&, const Value& v, const CallArgs&) { return v.kind == Kind::Int; }},
      {"float", [](Interpreter&, const Value& v, const CallArgs&) { return v.kind == Kind::Float; }},
      {"boolean", [](Interpreter&, const Value& v, const CallArgs&) { return v.kind == Kind::Bool; }},
      {"true", [](Interpreter&, const Value& v, const CallArgs&) { return v.kind == Kind::Bool && v.b; }},
      {"false", [](Interpreter&, const Value& v, const CallArgs&) { return v.kind == Kind::Bool && !v.b; }},
      {"mapping", [](Interpreter&, const Value& v, const CallArgs&) { return v.is_dict(); }},
      {"iterable",
       [](Interpreter&, const Value& v, const CallArgs&) {
         return v.is_undefined() || v.is_string() || v.is_sequence() || v.is_dict();
       }},
      {"sequence",
       [](Interpreter&, const Value& v, const CallArgs&) {
         return v.is_undefined() || v.is_string() || v.is_sequence() || v.is_dict();
       }},
      {"callable", [](Interpreter&, const Value& v, const CallArgs&) { return v.kind == Kind::Callable; }},
      {"sameas",
       [](Interpreter&, const Value& v, const CallArgs& a) {
         const Value& other = test_arg(a, "sameas");
         if (v.kind != other.kind) return false;
         if (v.is_sequence()) return v.list == other.list;
         if (v.is_dict() || v.kind == Kind::Namespace) return v.dict == other.dict;
         return equals(v, other);
       }},
      {"escaped", [](Interpreter&, const Value&, const CallArgs&) { return false; }},
      {"lower", [](Interpreter&, const Value& v, const CallArgs&) { return v.is_string() && to_lower(v.str()) == v.str(); }},
      {"upper", [](Interpreter&, const Value& v, const CallArgs&) { return v.is_string() && to_upper(v.str()) == v.str(); }},
      {"even", [](Interpreter&, const Value& v, const CallArgs&) { int64_t n; return integer_of(v, n) && n % 2 == 0; }},
      {"odd", [](Interpreter&, const Value& v, const CallArgs&) { int64_t n; return integer_of(v, n) && n % 2 != 0; }},
      {"divisibleby", t_divisible},
      VLLM_COMPARE_TEST("eq"),
      VLLM_COMPARE_TEST("equalto"),
      VLLM_COMPARE_TEST("=="),
      VLLM_COMPARE_TEST("ne"),
      VLLM_COMPARE_TEST("!="),
      VLLM_COMPARE_TEST("lt"),
      VLLM_COMPARE_TEST("lessthan"),
      VLLM_COMPARE_TEST("<"),
      VLLM_COMPARE_TEST("gt"),
      VLLM_COMPARE_TEST("greaterthan"),
      VLLM_COMPARE_TEST(">"),
      VLLM_COMPARE_TEST("le"),
      VLLM_COMPARE_TEST("<="),
      VLLM_COMPARE_TEST("ge"),
      VLLM_COMPARE_TEST(">="),
      {"in", [](Interpreter& in, const Value& v, const CallArgs& a) {
         Value seq = test_arg(a, "in");
         if (seq.is_string()) return v.is_string() && seq.str().find(v.str()) != std::string::npos;
         if (seq.is_dict()) return seq.dict->find(v) != nullptr;
         for (const auto& item : in.iterate(seq))
           if (equals(item, v)) return true;
         return false;
       }},
      {"filter", [](Interpreter&, const Value& v, const CallArgs&) { return v.is_string() && find_filter(v.str()) != nullptr; }},
      {"test", [](Interpreter&, const Value& v, const CallArgs&) { return v.is_string() && find_test(v.str()) != nullptr; }},
  };
  return table;
}

}  // namespace

FilterFunction find_filter(const std::string& name) {
  auto it = filters().find(name);
  return it == filters().end() ? find_extra_filter(name) : it->second;
}

TestFunction find_test(const std::string& name) {
  auto it = tests().find(name);
  return it == tests().end() ? nullptr : it->second;
}

}  // namespace vllm::jinja
