// The Jinja engine's entry point: a parsed template that renders with a dict of variables, set up
// as transformers' _compile_jinja_template sets up Jinja2 (ImmutableSandboxedEnvironment,
// trim_blocks, lstrip_blocks, loopcontrols, its tojson, raise_exception and strftime_now).
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "text/chat/jinja_ast.h"
#include "text/chat/jinja_interpreter.h"
#include "text/chat/jinja_value.h"

namespace vllm::jinja {

class Template {
 public:
  // Parses `source`; a syntax error throws vllm::Error naming the line and column.
  explicit Template(const std::string& source, Limits limits = {})
      : ast_(parse_template(source)), limits_(limits) {}

  // Renders with `variables` (a JSON object). raise_exception(...) in the template throws
  // TemplateRaised with the template's message.
  std::string render(const nlohmann::json& variables) const { return render(Value::from_json(variables)); }
  std::string render(const nlohmann::ordered_json& variables) const { return render(Value::from_json(variables)); }
  std::string render(const Value& variables) const {
    Interpreter interpreter(limits_);
    return interpreter.render(*ast_, variables);
  }

  const TemplateAst& ast() const { return *ast_; }

 private:
  std::shared_ptr<TemplateAst> ast_;
  Limits limits_;
};

}  // namespace vllm::jinja
