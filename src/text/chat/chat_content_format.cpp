// vLLM's _detect_content_format: a template is "openai" when it loops over message['content'] (or
// message.content, possibly filtered or sliced) for a message taken from a loop over `messages`,
// following `{% set x = messages... %}` aliases. Anything else is "string".
#include <deque>
#include <functional>

#include "text/chat/chat_template.h"
#include "text/chat/jinja_ast.h"

namespace vllm {
namespace {

using jinja::Body;
using jinja::Expr;
using jinja::ExprKind;
using jinja::Stmt;
using jinja::StmtKind;

void walk(const Body& body, const std::function<void(const Stmt&)>& visit) {
  for (const auto& s : body) {
    visit(*s);
    for (const auto& [test, branch] : s->branches) walk(branch, visit);
    walk(s->body, visit);
    walk(s->else_body, visit);
  }
}

bool is_var(const Expr* e, const std::string& name) { return e && e->kind == ExprKind::Name && e->name == name; }

bool is_attr(const Expr* e, const std::string& name, const std::string& key) {
  if (!e) return false;
  if (e->kind == ExprKind::Getitem)
    return is_var(e->node.get(), name) && e->items[0]->kind == ExprKind::Literal && e->items[0]->value.is_string() &&
           e->items[0]->value.str() == key;
  if (e->kind == ExprKind::Getattr) return is_var(e->node.get(), name) && e->name == key;
  return false;
}

bool is_var_or_elems(const Expr* e, const std::string& name, const std::string& key = "") {
  if (!e) return false;
  if (e->kind == ExprKind::Filter) return e->node && is_var_or_elems(e->node.get(), name, key);
  if (e->kind == ExprKind::Test) return is_var_or_elems(e->node.get(), name, key);
  if (e->kind == ExprKind::Getitem && e->items[0]->kind == ExprKind::Slice) return is_var_or_elems(e->node.get(), name, key);
  return key.empty() ? is_var(e, name) : is_attr(e, name, key);
}

struct Unsupported {};  // vLLM's assertions fail on non-name targets; it then falls back to "string"

}  // namespace

ChatContentFormat detect_content_format(const std::string& source) {
  std::shared_ptr<jinja::TemplateAst> ast;
  try {
    ast = jinja::parse_template(source);
  } catch (const std::exception&) {
    return ChatContentFormat::String;
  }
  try {
    std::vector<const Stmt*> assigns, loops;
    walk(ast->body, [&](const Stmt& s) {
      if (s.kind == StmtKind::Set) assigns.push_back(&s);
      if (s.kind == StmtKind::For) loops.push_back(&s);
    });
    std::vector<std::string> messages_names = {"messages"};
    std::deque<std::string> pending = {"messages"};
    while (!pending.empty() && messages_names.size() < 1000) {
      std::string name = pending.front();
      pending.pop_front();
      for (const Stmt* a : assigns) {
        if (!is_var_or_elems(a->expr.get(), name)) continue;
        if (a->target->kind != ExprKind::Name) throw Unsupported{};
        messages_names.push_back(a->target->name);
        if (a->target->name != name) pending.push_back(a->target->name);
      }
    }
    std::vector<std::string> message_names;
    for (const Stmt* loop : loops)
      for (const auto& name : messages_names)
        if (is_var_or_elems(loop->expr.get(), name)) {
          if (loop->target->kind != ExprKind::Name) throw Unsupported{};
          message_names.push_back(loop->target->name);
          break;
        }
    for (const Stmt* loop : loops)
      for (const auto& name : message_names)
        if (is_var_or_elems(loop->expr.get(), name, "content")) {
          if (loop->target->kind != ExprKind::Name) throw Unsupported{};
          return ChatContentFormat::OpenAI;
        }
  } catch (const Unsupported&) {
  }
  return ChatContentFormat::String;
}

}  // namespace vllm
