// Structural tags (vLLM's `structural_tag`, xgrammar's StructuralTag): free text in which a
// trigger string starts a tag whose content is constrained, e.g. a tool call
// `<function=get_weather>{"city": "Paris"}</function>` inside an otherwise free answer.
//
// Two spellings are read:
// - vLLM's original one: {"type": "structural_tag", "structures": [{"begin", "schema", "end"}],
//   "triggers": [...]}: free text; a trigger starts the structure whose `begin` it prefixes,
//   whose content follows the JSON Schema `schema`; after `end`, free text again.
// - xgrammar's format tree: {"type": "structural_tag", "format": {...}} with the format types
//   const_string, json_schema, grammar, regex, any_text, sequence, or, tag, triggered_tags and
//   tags_with_separator.
//
// Free text that must not contain a set of strings (triggers, or a tag's `end` after any_text) is
// an Aho-Corasick automaton over the strings' code points, written out as one grammar rule per
// automaton state (each reference in tail position, so the pushdown stack stays flat).
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "core/error.h"
#include "structured/frontends.h"

namespace vllm::structured {

namespace {

using json = nlohmann::json;

[[noreturn]] void invalid(const std::string& message) { fail(ErrorKind::InvalidArgument, "structural_tag: ", message); }

// The code points of UTF-8 `text` (invalid bytes are refused: tags are text).
std::u32string code_points(const std::string& text) {
  std::u32string out;
  for (size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const int length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 0;
    if (length == 0 || i + static_cast<size_t>(length) > text.size()) invalid("a tag string is not valid UTF-8");
    uint32_t cp = length == 1 ? lead : lead & (0x7F >> length);
    for (int k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + static_cast<size_t>(k)]);
      if ((next & 0xC0) != 0x80) invalid("a tag string is not valid UTF-8");
      cp = (cp << 6) | (next & 0x3F);
    }
    out += static_cast<char32_t>(cp);
    i += static_cast<size_t>(length);
  }
  return out;
}

// Aho-Corasick over code points: the states of "which suffix of the text so far is a prefix of
// some pattern"; a state whose prefix ends with a whole pattern reports the longest such one.
class PatternAutomaton {
 public:
  explicit PatternAutomaton(const std::vector<std::string>& patterns) {
    nodes_.push_back({});
    for (size_t p = 0; p < patterns.size(); ++p) {
      int32_t state = 0;
      for (char32_t c : code_points(patterns[p])) {
        alphabet_.insert(c);
        auto it = nodes_[static_cast<size_t>(state)].next.find(c);
        if (it == nodes_[static_cast<size_t>(state)].next.end()) {
          nodes_.push_back({});
          it = nodes_[static_cast<size_t>(state)].next.emplace(c, static_cast<int32_t>(nodes_.size() - 1)).first;
        }
        state = it->second;
      }
      Node& end = nodes_[static_cast<size_t>(state)];
      if (end.match < 0) end.match = static_cast<int32_t>(p);
    }
    // Breadth-first: fail links, then the inherited matches (a pattern that is a suffix of this
    // state's prefix), keeping the one this state's own prefix ends with when it has one.
    std::vector<int32_t> order{0};
    for (size_t i = 0; i < order.size(); ++i) {
      const int32_t state = order[i];
      for (auto [c, child] : nodes_[static_cast<size_t>(state)].next) {
        nodes_[static_cast<size_t>(child)].fail = state == 0 ? 0 : step(nodes_[static_cast<size_t>(state)].fail, c);
        Node& node = nodes_[static_cast<size_t>(child)];
        if (node.match < 0) node.match = nodes_[static_cast<size_t>(node.fail)].match;
        order.push_back(child);
      }
    }
  }

  size_t size() const { return nodes_.size(); }
  int32_t match(int32_t state) const { return nodes_[static_cast<size_t>(state)].match; }
  const std::set<char32_t>& alphabet() const { return alphabet_; }
  // The state after reading `c` in `state`.
  int32_t step(int32_t state, char32_t c) const {
    for (;;) {
      const Node& node = nodes_[static_cast<size_t>(state)];
      auto it = node.next.find(c);
      if (it != node.next.end()) return it->second;
      if (state == 0) return 0;
      state = node.fail;
    }
  }

 private:
  struct Node {
    std::map<char32_t, int32_t> next;
    int32_t fail = 0;
    int32_t match = -1;  // index of the pattern a text ends with on reaching this state
  };
  std::vector<Node> nodes_;
  std::set<char32_t> alphabet_;
};

class Builder {
 public:
  explicit Builder(JsonWhitespace ws) : ws_(std::move(ws)) {}

  Grammar take(Expr root) {
    grammar_.root = grammar_.add_rule("root", std::move(root));
    return std::move(grammar_);
  }

  // vLLM's original spelling: structures + triggers.
  Expr structures(const json& spec) {
    const json& structures = member(spec, "structures", "an array");
    const json& triggers = member(spec, "triggers", "an array");
    if (!structures.is_array()) invalid("'structures' must be an array");
    if (!triggers.is_array()) invalid("'triggers' must be an array");
    std::vector<Tag> tags;
    for (const json& s : structures) {
      if (!s.is_object()) invalid("each structure must be an object with begin, schema and end");
      tags.push_back({text(s, "begin"),
                      Expr::seq({json_schema(member(s, "schema", "a JSON Schema")), Expr::lit(text(s, "end"))})});
    }
    return triggered(strings(triggers, "triggers"), std::move(tags), false, false);
  }

  // xgrammar's format tree: `f` followed by `end` (the rest of an enclosing tag; empty at the
  // top level). any_text stops at the first `end`, so the two are built together.
  Expr format(const json& f, const std::string& end = "") {
    if (!f.is_object() || !f.contains("type") || !f["type"].is_string())
      invalid("a format must be an object with a \"type\", got " + f.dump());
    const std::string type = f["type"].get<std::string>();
    auto then_end = [&](Expr e) { return Expr::seq({std::move(e), Expr::lit(end)}); };
    if (type == "const_string") return then_end(Expr::lit(text(f, "value")));
    if (type == "json_schema") return then_end(json_schema(member(f, "json_schema", "a JSON Schema")));
    if (type == "grammar") return then_end(embed(grammar_from_ebnf(text(f, "grammar")), "grammar"));
    if (type == "regex") return then_end(embed(grammar_from_regex(text(f, "pattern")), "regex"));
    if (type == "any_text") {
      if (end.empty()) return Expr::star(Expr::any_char());
      return text_until({end}, [](size_t, int32_t) { return Expr::empty(); }, /*may_end=*/false);
    }
    if (type == "sequence" || type == "or") {
      const json& elements = member(f, "elements", "an array of formats");
      if (!elements.is_array() || elements.empty()) invalid("'" + type + ".elements' must be a non-empty array");
      std::vector<Expr> parts;
      for (size_t i = 0; i < elements.size(); ++i)
        parts.push_back(format(elements[i], type == "or" || i + 1 == elements.size() ? end : ""));
      return type == "sequence" ? Expr::seq(std::move(parts)) : Expr::alt(std::move(parts));
    }
    if (type == "tag") return then_end(tag_expr(read_tag(f)));
    if (type == "triggered_tags") {
      std::vector<Tag> tags;
      for (const json& t : tag_list(f)) tags.push_back(read_tag(t));
      return then_end(triggered(strings(member(f, "triggers", "an array"), "triggers"), std::move(tags),
                                flag(f, "at_least_one"), flag(f, "stop_after_first")));
    }
    if (type == "tags_with_separator") {
      std::vector<Expr> one;
      for (const json& t : tag_list(f)) one.push_back(tag_expr(read_tag(t)));
      const int32_t tag = grammar_.add_rule("tag", Expr::alt(std::move(one)));
      Expr list = flag(f, "stop_after_first")
                      ? Expr::ref(tag)
                      : Expr::seq({Expr::ref(tag), Expr::star(Expr::seq({Expr::lit(text(f, "separator")), Expr::ref(tag)}))});
      return then_end(flag(f, "at_least_one") ? std::move(list) : Expr::opt(std::move(list)));
    }
    invalid("format type \"" + type +
            "\" is not supported (const_string, json_schema, grammar, regex, any_text, sequence, or, tag, "
            "triggered_tags, tags_with_separator)");
  }

 private:
  // A tag: `begin`, then its content, which already ends with the tag's end string.
  struct Tag {
    std::string begin;
    Expr content_and_end;
  };
  static Expr tag_expr(Tag tag) { return Expr::seq({Expr::lit(tag.begin), std::move(tag.content_and_end)}); }

  static const json& member(const json& object, const char* key, const char* what) {
    if (!object.is_object() || !object.contains(key)) invalid(std::string("missing '") + key + "' (" + what + ")");
    return object[key];
  }
  static std::string text(const json& object, const char* key) {
    const json& v = member(object, key, "a string");
    if (!v.is_string()) invalid(std::string("'") + key + "' must be a string, got " + v.dump());
    return v.get<std::string>();
  }
  static bool flag(const json& object, const char* key) {
    if (!object.contains(key)) return false;
    if (!object[key].is_boolean()) invalid(std::string("'") + key + "' must be a boolean");
    return object[key].get<bool>();
  }
  static std::vector<std::string> strings(const json& list, const char* what) {
    if (!list.is_array()) invalid(std::string("'") + what + "' must be an array of strings");
    std::vector<std::string> out;
    for (const json& v : list) {
      if (!v.is_string() || v.get<std::string>().empty())
        invalid(std::string("'") + what + "' must hold non-empty strings, got " + v.dump());
      out.push_back(v.get<std::string>());
    }
    return out;
  }
  static const json& tag_list(const json& f) {
    const json& tags = member(f, "tags", "an array of tags");
    if (!tags.is_array() || tags.empty()) invalid("'tags' must be a non-empty array");
    return tags;
  }

  Tag read_tag(const json& t) {
    if (!t.is_object()) invalid("a tag must be an object with begin, content and end");
    if (t.contains("type") && t["type"] != "tag") invalid("expected a format of type \"tag\", got " + t.dump());
    return {text(t, "begin"), format(member(t, "content", "a format"), text(t, "end"))};
  }

  Expr json_schema(const json& schema) {
    if (!schema.is_object() && !schema.is_boolean()) invalid("a schema must be a JSON object, got " + schema.dump());
    return embed(grammar_from_json_schema(schema.dump(), ws_), "json");
  }

  // Copies `guest`'s rules into the grammar under fresh names; a reference to its root.
  Expr embed(const Grammar& guest, const std::string& prefix) {
    std::vector<int32_t> ids(guest.rules.size());
    for (size_t i = 0; i < guest.rules.size(); ++i)
      ids[i] = grammar_.add_rule(prefix + "_" + guest.rules[i].name, Expr::empty());
    for (size_t i = 0; i < guest.rules.size(); ++i) {
      Expr body = guest.rules[i].body;
      renumber(body, ids);
      grammar_.define(ids[i], std::move(body));
    }
    return Expr::ref(ids.at(static_cast<size_t>(guest.root)));
  }
  static void renumber(Expr& e, const std::vector<int32_t>& ids) {
    if (e.kind == Expr::Kind::RuleRef) e.rule = ids.at(static_cast<size_t>(e.rule));
    for (Expr& child : e.children) renumber(child, ids);
  }

  // Text that never contains any of `patterns` until one completes, then what `on_match` gives
  // for it (nullopt: that pattern may not appear). `may_end`: the text may stop anywhere before
  // a pattern completes (free text around tags); otherwise only a match ends it (any_text up to
  // a tag's end string). Returns a reference to the start state's rule.
  using OnMatch = std::function<std::optional<Expr>(size_t pattern, int32_t start_rule)>;
  Expr text_until(const std::vector<std::string>& patterns, const OnMatch& on_match, bool may_end) {
    PatternAutomaton automaton(patterns);
    std::vector<int32_t> rule(automaton.size());
    for (size_t s = 0; s < automaton.size(); ++s) rule[s] = grammar_.add_rule("text", Expr::empty());
    std::vector<std::pair<uint32_t, uint32_t>> alphabet;
    for (char32_t c : automaton.alphabet()) alphabet.emplace_back(c, c);
    for (size_t s = 0; s < automaton.size(); ++s) {
      if (automaton.match(static_cast<int32_t>(s)) >= 0) continue;  // never entered: a match leaves the text
      std::vector<Expr> alternatives;
      if (may_end) alternatives.push_back(Expr::empty());
      std::map<int32_t, std::vector<std::pair<uint32_t, uint32_t>>> by_target;
      for (char32_t c : automaton.alphabet()) by_target[automaton.step(static_cast<int32_t>(s), c)].emplace_back(c, c);
      for (auto& [target, chars] : by_target) {
        Expr on = Expr::char_class(std::move(chars));
        const int32_t pattern = automaton.match(target);
        if (pattern < 0) {
          alternatives.push_back(Expr::seq({std::move(on), Expr::ref(rule[static_cast<size_t>(target)])}));
        } else if (std::optional<Expr> then = on_match(static_cast<size_t>(pattern), rule[0])) {
          alternatives.push_back(Expr::seq({std::move(on), std::move(*then)}));
        }
      }
      // Any other character restarts the search.
      alternatives.push_back(Expr::seq({Expr::char_class(alphabet, true), Expr::ref(rule[0])}));
      grammar_.define(rule[s], Expr::alt(std::move(alternatives)));
    }
    return Expr::ref(rule[0]);
  }

  // Free text where each trigger starts one of the tags whose begin it prefixes (a trigger
  // without a tag may not appear). at_least_one: the text may not end before a tag;
  // stop_after_first: the output ends after the first tag.
  Expr triggered(const std::vector<std::string>& triggers, std::vector<Tag> tags, bool at_least_one,
                 bool stop_after_first) {
    if (triggers.empty()) invalid("'triggers' must not be empty");
    std::vector<std::vector<Expr>> by_trigger(triggers.size());
    for (Tag& tag : tags) {
      size_t best = triggers.size();  // the longest trigger the tag's begin starts with
      for (size_t t = 0; t < triggers.size(); ++t)
        if (tag.begin.rfind(triggers[t], 0) == 0 &&
            (best == triggers.size() || triggers[t].size() > triggers[best].size()))
          best = t;
      if (best == triggers.size()) invalid("the tag begin \"" + tag.begin + "\" starts with none of the triggers");
      by_trigger[best].push_back(
          Expr::seq({Expr::lit(tag.begin.substr(triggers[best].size())), std::move(tag.content_and_end)}));
    }
    std::vector<int32_t> dispatch(triggers.size(), -1);
    for (size_t t = 0; t < triggers.size(); ++t)
      if (!by_trigger[t].empty()) dispatch[t] = grammar_.add_rule("tag", Expr::alt(std::move(by_trigger[t])));
    // The rest of the tag a trigger starts, then `then`.
    auto tag_then = [&](size_t pattern, Expr then) -> std::optional<Expr> {
      if (dispatch[pattern] < 0) return std::nullopt;
      return Expr::seq({Expr::ref(dispatch[pattern]), std::move(then)});
    };
    if (stop_after_first)
      return text_until(triggers, [&](size_t p, int32_t) { return tag_then(p, Expr::empty()); }, !at_least_one);
    Expr repeating = text_until(triggers, [&](size_t p, int32_t start) { return tag_then(p, Expr::ref(start)); }, true);
    if (!at_least_one) return repeating;
    const int32_t rest = grammar_.add_rule("rest", std::move(repeating));
    return text_until(triggers, [&](size_t p, int32_t) { return tag_then(p, Expr::ref(rest)); }, false);
  }

  JsonWhitespace ws_;
  Grammar grammar_;
};

}  // namespace

Grammar grammar_from_structural_tag(const std::string& spec_json, const JsonWhitespace& ws) {
  json spec;
  try {
    spec = json::parse(spec_json);
  } catch (const json::parse_error& e) {
    invalid(std::string("not valid JSON: ") + e.what());
  }
  if (!spec.is_object()) invalid("must be a JSON object, got " + spec.dump());
  Builder builder(ws);
  Expr root = spec.contains("format") ? builder.format(spec["format"]) : builder.structures(spec);
  return builder.take(std::move(root));
}

}  // namespace vllm::structured
