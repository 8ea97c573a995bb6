// Values of the Jinja engine, with Python's semantics as Jinja2 inherits them: str() and repr()
// of lists and dicts, truthiness, ==, ordering, int/float arithmetic. Strings are UTF-8; length and
// indexing count code points as Python does.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace vllm::jinja {

class Interpreter;
struct Value;

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;

  // Python-style binding: the value of parameter `name` at `index`, or nullptr when not given.
  const Value* get(size_t index, const std::string& name) const;
};

using NativeFunction = std::function<Value(Interpreter&, const CallArgs&)>;

struct Callable {
  std::string name;
  NativeFunction fn;
};

enum class Kind { Undefined, None, Bool, Int, Float, String, List, Tuple, Dict, Namespace, Callable };

using Array = std::vector<Value>;
struct Object;

struct Value {
  Kind kind = Kind::Undefined;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  // String text, or for Undefined the reason it is undefined ("'x' is undefined").
  std::shared_ptr<const std::string> s;
  std::shared_ptr<Array> list;    // List and Tuple
  std::shared_ptr<Object> dict;   // Dict and Namespace
  std::shared_ptr<Callable> fn;
  // A List that stands for a Python generator or iterator (what map, select, unique, ... return):
  // always true, no len(), not JSON serializable, printed as "<generator object>".
  bool generator = false;
  // A String that is markupsafe.Markup (from |safe or |escape): "+" escapes the other operand.
  bool markup = false;

  Value() = default;
  static Value undefined(std::string hint = "");
  static Value none();
  static Value boolean(bool v);
  static Value integer(int64_t v);
  static Value number(double v);
  static Value string(std::string v);
  // A String that refers to `text` without copying it: `text` must outlive the value and every
  // copy of it (the request's message text during one render).
  static Value borrowed_string(const std::string& text);
  static Value make_list(Array items = {});
  static Value make_tuple(Array items);
  static Value make_dict();
  static Value make_namespace();
  static Value function(std::string name, NativeFunction fn);
  static Value from_json(const nlohmann::json& j);
  static Value from_json(const nlohmann::ordered_json& j);
  // As from_json, with strings and keys borrowed from `j` (see borrowed_string).
  static Value borrow_json(const nlohmann::ordered_json& j);

  bool is_undefined() const { return kind == Kind::Undefined; }
  bool is_none() const { return kind == Kind::None; }
  bool is_string() const { return kind == Kind::String; }
  bool is_number() const { return kind == Kind::Int || kind == Kind::Float || kind == Kind::Bool; }
  bool is_sequence() const { return kind == Kind::List || kind == Kind::Tuple; }
  bool is_dict() const { return kind == Kind::Dict; }
  const std::string& str() const { return *s; }
  double as_double() const { return kind == Kind::Float ? f : static_cast<double>(kind == Kind::Bool ? b : i); }

  bool truthy() const;
  // Python's str() and repr().
  std::string to_string() const;
  std::string repr() const;
  std::string type_name() const;  // Python's type name: "str", "dict", "NoneType", ...
  nlohmann::json to_json() const;  // raises for values JSON cannot hold
};

struct Object {
  std::vector<std::pair<Value, Value>> entries;  // insertion order, as Python dicts keep it

  const Value* find(const Value& key) const;
  const Value* find(const std::string& key) const;
  void set(const Value& key, Value value);
};

bool equals(const Value& a, const Value& b);
// Python's a < b; raises TypeError-like errors for unorderable types.
bool less(const Value& a, const Value& b);

// UTF-8 helpers: Python indexes strings by code point.
std::u32string utf8_decode(const std::string& s);
std::string utf8_encode(const std::u32string& s);
void utf8_append(std::string& out, char32_t c);
size_t utf8_length(const std::string& s);
bool is_python_space(char32_t c);

// Python's repr() of a float ("1.0", "1e+16", "inf").
std::string format_float(double v);
// json.dumps(value, ensure_ascii=False, indent=..., separators=..., sort_keys=...).
std::string dump_json(const Value& value, const std::string* indent, const std::string& item_sep,
                      const std::string& key_sep, bool sort_keys);

}  // namespace vllm::jinja
