// Python str, list and dict methods reached as attributes (message.content.strip(), d.items()),
// string formatting (str.format and %), and the template globals.
#include <clocale>
#include <cmath>
#include <ctime>
#include <cwctype>
#include <locale.h>
#include <string_view>

#include "core/error.h"
#include "text/chat/jinja_builtins.h"

namespace vllm::jinja {
namespace {

locale_t utf8_locale() {
  static locale_t loc = [] {
    locale_t l = newlocale(LC_CTYPE_MASK, "C.UTF-8", nullptr);
    if (!l) l = newlocale(LC_CTYPE_MASK, "C.utf8", nullptr);
    return l;
  }();
  return loc;
}

char32_t upper_char(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
  locale_t l = utf8_locale();
  return l ? static_cast<char32_t>(towupper_l(static_cast<wint_t>(c), l)) : c;
}
char32_t lower_char(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  locale_t l = utf8_locale();
  return l ? static_cast<char32_t>(towlower_l(static_cast<wint_t>(c), l)) : c;
}
bool is_cased(char32_t c) { return lower_char(c) != c || upper_char(c) != c; }
bool is_alpha(char32_t c) {
  if (c < 0x80) return std::isalpha(static_cast<int>(c)) != 0;
  locale_t l = utf8_locale();
  return l && iswalpha_l(static_cast<wint_t>(c), l);
}
bool is_digit(char32_t c) { return c >= '0' && c <= '9'; }

const std::string& arg_string(const CallArgs& args, size_t index, const std::string& name, const std::string& method) {
  const Value* v = args.get(index, name);
  if (!v || !v->is_string()) fail(ErrorKind::InvalidArgument, method, "() argument must be str");
  return v->str();
}

std::string strip(const std::string& s, const Value* chars, bool left, bool right) {
  if (!chars || chars->is_none()) {
    // Whitespace at ASCII edges: no decoding. A non-ASCII edge takes the general path below.
    size_t b = 0, e = s.size();
    auto ascii = [](unsigned char c) { return c < 0x80; };
    if (left)
      while (b < e && ascii(s[b]) && is_python_space(static_cast<unsigned char>(s[b]))) ++b;
    if (right)
      while (e > b && ascii(s[e - 1]) && is_python_space(static_cast<unsigned char>(s[e - 1]))) --e;
    if ((!left || b == e || ascii(s[b])) && (!right || b == e || ascii(s[e - 1]))) return s.substr(b, e - b);
  }
  std::u32string text = utf8_decode(s);
  std::u32string set;
  bool custom = chars && !chars->is_none();
  if (custom) {
    if (!chars->is_string()) fail(ErrorKind::InvalidArgument, "strip arg must be None or str");
    set = utf8_decode(chars->str());
  }
  auto drop = [&](char32_t c) { return custom ? set.find(c) != std::u32string::npos : is_python_space(c); };
  size_t b = 0, e = text.size();
  if (left)
    while (b < e && drop(text[b])) ++b;
  if (right)
    while (e > b && drop(text[e - 1])) --e;
  return utf8_encode(text.substr(b, e - b));
}

Array split(const std::string& s, const Value* sep, int64_t maxsplit, bool from_right) {
  Array out;
  if (!sep || sep->is_none()) {
    std::u32string text = utf8_decode(s);
    std::vector<std::u32string> words;
    if (!from_right) {
      size_t k = 0;
      while (k < text.size()) {
        while (k < text.size() && is_python_space(text[k])) ++k;
        if (k >= text.size()) break;
        if (maxsplit >= 0 && static_cast<int64_t>(words.size()) == maxsplit) {
          size_t e = text.size();
          while (e > k && is_python_space(text[e - 1])) --e;
          words.push_back(text.substr(k, e - k));
          break;
        }
        size_t start = k;
        while (k < text.size() && !is_python_space(text[k])) ++k;
        words.push_back(text.substr(start, k - start));
      }
    } else {
      int64_t k = static_cast<int64_t>(text.size());
      while (k > 0) {
        while (k > 0 && is_python_space(text[k - 1])) --k;
        if (k <= 0) break;
        if (maxsplit >= 0 && static_cast<int64_t>(words.size()) == maxsplit) {
          size_t b = 0;
          while (b < static_cast<size_t>(k) && is_python_space(text[b])) ++b;
          words.push_back(text.substr(b, k - b));
          break;
        }
        int64_t end = k;
        while (k > 0 && !is_python_space(text[k - 1])) --k;
        words.push_back(text.substr(k, end - k));
      }
      std::reverse(words.begin(), words.end());
    }
    for (auto& w : words) out.push_back(Value::string(utf8_encode(w)));
    return out;
  }
  if (!sep->is_string()) fail(ErrorKind::InvalidArgument, "must be str or None, not ", sep->type_name());
  const std::string& d = sep->str();
  if (d.empty()) fail(ErrorKind::InvalidArgument, "empty separator");
  std::vector<std::string> parts;
  if (!from_right) {
    size_t start = 0, pos;
    while ((maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) && (pos = s.find(d, start)) != std::string::npos) {
      parts.push_back(s.substr(start, pos - start));
      start = pos + d.size();
    }
    parts.push_back(s.substr(start));
  } else {
    size_t end = s.size();
    while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
      if (end < d.size()) break;
      size_t pos = s.rfind(d, end - d.size());
      if (pos == std::string::npos) break;
      parts.push_back(s.substr(pos + d.size(), end - pos - d.size()));
      end = pos;
    }
    parts.push_back(s.substr(0, end));
    std::reverse(parts.begin(), parts.end());
  }
  for (auto& p : parts) out.push_back(Value::string(std::move(p)));
  return out;
}

bool affix_match(const std::string& s, const Value& affix, bool prefix) {
  auto one = [&](const Value& a) {
    if (!a.is_string()) fail(ErrorKind::InvalidArgument, prefix ? "startswith" : "endswith", " first arg must be str or a tuple of str");
    const std::string& x = a.str();
    if (x.size() > s.size()) return false;
    return prefix ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0;
  };
  if (affix.kind == Kind::Tuple) {
    for (const auto& a : *affix.list)
      if (one(a)) return true;
    return false;
  }
  return one(affix);
}

std::string python_title(const std::string& s) {
  std::u32string text = utf8_decode(s);
  bool previous_cased = false;
  for (auto& c : text) {
    c = previous_cased ? lower_char(c) : upper_char(c);
    previous_cased = is_cased(c);
  }
  return utf8_encode(text);
}

std::string replace_all(const std::string& s, const std::string& old, const std::string& with, int64_t count) {
  std::string out;
  if (old.empty()) {
    std::u32string text = utf8_decode(s);
    int64_t done = 0;
    for (char32_t c : text) {
      if (count < 0 || done < count) {
        out += with;
        ++done;
      }
      utf8_append(out, c);
    }
    if (count < 0 || done < count) out += with;
    return out;
  }
  size_t start = 0, pos;
  int64_t done = 0;
  while ((count < 0 || done < count) && (pos = s.find(old, start)) != std::string::npos) {
    out.append(s, start, pos - start);
    out += with;
    start = pos + old.size();
    ++done;
  }
  out.append(s, start, std::string::npos);
  return out;
}

Value bound(const std::string& name, std::function<Value(Interpreter&, const CallArgs&)> fn) {
  return Value::function(name, std::move(fn));
}

Value string_method(const Value& obj, const std::string& name) {
  const std::string s = obj.str();
  if (name == "strip" || name == "lstrip" || name == "rstrip")
    return bound(name, [s, name](Interpreter&, const CallArgs& a) {
      return Value::string(strip(s, a.get(0, "chars"), name != "rstrip", name != "lstrip"));
    });
  if (name == "split" || name == "rsplit")
    return bound(name, [s, name](Interpreter&, const CallArgs& a) {
      const Value* m = a.get(1, "maxsplit");
      return Value::make_list(split(s, a.get(0, "sep"), m ? m->i : -1, name == "rsplit"));
    });
  if (name == "splitlines")
    return bound(name, [s](Interpreter&, const CallArgs& a) {
      const Value* keep = a.get(0, "keepends");
      bool keepends = keep && keep->truthy();
      Array lines;
      size_t start = 0;
      for (size_t k = 0; k < s.size(); ++k) {
        if (s[k] == '\n' || s[k] == '\r') {
          size_t end = k;
          if (s[k] == '\r' && k + 1 < s.size() && s[k + 1] == '\n') ++k;
          lines.push_back(Value::string(s.substr(start, (keepends ? k + 1 : end) - start)));
          start = k + 1;
        }
      }
      if (start < s.size()) lines.push_back(Value::string(s.substr(start)));
      return Value::make_list(std::move(lines));
    });
  if (name == "startswith" || name == "endswith")
    return bound(name, [s, name](Interpreter&, const CallArgs& a) {
      const Value* affix = a.get(0, "prefix");
      if (!affix) fail(ErrorKind::InvalidArgument, name, "() takes at least 1 argument (0 given)");
      return Value::boolean(affix_match(s, *affix, name == "startswith"));
    });
  if (name == "upper") return bound(name, [s](Interpreter&, const CallArgs&) { return Value::string(to_upper(s)); });
  if (name == "lower" || name == "casefold")
    return bound(name, [s](Interpreter&, const CallArgs&) { return Value::string(to_lower(s)); });
  if (name == "title") return bound(name, [s](Interpreter&, const CallArgs&) { return Value::string(python_title(s)); });
  if (name == "capitalize")
    return bound(name, [s](Interpreter&, const CallArgs&) {
      std::u32string text = utf8_decode(s);
      for (size_t k = 0; k < text.size(); ++k) text[k] = k == 0 ? upper_char(text[k]) : lower_char(text[k]);
      return Value::string(utf8_encode(text));
    });
  if (name == "swapcase")
    return bound(name, [s](Interpreter&, const CallArgs&) {
      std::u32string text = utf8_decode(s);
      for (auto& c : text) c = upper_char(c) != c ? upper_char(c) : lower_char(c);
      return Value::string(utf8_encode(text));
    });
  if (name == "replace")
    return bound(name, [s](Interpreter&, const CallArgs& a) {
      const Value* count = a.get(2, "count");
      return Value::string(replace_all(s, arg_string(a, 0, "old", "replace"), arg_string(a, 1, "new", "replace"),
                                       count ? count->i : -1));
    });
  if (name == "format")
    return bound(name, [s](Interpreter& in, const CallArgs& a) { return Value::string(python_str_format(in, s, a)); });
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count")
    return bound(name, [s, name](Interpreter&, const CallArgs& a) {
      const std::string& sub = arg_string(a, 0, "sub", name);
      if (name == "count") {
        if (sub.empty()) return Value::integer(static_cast<int64_t>(utf8_length(s)) + 1);
        int64_t n = 0;
        for (size_t pos = s.find(sub); pos != std::string::npos; pos = s.find(sub, pos + sub.size())) ++n;
        return Value::integer(n);
      }
      size_t pos = name[0] == 'r' ? s.rfind(sub) : s.find(sub);
      if (pos == std::string::npos) {
        if (name == "index" || name == "rindex") fail(ErrorKind::InvalidArgument, "substring not found");
        return Value::integer(-1);
      }
      return Value::integer(static_cast<int64_t>(utf8_length(s.substr(0, pos))));
    });
  if (name == "join")
    return bound(name, [s](Interpreter& in, const CallArgs& a) {
      const Value* items = a.get(0, "iterable");
      if (!items) fail(ErrorKind::InvalidArgument, "join() takes exactly one argument (0 given)");
      std::string out;
      bool first = true;
      for (const auto& item : in.iterate(*items)) {
        if (!item.is_string()) fail(ErrorKind::InvalidArgument, "sequence item: expected str instance, ", item.type_name(), " found");
        if (!first) out += s;
        first = false;
        out += item.str();
      }
      return Value::string(std::move(out));
    });
  if (name == "isdigit" || name == "isnumeric" || name == "isdecimal" || name == "isalpha" || name == "isalnum" ||
      name == "isspace" || name == "islower" || name == "isupper")
    return bound(name, [s, name](Interpreter&, const CallArgs&) {
      std::u32string text = utf8_decode(s);
      if (text.empty()) return Value::boolean(false);
      if (name == "islower" || name == "isupper") {
        bool any_cased = false;
        for (char32_t c : text) {
          if (!is_cased(c)) continue;
          any_cased = true;
          if (name == "islower" ? lower_char(c) != c : upper_char(c) != c) return Value::boolean(false);
        }
        return Value::boolean(any_cased);
      }
      for (char32_t c : text) {
        bool ok = name == "isalpha" ? is_alpha(c)
                  : name == "isalnum" ? (is_alpha(c) || is_digit(c))
                  : name == "isspace" ? is_python_space(c)
                                      : is_digit(c);
        if (!ok) return Value::boolean(false);
      }
      return Value::boolean(true);
    });
  if (name == "removeprefix" || name == "removesuffix")
    return bound(name, [s, name](Interpreter&, const CallArgs& a) {
      const std::string& x = arg_string(a, 0, "prefix", name);
      if (name == "removeprefix" && s.compare(0, x.size(), x) == 0) return Value::string(s.substr(x.size()));
      if (name == "removesuffix" && x.size() <= s.size() && !x.empty() && s.compare(s.size() - x.size(), x.size(), x) == 0)
        return Value::string(s.substr(0, s.size() - x.size()));
      return Value::string(s);
    });
  if (name == "partition" || name == "rpartition")
    return bound(name, [s, name](Interpreter&, const CallArgs& a) {
      const std::string& sep = arg_string(a, 0, "sep", name);
      size_t pos = name == "partition" ? s.find(sep) : s.rfind(sep);
      if (pos == std::string::npos)
        return name == "partition" ? Value::make_tuple({Value::string(s), Value::string(""), Value::string("")})
                                   : Value::make_tuple({Value::string(""), Value::string(""), Value::string(s)});
      return Value::make_tuple({Value::string(s.substr(0, pos)), Value::string(sep), Value::string(s.substr(pos + sep.size()))});
    });
  if (name == "zfill" || name == "center" || name == "ljust" || name == "rjust")
    return bound(name, [s, name](Interpreter&, const CallArgs& a) {
      const Value* w = a.get(0, "width");
      int64_t width = w ? w->i : 0;
      int64_t len = static_cast<int64_t>(utf8_length(s));
      if (width <= len) return Value::string(s);
      int64_t pad = width - len;
      if (name == "zfill") {
        if (!s.empty() && (s[0] == '-' || s[0] == '+')) return Value::string(s.substr(0, 1) + std::string(pad, '0') + s.substr(1));
        return Value::string(std::string(pad, '0') + s);
      }
      const Value* f = a.get(1, "fillchar");
      std::string fill = f && f->is_string() ? f->str() : " ";
      auto rep = [&](int64_t n) {
        std::string out;
        for (int64_t k = 0; k < n; ++k) out += fill;
        return out;
      };
      if (name == "ljust") return Value::string(s + rep(pad));
      if (name == "rjust") return Value::string(rep(pad) + s);
      int64_t left = pad / 2 + (pad & width & 1);
      return Value::string(rep(left) + s + rep(pad - left));
    });
  return Value::undefined();
}

Value list_method(const Value& obj, const std::string& name) {
  Value self = obj;
  if (name == "index" || name == "count")
    return bound(name, [self, name](Interpreter&, const CallArgs& a) {
      const Value* x = a.get(0, "value");
      if (!x) fail(ErrorKind::InvalidArgument, name, "() takes exactly one argument (0 given)");
      int64_t n = 0;
      for (size_t k = 0; k < self.list->size(); ++k) {
        if (!equals((*self.list)[k], *x)) continue;
        if (name == "index") return Value::integer(static_cast<int64_t>(k));
        ++n;
      }
      if (name == "index") fail(ErrorKind::InvalidArgument, x->repr(), " is not in list");
      return Value::integer(n);
    });
  return Value::undefined();
}

Value dict_method(const Value& obj, const std::string& name) {
  Value self = obj;
  if (name == "items" || name == "keys" || name == "values")
    return bound(name, [self, name](Interpreter&, const CallArgs&) {
      Array out;
      for (const auto& [key, value] : self.dict->entries) {
        if (name == "items") out.push_back(Value::make_tuple({key, value}));
        else out.push_back(name == "keys" ? key : value);
      }
      return Value::make_list(std::move(out));
    });
  if (name == "get")
    return bound(name, [self](Interpreter&, const CallArgs& a) {
      const Value* key = a.get(0, "key");
      if (!key) fail(ErrorKind::InvalidArgument, "get expected at least 1 argument, got 0");
      const Value* found = self.dict->find(*key);
      if (found) return *found;
      const Value* fallback = a.get(1, "default");
      return fallback ? *fallback : Value::none();
    });
  if (name == "copy")
    return bound(name, [self](Interpreter&, const CallArgs&) {
      Value copy = Value::make_dict();
      copy.dict->entries = self.dict->entries;
      return copy;
    });
  return Value::undefined();
}

bool is_mutating(Kind kind, const std::string& name) {
  static constexpr std::string_view list_ops[] = {"append", "clear", "pop", "reverse", "insert", "sort", "extend", "remove"};
  static constexpr std::string_view dict_ops[] = {"clear", "pop", "popitem", "setdefault", "update"};
  const std::string_view n = name;
  if (kind == Kind::List) {
    for (std::string_view op : list_ops)
      if (n == op) return true;
  }
  if (kind == Kind::Dict) {
    for (std::string_view op : dict_ops)
      if (n == op) return true;
  }
  return false;
}

}  // namespace

std::string to_upper(const std::string& s) {
  std::u32string text = utf8_decode(s);
  for (auto& c : text) c = upper_char(c);
  return utf8_encode(text);
}

std::string to_lower(const std::string& s) {
  std::u32string text = utf8_decode(s);
  for (auto& c : text) c = lower_char(c);
  return utf8_encode(text);
}

bool is_dict_method(const std::string& name) {
  static constexpr std::string_view names[] = {"items", "keys", "values", "get", "copy", "clear", "pop", "popitem", "setdefault", "update"};
  if (name.size() < 3 || name.size() > 10) return false;
  switch (name[0]) {
    case 'i': case 'k': case 'v': case 'g': case 'c': case 'p': case 's': case 'u': break;
    default: return false;  // role, content, function, ...: no method starts so
  }
  for (std::string_view n : names)
    if (n[0] == name[0] && n == name) return true;
  return false;
}

Value find_method(const Value& obj, const std::string& name) {
  if (obj.kind != Kind::String && obj.kind != Kind::List && obj.kind != Kind::Tuple && obj.kind != Kind::Dict)
    return Value::undefined();
  if (obj.kind == Kind::Dict) {
    // The common case: message.role, tool.function: not a method name.
    if (!is_dict_method(name)) return Value::undefined();
  }
  if (is_mutating(obj.kind, name))
    return Value::undefined("access to attribute '" + name + "' of '" + obj.type_name() + "' object is unsafe.");
  switch (obj.kind) {
    case Kind::String: return string_method(obj, name);
    case Kind::List:
    case Kind::Tuple: return list_method(obj, name);
    case Kind::Dict: return dict_method(obj, name);
    default: return Value::undefined();
  }
}

void add_globals(Object& globals) {
  auto add = [&](const std::string& name, NativeFunction fn) { globals.set(Value::string(name), Value::function(name, std::move(fn))); };
  add("range", [](Interpreter&, const CallArgs& a) {
    for (const auto& v : a.positional)
      if (v.kind != Kind::Int && v.kind != Kind::Bool)
        fail(ErrorKind::InvalidArgument, "'", v.type_name(), "' object cannot be interpreted as an integer");
    int64_t start = 0, stop = 0, step = 1;
    if (a.positional.size() == 1) stop = a.positional[0].i;
    else if (a.positional.size() >= 2) {
      start = a.positional[0].i;
      stop = a.positional[1].i;
      if (a.positional.size() >= 3) step = a.positional[2].i;
    } else {
      fail(ErrorKind::InvalidArgument, "range expected at least 1 argument, got 0");
    }
    if (step == 0) fail(ErrorKind::InvalidArgument, "range() arg 3 must not be zero");
    int64_t n = step > 0 ? (stop > start ? (stop - start + step - 1) / step : 0) : (start > stop ? (start - stop - step - 1) / -step : 0);
    if (n > 100000) fail(ErrorKind::InvalidArgument, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    Array out;
    for (int64_t k = 0; k < n; ++k) out.push_back(Value::integer(start + k * step));
    return Value::make_list(std::move(out));
  });
  add("dict", [](Interpreter& in, const CallArgs& a) {
    Value d = Value::make_dict();
    if (!a.positional.empty()) {
      const Value& src = a.positional[0];
      if (src.is_dict()) d.dict->entries = src.dict->entries;
      else
        for (const auto& pair : in.iterate(src)) {
          auto kv = in.iterate(pair);
          if (kv.size() != 2) fail(ErrorKind::InvalidArgument, "dictionary update sequence element has length ", kv.size(), "; 2 is required");
          d.dict->set(kv[0], kv[1]);
        }
    }
    for (const auto& [key, value] : a.keyword) d.dict->set(Value::string(key), value);
    return d;
  });
  add("namespace", [](Interpreter&, const CallArgs& a) {
    Value ns = Value::make_namespace();
    for (const auto& v : a.positional)
      if (v.is_dict())
        for (const auto& [key, value] : v.dict->entries) ns.dict->set(key, value);
    for (const auto& [key, value] : a.keyword) ns.dict->set(Value::string(key), value);
    return ns;
  });
  add("raise_exception", [](Interpreter&, const CallArgs& a) -> Value {
    const Value* message = a.get(0, "message");
    throw TemplateRaised(message ? message->to_string() : "");
  });
  add("strftime_now", [](Interpreter&, const CallArgs& a) {
    const Value* format = a.get(0, "format");
    if (!format || !format->is_string()) fail(ErrorKind::InvalidArgument, "strftime_now() needs a format string");
    std::time_t now = std::time(nullptr);
    std::tm local{};
    localtime_r(&now, &local);
    char buf[512];
    size_t n = std::strftime(buf, sizeof(buf), format->str().c_str(), &local);
    return Value::string(std::string(buf, n));
  });
  add("joiner", [](Interpreter&, const CallArgs& a) {
    const Value* sep = a.get(0, "sep");
    std::string text = sep ? sep->to_string() : ", ";
    auto used = std::make_shared<bool>(false);
    return Value::function("joiner", [text, used](Interpreter&, const CallArgs&) {
      if (!*used) {
        *used = true;
        return Value::string("");
      }
      return Value::string(text);
    });
  });
}

}  // namespace vllm::jinja
