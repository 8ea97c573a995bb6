// Jinja2 3.1.2's less common filters, as they behave under transformers' environment:
// truncate, wordwrap (Python's textwrap), groupby, slice, urlencode, xmlattr, striptags and
// filesizeformat.
#include <algorithm>
#include <cstdio>
#include <string_view>

#include "core/error.h"
#include "text/chat/jinja_builtins.h"

namespace vllm::jinja {
namespace {

const Value* arg(const CallArgs& a, size_t index, const std::string& name) { return a.get(index, name); }

int64_t int_arg(const CallArgs& a, size_t index, const std::string& name, int64_t fallback) {
  const Value* v = arg(a, index, name);
  if (!v || v->is_none()) return fallback;
  if (v->kind != Kind::Int && v->kind != Kind::Bool) fail(ErrorKind::InvalidArgument, "'", name, "' must be an integer");
  return v->kind == Kind::Bool ? v->b : v->i;
}

bool bool_arg(const CallArgs& a, size_t index, const std::string& name, bool fallback) {
  const Value* v = arg(a, index, name);
  return v ? v->truthy() : fallback;
}

Value generator(Array items) {
  Value v = Value::make_list(std::move(items));
  v.generator = true;
  return v;
}

Value markup(std::string text) {
  Value v = Value::string(std::move(text));
  v.markup = true;
  return v;
}

// truncate(s, length=255, killwords=False, end='...', leeway=5)
Value f_truncate(Interpreter&, const Value& v, const CallArgs& a) {
  std::u32string s = utf8_decode(v.to_string());
  const int64_t length = int_arg(a, 0, "length", 255);
  const bool killwords = bool_arg(a, 1, "killwords", false);
  const Value* end_arg = arg(a, 2, "end");
  std::u32string end = utf8_decode(end_arg ? end_arg->to_string() : "...");
  const int64_t leeway = int_arg(a, 3, "leeway", 5);
  VLLM_CHECK(length >= static_cast<int64_t>(end.size()), InvalidArgument, "expected length >= ", end.size(), ", got ", length);
  VLLM_CHECK(leeway >= 0, InvalidArgument, "expected leeway >= 0, got ", leeway);
  if (static_cast<int64_t>(s.size()) <= length + leeway) return Value::string(utf8_encode(s));
  std::u32string head = s.substr(0, length - end.size());
  if (!killwords) {
    size_t space = head.rfind(U' ');
    if (space != std::u32string::npos) head = head.substr(0, space);
  }
  return Value::string(utf8_encode(head + end));
}

bool is_letter(char32_t c) { return c >= 0x80 || (c < 0x80 && std::isalpha(static_cast<int>(c))); }
bool is_wrap_space(char32_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

// Python's textwrap.TextWrapper(width, expand_tabs=False, replace_whitespace=False,
// break_long_words, break_on_hyphens).wrap(line). Hyphenated words split after a hyphen that
// follows two letters and precedes a letter (textwrap's wordsep_re, without its em-dash rules).
std::vector<std::u32string> wrap_line(const std::u32string& text, size_t width, bool break_long, bool hyphens) {
  std::vector<std::u32string> chunks;
  for (size_t k = 0; k < text.size();) {
    size_t j = k;
    bool space = is_wrap_space(text[k]);
    while (j < text.size() && is_wrap_space(text[j]) == space) {
      ++j;
      if (!space && hyphens && text[j - 1] == '-' && j >= 3 && is_letter(text[j - 2]) && is_letter(text[j - 3]) &&
          j < text.size() && is_letter(text[j]))
        break;
    }
    chunks.push_back(text.substr(k, j - k));
    k = j;
  }
  auto blank = [](const std::u32string& c) { return std::all_of(c.begin(), c.end(), is_python_space); };
  std::reverse(chunks.begin(), chunks.end());
  std::vector<std::u32string> lines;
  while (!chunks.empty()) {
    std::vector<std::u32string> line;
    size_t len = 0;
    if (blank(chunks.back()) && !lines.empty()) chunks.pop_back();
    while (!chunks.empty() && len + chunks.back().size() <= width) {
      len += chunks.back().size();
      line.push_back(std::move(chunks.back()));
      chunks.pop_back();
    }
    if (!chunks.empty() && chunks.back().size() > width) {
      size_t space_left = width >= 1 ? std::max<int64_t>(static_cast<int64_t>(width) - static_cast<int64_t>(len), 1) : 1;
      if (break_long) {
        std::u32string& chunk = chunks.back();
        size_t end = space_left;
        if (hyphens && chunk.size() > space_left) {
          size_t hyphen = chunk.rfind(U'-', space_left - 1);
          if (hyphen != std::u32string::npos && hyphen > 0 && hyphen < space_left &&
              std::any_of(chunk.begin(), chunk.begin() + hyphen, [](char32_t c) { return c != '-'; }))
            end = hyphen + 1;
        }
        line.push_back(chunk.substr(0, end));
        chunk = chunk.substr(end);
      } else if (line.empty()) {
        line.push_back(std::move(chunks.back()));
        chunks.pop_back();
      }
    }
    if (!line.empty() && blank(line.back())) line.pop_back();
    if (!line.empty()) {
      std::u32string joined;
      for (const auto& c : line) joined += c;
      lines.push_back(std::move(joined));
    }
  }
  return lines;
}

// wordwrap(s, width=79, break_long_words=True, wrapstring=None, break_on_hyphens=True)
Value f_wordwrap(Interpreter&, const Value& v, const CallArgs& a) {
  const int64_t width = int_arg(a, 0, "width", 79);
  VLLM_CHECK(width > 0, InvalidArgument, "invalid width ", width, " (must be > 0)");
  const bool break_long = bool_arg(a, 1, "break_long_words", true);
  const Value* wrap_arg = arg(a, 2, "wrapstring");
  const std::u32string wrapstring = utf8_decode(wrap_arg && !wrap_arg->is_none() ? wrap_arg->to_string() : "\n");
  const bool hyphens = bool_arg(a, 3, "break_on_hyphens", true);
  // str.splitlines()
  std::u32string text = utf8_decode(v.to_string());
  std::vector<std::u32string> lines;
  size_t start = 0;
  for (size_t k = 0; k < text.size(); ++k) {
    char32_t c = text[k];
    if (c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == 0x1c || c == 0x1d || c == 0x1e || c == 0x85 || c == 0x2028 || c == 0x2029) {
      lines.push_back(text.substr(start, k - start));
      if (c == '\r' && k + 1 < text.size() && text[k + 1] == '\n') ++k;
      start = k + 1;
    }
  }
  if (start < text.size()) lines.push_back(text.substr(start));
  std::u32string out;
  for (size_t l = 0; l < lines.size(); ++l) {
    if (l) out += wrapstring;
    auto wrapped = wrap_line(lines[l], static_cast<size_t>(width), break_long, hyphens);
    for (size_t k = 0; k < wrapped.size(); ++k) {
      if (k) out += wrapstring;
      out += wrapped[k];
    }
  }
  return Value::string(utf8_encode(out));
}

// groupby(value, attribute, default=None, case_sensitive=False): (grouper, list) named tuples,
// sorted by the key.
Value f_groupby(Interpreter& in, const Value& v, const CallArgs& a) {
  const Value* attribute = arg(a, 0, "attribute");
  VLLM_CHECK(attribute, InvalidArgument, "groupby() missing required argument 'attribute'");
  const Value* default_value = arg(a, 1, "default");
  if (default_value && default_value->is_none()) default_value = nullptr;
  const bool case_sensitive = bool_arg(a, 2, "case_sensitive", false);
  std::vector<Value> items = in.iterate(v);
  std::vector<std::pair<Value, size_t>> keyed;
  for (size_t k = 0; k < items.size(); ++k) {
    Value key = attribute_of(in, items[k], *attribute, default_value);
    if (!case_sensitive && key.is_string()) key = Value::string(to_lower(key.str()));
    keyed.emplace_back(std::move(key), k);
  }
  std::stable_sort(keyed.begin(), keyed.end(), [](const auto& x, const auto& y) { return less(x.first, y.first); });
  Array groups;
  for (size_t k = 0; k < keyed.size();) {
    size_t j = k;
    Array members;
    while (j < keyed.size() && equals(keyed[j].first, keyed[k].first)) members.push_back(items[keyed[j++].second]);
    Value grouper = case_sensitive ? keyed[k].first : attribute_of(in, members[0], *attribute, default_value);
    Value group = Value::make_tuple({grouper, Value::make_list(members)});
    group.dict = std::make_shared<Object>();  // namedtuple fields
    group.dict->set(Value::string("grouper"), grouper);
    group.dict->set(Value::string("list"), group.list->at(1));
    groups.push_back(std::move(group));
    k = j;
  }
  return Value::make_list(std::move(groups));
}

// slice(value, slices, fill_with=None): a generator of `slices` lists.
Value f_slice(Interpreter& in, const Value& v, const CallArgs& a) {
  const int64_t slices = int_arg(a, 0, "slices", -1);
  VLLM_CHECK(slices > 0, InvalidArgument, "slice() needs a positive number of slices");
  const Value* fill = arg(a, 1, "fill_with");
  std::vector<Value> seq = in.iterate(v);
  const int64_t length = static_cast<int64_t>(seq.size());
  const int64_t per_slice = length / slices, with_extra = length % slices;
  int64_t offset = 0;
  Array out;
  for (int64_t n = 0; n < slices; ++n) {
    int64_t start = offset + n * per_slice;
    if (n < with_extra) ++offset;
    int64_t end = offset + (n + 1) * per_slice;
    Array part(seq.begin() + start, seq.begin() + end);
    if (fill && !fill->is_none() && n >= with_extra) part.push_back(*fill);
    out.push_back(Value::make_list(std::move(part)));
  }
  return generator(std::move(out));
}

// werkzeug-style url_quote as Jinja's urlencode uses it: UTF-8, %XX for all but A-Za-z0-9_.-~
// (and "/" outside query strings); in query strings spaces become "+".
std::string url_quote(const Value& v, bool for_qs) {
  std::string text = v.to_string(), out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '_' || c == '.' || c == '-' || c == '~' || (!for_qs && c == '/')) {
      out += static_cast<char>(c);
    } else if (for_qs && c == ' ') {
      out += '+';
    } else {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

Value f_urlencode(Interpreter& in, const Value& v, const CallArgs&) {
  if (v.is_string()) return Value::string(url_quote(v, false));
  std::vector<std::pair<Value, Value>> pairs;
  if (v.is_dict()) {
    pairs = v.dict->entries;
  } else {
    for (const auto& item : in.iterate(v)) {
      auto kv = in.iterate(item);
      VLLM_CHECK(kv.size() == 2, InvalidArgument, "urlencode needs a string, a dict or (key, value) pairs");
      pairs.emplace_back(kv[0], kv[1]);
    }
  }
  std::string out;
  for (size_t k = 0; k < pairs.size(); ++k) {
    if (k) out += '&';
    out += url_quote(pairs[k].first, true) + "=" + url_quote(pairs[k].second, true);
  }
  return Value::string(std::move(out));
}

// xmlattr(d, autospace=True), Jinja 3.1.2 (no check of the keys).
Value f_xmlattr(Interpreter& in, const Value& v, const CallArgs& a) {
  VLLM_CHECK(v.is_dict(), InvalidArgument, "xmlattr needs a dict, not ", v.type_name());
  const bool autospace = bool_arg(a, 0, "autospace", true);
  std::string out;
  for (const auto& [key, value] : v.dict->entries) {
    if (value.is_none() || value.is_undefined()) continue;
    if (!out.empty()) out += ' ';
    out += in.apply_filter("escape", key, {}).str() + "=\"" + in.apply_filter("escape", value, {}).str() + "\"";
  }
  if (autospace && !out.empty()) out = " " + out;
  return markup(std::move(out));
}

// html.unescape for the entities templates meet: the five of escape(), &nbsp;, &apos; and numeric ones.
std::string html_unescape(const std::string& s) {
  static const std::pair<std::string_view, char32_t> named[] = {{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'},
                                                                {"apos", '\''}, {"nbsp", 0xa0}};
  std::string out;
  for (size_t k = 0; k < s.size();) {
    if (s[k] == '&') {
      size_t semi = s.find(';', k);
      if (semi != std::string::npos && semi - k <= 10) {
        std::string_view name(s.data() + k + 1, semi - k - 1);
        char32_t c = 0;
        if (name.size() > 1 && name[0] == '#') {
          bool hex = name[1] == 'x' || name[1] == 'X';
          std::string digits(name.substr(hex ? 2 : 1));
          if (!digits.empty() && digits.find_first_not_of(hex ? "0123456789abcdefABCDEF" : "0123456789") == std::string::npos)
            c = static_cast<char32_t>(std::stoul(digits, nullptr, hex ? 16 : 10));
        } else {
          for (const auto& [n, ch] : named)
            if (n == name) c = ch;
        }
        if (c && c <= 0x10FFFF) {
          utf8_append(out, c);
          k = semi + 1;
          continue;
        }
      }
    }
    out += s[k++];
  }
  return out;
}

// striptags: markupsafe 2.1's Markup.striptags (comments, then tags, whitespace collapsed, unescaped).
Value f_striptags(Interpreter&, const Value& v, const CallArgs&) {
  std::string s = v.to_string(), no_comments, no_tags;
  for (size_t k = 0; k < s.size();) {
    size_t open = s.find("<!--", k);
    size_t close = open == std::string::npos ? std::string::npos : s.find("-->", open + 4);
    if (close == std::string::npos) {
      no_comments += s.substr(k);
      break;
    }
    no_comments += s.substr(k, open - k);
    k = close + 3;
  }
  for (size_t k = 0; k < no_comments.size();) {
    size_t open = no_comments.find('<', k);
    size_t close = open == std::string::npos ? std::string::npos : no_comments.find('>', open + 1);
    if (close == std::string::npos) {
      no_tags += no_comments.substr(k);
      break;
    }
    no_tags += no_comments.substr(k, open - k);
    k = close + 1;
  }
  std::string joined;
  std::u32string word;
  auto flush = [&] {
    if (word.empty()) return;
    if (!joined.empty()) joined += ' ';
    joined += utf8_encode(word);
    word.clear();
  };
  for (char32_t c : utf8_decode(no_tags)) {
    if (is_python_space(c)) flush();
    else word += c;
  }
  flush();
  return Value::string(html_unescape(joined));
}

// filesizeformat(value, binary=False)
Value f_filesizeformat(Interpreter& in, const Value& v, const CallArgs& a) {
  const bool binary = bool_arg(a, 0, "binary", false);
  Value number = v.is_number() ? v : in.apply_filter("float", v, {});
  const double bytes = number.as_double();
  const double base = binary ? 1024 : 1000;
  static const char* const decimal[] = {"kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"};
  static const char* const binary_units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"};
  if (bytes == 1) return Value::string("1 Byte");
  if (bytes < base) return Value::string(std::to_string(static_cast<int64_t>(bytes)) + " Bytes");
  double unit = base;
  char buf[64];
  for (int k = 0; k < 8; ++k) {
    unit *= base;
    if (bytes < unit || k == 7) {
      std::snprintf(buf, sizeof(buf), "%.1f %s", base * bytes / unit, binary ? binary_units[k] : decimal[k]);
      break;
    }
  }
  return Value::string(buf);
}

}  // namespace

FilterFunction find_extra_filter(const std::string& name) {
  static const std::pair<std::string_view, FilterFunction> table[] = {
      {"truncate", f_truncate},   {"wordwrap", f_wordwrap},   {"groupby", f_groupby},   {"slice", f_slice},
      {"urlencode", f_urlencode}, {"xmlattr", f_xmlattr},     {"striptags", f_striptags}, {"filesizeformat", f_filesizeformat},
  };
  for (const auto& [n, f] : table)
    if (n == name) return f;
  return nullptr;
}

}  // namespace vllm::jinja
