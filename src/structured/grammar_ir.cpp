#include "structured/grammar_ir.h"

#include <algorithm>
#include <functional>
#include <map>
#include <sstream>

#include "core/error.h"

namespace vllm::structured {

Expr Expr::lit(std::string bytes) {
  Expr e;
  e.kind = bytes.empty() ? Kind::Empty : Kind::Literal;
  e.literal = std::move(bytes);
  return e;
}

Expr Expr::char_class(std::vector<std::pair<uint32_t, uint32_t>> ranges, bool negated) {
  Expr e;
  e.kind = Kind::CharClass;
  e.ranges = std::move(ranges);
  e.negated = negated;
  return e;
}

Expr Expr::seq(std::vector<Expr> items) {
  std::erase_if(items, [](const Expr& e) { return e.kind == Kind::Empty; });
  if (items.empty()) return empty();
  if (items.size() == 1) return std::move(items[0]);
  Expr e;
  e.kind = Kind::Sequence;
  e.children = std::move(items);
  return e;
}

Expr Expr::alt(std::vector<Expr> items) {
  if (items.size() == 1) return std::move(items[0]);
  Expr e;
  e.kind = Kind::Alternation;
  e.children = std::move(items);
  return e;
}

Expr Expr::repeat(Expr item, int64_t min_count, int64_t max_count) {
  if (max_count == 0 || item.kind == Kind::Empty) return empty();
  if (min_count == 1 && max_count == 1) return item;
  Expr e;
  e.kind = Kind::Repeat;
  e.children.push_back(std::move(item));
  e.min_count = min_count;
  e.max_count = max_count;
  return e;
}

Expr Expr::ref(int32_t rule) {
  Expr e;
  e.kind = Kind::RuleRef;
  e.rule = rule;
  return e;
}

int32_t Grammar::rule_id(const std::string& name) {
  for (size_t i = 0; i < rules.size(); ++i)
    if (rules[i].name == name) return static_cast<int32_t>(i);
  rules.push_back({name, Expr{}, false});
  return static_cast<int32_t>(rules.size() - 1);
}

int32_t Grammar::add_rule(const std::string& name, Expr body) {
  std::string unique = name;
  for (int n = 1;; ++n) {
    bool taken = std::any_of(rules.begin(), rules.end(), [&](const Rule& r) { return r.name == unique; });
    if (!taken) break;
    unique = name + "_" + std::to_string(n);
  }
  rules.push_back({unique, std::move(body), true});
  return static_cast<int32_t>(rules.size() - 1);
}

void Grammar::define(int32_t id, Expr body) {
  rules.at(id).body = std::move(body);
  rules.at(id).defined = true;
}

namespace {

void append_code_point(std::string& out, uint32_t cp) {
  if (cp >= 0x20 && cp < 0x7F && cp != '\\' && cp != ']' && cp != '-' && cp != '"' && cp != '^') {
    out += static_cast<char>(cp);
  } else {
    char buf[16];
    std::snprintf(buf, sizeof buf, cp <= 0xFF ? "\\x%02X" : "\\u%04X", cp);
    out += buf;
  }
}

void print(std::ostringstream& out, const Grammar& g, const Expr& e) {
  switch (e.kind) {
    case Expr::Kind::Empty: out << "\"\""; break;
    case Expr::Kind::Literal: {
      std::string s;
      for (unsigned char c : e.literal) append_code_point(s, c);
      out << '"' << s << '"';
      break;
    }
    case Expr::Kind::CharClass: {
      std::string s = e.negated ? "[^" : "[";
      for (auto [lo, hi] : e.ranges) {
        append_code_point(s, lo);
        if (hi != lo) {
          s += '-';
          append_code_point(s, hi);
        }
      }
      out << s << ']';
      break;
    }
    case Expr::Kind::Sequence:
    case Expr::Kind::Alternation:
      out << '(';
      for (size_t i = 0; i < e.children.size(); ++i) {
        if (i) out << (e.kind == Expr::Kind::Sequence ? " " : " | ");
        print(out, g, e.children[i]);
      }
      out << ')';
      break;
    case Expr::Kind::Repeat:
      print(out, g, e.children[0]);
      out << '{' << e.min_count << ',';
      if (e.max_count >= 0) out << e.max_count;
      out << '}';
      break;
    case Expr::Kind::RuleRef: out << g.rules.at(e.rule).name; break;
  }
}

// Lowering state: rules are built as element vectors and flattened at the end.
class Lowering {
 public:
  explicit Lowering(const Grammar& g) : g_(g) {
    for (const auto& r : g.rules) {
      names_.push_back(r.name);
      bodies_.emplace_back();
    }
  }

  FlatGrammar run() {
    for (size_t i = 0; i < g_.rules.size(); ++i) {
      const auto& r = g_.rules[i];
      VLLM_CHECK(r.defined, InvalidArgument, "grammar: rule '", r.name, "' is referenced but not defined");
      current_ = r.name;
      bodies_[i] = lower_alternatives(r.body);
    }
    FlatGrammar out;
    out.byte_sets = std::move(sets_);
    out.rule_names = names_;
    out.root = g_.root;
    for (auto& alts : bodies_) {
      std::vector<int32_t> starts;
      for (auto& seq : alts) {
        starts.push_back(static_cast<int32_t>(out.elements.size()));
        out.elements.insert(out.elements.end(), seq.begin(), seq.end());
        out.elements.push_back({FlatGrammar::Element::End, 0});
      }
      out.alternatives.push_back(std::move(starts));
    }
    return out;
  }

 private:
  using Element = FlatGrammar::Element;
  using Seq = std::vector<Element>;

  int32_t set_index(const ByteSet& s) {
    auto [it, inserted] = set_ids_.try_emplace(s, static_cast<int32_t>(sets_.size()));
    if (inserted) sets_.push_back(s);
    return it->second;
  }

  int32_t new_rule(const std::string& suffix, std::vector<Seq> alts) {
    names_.push_back(current_ + "_" + suffix + std::to_string(names_.size()));
    bodies_.push_back(std::move(alts));
    return static_cast<int32_t>(names_.size() - 1);
  }

  std::vector<Seq> lower_alternatives(const Expr& e) {
    std::vector<Seq> alts;
    if (e.kind == Expr::Kind::Alternation) {
      for (const auto& c : e.children) alts.push_back(lower_sequence(c));
    } else {
      alts.push_back(lower_sequence(e));
    }
    return alts;
  }

  Seq lower_sequence(const Expr& e) {
    Seq out;
    emit(e, out);
    return out;
  }

  // The element standing for `e` as a whole (a byte set or a reference to a helper rule).
  Element single(const Expr& e) {
    Seq s = lower_sequence(e);
    if (s.size() == 1) return s[0];
    if (e.kind == Expr::Kind::Alternation) return {Element::Ref, new_rule("alt", lower_alternatives(e))};
    return {Element::Ref, new_rule("group", {std::move(s)})};
  }

  void emit(const Expr& e, Seq& out) {
    switch (e.kind) {
      case Expr::Kind::Empty: return;
      case Expr::Kind::Literal:
        for (unsigned char c : e.literal) {
          ByteSet s;
          s.set(c);
          out.push_back({Element::Bytes, set_index(s)});
        }
        return;
      case Expr::Kind::CharClass: emit_class(e, out); return;
      case Expr::Kind::Sequence:
        for (const auto& c : e.children) emit(c, out);
        return;
      case Expr::Kind::Alternation:
        out.push_back({Element::Ref, new_rule("alt", lower_alternatives(e))});
        return;
      case Expr::Kind::RuleRef:
        VLLM_CHECK(e.rule >= 0 && e.rule < static_cast<int32_t>(g_.rules.size()), Internal, "bad rule id");
        out.push_back({Element::Ref, e.rule});
        return;
      case Expr::Kind::Repeat: emit_repeat(e, out); return;
    }
  }

  void emit_repeat(const Expr& e, Seq& out) {
    Element item = single(e.children[0]);
    for (int64_t i = 0; i < e.min_count; ++i) out.push_back(item);
    if (e.max_count < 0) {
      // star ::= item star | ""
      int32_t star = new_rule("star", {});
      bodies_[star] = {Seq{item, {Element::Ref, star}}, Seq{}};
      out.push_back({Element::Ref, star});
      return;
    }
    int64_t optional = e.max_count - e.min_count;
    if (optional <= 0) return;
    // opt_k ::= item opt_{k-1} | "", opt_1 ::= item | "": at most k more.
    int32_t prev = new_rule("opt", {Seq{item}, Seq{}});
    for (int64_t k = 2; k <= optional; ++k) prev = new_rule("opt", {Seq{item, {Element::Ref, prev}}, Seq{}});
    out.push_back({Element::Ref, prev});
  }

  void emit_class(const Expr& e, Seq& out) {
    // Normalise to sorted, merged, non-negated code point ranges.
    auto ranges = e.ranges;
    std::sort(ranges.begin(), ranges.end());
    std::vector<std::pair<uint32_t, uint32_t>> merged;
    for (auto r : ranges) {
      if (!merged.empty() && r.first <= merged.back().second + 1)
        merged.back().second = std::max(merged.back().second, r.second);
      else
        merged.push_back(r);
    }
    if (e.negated) {
      std::vector<std::pair<uint32_t, uint32_t>> comp;
      uint32_t next = 0;
      for (auto [lo, hi] : merged) {
        if (lo > next) comp.push_back({next, lo - 1});
        next = hi + 1;
      }
      if (next <= 0x10FFFF) comp.push_back({next, 0x10FFFF});
      merged = std::move(comp);
    }
    // All single-byte sequences share one byte set; longer ones become alternatives.
    ByteSet ascii;
    bool has_ascii = false;
    std::vector<Seq> alts;
    for (auto [lo, hi] : merged) {
      for (auto& seq : utf8_sequences(lo, hi)) {
        if (seq.size() == 1) {
          ascii.set_range(seq[0].first, seq[0].second);
          has_ascii = true;
          continue;
        }
        Seq s;
        for (auto [a, b] : seq) {
          ByteSet bs;
          bs.set_range(a, b);
          s.push_back({Element::Bytes, set_index(bs)});
        }
        alts.push_back(std::move(s));
      }
    }
    if (alts.empty()) {
      // An empty class matches nothing: a byte set with no bytes.
      out.push_back({Element::Bytes, set_index(ascii)});
      return;
    }
    if (has_ascii) alts.insert(alts.begin(), Seq{{Element::Bytes, set_index(ascii)}});
    auto key = std::make_pair(e.negated, merged);
    auto it = class_rules_.find(key);
    if (it == class_rules_.end()) it = class_rules_.emplace(key, new_rule("char", std::move(alts))).first;
    out.push_back({Element::Ref, it->second});
  }

  const Grammar& g_;
  std::string current_;
  std::vector<std::string> names_;
  std::vector<std::vector<Seq>> bodies_;
  std::vector<ByteSet> sets_;
  std::map<ByteSet, int32_t> set_ids_;
  std::map<std::pair<bool, std::vector<std::pair<uint32_t, uint32_t>>>, int32_t> class_rules_;
};

// A top-down automaton loops forever on left recursion: rule A reaching A again before consuming
// a byte with something left to do after it. References in tail position (the last element of
// an alternative) push no frame, so cycles made only of those are harmless (the automaton cuts
// them); any other reference inside such a cycle is refused.
void check_left_recursion(const FlatGrammar& g) {
  size_t n = g.alternatives.size();
  std::vector<bool> nullable(n, false);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < n; ++r) {
      if (nullable[r]) continue;
      for (int32_t start : g.alternatives[r]) {
        bool all = true;
        for (int32_t p = start; g.elements[p].kind != FlatGrammar::Element::End; ++p) {
          const auto& el = g.elements[p];
          if (el.kind == FlatGrammar::Element::Bytes || !nullable[el.value]) {
            all = false;
            break;
          }
        }
        if (all) {
          nullable[r] = changed = true;
          break;
        }
      }
    }
  }
  // Edges r -> s (s reachable first from r), flagged when a frame is pushed.
  struct Edge {
    int32_t to;
    bool pushes;
  };
  std::vector<std::vector<Edge>> edges(n);
  for (size_t r = 0; r < n; ++r) {
    for (int32_t start : g.alternatives[r]) {
      for (int32_t p = start; g.elements[p].kind == FlatGrammar::Element::Ref; ++p) {
        int32_t s = g.elements[p].value;
        edges[r].push_back({s, g.elements[p + 1].kind != FlatGrammar::Element::End});
        if (!nullable[s]) break;
      }
    }
  }
  // Tarjan's strongly connected components.
  std::vector<int32_t> index(n, -1), low(n, 0), comp(n, -1), stack;
  std::vector<bool> on_stack(n, false);
  int32_t counter = 0, comps = 0;
  std::function<void(int32_t)> visit = [&](int32_t v) {
    index[v] = low[v] = counter++;
    stack.push_back(v);
    on_stack[v] = true;
    for (const auto& e : edges[v]) {
      if (index[e.to] < 0) {
        visit(e.to);
        low[v] = std::min(low[v], low[e.to]);
      } else if (on_stack[e.to]) {
        low[v] = std::min(low[v], index[e.to]);
      }
    }
    if (low[v] == index[v]) {
      int32_t w;
      do {
        w = stack.back();
        stack.pop_back();
        on_stack[w] = false;
        comp[w] = comps;
      } while (w != v);
      ++comps;
    }
  };
  for (size_t v = 0; v < n; ++v)
    if (index[v] < 0) visit(static_cast<int32_t>(v));
  for (size_t r = 0; r < n; ++r)
    for (const auto& e : edges[r])
      if (e.pushes && comp[e.to] == comp[r])
        fail(ErrorKind::Unsupported, "grammar: rule '", g.rule_names[r],
             "' is left-recursive (it can reach itself before consuming any input); rewrite it with repetition, "
             "e.g. `list ::= item (\",\" item)*`");
}

void encode_utf8(uint32_t cp, uint8_t* out, int& len) {
  if (cp < 0x80) {
    out[0] = static_cast<uint8_t>(cp);
    len = 1;
  } else if (cp < 0x800) {
    out[0] = static_cast<uint8_t>(0xC0 | (cp >> 6));
    out[1] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
    len = 2;
  } else if (cp < 0x10000) {
    out[0] = static_cast<uint8_t>(0xE0 | (cp >> 12));
    out[1] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F));
    out[2] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
    len = 3;
  } else {
    out[0] = static_cast<uint8_t>(0xF0 | (cp >> 18));
    out[1] = static_cast<uint8_t>(0x80 | ((cp >> 12) & 0x3F));
    out[2] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F));
    out[3] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
    len = 4;
  }
}

void split_same_length(uint32_t lo, uint32_t hi, int length,
                       std::vector<std::vector<std::pair<uint8_t, uint8_t>>>& out) {
  for (int i = 1; i < length; ++i) {
    uint32_t mask = (uint32_t{1} << (6 * i)) - 1;
    if ((lo & ~mask) != (hi & ~mask)) {
      if ((lo & mask) != 0) {
        split_same_length(lo, lo | mask, length, out);
        split_same_length((lo | mask) + 1, hi, length, out);
        return;
      }
      if ((hi & mask) != mask) {
        split_same_length(lo, (hi & ~mask) - 1, length, out);
        split_same_length(hi & ~mask, hi, length, out);
        return;
      }
    }
  }
  uint8_t a[4], b[4];
  int la, lb;
  encode_utf8(lo, a, la);
  encode_utf8(hi, b, lb);
  std::vector<std::pair<uint8_t, uint8_t>> seq;
  for (int i = 0; i < la; ++i) seq.push_back({a[i], b[i]});
  out.push_back(std::move(seq));
}

}  // namespace

std::vector<std::vector<std::pair<uint8_t, uint8_t>>> utf8_sequences(uint32_t lo, uint32_t hi) {
  std::vector<std::vector<std::pair<uint8_t, uint8_t>>> out;
  hi = std::min<uint32_t>(hi, 0x10FFFF);
  // Pieces of one encoded length, surrogates (not valid UTF-8) removed.
  const std::pair<uint32_t, uint32_t> pieces[] = {
      {0, 0x7F}, {0x80, 0x7FF}, {0x800, 0xD7FF}, {0xE000, 0xFFFF}, {0x10000, 0x10FFFF}};
  const int lengths[] = {1, 2, 3, 3, 4};
  for (int i = 0; i < 5; ++i) {
    uint32_t a = std::max(lo, pieces[i].first), b = std::min(hi, pieces[i].second);
    if (a <= b && lo <= hi) split_same_length(a, b, lengths[i], out);
  }
  return out;
}

std::string Grammar::to_string() const {
  std::ostringstream out;
  for (const auto& r : rules) {
    out << r.name << " ::= ";
    print(out, *this, r.body);
    out << '\n';
  }
  return out.str();
}

FlatGrammar lower(const Grammar& grammar) {
  VLLM_CHECK(grammar.root >= 0 && grammar.root < static_cast<int32_t>(grammar.rules.size()), InvalidArgument,
             "grammar: no root rule");
  FlatGrammar flat = Lowering(grammar).run();
  check_left_recursion(flat);
  return flat;
}

}  // namespace vllm::structured
