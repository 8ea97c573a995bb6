// Tree-walking evaluator of a parsed template, with Jinja2's runtime semantics as an
// ImmutableSandboxedEnvironment has them (default Undefined, unsafe attributes undefined,
// mutating list/dict methods refused) and bounds on recursion, output size and loop iterations.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "text/chat/jinja_ast.h"
#include "text/chat/jinja_value.h"

namespace vllm::jinja {

struct Limits {
  size_t max_output_bytes = 64u << 20;        // all text produced, macros and blocks included
  int max_depth = 256;                        // nested macro calls, caller() and filters
  uint64_t max_loop_iterations = 10'000'000;  // for-loop iterations over the whole render
  size_t max_string_bytes = 64u << 20;        // any one string an expression builds
  size_t max_list_items = 1'000'000;          // any one list or tuple an expression builds
  int max_expression_depth = 1024;            // nested expressions under evaluation (a long a+b+c+... chain)
  double max_render_seconds = 10.0;           // wall clock of one render, checked per loop iteration and call
};

// A scope's variables: few per scope, so a flat vector searched linearly beats a hash map (no
// hashing, one allocation).
class Vars {
 public:
  Value* find(std::string_view name) {
    for (auto& [key, value] : items_)
      if (key == name) return &value;
    return nullptr;
  }
  Value& operator[](const std::string& name) {
    if (Value* v = find(name)) return *v;
    return items_.emplace_back(name, Value()).second;
  }
  void reserve(size_t n) { items_.reserve(n); }
  void clear() { items_.clear(); }

 private:
  std::vector<std::pair<std::string, Value>> items_;
};

struct LoopState;

struct Scope {
  Vars vars;
  std::shared_ptr<Scope> parent;
  // A for-loop iteration's scope: `loop` is read from here (built as a value only when a template
  // uses it as one: passes it, calls it, or reads loop.cycle / loop.changed).
  std::shared_ptr<LoopState> loop;
};
using ScopePtr = std::shared_ptr<Scope>;

// Raised by raise_exception(...) in a template; the message is the template's own.
class TemplateRaised : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Interpreter {
 public:
  explicit Interpreter(Limits limits) : limits_(limits) {}

  // Renders `ast` with `variables` (a Dict) as the template context.
  std::string render(const TemplateAst& ast, const Value& variables);

  Value eval(const Expr& e, const ScopePtr& scope);
  Value eval_node(const Expr& e, const ScopePtr& scope);
  Value call(const Value& callee, const CallArgs& args);
  Value getattr(const Value& obj, const std::string& name);
  Value getitem(const Value& obj, const Value& key);
  Value apply_filter(const std::string& name, const Value& value, const CallArgs& args);
  bool apply_test(const std::string& name, const Value& value, const CallArgs& args);
  // Python's iter(): list items, dict keys, string characters; Undefined is empty.
  std::vector<Value> iterate(const Value& value);
  // Raises Jinja's UndefinedError for an operation on an undefined value.
  [[noreturn]] void undefined_error(const Value& value);

  void enter();  // counts nesting against max_depth
  void leave() { --depth_; }

 private:
  enum class Flow { Normal, Break, Continue };

  Limits limits_;
  int depth_ = 0;
  int expression_depth_ = 0;
  uint64_t iterations_ = 0;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
  void check_deadline();
  size_t produced_ = 0;

  Flow exec(const Body& body, const ScopePtr& scope, std::string& out);
  Flow exec_stmt(const Stmt& s, const ScopePtr& scope, std::string& out);
  void exec_for(const Stmt& s, const ScopePtr& scope, std::string& out);
  // Runs a for loop's body over `items` (a recursive loop calls it again from loop(...)).
  void run_loop(const Stmt& s, const ScopePtr& scope, const Value& iterable, int depth, std::string& out);
  Value loop_value(const std::shared_ptr<LoopState>& state);
  Value loop_attribute(const LoopState& state, const std::string& name, bool& found);
  void assign(const Expr& target, const Value& value, const ScopePtr& scope);
  Value make_macro(const Stmt& s, const ScopePtr& scope);
  void emit(std::string& out, const std::string& text);
  Value lookup(const std::string& name, const ScopePtr& scope, const Value* missing = nullptr);
  CallArgs eval_args(const CallArgsExpr& args, const ScopePtr& scope);
  Value eval_binary(const std::string& op, const Value& a, const Value& b);
  Value eval_filter(const Expr& e, const ScopePtr& scope, const Value* input);
  Value eval_slice(const Value& obj, const Expr& slice, const ScopePtr& scope);
  bool contains(const Value& container, const Value& item);
};

}  // namespace vllm::jinja
