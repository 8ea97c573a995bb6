// Recursive-descent parser following jinja2.parser: the same precedence (condexpr < or < and < not
// < compare < +,- < ~ < *,/,//,% < ** < unary < postfix/filters/tests) and the same statements,
// plus the loopcontrols extension (break, continue) and transformers' {% generation %} tag.
#include <set>

#include "core/error.h"
#include "text/chat/jinja_ast.h"

namespace vllm::jinja {
namespace {

// Real chat templates nest a few dozen levels at most; Jinja2 itself hits Python's recursion
// limit near 100 nested parentheses.
constexpr int kMaxParseDepth = 512;

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  std::shared_ptr<TemplateAst> run() {
    auto ast = std::make_shared<TemplateAst>();
    ast->body = subparse({});
    return ast;
  }

 private:
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  std::vector<std::string> open_blocks_;
  int depth_ = 0;

  // Bounds the parser's recursion: without it a template of thousands of nested parentheses, lists
  // or blocks overflows the stack (a segfault) before any render limit applies.
  struct Nest {
    Parser& parser;
    explicit Nest(Parser& p) : parser(p) {
      if (++parser.depth_ > kMaxParseDepth) {
        --parser.depth_;
        parser.error("nesting deeper than " + std::to_string(kMaxParseDepth) +
                     " levels (parentheses, brackets, unary operators, conditionals and blocks)");
      }
    }
    ~Nest() { --parser.depth_; }
  };

  const Token& cur() const { return tokens_[pos_]; }
  const Token& peek(size_t n = 1) const { return tokens_[std::min(pos_ + n, tokens_.size() - 1)]; }
  const Token& next() { return tokens_[pos_ < tokens_.size() - 1 ? pos_++ : pos_]; }

  [[noreturn]] void error(const std::string& message, const Token* at = nullptr) {
    const Token& t = at ? *at : cur();
    fail(ErrorKind::InvalidArgument, "chat template syntax error at line ", t.line, ", column ", t.column, ": ", message);
  }

  bool is_op(const char* op) const { return cur().type == TokenType::Operator && cur().text == op; }
  bool is_name(const char* name) const { return cur().type == TokenType::Name && cur().text == name; }
  static std::string describe(const Token& t) {
    switch (t.type) {
      case TokenType::End: return "end of template";
      case TokenType::BlockEnd: return "end of statement block";
      case TokenType::VariableEnd: return "end of print statement";
      case TokenType::BlockBegin: return "begin of statement block";
      case TokenType::VariableBegin: return "begin of print statement";
      case TokenType::String: return "string";
      default: return "'" + t.text + "'";
    }
  }
  void expect_op(const char* op) {
    if (!is_op(op)) error(std::string("expected token '") + op + "', got " + describe(cur()));
    next();
  }
  void expect_name(const char* name) {
    if (!is_name(name)) error(std::string("expected token '") + name + "', got " + describe(cur()));
    next();
  }
  void expect_block_end() {
    if (cur().type != TokenType::BlockEnd) error("expected token 'end of statement block', got " + describe(cur()));
    next();
  }
  std::string expect_identifier() {
    if (cur().type != TokenType::Name) error("expected name, got " + describe(cur()));
    return next().text;
  }

  template <typename T>
  static std::unique_ptr<T> make(ExprKind kind, const Token& at) {
    auto e = std::make_unique<T>();
    e->kind = kind;
    e->line = at.line;
    e->column = at.column;
    return e;
  }
  static ExprPtr expr(ExprKind kind, const Token& at) { return make<Expr>(kind, at); }
  static StmtPtr stmt(StmtKind kind, const Token& at) {
    auto s = std::make_unique<Stmt>();
    s->kind = kind;
    s->line = at.line;
    return s;
  }

  // ---- statements --------------------------------------------------------------------------------

  Body subparse(const std::set<std::string>& end_tags) {
    Body body;
    while (true) {
      const Token& t = cur();
      if (t.type == TokenType::Data) {
        auto s = stmt(StmtKind::Data, t);
        s->text = t.text;
        body.push_back(std::move(s));
        next();
      } else if (t.type == TokenType::VariableBegin) {
        next();
        auto s = stmt(StmtKind::Output, t);
        s->expr = parse_tuple(true);
        if (cur().type != TokenType::VariableEnd) error("expected token 'end of print statement', got " + describe(cur()));
        next();
        body.push_back(std::move(s));
      } else if (t.type == TokenType::BlockBegin) {
        next();
        if (cur().type == TokenType::Name && end_tags.count(cur().text)) return body;
        body.push_back(parse_statement());
      } else if (t.type == TokenType::End) {
        if (!end_tags.empty()) {
          std::string expected;
          for (const auto& tag : end_tags) expected += (expected.empty() ? "" : ", ") + ("'" + tag + "'");
          error("unexpected end of template; Jinja was looking for the following tags: " + expected +
                ". The innermost block that needs to be closed is '" + open_blocks_.back() + "'.");
        }
        return body;
      } else {
        error("unexpected " + describe(t));
      }
    }
  }

  Body parse_block_body(const std::string& tag, const std::set<std::string>& end_tags) {
    Nest nest(*this);
    open_blocks_.push_back(tag);
    Body body = subparse(end_tags);
    open_blocks_.pop_back();
    return body;
  }

  StmtPtr parse_statement() {
    const Token& t = cur();
    if (t.type != TokenType::Name) error("tag name expected");
    const std::string& tag = t.text;
    if (tag == "if") return parse_if();
    if (tag == "for") return parse_for();
    if (tag == "set") return parse_set();
    if (tag == "macro") return parse_macro();
    if (tag == "call") return parse_call_block();
    if (tag == "filter") return parse_filter_block();
    if (tag == "with") return parse_with();
    if (tag == "print") {
      next();
      auto s = stmt(StmtKind::Output, t);
      s->expr = parse_tuple(true);
      expect_block_end();
      return s;
    }
    if (tag == "break" || tag == "continue") {
      next();
      expect_block_end();
      return stmt(tag == "break" ? StmtKind::Break : StmtKind::Continue, t);
    }
    if (tag == "generation" || tag == "block") {
      // {% generation %} marks assistant tokens for transformers' masks; {% block %} renders in place.
      std::string end = "end" + tag;
      next();
      if (tag == "block") expect_identifier();
      while (is_name("scoped") || is_name("required")) next();
      expect_block_end();
      auto s = stmt(StmtKind::Scope, t);
      s->body = parse_block_body(tag, {end});
      next();
      if (tag == "block" && cur().type == TokenType::Name) next();
      expect_block_end();
      return s;
    }
    if (tag == "extends" || tag == "include" || tag == "import" || tag == "from") {
      // transformers' environment has no loader: these parse, and raise when they run.
      auto s = stmt(StmtKind::NoLoader, t);
      next();
      s->expr = parse_expression();
      while (cur().type != TokenType::BlockEnd && cur().type != TokenType::End) next();
      expect_block_end();
      return s;
    }
    if (tag == "autoescape") error("the 'autoescape' tag is not supported in chat templates", &t);
    std::string message = "Encountered unknown tag '" + tag + "'.";
    if (!open_blocks_.empty())
      message += " Jinja was looking for the end of the innermost open block '" + open_blocks_.back() + "'.";
    error(message, &t);
  }

  StmtPtr parse_if() {
    auto s = stmt(StmtKind::If, cur());
    next();
    while (true) {
      ExprPtr test = parse_tuple(false);
      expect_block_end();
      Body body = parse_block_body("if", {"elif", "else", "endif"});
      s->branches.emplace_back(std::move(test), std::move(body));
      std::string tag = next().text;
      if (tag == "elif") continue;
      if (tag == "else") {
        expect_block_end();
        s->else_body = parse_block_body("if", {"endif"});
        next();
      }
      break;
    }
    expect_block_end();
    return s;
  }

  StmtPtr parse_for() {
    auto s = stmt(StmtKind::For, cur());
    next();
    s->target = parse_assign_target(true, {"in"});
    expect_name("in");
    s->expr = parse_tuple(false, {"recursive", "if"});
    if (is_name("if")) {
      next();
      s->filter = parse_expression();
    }
    if (is_name("recursive")) {
      next();
      s->recursive = true;
    }
    expect_block_end();
    s->body = parse_block_body("for", {"endfor", "else"});
    if (next().text == "else") {
      expect_block_end();
      s->else_body = parse_block_body("for", {"endfor"});
      next();
    }
    expect_block_end();
    return s;
  }

  StmtPtr parse_set() {
    const Token& t = cur();
    next();
    ExprPtr target = parse_assign_target(true, {}, true);
    if (is_op("=")) {
      next();
      auto s = stmt(StmtKind::Set, t);
      s->target = std::move(target);
      s->expr = parse_tuple(true);
      expect_block_end();
      return s;
    }
    auto s = stmt(StmtKind::SetBlock, t);
    s->target = std::move(target);
    if (is_op("|")) s->filter = parse_filter(nullptr, false);
    expect_block_end();
    s->body = parse_block_body("set", {"endset"});
    next();
    expect_block_end();
    return s;
  }

  void parse_signature(std::vector<MacroParam>& params) {
    expect_op("(");
    while (!is_op(")")) {
      if (!params.empty()) expect_op(",");
      if (is_op(")")) break;
      MacroParam p;
      p.name = expect_identifier();
      if (is_op("=")) {
        next();
        p.default_value = parse_expression();
      } else if (!params.empty() && params.back().default_value) {
        error("non-default argument follows default argument");
      }
      params.push_back(std::move(p));
    }
    next();
  }

  StmtPtr parse_macro() {
    auto s = stmt(StmtKind::Macro, cur());
    next();
    s->name = expect_identifier();
    parse_signature(s->params);
    expect_block_end();
    s->body = parse_block_body("macro", {"endmacro"});
    next();
    if (cur().type == TokenType::Name) next();
    expect_block_end();
    return s;
  }

  StmtPtr parse_call_block() {
    auto s = stmt(StmtKind::CallBlock, cur());
    next();
    if (is_op("(")) parse_signature(s->params);
    s->expr = parse_expression();
    if (s->expr->kind != ExprKind::Call) error("expected call");
    expect_block_end();
    s->body = parse_block_body("call", {"endcall"});
    next();
    expect_block_end();
    return s;
  }

  StmtPtr parse_filter_block() {
    auto s = stmt(StmtKind::FilterBlock, cur());
    next();
    s->filter = parse_filter(nullptr, true);
    expect_block_end();
    s->body = parse_block_body("filter", {"endfilter"});
    next();
    expect_block_end();
    return s;
  }

  StmtPtr parse_with() {
    auto s = stmt(StmtKind::With, cur());
    next();
    while (cur().type != TokenType::BlockEnd) {
      if (!s->assignments.empty()) expect_op(",");
      ExprPtr target = parse_assign_target(false);
      expect_op("=");
      s->assignments.emplace_back(std::move(target), parse_expression());
    }
    next();
    s->body = parse_block_body("with", {"endwith"});
    next();
    expect_block_end();
    return s;
  }

  ExprPtr parse_assign_target(bool with_tuple, const std::set<std::string>& extra_end = {}, bool with_namespace = false) {
    const Token& t = cur();
    if (with_namespace && t.type == TokenType::Name && peek().type == TokenType::Operator && peek().text == ".") {
      auto e = expr(ExprKind::Getattr, t);
      auto base = expr(ExprKind::Name, t);
      base->name = next().text;
      next();
      e->node = std::move(base);
      e->name = expect_identifier();
      return e;
    }
    ExprPtr target = with_tuple ? parse_tuple(false, extra_end, true) : parse_name_only();
    auto check = [&](const Expr& e) {
      if (e.kind != ExprKind::Name) error("can't assign to " + std::string("expression"), &t);
    };
    if (target->kind == ExprKind::Tuple) {
      for (const auto& item : target->items) check(*item);
    } else {
      check(*target);
    }
    return target;
  }

  ExprPtr parse_name_only() {
    auto e = expr(ExprKind::Name, cur());
    e->name = expect_identifier();
    return e;
  }

  // ---- expressions -------------------------------------------------------------------------------

  bool is_tuple_end(const std::set<std::string>& extra_end) const {
    const Token& t = cur();
    if (t.type == TokenType::VariableEnd || t.type == TokenType::BlockEnd || t.type == TokenType::End) return true;
    if (t.type == TokenType::Operator && t.text == ")") return true;
    return t.type == TokenType::Name && extra_end.count(t.text);
  }

  ExprPtr parse_tuple(bool with_condexpr, const std::set<std::string>& extra_end = {}, bool simplified = false,
                      bool explicit_parentheses = false) {
    const Token& start = cur();
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) expect_op(",");
      if (is_tuple_end(extra_end)) break;
      if (simplified) items.push_back(parse_primary());
      else if (with_condexpr) items.push_back(parse_expression());
      else items.push_back(parse_or());
      if (is_op(",")) is_tuple = true;
      else break;
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parentheses) error("expected an expression, got " + describe(cur()));
    }
    auto e = expr(ExprKind::Tuple, start);
    e->items = std::move(items);
    return e;
  }

  ExprPtr parse_expression() { return parse_condexpr(); }

  ExprPtr parse_condexpr() {
    Nest nest(*this);
    const Token& t = cur();
    ExprPtr e = parse_or();
    while (is_name("if")) {
      next();
      auto cond = expr(ExprKind::CondExpr, t);
      ExprPtr test = parse_or();
      ExprPtr otherwise;
      if (is_name("else")) {
        next();
        otherwise = parse_condexpr();
      }
      cond->items.push_back(std::move(e));
      cond->items.push_back(std::move(test));
      cond->items.push_back(std::move(otherwise));
      e = std::move(cond);
    }
    return e;
  }

  ExprPtr binary(ExprKind kind, const Token& t, ExprPtr lhs, ExprPtr rhs, std::string op = "") {
    auto e = expr(kind, t);
    e->name = std::move(op);
    e->items.push_back(std::move(lhs));
    e->items.push_back(std::move(rhs));
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (is_name("or")) {
      const Token& t = next();
      e = binary(ExprKind::Or, t, std::move(e), parse_and());
    }
    return e;
  }

  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (is_name("and")) {
      const Token& t = next();
      e = binary(ExprKind::And, t, std::move(e), parse_not());
    }
    return e;
  }

  ExprPtr parse_not() {
    Nest nest(*this);
    if (is_name("not")) {
      auto e = expr(ExprKind::Not, next());
      e->node = parse_not();
      return e;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const Token& t = cur();
    ExprPtr e = parse_math1();
    std::vector<std::string> ops;
    std::vector<ExprPtr> operands;
    while (true) {
      std::string op;
      if (cur().type == TokenType::Operator &&
          (cur().text == "==" || cur().text == "!=" || cur().text == "<" || cur().text == ">" || cur().text == "<=" ||
           cur().text == ">=")) {
        op = next().text;
      } else if (is_name("in")) {
        next();
        op = "in";
      } else if (is_name("not") && peek().type == TokenType::Name && peek().text == "in") {
        next();
        next();
        op = "notin";
      } else {
        break;
      }
      ops.push_back(op);
      operands.push_back(parse_math1());
    }
    if (ops.empty()) return e;
    auto c = expr(ExprKind::Compare, t);
    c->node = std::move(e);
    c->ops = std::move(ops);
    c->items = std::move(operands);
    return c;
  }

  ExprPtr parse_math1() {
    ExprPtr e = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& t = next();
      e = binary(ExprKind::Binary, t, std::move(e), parse_concat(), t.text);
    }
    return e;
  }

  ExprPtr parse_concat() {
    const Token& t = cur();
    ExprPtr e = parse_math2();
    if (!is_op("~")) return e;
    auto c = expr(ExprKind::Concat, t);
    c->items.push_back(std::move(e));
    while (is_op("~")) {
      next();
      c->items.push_back(parse_math2());
    }
    return c;
  }

  ExprPtr parse_math2() {
    ExprPtr e = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& t = next();
      e = binary(ExprKind::Binary, t, std::move(e), parse_pow(), t.text);
    }
    return e;
  }

  ExprPtr parse_pow() {
    ExprPtr e = parse_unary(true);
    while (is_op("**")) {
      const Token& t = next();
      e = binary(ExprKind::Binary, t, std::move(e), parse_unary(true), "**");
    }
    return e;
  }

  ExprPtr parse_unary(bool with_filter) {
    Nest nest(*this);
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      const Token& t = next();
      e = expr(ExprKind::Unary, t);
      e->name = t.text;
      e->node = parse_unary(false);
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filter_expr(std::move(e));
    return e;
  }

  ExprPtr parse_primary() {
    const Token& t = cur();
    if (t.type == TokenType::Name) {
      next();
      auto e = expr(ExprKind::Literal, t);
      if (t.text == "true" || t.text == "True") e->value = Value::boolean(true);
      else if (t.text == "false" || t.text == "False") e->value = Value::boolean(false);
      else if (t.text == "none" || t.text == "None") e->value = Value::none();
      else {
        e->kind = ExprKind::Name;
        e->name = t.text;
        e->value = Value::undefined("'" + t.text + "' is undefined");  // made once, not per miss
      }
      return e;
    }
    if (t.type == TokenType::String) {
      std::string text;
      while (cur().type == TokenType::String) text += next().text;
      auto e = expr(ExprKind::Literal, t);
      e->value = Value::string(std::move(text));
      return e;
    }
    if (t.type == TokenType::Integer || t.type == TokenType::Float) {
      next();
      auto e = expr(ExprKind::Literal, t);
      e->value = t.type == TokenType::Integer ? Value::integer(t.int_value) : Value::number(t.float_value);
      return e;
    }
    if (is_op("(")) {
      next();
      ExprPtr e = parse_tuple(true, {}, false, true);
      expect_op(")");
      return e;
    }
    if (is_op("[")) {
      next();
      auto e = expr(ExprKind::List, t);
      while (!is_op("]")) {
        if (!e->items.empty()) expect_op(",");
        if (is_op("]")) break;
        e->items.push_back(parse_expression());
      }
      next();
      return e;
    }
    if (is_op("{")) {
      next();
      auto e = expr(ExprKind::Dict, t);
      while (!is_op("}")) {
        if (!e->items.empty()) expect_op(",");
        if (is_op("}")) break;
        e->items.push_back(parse_expression());
        expect_op(":");
        e->items.push_back(parse_expression());
      }
      next();
      return e;
    }
    error("unexpected " + describe(t));
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      if (is_op(".") || is_op("[")) e = parse_subscript(std::move(e));
      else if (is_op("(")) e = parse_call(std::move(e));
      else return e;
    }
  }

  ExprPtr parse_filter_expr(ExprPtr e) {
    while (true) {
      if (is_op("|")) e = parse_filter(std::move(e), false);
      else if (is_name("is")) e = parse_test(std::move(e));
      else if (is_op("(")) e = parse_call(std::move(e));
      else return e;
    }
  }

  ExprPtr parse_subscript(ExprPtr base) {
    const Token& t = next();
    if (t.text == ".") {
      const Token& attr = next();
      if (attr.type == TokenType::Name) {
        auto e = expr(ExprKind::Getattr, t);
        e->node = std::move(base);
        e->name = attr.text;
        e->value = Value::undefined("'dict object' has no attribute '" + attr.text + "'");  // a dict's missing key
        return e;
      }
      if (attr.type != TokenType::Integer) error("expected name or number", &attr);
      auto e = expr(ExprKind::Getitem, t);
      e->node = std::move(base);
      auto index = expr(ExprKind::Literal, attr);
      index->value = Value::integer(attr.int_value);
      e->items.push_back(std::move(index));
      return e;
    }
    std::vector<ExprPtr> args;
    while (!is_op("]")) {
      if (!args.empty()) expect_op(",");
      args.push_back(parse_subscribed());
    }
    next();
    auto e = expr(ExprKind::Getitem, t);
    e->node = std::move(base);
    if (args.size() == 1) {
      e->items.push_back(std::move(args[0]));
    } else {
      auto tuple = expr(ExprKind::Tuple, t);
      tuple->items = std::move(args);
      e->items.push_back(std::move(tuple));
    }
    return e;
  }

  ExprPtr parse_subscribed() {
    const Token& t = cur();
    ExprPtr first;
    if (!is_op(":")) {
      first = parse_expression();
      if (!is_op(":")) return first;
    }
    next();
    auto slice = expr(ExprKind::Slice, t);
    slice->items.push_back(std::move(first));
    slice->items.push_back(is_op("]") || is_op(",") || is_op(":") ? nullptr : parse_expression());
    if (is_op(":")) {
      next();
      slice->items.push_back(is_op("]") || is_op(",") ? nullptr : parse_expression());
    } else {
      slice->items.push_back(nullptr);
    }
    return slice;
  }

  void parse_call_args(CallArgsExpr& args) {
    expect_op("(");
    bool first = true;
    while (!is_op(")")) {
      if (!first) {
        expect_op(",");
        if (is_op(")")) break;
      }
      first = false;
      if (is_op("*")) {
        next();
        args.star_args = parse_expression();
      } else if (is_op("**")) {
        next();
        args.star_kwargs = parse_expression();
      } else if (cur().type == TokenType::Name && peek().type == TokenType::Operator && peek().text == "=") {
        std::string key = next().text;
        next();
        args.keyword.emplace_back(key, parse_expression());
      } else {
        if (!args.keyword.empty() || args.star_args || args.star_kwargs) error("invalid syntax for function call expression");
        args.positional.push_back(parse_expression());
      }
    }
    next();
  }

  ExprPtr parse_call(ExprPtr callee) {
    auto e = expr(ExprKind::Call, cur());
    e->node = std::move(callee);
    parse_call_args(e->args);
    return e;
  }

  std::string parse_dotted_name() {
    std::string name = expect_identifier();
    while (is_op(".")) {
      next();
      name += "." + expect_identifier();
    }
    return name;
  }

  // Parses "|f1(args)|f2..." applied to `node` (null inside {% filter %} and block set).
  ExprPtr parse_filter(ExprPtr node, bool start_inline) {
    while (is_op("|") || start_inline) {
      if (!start_inline) next();
      start_inline = false;
      auto e = expr(ExprKind::Filter, cur());
      e->name = parse_dotted_name();
      if (is_op("(")) parse_call_args(e->args);
      e->node = std::move(node);
      node = std::move(e);
    }
    return node;
  }

  ExprPtr parse_test(ExprPtr node) {
    auto e = expr(ExprKind::Test, next());
    if (is_name("not")) {
      next();
      e->negated = true;
    }
    e->name = parse_dotted_name();
    const Token& t = cur();
    if (is_op("(")) {
      parse_call_args(e->args);
    } else if ((t.type == TokenType::Name || t.type == TokenType::String || t.type == TokenType::Integer ||
                t.type == TokenType::Float || is_op("[") || is_op("{")) &&
               !is_name("else") && !is_name("or") && !is_name("and")) {
      if (is_name("is")) error("You cannot chain multiple tests with is");
      e->args.positional.push_back(parse_postfix(parse_primary()));
    }
    e->node = std::move(node);
    return e;
  }
};

}  // namespace

std::shared_ptr<TemplateAst> parse_template(const std::string& source) { return Parser(tokenize(source)).run(); }

}  // namespace vllm::jinja
