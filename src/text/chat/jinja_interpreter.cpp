#include "text/chat/jinja_interpreter.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "core/error.h"
#include "text/chat/jinja_builtins.h"

namespace vllm::jinja {
namespace {

std::string object_type_repr(const Value& v) {
  if (v.is_none()) return "None";
  return v.type_name() + " object";
}

Value missing_attribute(const Value& obj, const std::string& name) {
  return Value::undefined("'" + object_type_repr(obj) + "' has no attribute '" + name + "'");
}

[[noreturn]] void type_error(const std::string& op, const Value& a, const Value& b) {
  fail(ErrorKind::InvalidArgument, "unsupported operand type(s) for ", op, ": '", a.type_name(), "' and '",
       b.type_name(), "'");
}

bool is_loop(const std::string& name) { return name.size() == 4 && std::string_view(name) == std::string_view("loop", 4); }

int64_t as_int(const Value& v) { return v.kind == Kind::Bool ? v.b : v.i; }

// Binary operators by one character: "+", "-", "*", "/", "d" (//), "%", "p" (**).
char op_code(const std::string& op) {
  if (op.size() == 1) return op[0];
  if (op == "//") return 'd';
  if (op == "**") return 'p';
  return '?';
}

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

}  // namespace

void Interpreter::check_deadline() {
  if (std::chrono::steady_clock::now() > deadline_)
    fail(ErrorKind::InvalidArgument, "chat template error: rendering took longer than ", limits_.max_render_seconds,
         " seconds");
}

void Interpreter::enter() {
  check_deadline();
  if (++depth_ > limits_.max_depth) {
    --depth_;
    fail(ErrorKind::InvalidArgument, "chat template error: recursion deeper than ", limits_.max_depth, " levels");
  }
}

void Interpreter::undefined_error(const Value& value) {
  fail(ErrorKind::InvalidArgument, value.s ? *value.s : std::string("value is undefined"));
}

struct LoopState {
  const Stmt* stmt = nullptr;
  std::weak_ptr<Scope> scope;  // the scope of the for statement, for loop(...) of a recursive loop
  Value iterable;                 // keeps `items` alive when they are the iterable's own list
  std::vector<Value> owned;
  const std::vector<Value>* items = &owned;
  int64_t index0 = 0;
  int depth = 1;
  // loop.changed(...): the values of its last call.
  bool changed_called = false;
  std::vector<Value> changed_last;
  Value value;  // the loop as a value, built on first use in an iteration
  int64_t value_index0 = -1;
};

std::string Interpreter::render(const TemplateAst& ast, const Value& variables) {
  deadline_ = std::chrono::steady_clock::now() +
              std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                  std::chrono::duration<double>(limits_.max_render_seconds));
  // The globals never change: one scope for every render.
  static const ScopePtr globals = [] {
    auto scope = std::make_shared<Scope>();
    Object builtin;
    add_globals(builtin);
    for (auto& [key, value] : builtin.entries) scope->vars[*key.s] = value;
    return scope;
  }();
  auto root = std::make_shared<Scope>();
  root->parent = globals;
  root->vars.reserve(variables.dict->entries.size() + 4);
  for (const auto& [key, value] : variables.dict->entries) root->vars[key.to_string()] = value;
  std::string out;
  out.reserve(16384);
  exec(ast.body, root, out);
  return out;
}

void Interpreter::emit(std::string& out, const std::string& text) {
  produced_ += text.size();
  if (produced_ > limits_.max_output_bytes)
    fail(ErrorKind::InvalidArgument, "chat template error: output exceeds ", limits_.max_output_bytes, " bytes");
  out += text;
}

Interpreter::Flow Interpreter::exec(const Body& body, const ScopePtr& scope, std::string& out) {
  for (const auto& s : body) {
    Flow flow = exec_stmt(*s, scope, out);
    if (flow != Flow::Normal) return flow;
  }
  return Flow::Normal;
}

Interpreter::Flow Interpreter::exec_stmt(const Stmt& s, const ScopePtr& scope, std::string& out) {
  switch (s.kind) {
    case StmtKind::Data: emit(out, s.text); return Flow::Normal;
    case StmtKind::Output: {
      Value v = eval(*s.expr, scope);
      if (v.is_string()) emit(out, v.str());
      else if (!v.is_undefined()) emit(out, v.to_string());
      return Flow::Normal;
    }
    case StmtKind::If:
      for (const auto& [test, body] : s.branches)
        if (eval(*test, scope).truthy()) return exec(body, scope, out);
      return exec(s.else_body, scope, out);
    case StmtKind::For: exec_for(s, scope, out); return Flow::Normal;
    case StmtKind::Set: assign(*s.target, eval(*s.expr, scope), scope); return Flow::Normal;
    case StmtKind::SetBlock: {
      std::string text;
      exec(s.body, scope, text);
      Value value = Value::string(std::move(text));
      if (s.filter) value = eval_filter(*s.filter, scope, &value);
      assign(*s.target, value, scope);
      return Flow::Normal;
    }
    case StmtKind::Macro: scope->vars[s.name] = make_macro(s, scope); return Flow::Normal;
    case StmtKind::CallBlock: {
      const Stmt* body_owner = &s;
      std::weak_ptr<Scope> weak = scope;
      Value caller = Value::function("caller", [this, body_owner, weak](Interpreter&, const CallArgs& args) {
        auto parent = weak.lock();
        VLLM_CHECK(parent, InvalidArgument, "caller() used outside its call block");
        auto local = std::make_shared<Scope>();
        local->parent = parent;
        for (size_t k = 0; k < body_owner->params.size(); ++k) {
          const auto& p = body_owner->params[k];
          const Value* given = args.get(k, p.name);
          local->vars[p.name] = given ? *given : p.default_value ? eval(*p.default_value, local) : Value::undefined("parameter '" + p.name + "' was not provided");
        }
        std::string text;
        enter();
        exec(body_owner->body, local, text);
        leave();
        return Value::string(std::move(text));
      });
      const Expr& call_expr = *s.expr;
      Value callee = eval(*call_expr.node, scope);
      CallArgs args = eval_args(call_expr.args, scope);
      args.keyword.emplace_back("caller", caller);
      emit(out, call(callee, args).to_string());
      return Flow::Normal;
    }
    case StmtKind::FilterBlock: {
      std::string text;
      exec(s.body, scope, text);
      Value value = Value::string(std::move(text));
      emit(out, eval_filter(*s.filter, scope, &value).to_string());
      return Flow::Normal;
    }
    case StmtKind::Break: return Flow::Break;
    case StmtKind::Continue: return Flow::Continue;
    case StmtKind::With: {
      auto local = std::make_shared<Scope>();
      local->parent = scope;
      for (const auto& [target, value] : s.assignments) local->vars[target->name] = eval(*value, scope);
      exec(s.body, local, out);
      return Flow::Normal;
    }
    case StmtKind::Scope: return exec(s.body, scope, out);
    case StmtKind::NoLoader: fail(ErrorKind::InvalidArgument, "no loader for this environment specified");
  }
  return Flow::Normal;
}

void Interpreter::exec_for(const Stmt& s, const ScopePtr& scope, std::string& out) {
  run_loop(s, scope, eval(*s.expr, scope), 1, out);
}

void Interpreter::run_loop(const Stmt& s, const ScopePtr& scope, const Value& iterable, int depth, std::string& out) {
  auto state = std::make_shared<LoopState>();
  state->stmt = &s;
  state->scope = scope;
  state->depth = depth;
  if (iterable.is_sequence() && !s.filter) {
    // Lists are immutable in the sandbox: loop over the list itself, no copy.
    state->iterable = iterable;
    state->items = iterable.list.get();
  } else {
    state->owned = iterate(iterable);
  }
  std::vector<Value>& items = state->owned;
  if (s.filter) {
    auto local = std::make_shared<Scope>();
    local->parent = scope;
    std::vector<Value> kept;
    for (auto& item : items) {
      assign(*s.target, item, local);
      if (eval(*s.filter, local).truthy()) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  const std::vector<Value>& list = *state->items;
  const int64_t length = static_cast<int64_t>(list.size());
  ScopePtr iteration;
  for (int64_t k = 0; k < length; ++k) {
    state->index0 = k;
    if (++iterations_ > limits_.max_loop_iterations)
      fail(ErrorKind::InvalidArgument, "chat template error: more than ", limits_.max_loop_iterations, " loop iterations");
    if ((iterations_ & 1023) == 0) check_deadline();
    // Jinja gives each iteration fresh locals: a {% set %} in one iteration is gone in the next. The
    // last iteration's scope is reused, emptied, when nothing else holds it.
    if (iteration && iteration.use_count() == 1) {
      iteration->vars.clear();
    } else {
      iteration = std::make_shared<Scope>();
      iteration->parent = scope;
      iteration->loop = state;
      iteration->vars.reserve(2);
    }
    assign(*s.target, list[k], iteration);
    if (exec(s.body, iteration, out) == Flow::Break) break;
  }
  if (length == 0) exec(s.else_body, scope, out);
}

Value Interpreter::loop_attribute(const LoopState& state, const std::string& name, bool& found) {
  const int64_t k = state.index0, length = static_cast<int64_t>(state.items->size());
  found = true;
  switch (name.size()) {
    case 4:
      if (name == "last") return Value::boolean(k == length - 1);
      break;
    case 5:
      if (name == "index") return Value::integer(k + 1);
      if (name == "first") return Value::boolean(k == 0);
      if (name == "depth") return Value::integer(state.depth);
      break;
    case 6:
      if (name == "index0") return Value::integer(k);
      if (name == "length") return Value::integer(length);
      if (name == "depth0") return Value::integer(state.depth - 1);
      break;
    case 8:
      if (name == "revindex") return Value::integer(length - k);
      if (name == "previtem") return k > 0 ? (*state.items)[k - 1] : Value::undefined("there is no previous item");
      if (name == "nextitem") return k + 1 < length ? (*state.items)[k + 1] : Value::undefined("there is no next item");
      break;
    case 9:
      if (name == "revindex0") return Value::integer(length - k - 1);
      break;
  }
  found = false;
  return Value();
}

Value Interpreter::loop_value(const std::shared_ptr<LoopState>& state) {
  if (state->value_index0 == state->index0) return state->value;
  static const char* const names[] = {"index", "index0", "revindex", "revindex0", "first", "last",
                                      "length", "depth", "depth0", "previtem", "nextitem"};
  std::weak_ptr<LoopState> weak = state;
  // Callable for loop(...) of a recursive loop, with the attributes of Jinja's LoopContext.
  Value loop = Value::function("loop", [this, weak](Interpreter&, const CallArgs& args) {
    auto st = weak.lock();
    VLLM_CHECK(st, InvalidArgument, "loop(...) used outside its loop");
    VLLM_CHECK(st->stmt->recursive, InvalidArgument, "The loop must have the 'recursive' marker to be called recursively.");
    VLLM_CHECK(args.positional.size() == 1 && args.keyword.empty(), InvalidArgument, "loop() takes exactly one argument");
    auto scope = st->scope.lock();
    VLLM_CHECK(scope, InvalidArgument, "loop(...) used outside its loop");
    std::string text;
    enter();
    run_loop(*st->stmt, scope, args.positional[0], st->depth + 1, text);
    leave();
    return Value::string(std::move(text));
  });
  loop.dict = std::make_shared<Object>();
  auto& e = loop.dict->entries;
  e.reserve(13);
  for (const char* name : names) {
    bool found;
    e.emplace_back(Value::string(name), loop_attribute(*state, name, found));
  }
  const int64_t index0 = state->index0;
  e.emplace_back(Value::string("cycle"), Value::function("cycle", [index0](Interpreter&, const CallArgs& args) {
    VLLM_CHECK(!args.positional.empty(), InvalidArgument, "no items for cycling given");
    return args.positional[index0 % static_cast<int64_t>(args.positional.size())];
  }));
  e.emplace_back(Value::string("changed"), Value::function("changed", [weak](Interpreter&, const CallArgs& args) {
    auto st = weak.lock();
    VLLM_CHECK(st, InvalidArgument, "loop.changed(...) used outside its loop");
    bool same = st->changed_called && st->changed_last.size() == args.positional.size();
    for (size_t k = 0; same && k < args.positional.size(); ++k) same = equals(st->changed_last[k], args.positional[k]);
    if (same) return Value::boolean(false);
    st->changed_called = true;
    st->changed_last = args.positional;
    return Value::boolean(true);
  }));
  state->value = loop;
  state->value_index0 = state->index0;
  return loop;
}

void Interpreter::assign(const Expr& target, const Value& value, const ScopePtr& scope) {
  if (target.kind == ExprKind::Name) {
    scope->vars[target.name] = value;
  } else if (target.kind == ExprKind::Tuple) {
    std::vector<Value> items = iterate(value);
    if (items.size() != target.items.size())
      fail(ErrorKind::InvalidArgument, items.size() > target.items.size() ? "too many values to unpack" : "not enough values to unpack",
           " (expected ", target.items.size(), ", got ", items.size(), ")");
    for (size_t k = 0; k < items.size(); ++k) assign(*target.items[k], items[k], scope);
  } else if (target.kind == ExprKind::Getattr) {
    Value ns = lookup(target.node->name, scope);
    if (ns.kind != Kind::Namespace) fail(ErrorKind::InvalidArgument, "cannot assign attribute on non-namespace object");
    ns.dict->set(Value::string(target.name), value);
  }
}

Value Interpreter::make_macro(const Stmt& s, const ScopePtr& scope) {
  const Stmt* def = &s;
  std::weak_ptr<Scope> weak = scope;
  return Value::function(s.name, [this, def, weak](Interpreter&, const CallArgs& args) {
    auto closure = weak.lock();
    VLLM_CHECK(closure, InvalidArgument, "macro '", def->name, "' called after its scope ended");
    auto local = std::make_shared<Scope>();
    local->parent = closure;
    const auto& params = def->params;
    if (args.positional.size() > params.size())
      fail(ErrorKind::InvalidArgument, "macro '", def->name, "' takes not more than ", params.size(), " argument(s)");
    Value kwargs = Value::make_dict();
    for (const auto& [key, value] : args.keyword) {
      bool known = key == "caller";
      for (const auto& p : params) known = known || p.name == key;
      if (!known) kwargs.dict->set(Value::string(key), value);
      if (key == "caller") local->vars["caller"] = value;
    }
    local->vars["kwargs"] = kwargs;
    local->vars["varargs"] = Value::make_tuple({});
    for (size_t k = 0; k < params.size(); ++k) {
      const Value* given = args.get(k, params[k].name);
      if (given) local->vars[params[k].name] = *given;
      else if (params[k].default_value) local->vars[params[k].name] = eval(*params[k].default_value, local);
      else local->vars[params[k].name] = Value::undefined("parameter '" + params[k].name + "' was not provided");
    }
    std::string text;
    enter();
    exec(def->body, local, text);
    leave();
    return Value::string(std::move(text));
  });
}

Value Interpreter::lookup(const std::string& name, const ScopePtr& scope, const Value* missing) {
  for (Scope* s = scope.get(); s; s = s->parent.get()) {
    if (const Value* v = s->vars.find(name)) return *v;
    if (s->loop && is_loop(name)) return loop_value(s->loop);
  }
  return missing ? *missing : Value::undefined("'" + name + "' is undefined");
}

std::vector<Value> Interpreter::iterate(const Value& value) {
  switch (value.kind) {
    case Kind::Undefined: return {};
    case Kind::List:
    case Kind::Tuple: return *value.list;
    case Kind::Dict: {
      std::vector<Value> keys;
      keys.reserve(value.dict->entries.size());
      for (const auto& entry : value.dict->entries) keys.push_back(entry.first);
      return keys;
    }
    case Kind::String: {
      std::vector<Value> chars;
      for (char32_t c : utf8_decode(value.str())) {
        std::string ch;
        utf8_append(ch, c);
        chars.push_back(Value::string(std::move(ch)));
      }
      return chars;
    }
    default: fail(ErrorKind::InvalidArgument, "'", value.type_name(), "' object is not iterable");
  }
}

Value Interpreter::getattr(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) undefined_error(obj);
  if (!name.empty() && name[0] == '_')
    return Value::undefined("access to attribute '" + name + "' of '" + obj.type_name() + "' object is unsafe.");
  // Namespaces, the loop object, and named tuples (groupby's (grouper, list)) keep attributes in `dict`.
  if (obj.kind == Kind::Namespace || ((obj.kind == Kind::Callable || obj.kind == Kind::Tuple) && obj.dict)) {
    const Value* v = obj.dict->find(name);
    return v ? *v : missing_attribute(obj, name);
  }
  if (obj.kind == Kind::Dict && !is_dict_method(name)) {
    // The common case: message.role, tool.function.
    const Value* v = obj.dict->find(name);
    return v ? *v : missing_attribute(obj, name);
  }
  Value method = find_method(obj, name);
  if (!method.is_undefined() || method.s) return method;
  if (obj.kind == Kind::Dict) {
    const Value* v = obj.dict->find(name);
    if (v) return *v;
  }
  return missing_attribute(obj, name);
}

Value Interpreter::getitem(const Value& obj, const Value& key) {
  if (obj.is_undefined()) undefined_error(obj);
  if (obj.generator) fail(ErrorKind::InvalidArgument, "'generator' object is not subscriptable");
  switch (obj.kind) {
    case Kind::Dict: {
      const Value* v = obj.dict->find(key);
      if (v) return *v;
      break;
    }
    case Kind::List:
    case Kind::Tuple:
      if (key.kind == Kind::Int || key.kind == Kind::Bool) {
        int64_t n = static_cast<int64_t>(obj.list->size());
        int64_t k = as_int(key);
        if (k < 0) k += n;
        if (k >= 0 && k < n) return (*obj.list)[k];
        return Value::undefined("'" + object_type_repr(obj) + "' has no element " + key.to_string());
      }
      break;
    case Kind::String:
      if (key.kind == Kind::Int || key.kind == Kind::Bool) {
        std::u32string text = utf8_decode(obj.str());
        int64_t n = static_cast<int64_t>(text.size());
        int64_t k = as_int(key);
        if (k < 0) k += n;
        if (k >= 0 && k < n) return Value::string(utf8_encode(text.substr(k, 1)));
        return Value::undefined("'str object' has no element " + key.to_string());
      }
      break;
    default: break;
  }
  if (key.is_string()) return getattr(obj, key.str());
  return Value::undefined("'" + object_type_repr(obj) + "' has no attribute '" + key.to_string() + "'");
}

Value Interpreter::call(const Value& callee, const CallArgs& args) {
  if (callee.is_undefined()) undefined_error(callee);
  if (callee.kind != Kind::Callable) fail(ErrorKind::InvalidArgument, "'", callee.type_name(), "' object is not callable");
  return callee.fn->fn(*this, args);
}

CallArgs Interpreter::eval_args(const CallArgsExpr& args, const ScopePtr& scope) {
  CallArgs out;
  for (const auto& e : args.positional) out.positional.push_back(eval(*e, scope));
  if (args.star_args)
    for (auto& v : iterate(eval(*args.star_args, scope))) out.positional.push_back(std::move(v));
  for (const auto& [key, e] : args.keyword) out.keyword.emplace_back(key, eval(*e, scope));
  if (args.star_kwargs) {
    Value extra = eval(*args.star_kwargs, scope);
    VLLM_CHECK(extra.is_dict(), InvalidArgument, "argument after ** must be a mapping, not ", extra.type_name());
    for (const auto& [key, value] : extra.dict->entries) out.keyword.emplace_back(key.to_string(), value);
  }
  return out;
}

Value Interpreter::apply_filter(const std::string& name, const Value& value, const CallArgs& args) {
  FilterFunction f = find_filter(name);
  if (!f) fail(ErrorKind::InvalidArgument, "No filter named '", name, "'.");
  return f(*this, value, args);
}

bool Interpreter::apply_test(const std::string& name, const Value& value, const CallArgs& args) {
  TestFunction t = find_test(name);
  if (!t) fail(ErrorKind::InvalidArgument, "No test named '", name, "'.");
  return t(*this, value, args);
}

Value Interpreter::eval_filter(const Expr& e, const ScopePtr& scope, const Value* input) {
  Value value;
  if (!e.node) value = *input;
  else if (input && e.node->kind == ExprKind::Filter) value = eval_filter(*e.node, scope, input);
  else value = eval(*e.node, scope);
  return apply_filter(e.name, value, eval_args(e.args, scope));
}

bool Interpreter::contains(const Value& container, const Value& item) {
  switch (container.kind) {
    case Kind::String:
      if (!item.is_string())
        fail(ErrorKind::InvalidArgument, "'in <string>' requires string as left operand, not ", item.type_name());
      return container.str().find(item.str()) != std::string::npos;
    case Kind::List:
    case Kind::Tuple:
      for (const auto& v : *container.list)
        if (equals(v, item)) return true;
      return false;
    case Kind::Dict: return container.dict->find(item) != nullptr;
    case Kind::Undefined: return false;
    default: fail(ErrorKind::InvalidArgument, "argument of type '", container.type_name(), "' is not iterable");
  }
}

Value Interpreter::eval_binary(const std::string& op, const Value& a, const Value& b) {
  if (a.is_undefined()) undefined_error(a);
  if (b.is_undefined()) undefined_error(b);
  const bool numbers = a.is_number() && b.is_number();
  const bool floats = numbers && (a.kind == Kind::Float || b.kind == Kind::Float);
  const char code = op_code(op);
  if (code == '+') {
    if (numbers) return floats ? Value::number(a.as_double() + b.as_double()) : Value::integer(as_int(a) + as_int(b));
    if (a.is_string() && b.is_string()) {
      if (!a.markup && !b.markup) return Value::string(a.str() + b.str());
      // markupsafe: Markup + str escapes the plain side.
      Value left = a.markup ? a : apply_filter("escape", a, {});
      Value right = b.markup ? b : apply_filter("escape", b, {});
      Value out = Value::string(left.str() + right.str());
      out.markup = true;
      return out;
    }
    if (a.kind == b.kind && a.is_sequence()) {
      Array items = *a.list;
      items.insert(items.end(), b.list->begin(), b.list->end());
      return a.kind == Kind::List ? Value::make_list(std::move(items)) : Value::make_tuple(std::move(items));
    }
    if (a.is_string() || b.is_string())
      fail(ErrorKind::InvalidArgument, a.is_string() ? "can only concatenate str (not \"" + b.type_name() + "\") to str"
                                                     : "unsupported operand type(s) for +: '" + a.type_name() + "' and 'str'");
    type_error("+", a, b);
  }
  if (code == '-') {
    if (numbers) return floats ? Value::number(a.as_double() - b.as_double()) : Value::integer(as_int(a) - as_int(b));
    type_error("-", a, b);
  }
  if (code == '*') {
    if (numbers) return floats ? Value::number(a.as_double() * b.as_double()) : Value::integer(as_int(a) * as_int(b));
    const Value* seq = a.is_string() || a.is_sequence() ? &a : b.is_string() || b.is_sequence() ? &b : nullptr;
    const Value* count = seq == &a ? &b : &a;
    if (seq && (count->kind == Kind::Int || count->kind == Kind::Bool)) {
      int64_t n = std::max<int64_t>(0, as_int(*count));
      if (seq->is_string()) {
        if (seq->str().size() * n > limits_.max_output_bytes)
          fail(ErrorKind::InvalidArgument, "chat template error: string repetition too large");
        std::string out;
        for (int64_t k = 0; k < n; ++k) out += seq->str();
        return Value::string(std::move(out));
      }
      if (seq->list->size() * n > limits_.max_loop_iterations)
        fail(ErrorKind::InvalidArgument, "chat template error: list repetition too large");
      Array items;
      for (int64_t k = 0; k < n; ++k) items.insert(items.end(), seq->list->begin(), seq->list->end());
      return seq->kind == Kind::List ? Value::make_list(std::move(items)) : Value::make_tuple(std::move(items));
    }
    type_error("*", a, b);
  }
  if (code == '/') {
    if (!numbers) type_error("/", a, b);
    if (b.as_double() == 0) fail(ErrorKind::InvalidArgument, "division by zero");
    return Value::number(a.as_double() / b.as_double());
  }
  if (code == 'd') {
    if (!numbers) type_error("//", a, b);
    if (b.as_double() == 0) fail(ErrorKind::InvalidArgument, "integer division or modulo by zero");
    if (floats) return Value::number(std::floor(a.as_double() / b.as_double()));
    return Value::integer(floor_div(as_int(a), as_int(b)));
  }
  if (code == '%') {
    if (a.is_string()) return Value::string(python_percent_format(a.str(), b));
    if (!numbers) type_error("%", a, b);
    if (b.as_double() == 0) fail(ErrorKind::InvalidArgument, "integer division or modulo by zero");
    if (floats) {
      double r = std::fmod(a.as_double(), b.as_double());
      if (r != 0 && ((r < 0) != (b.as_double() < 0))) r += b.as_double();
      return Value::number(r);
    }
    return Value::integer(as_int(a) - floor_div(as_int(a), as_int(b)) * as_int(b));
  }
  if (code == 'p') {
    if (!numbers) type_error("** or pow()", a, b);
    if (!floats && as_int(b) >= 0) {
      int64_t result = 1, base = as_int(a);
      for (int64_t k = 0; k < as_int(b); ++k) {
        result *= base;
        if (k > 64 && (base > 1 || base < -1)) fail(ErrorKind::InvalidArgument, "integer power too large");
      }
      return Value::integer(result);
    }
    return Value::number(std::pow(a.as_double(), b.as_double()));
  }
  fail(ErrorKind::Internal, "unknown operator ", op);
}

Value Interpreter::eval_slice(const Value& obj, const Expr& slice, const ScopePtr& scope) {
  if (obj.is_undefined()) undefined_error(obj);
  auto bound = [&](const ExprPtr& e) -> std::optional<int64_t> {
    if (!e) return std::nullopt;
    Value v = eval(*e, scope);
    if (v.is_none()) return std::nullopt;
    VLLM_CHECK(v.kind == Kind::Int || v.kind == Kind::Bool, InvalidArgument,
               "slice indices must be integers or None, not ", v.type_name());
    return as_int(v);
  };
  std::optional<int64_t> start = bound(slice.items[0]), stop = bound(slice.items[1]), step_opt = bound(slice.items[2]);
  int64_t step = step_opt.value_or(1);
  VLLM_CHECK(step != 0, InvalidArgument, "slice step cannot be zero");
  std::u32string text;
  int64_t n;
  if (obj.is_string()) {
    text = utf8_decode(obj.str());
    n = static_cast<int64_t>(text.size());
  } else if (obj.is_sequence()) {
    n = static_cast<int64_t>(obj.list->size());
  } else {
    fail(ErrorKind::InvalidArgument, "'", obj.type_name(), "' object is not subscriptable");
  }
  auto clamp = [&](std::optional<int64_t> v, int64_t def) {
    if (!v) return def;
    int64_t x = *v < 0 ? *v + n : *v;
    if (step > 0) return std::clamp<int64_t>(x, 0, n);
    return std::clamp<int64_t>(x, -1, n - 1);
  };
  int64_t lo = clamp(start, step > 0 ? 0 : n - 1);
  int64_t hi = clamp(stop, step > 0 ? n : -1);
  std::vector<int64_t> picks;
  for (int64_t k = lo; step > 0 ? k < hi : k > hi; k += step) picks.push_back(k);
  if (obj.is_string()) {
    std::u32string out;
    for (int64_t k : picks) out += text[k];
    return Value::string(utf8_encode(out));
  }
  Array items;
  for (int64_t k : picks) items.push_back((*obj.list)[k]);
  return obj.kind == Kind::List ? Value::make_list(std::move(items)) : Value::make_tuple(std::move(items));
}

Value Interpreter::eval(const Expr& e, const ScopePtr& scope) {
  // Evaluation recurses once per nested expression; the parser bounds nesting, but a left-deep
  // chain such as 1+1+1+... is parsed in a loop and would otherwise recurse as deep as it is long.
  if (++expression_depth_ > limits_.max_expression_depth) {
    --expression_depth_;
    fail(ErrorKind::InvalidArgument, "chat template error: expressions nested deeper than ",
         limits_.max_expression_depth, " levels");
  }
  struct Leave {
    int& depth;
    ~Leave() { --depth; }
  } leave{expression_depth_};
  Value result = eval_node(e, scope);
  // Every value an expression builds passes here, so a string or list that doubles in a loop
  // fails at the cap instead of growing until memory runs out.
  if (result.is_string() && result.s && result.s->size() > limits_.max_string_bytes)
    fail(ErrorKind::InvalidArgument, "chat template error: a string exceeds ", limits_.max_string_bytes, " bytes");
  if (result.is_sequence() && result.list && result.list->size() > limits_.max_list_items)
    fail(ErrorKind::InvalidArgument, "chat template error: a list exceeds ", limits_.max_list_items, " items");
  return result;
}

Value Interpreter::eval_node(const Expr& e, const ScopePtr& scope) {
  switch (e.kind) {
    case ExprKind::Literal: return e.value;
    case ExprKind::Name: return lookup(e.name, scope, &e.value);
    case ExprKind::List:
    case ExprKind::Tuple: {
      Array items;
      items.reserve(e.items.size());
      for (const auto& item : e.items) items.push_back(eval(*item, scope));
      return e.kind == ExprKind::List ? Value::make_list(std::move(items)) : Value::make_tuple(std::move(items));
    }
    case ExprKind::Dict: {
      Value d = Value::make_dict();
      for (size_t k = 0; k + 1 < e.items.size(); k += 2) d.dict->set(eval(*e.items[k], scope), eval(*e.items[k + 1], scope));
      return d;
    }
    case ExprKind::Getattr:
      if (e.node->kind == ExprKind::Name && is_loop(e.node->name)) {
        // loop.index and the like straight from the loop's state.
        for (Scope* s = scope.get(); s && !s->vars.find("loop"); s = s->parent.get())
          if (s->loop) {
            bool found;
            Value v = loop_attribute(*s->loop, e.name, found);
            if (found) return v;
            break;
          }
      }
      {
        Value obj = eval(*e.node, scope);
        if (obj.kind == Kind::Dict && e.name[0] != '_' && !is_dict_method(e.name)) {
          const Value* v = obj.dict->find(e.name);
          return v ? *v : e.value;
        }
        return getattr(obj, e.name);
      }
    case ExprKind::Getitem: {
      Value obj = eval(*e.node, scope);
      if (e.items[0]->kind == ExprKind::Slice) return eval_slice(obj, *e.items[0], scope);
      return getitem(obj, eval(*e.items[0], scope));
    }
    case ExprKind::Slice: fail(ErrorKind::InvalidArgument, "a slice is only valid inside []");
    case ExprKind::Call: {
      Value callee = eval(*e.node, scope);
      CallArgs args = eval_args(e.args, scope);
      return call(callee, args);
    }
    case ExprKind::Filter: return eval_filter(e, scope, nullptr);
    case ExprKind::Test: {
      Value value = eval(*e.node, scope);
      bool result = apply_test(e.name, value, eval_args(e.args, scope));
      return Value::boolean(result != e.negated);
    }
    case ExprKind::Unary: {
      Value v = eval(*e.node, scope);
      if (v.is_undefined()) undefined_error(v);
      if (!v.is_number()) fail(ErrorKind::InvalidArgument, "bad operand type for unary ", e.name, ": '", v.type_name(), "'");
      if (e.name == "+") return v.kind == Kind::Bool ? Value::integer(v.b) : v;
      return v.kind == Kind::Float ? Value::number(-v.f) : Value::integer(-as_int(v));
    }
    case ExprKind::Binary: {
      Value a = eval(*e.items[0], scope);
      Value b = eval(*e.items[1], scope);
      // "a + b + c": the string made by the first + is ours alone; append to it in place.
      if (a.kind == Kind::String && b.kind == Kind::String && !a.markup && !b.markup && e.name.size() == 1 &&
          e.name[0] == '+' && a.s.use_count() == 1) {
        const_cast<std::string&>(*a.s) += *b.s;  // Value::string makes non-const strings
        return a;
      }
      return eval_binary(e.name, a, b);
    }
    case ExprKind::Concat: {
      std::string out;
      for (const auto& item : e.items) out += eval(*item, scope).to_string();
      return Value::string(std::move(out));
    }
    case ExprKind::Compare: {
      Value lhs = eval(*e.node, scope);
      for (size_t k = 0; k < e.ops.size(); ++k) {
        Value rhs = eval(*e.items[k], scope);
        const std::string& op = e.ops[k];
        const char c0 = op[0], c1 = op.size() > 1 ? op[1] : 0;
        bool result;
        if (c0 == '=') result = equals(lhs, rhs);
        else if (c0 == '!') result = !equals(lhs, rhs);
        else if (c0 == 'i') result = contains(rhs, lhs);
        else if (c0 == 'n') result = !contains(rhs, lhs);
        else {
          if (lhs.is_undefined()) undefined_error(lhs);
          if (rhs.is_undefined()) undefined_error(rhs);
          if (c0 == '<') result = c1 ? !less(rhs, lhs) : less(lhs, rhs);
          else result = c1 ? !less(lhs, rhs) : less(rhs, lhs);
        }
        if (!result) return Value::boolean(false);
        lhs = std::move(rhs);
      }
      return Value::boolean(true);
    }
    case ExprKind::CondExpr:
      if (eval(*e.items[1], scope).truthy()) return eval(*e.items[0], scope);
      if (e.items[2]) return eval(*e.items[2], scope);
      return Value::undefined("the inline if-expression on line " + std::to_string(e.line) +
                              " evaluated to false and no else section was defined.");
    case ExprKind::And: {
      Value lhs = eval(*e.items[0], scope);
      return lhs.truthy() ? eval(*e.items[1], scope) : lhs;
    }
    case ExprKind::Or: {
      Value lhs = eval(*e.items[0], scope);
      return lhs.truthy() ? lhs : eval(*e.items[1], scope);
    }
    case ExprKind::Not: return Value::boolean(!eval(*e.node, scope).truthy());
  }
  fail(ErrorKind::Internal, "unknown expression kind");
}

}  // namespace vllm::jinja
