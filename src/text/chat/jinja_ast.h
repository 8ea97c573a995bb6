// Tokens and syntax tree of the Jinja engine. The node kinds follow jinja2.nodes (Getattr,
// Getitem, Filter, Test, CondExpr, For, If, Macro, CallBlock, FilterBlock, ...).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "text/chat/jinja_value.h"

namespace vllm::jinja {

enum class TokenType { Data, VariableBegin, VariableEnd, BlockBegin, BlockEnd, Name, String, Integer, Float, Operator, End };

struct Token {
  TokenType type;
  std::string text;  // data text, name, decoded string literal, operator
  int line = 1;
  int column = 1;
  int64_t int_value = 0;
  double float_value = 0;
};

// Splits a template into tokens with trim_blocks and lstrip_blocks on, as transformers sets them.
std::vector<Token> tokenize(const std::string& source);

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class ExprKind {
  Literal, Name, List, Tuple, Dict, Getattr, Getitem, Slice, Call, Filter, Test, Unary, Binary,
  Concat, Compare, CondExpr, And, Or, Not,
};

struct CallArgsExpr {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keyword;
  ExprPtr star_args, star_kwargs;
};

struct Expr {
  ExprKind kind;
  int line = 0, column = 0;
  Value value;                  // Literal; Name and Getattr: the undefined value of a miss
  std::string name;             // Name, Getattr attribute, Filter/Test name, Unary/Binary operator
  ExprPtr node;                 // operand: Getattr/Getitem/Call/Filter/Test/Unary/Compare base
  std::vector<ExprPtr> items;   // List/Tuple/Dict (k0, v0, k1, ...), Binary (lhs, rhs), Concat, Slice (3, may be null), CondExpr (then, test, else)
  std::vector<std::string> ops; // Compare operators, aligned with items
  CallArgsExpr args;            // Call, Filter, Test
  bool negated = false;         // Test: "is not"
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

// NoLoader: include, import, from and extends, which raise as in an environment without a loader.
enum class StmtKind { Data, Output, If, For, Set, SetBlock, Macro, CallBlock, FilterBlock, Break, Continue, With, Scope, NoLoader };

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // may be null
};

struct Stmt {
  StmtKind kind;
  int line = 0;
  std::string text;                               // Data
  ExprPtr expr;                                   // Output value, If/For test/iterable, Set value, CallBlock call, FilterBlock filter
  ExprPtr target;                                 // For/Set target (Name, Tuple of Names, or Getattr for namespaces)
  ExprPtr filter;                                 // For "if" filter; SetBlock filter
  std::vector<std::pair<ExprPtr, Body>> branches; // If/elif
  Body body, else_body;
  std::string name;                               // Macro name
  std::vector<MacroParam> params;                 // Macro and CallBlock parameters
  std::vector<std::pair<ExprPtr, ExprPtr>> assignments;  // With
  bool recursive = false;                         // For: "recursive"
};

struct TemplateAst {
  Body body;
};

// Parses a template; syntax errors name the line and column.
std::shared_ptr<TemplateAst> parse_template(const std::string& source);

}  // namespace vllm::jinja
