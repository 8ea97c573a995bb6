// JSON: the built-in grammar of any JSON object, and JSON Schema compiled into the grammar IR.
// Properties come in the order the schema lists them (as xgrammar does), optional ones may be
// absent; additionalProperties defaults to false (xgrammar's strict mode, vLLM's default). A
// keyword the grammar cannot enforce is refused by name, never silently dropped.
#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "structured/frontends.h"

namespace vllm::structured {

namespace {

// ordered_json keeps the schema's property order.
using json = nlohmann::ordered_json;

// Keywords that describe and never constrain.
const std::set<std::string> kAnnotations = {"title", "description", "default", "examples", "$schema", "$id",
                                            "$comment", "deprecated", "readOnly", "writeOnly", "$anchor",
                                            "contentMediaType", "contentEncoding", "discriminator", "nullable_"};
const std::set<std::string> kHandled = {"type", "properties", "required", "additionalProperties", "enum", "const",
                                        "anyOf", "oneOf", "allOf", "$ref", "$defs", "definitions", "items",
                                        "prefixItems", "minItems", "maxItems", "pattern", "minLength", "maxLength",
                                        "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"};

class JsonGrammarBuilder {
 public:
  explicit JsonGrammarBuilder(const JsonWhitespace& ws) {
    if (ws.pattern) ws_ = Expr::ref(g_.add_rule("ws", regex_to_expr(*ws.pattern, g_)));
    else if (ws.any_whitespace)
      ws_ = Expr::ref(g_.add_rule(
          "ws", Expr::repeat(Expr::char_class({{' ', ' '}, {'\t', '\t'}, {'\n', '\n'}, {'\r', '\r'}}), 0,
                             kMaxJsonWhitespace)));
  }

  Grammar object_grammar() {
    g_.root = g_.add_rule("root", any_object());
    return std::move(g_);
  }

  Grammar schema_grammar(const json& schema) {
    root_ = &schema;
    g_.root = g_.add_rule("root", compile(schema, "#"));
    return std::move(g_);
  }

 private:
  [[noreturn]] static void unsupported(const std::string& what, const std::string& path) {
    fail(ErrorKind::Unsupported, "JSON Schema: ", what, " (at ", path, ") is not supported");
  }
  [[noreturn]] static void invalid(const std::string& what, const std::string& path) {
    fail(ErrorKind::InvalidArgument, "JSON Schema: ", what, " (at ", path, ")");
  }

  Expr ws() const { return ws_; }
  Expr sep(const char* c) const { return Expr::seq({ws(), Expr::lit(c), ws()}); }

  // Shared rules, made on first use.
  Expr shared(const std::string& name, const std::function<Expr()>& body) {
    auto it = shared_.find(name);
    if (it != shared_.end()) return Expr::ref(it->second);
    int32_t id = g_.rule_id(name);
    shared_[name] = id;
    g_.define(id, body());
    return Expr::ref(id);
  }

  static Expr digits() { return Expr::plus(Expr::char_class({{'0', '9'}})); }

  Expr string_char() {
    return shared("json_char", [] {
      Expr hex = Expr::char_class({{'0', '9'}, {'a', 'f'}, {'A', 'F'}});
      return Expr::alt({Expr::char_class({{'"', '"'}, {'\\', '\\'}, {0, 0x1F}}, true),
                        Expr::seq({Expr::lit("\\"), Expr::alt({Expr::char_class({{'"', '"'}, {'\\', '\\'}, {'/', '/'},
                                                                                  {'b', 'b'}, {'f', 'f'}, {'n', 'n'},
                                                                                  {'r', 'r'}, {'t', 't'}}),
                                                               Expr::seq({Expr::lit("u"), Expr::repeat(hex, 4, 4)})})})});
    });
  }
  Expr any_string() {
    return shared("json_string", [&] { return Expr::seq({Expr::lit("\""), Expr::star(string_char()), Expr::lit("\"")}); });
  }
  Expr integer_text() {
    return Expr::seq({Expr::opt(Expr::lit("-")),
                      Expr::alt({Expr::lit("0"), Expr::seq({Expr::char_class({{'1', '9'}}), Expr::star(Expr::char_class({{'0', '9'}}))})})});
  }
  Expr any_integer() { return shared("json_integer", [&] { return integer_text(); }); }
  Expr fraction_exponent() {
    return Expr::seq({Expr::opt(Expr::seq({Expr::lit("."), digits()})),
                      Expr::opt(Expr::seq({Expr::char_class({{'e', 'e'}, {'E', 'E'}}),
                                           Expr::opt(Expr::char_class({{'+', '+'}, {'-', '-'}})), digits()}))});
  }
  Expr any_number() {
    return shared("json_number", [&] { return Expr::seq({integer_text(), fraction_exponent()}); });
  }
  Expr any_value() {
    auto it = shared_.find("json_value");
    if (it != shared_.end()) return Expr::ref(it->second);
    int32_t id = g_.rule_id("json_value");
    shared_["json_value"] = id;
    Expr value = Expr::ref(id);
    Expr array = Expr::seq({Expr::lit("["), ws(),
                            Expr::opt(Expr::seq({value, Expr::star(Expr::seq({sep(","), value}))})), ws(), Expr::lit("]")});
    g_.define(id, Expr::alt({any_object(), Expr::ref(g_.add_rule("json_array", array)), any_string(), any_number(),
                             Expr::lit("true"), Expr::lit("false"), Expr::lit("null")}));
    return value;
  }
  Expr any_object() {
    auto it = shared_.find("json_object");
    if (it != shared_.end()) return Expr::ref(it->second);
    int32_t id = g_.rule_id("json_object");
    shared_["json_object"] = id;
    Expr pair = Expr::seq({any_string(), sep(":"), any_value()});
    g_.define(id, Expr::seq({Expr::lit("{"), ws(), Expr::opt(Expr::seq({pair, Expr::star(Expr::seq({sep(","), pair}))})), ws(),
                             Expr::lit("}")}));
    return Expr::ref(id);
  }

  // --- schema --------------------------------------------------------------------------------

  const json& resolve(const std::string& ref, const std::string& path) {
    if (ref.empty() || ref[0] != '#') unsupported("the remote $ref \"" + ref + "\"", path);
    try {
      return root_->at(json::json_pointer(ref.substr(1)));
    } catch (const json::exception&) {
      invalid("$ref \"" + ref + "\" points nowhere", path);
    }
  }

  Expr reference(const std::string& ref, const std::string& path) {
    auto it = refs_.find(ref);
    if (it != refs_.end()) return Expr::ref(it->second);
    const json& target = resolve(ref, path);
    int32_t id = g_.rule_id("ref" + ref);
    refs_[ref] = id;
    g_.define(id, compile(target, ref));  // recursion refers to `id` while it is compiled
    return Expr::ref(id);
  }

  static json merge(json base, const json& extra, const std::string& path) {
    for (auto& [k, v] : extra.items()) {
      if (!base.contains(k)) {
        base[k] = v;
      } else if (k == "properties") {
        for (auto& [pk, pv] : v.items()) {
          if (base[k].contains(pk) && base[k][pk] != pv) unsupported("allOf with two schemas for property '" + pk + "'", path);
          base[k][pk] = pv;
        }
      } else if (k == "required") {
        for (const auto& r : v)
          if (std::find(base[k].begin(), base[k].end(), r) == base[k].end()) base[k].push_back(r);
      } else if (base[k] != v && !kAnnotations.count(k)) {
        unsupported("allOf whose schemas disagree on '" + k + "'", path);
      }
    }
    return base;
  }

  Expr compile(const json& schema, const std::string& path) {
    if (schema.is_boolean()) {
      if (schema.get<bool>()) return any_value();
      invalid("the schema false matches nothing", path);
    }
    if (!schema.is_object()) invalid("a schema must be an object or a boolean", path);
    for (auto& [k, v] : schema.items()) {
      if (kHandled.count(k) || kAnnotations.count(k)) continue;
      if (k == "uniqueItems" && v == false) continue;
      if (k == "additionalItems" || k == "unevaluatedProperties" || k == "unevaluatedItems" || k == "not" ||
          k == "if" || k == "then" || k == "else" || k == "patternProperties" || k == "propertyNames" ||
          k == "minProperties" || k == "maxProperties" || k == "dependentRequired" || k == "dependentSchemas" ||
          k == "dependencies" || k == "contains" || k == "minContains" || k == "maxContains" ||
          k == "uniqueItems" || k == "multipleOf" || k == "$dynamicRef" || k == "$recursiveRef")
        unsupported("the keyword '" + k + "'", path);
      // Unknown keywords are extensions (x-..., vendor fields): ignored, as validators do.
    }
    if (schema.contains("$ref")) {
      json rest = schema;
      rest.erase("$ref");
      for (const char* k : {"$defs", "definitions"}) rest.erase(k);
      for (auto it = rest.begin(); it != rest.end();) it = kAnnotations.count(it.key()) ? rest.erase(it) : std::next(it);
      if (!rest.empty()) unsupported("$ref beside other constraints", path);
      return reference(schema["$ref"].get<std::string>(), path);
    }
    if (schema.contains("allOf")) {
      json merged = schema;
      merged.erase("allOf");
      for (size_t i = 0; i < schema["allOf"].size(); ++i) {
        json part = schema["allOf"][i];
        if (part.contains("$ref")) part = resolve(part["$ref"].get<std::string>(), path);
        merged = merge(merged, part, path + "/allOf/" + std::to_string(i));
      }
      return compile(merged, path);
    }
    for (const char* key : {"anyOf", "oneOf"}) {
      if (!schema.contains(key)) continue;
      const json& branches = schema[key];
      if (!branches.is_array() || branches.empty()) invalid(std::string(key) + " must be a non-empty array", path);
      json base = schema;
      base.erase(key);
      for (const char* k : {"$defs", "definitions"}) base.erase(k);
      std::vector<Expr> alts;
      for (size_t i = 0; i < branches.size(); ++i) {
        std::string p = path + "/" + key + "/" + std::to_string(i);
        bool plain = base.empty() || std::all_of(base.items().begin(), base.items().end(),
                                                 [](const auto& kv) { return kAnnotations.count(kv.key()) > 0; });
        alts.push_back(plain ? compile(branches[i], p) : compile(merge(base, branches[i], p), p));
      }
      return Expr::alt(std::move(alts));
    }
    if (schema.contains("const")) return Expr::lit(schema["const"].dump());
    if (schema.contains("enum")) {
      const json& values = schema["enum"];
      if (!values.is_array() || values.empty()) invalid("enum must be a non-empty array", path);
      std::vector<Expr> alts;
      for (const auto& v : values) alts.push_back(Expr::lit(v.dump()));
      return Expr::alt(std::move(alts));
    }
    std::vector<std::string> types;
    if (schema.contains("type")) {
      const json& t = schema["type"];
      if (t.is_string()) types.push_back(t.get<std::string>());
      else if (t.is_array()) for (const auto& x : t) types.push_back(x.get<std::string>());
      else invalid("type must be a string or an array", path);
    } else if (schema.contains("properties") || schema.contains("additionalProperties") || schema.contains("required")) {
      types = {"object"};
    } else if (schema.contains("items") || schema.contains("prefixItems") || schema.contains("minItems") ||
               schema.contains("maxItems")) {
      types = {"array"};
    } else if (schema.contains("pattern") || schema.contains("minLength") || schema.contains("maxLength") ||
               schema.contains("format")) {
      types = {"string"};
    } else if (schema.contains("minimum") || schema.contains("maximum") || schema.contains("exclusiveMinimum") ||
               schema.contains("exclusiveMaximum")) {
      types = {"number"};
    } else {
      return any_value();
    }
    std::vector<Expr> alts;
    for (const auto& t : types) {
      if (t == "string") alts.push_back(string_schema(schema, path));
      else if (t == "integer") alts.push_back(integer_schema(schema, path));
      else if (t == "number") alts.push_back(number_schema(schema, path));
      else if (t == "boolean") alts.push_back(Expr::alt({Expr::lit("true"), Expr::lit("false")}));
      else if (t == "null") alts.push_back(Expr::lit("null"));
      else if (t == "object") alts.push_back(object_schema(schema, path));
      else if (t == "array") alts.push_back(array_schema(schema, path));
      else invalid("unknown type \"" + t + "\"", path);
    }
    return Expr::alt(std::move(alts));
  }

  // Character classes of a pattern may not produce what a JSON string must escape.
  static void restrict_to_string_text(Expr& e) {
    if (e.kind == Expr::Kind::CharClass) {
      const std::vector<std::pair<uint32_t, uint32_t>> forbidden = {{0, 0x1F}, {'"', '"'}, {'\\', '\\'}};
      if (e.negated) {
        e.ranges.insert(e.ranges.end(), forbidden.begin(), forbidden.end());
      } else {
        std::vector<std::pair<uint32_t, uint32_t>> out;
        for (auto r : e.ranges) {
          std::vector<std::pair<uint32_t, uint32_t>> pieces{r};
          for (auto f : forbidden) {
            std::vector<std::pair<uint32_t, uint32_t>> next;
            for (auto p : pieces) {
              if (f.second < p.first || f.first > p.second) {
                next.push_back(p);
                continue;
              }
              if (p.first < f.first) next.push_back({p.first, f.first - 1});
              if (p.second > f.second) next.push_back({f.second + 1, p.second});
            }
            pieces = std::move(next);
          }
          out.insert(out.end(), pieces.begin(), pieces.end());
        }
        e.ranges = std::move(out);
      }
    }
    for (auto& c : e.children) restrict_to_string_text(c);
  }

  // Formats as validators read them (Python's jsonschema with rfc3339-validator): a date must
  // exist (days per month, February 29 in leap years only, no year 0000) and a second is 00-59
  // (validators refuse the leap second 60). Fractions of a second stop at nanoseconds: unbounded,
  // a model that favours digits pads until max_tokens and the string is cut (as with whitespace).
  Expr format_expr(const std::string& format, const std::string& path) {
    static const std::string year = "([1-9]\\d{3}|0[1-9]\\d{2}|00[1-9]\\d|000[1-9])";
    static const std::string leap_year = "(\\d{2}(0[48]|[2468][048]|[13579][26])|(0[48]|[2468][048]|[13579][26])00)";
    static const std::string date = "(" + year + "-((0[13578]|1[02])-(0[1-9]|[12]\\d|3[01])|(0[469]|11)-(0[1-9]|[12]\\d|30)|02-(0[1-9]|1\\d|2[0-8]))|" +
                                    leap_year + "-02-29)";
    static const std::string time = "([01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(\\.\\d{1,9})?(Z|[+-]([01]\\d|2[0-3]):[0-5]\\d)";
    static const std::map<std::string, std::string> formats = {
        {"date", date},
        {"time", time},
        {"date-time", date + "T" + time},
        {"email", "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+"},
        {"uuid", "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"},
        {"ipv4", "((25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.){3}(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)"},
    };
    auto it = formats.find(format);
    if (it == formats.end())
      unsupported("format \"" + format + "\" (known: date, time, date-time, email, uuid, ipv4)", path);
    return shared("format_" + format, [&] { return regex_to_expr(it->second, g_); });
  }

  Expr string_schema(const json& s, const std::string& path) {
    int n = s.contains("pattern") + s.contains("format") + (s.contains("minLength") || s.contains("maxLength"));
    if (n > 1) unsupported("combining pattern, format and minLength/maxLength", path);
    if (s.contains("pattern")) {
      Expr e = regex_to_expr(s["pattern"].get<std::string>(), g_);
      restrict_to_string_text(e);
      return Expr::seq({Expr::lit("\""), e, Expr::lit("\"")});
    }
    if (s.contains("format")) return Expr::seq({Expr::lit("\""), format_expr(s["format"].get<std::string>(), path), Expr::lit("\"")});
    if (s.contains("minLength") || s.contains("maxLength")) {
      int64_t lo = s.value("minLength", int64_t{0}), hi = s.contains("maxLength") ? s["maxLength"].get<int64_t>() : -1;
      if (lo < 0 || (hi >= 0 && hi < lo)) invalid("minLength/maxLength out of order", path);
      return Expr::seq({Expr::lit("\""), Expr::repeat(string_char(), lo, hi), Expr::lit("\"")});
    }
    return any_string();
  }

  // Integers in [lo, hi], 0 <= lo <= hi, as digit patterns (no leading zeros).
  static Expr digits_range(const std::string& lo, const std::string& hi) {
    size_t n = lo.size();
    if (n == 0) return Expr::empty();
    if (lo == hi) return Expr::lit(lo);
    auto all = [](const std::string& s, size_t from, char c) {
      return std::all_of(s.begin() + from, s.end(), [c](char x) { return x == c; });
    };
    auto digit = [](char a, char b) { return Expr::char_class({{static_cast<uint32_t>(a), static_cast<uint32_t>(b)}}); };
    auto any_digits = [](size_t k) { return Expr::repeat(Expr::char_class({{'0', '9'}}), k, k); };
    if (lo[0] == hi[0]) return Expr::seq({Expr::lit(lo.substr(0, 1)), digits_range(lo.substr(1), hi.substr(1))});
    if (all(lo, 1, '0') && all(hi, 1, '9')) return Expr::seq({digit(lo[0], hi[0]), any_digits(n - 1)});
    std::vector<Expr> alts;
    alts.push_back(Expr::seq({Expr::lit(lo.substr(0, 1)), digits_range(lo.substr(1), std::string(n - 1, '9'))}));
    if (lo[0] + 1 <= hi[0] - 1) alts.push_back(Expr::seq({digit(lo[0] + 1, hi[0] - 1), any_digits(n - 1)}));
    alts.push_back(Expr::seq({Expr::lit(hi.substr(0, 1)), digits_range(std::string(n - 1, '0'), hi.substr(1))}));
    return Expr::alt(std::move(alts));
  }

  // Non-negative integers in [lo, hi]; hi < 0: unbounded.
  static Expr natural_range(int64_t lo, int64_t hi) {
    std::vector<Expr> alts;
    std::string l = std::to_string(lo);
    auto power = [](size_t digits) {
      int64_t p = 1;
      for (size_t i = 0; i < digits; ++i) p *= 10;
      return p;
    };
    size_t max_digits = hi < 0 ? 19 : std::to_string(hi).size();
    for (size_t d = l.size(); d <= max_digits; ++d) {
      int64_t a = std::max<int64_t>(lo, d == 1 ? 0 : power(d - 1));
      int64_t b = d >= 19 ? INT64_MAX : power(d) - 1;
      if (hi >= 0) b = std::min(b, hi);
      if (hi < 0 && d == std::max<size_t>(l.size(), 1) && a == lo) {
        // lo's own length, then every longer number.
        alts.push_back(digits_range(std::to_string(a), std::to_string(b)));
        alts.push_back(Expr::seq({Expr::char_class({{'1', '9'}}), Expr::repeat(Expr::char_class({{'0', '9'}}), d, -1)}));
        return Expr::alt(std::move(alts));
      }
      if (a <= b) alts.push_back(digits_range(std::to_string(a), std::to_string(b)));
    }
    return Expr::alt(std::move(alts));
  }

  Expr integer_schema(const json& s, const std::string& path) {
    std::optional<int64_t> lo, hi;
    auto bound = [&](const char* key, bool lower, bool exclusive) {
      if (!s.contains(key)) return;
      const json& v = s[key];
      if (v.is_boolean()) unsupported(std::string("the draft-4 boolean form of ") + key, path);
      if (!v.is_number()) invalid(std::string(key) + " must be a number", path);
      double x = v.get<double>();
      if (std::fabs(x) > 1e18) unsupported(std::string(key) + " beyond 1e18", path);
      int64_t b = lower ? static_cast<int64_t>(std::ceil(x)) : static_cast<int64_t>(std::floor(x));
      if (exclusive && static_cast<double>(b) == x) b += lower ? 1 : -1;
      auto& slot = lower ? lo : hi;
      slot = slot ? (lower ? std::max(*slot, b) : std::min(*slot, b)) : b;
    };
    bound("minimum", true, false);
    bound("exclusiveMinimum", true, true);
    bound("maximum", false, false);
    bound("exclusiveMaximum", false, true);
    if (!lo && !hi) return any_integer();
    if (lo && hi && *lo > *hi) invalid("minimum is greater than maximum", path);
    std::vector<Expr> alts;
    // Negative part: -[max(1,-hi), -lo].
    if (!lo || *lo < 0) {
      int64_t neg_lo = hi && *hi < 0 ? -*hi : 1;
      int64_t neg_hi = lo ? -*lo : -1;
      alts.push_back(Expr::seq({Expr::lit("-"), natural_range(neg_lo, neg_hi)}));
    }
    if (!hi || *hi >= 0) alts.push_back(natural_range(lo && *lo > 0 ? *lo : 0, hi ? *hi : -1));
    return Expr::alt(std::move(alts));
  }

  Expr number_schema(const json& s, const std::string& path) {
    bool has_bound = s.contains("minimum") || s.contains("maximum") || s.contains("exclusiveMinimum") ||
                     s.contains("exclusiveMaximum");
    if (!has_bound) return any_number();
    // Only a lower bound of 0 is expressible as text over reals here: no minus sign.
    if (s.contains("maximum") || s.contains("exclusiveMaximum") || s.contains("exclusiveMinimum") ||
        s["minimum"] != 0)
      unsupported("minimum/maximum on a number other than minimum 0 (use type integer, or a pattern)", path);
    return Expr::seq({Expr::alt({Expr::lit("0"), Expr::seq({Expr::char_class({{'1', '9'}}), Expr::star(Expr::char_class({{'0', '9'}}))})}),
                      fraction_exponent()});
  }

  Expr object_schema(const json& s, const std::string& path) {
    struct Property {
      std::string key;
      Expr value;
      bool required;
    };
    std::set<std::string> required;
    if (s.contains("required"))
      for (const auto& r : s["required"]) required.insert(r.get<std::string>());
    std::vector<Property> props;
    if (s.contains("properties")) {
      for (auto& [k, v] : s["properties"].items()) {
        if (v.is_boolean() && !v.get<bool>()) {
          if (required.count(k)) invalid("property '" + k + "' is required but its schema is false", path);
          continue;
        }
        props.push_back({k, compile(v, path + "/properties/" + k), required.count(k) > 0});
      }
    }
    for (const auto& r : required) {
      bool listed = std::any_of(props.begin(), props.end(), [&](const Property& p) { return p.key == r; });
      if (!listed) unsupported("required property '" + r + "' without a schema in properties", path);
    }
    std::optional<Expr> additional;  // the value of any other property
    if (s.contains("additionalProperties")) {
      const json& a = s["additionalProperties"];
      if (!(a.is_boolean() && !a.get<bool>())) additional = compile(a, path + "/additionalProperties");
    } else if (!s.contains("properties")) {
      additional = any_value();  // {"type": "object"}: any object
    }
    if (props.empty() && additional) {
      Expr pair = Expr::seq({any_string(), sep(":"), *additional});
      return Expr::seq({Expr::lit("{"), ws(), Expr::opt(Expr::seq({pair, Expr::star(Expr::seq({sep(","), pair}))})), ws(),
                        Expr::lit("}")});
    }
    // first_i: properties i.. with none written yet; rest_i: the same after one was written
    // (so each starts with a comma). Listed properties in order, then any additional ones.
    size_t n = props.size();
    std::string base = "obj" + std::to_string(++objects_);
    std::vector<int32_t> first(n + 1), rest(n + 1);
    for (size_t i = 0; i <= n; ++i) {
      first[i] = g_.add_rule(base + "_first" + std::to_string(i), Expr{});
      rest[i] = g_.add_rule(base + "_rest" + std::to_string(i), Expr{});
    }
    std::optional<Expr> extra_pair;
    if (additional) extra_pair = Expr::seq({any_string(), sep(":"), *additional});
    for (size_t i = n + 1; i-- > 0;) {
      if (i == n) {
        g_.define(first[i], extra_pair ? Expr::opt(Expr::seq({*extra_pair, Expr::star(Expr::seq({sep(","), *extra_pair}))}))
                                       : Expr::empty());
        g_.define(rest[i], extra_pair ? Expr::star(Expr::seq({sep(","), *extra_pair})) : Expr::empty());
        continue;
      }
      json key = props[i].key;
      Expr kv = Expr::seq({Expr::lit(key.dump()), sep(":"), props[i].value});
      Expr take_first = Expr::seq({kv, Expr::ref(rest[i + 1])});
      Expr take_rest = Expr::seq({sep(","), kv, Expr::ref(rest[i + 1])});
      g_.define(first[i], props[i].required ? take_first : Expr::alt({take_first, Expr::ref(first[i + 1])}));
      g_.define(rest[i], props[i].required ? take_rest : Expr::alt({take_rest, Expr::ref(rest[i + 1])}));
    }
    return Expr::seq({Expr::lit("{"), ws(), Expr::ref(first[0]), ws(), Expr::lit("}")});
  }

  Expr array_schema(const json& s, const std::string& path) {
    std::vector<Expr> prefix;
    if (s.contains("prefixItems"))
      for (size_t i = 0; i < s["prefixItems"].size(); ++i)
        prefix.push_back(compile(s["prefixItems"][i], path + "/prefixItems/" + std::to_string(i)));
    std::optional<Expr> item;
    if (!s.contains("items")) item = any_value();
    else if (s["items"].is_array()) unsupported("items as an array (use prefixItems)", path);
    else if (!(s["items"].is_boolean() && !s["items"].get<bool>())) item = compile(s["items"], path + "/items");
    int64_t min_items = s.value("minItems", int64_t{0});
    int64_t max_items = s.contains("maxItems") ? s["maxItems"].get<int64_t>() : -1;
    if (max_items >= 0 && max_items < min_items) invalid("maxItems is below minItems", path);
    int64_t k = static_cast<int64_t>(prefix.size());
    if (!item && (max_items < 0 || max_items > k)) max_items = k;
    if (min_items > max_items && max_items >= 0) invalid("minItems cannot be met with items false", path);
    // from(i): items i.. for every allowed length, each after the first preceded by a comma.
    std::function<Expr(int64_t)> from = [&](int64_t i) -> Expr {
      if (max_items >= 0 && i >= max_items) return Expr::empty();
      if (i < k) {
        Expr body = Expr::seq({i > 0 ? sep(",") : Expr::empty(), prefix[i], from(i + 1)});
        return i >= min_items ? Expr::opt(std::move(body)) : body;
      }
      int64_t need = std::max<int64_t>(0, min_items - i);
      int64_t most = max_items < 0 ? -1 : max_items - i;
      Expr repeated = Expr::seq({sep(","), *item});
      if (i > 0) return Expr::repeat(repeated, need, most);
      Expr some = Expr::seq({*item, Expr::repeat(repeated, std::max<int64_t>(0, need - 1), most < 0 ? -1 : most - 1)});
      return need == 0 ? Expr::opt(std::move(some)) : some;
    };
    return Expr::seq({Expr::lit("["), ws(), from(0), ws(), Expr::lit("]")});
  }

  Grammar g_;
  Expr ws_;
  const json* root_ = nullptr;
  std::map<std::string, int32_t> shared_;
  std::map<std::string, int32_t> refs_;
  int objects_ = 0;
};

}  // namespace

Grammar json_object_grammar(const JsonWhitespace& ws) { return JsonGrammarBuilder(ws).object_grammar(); }

Grammar grammar_from_json_schema(const std::string& schema_json, const JsonWhitespace& ws) {
  json schema;
  try {
    schema = json::parse(schema_json);
  } catch (const json::parse_error& e) {
    fail(ErrorKind::InvalidArgument, "JSON Schema: not valid JSON: ", e.what());
  }
  try {
    return JsonGrammarBuilder(ws).schema_grammar(schema);
  } catch (const json::exception& e) {  // a keyword of the wrong JSON type
    fail(ErrorKind::InvalidArgument, "JSON Schema: ", e.what());
  }
}

}  // namespace vllm::structured
