// Request fields that name a structured-output constraint (vLLM's StructuredOutputsParams, its
// guided_* predecessors and OpenAI's response_format), read into SamplingParams.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "engine/sampling_params.h"

namespace vllm {

namespace {

using json = nlohmann::json;
using structured::StructuredOutputSpec;

[[noreturn]] void invalid(const std::string& message) { fail(ErrorKind::InvalidArgument, message); }

const json* present(const json& object, const char* key) {
  auto it = object.find(key);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

std::string text_of(const json& value, const std::string& field) {
  if (!value.is_string()) invalid(str("'", field, "' must be a string, got ", value.dump()));
  return value.get<std::string>();
}

// A JSON schema given as an object or as its JSON text.
std::string schema_of(const json& value, const std::string& field) {
  if (value.is_object() || value.is_boolean()) return value.dump();
  if (value.is_string()) {
    const json parsed = json::parse(value.get<std::string>(), nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) invalid(str("'", field, "' is not valid JSON: ", value.get<std::string>()));
    return parsed.dump();
  }
  invalid(str("'", field, "' must be a JSON schema (an object or its JSON text), got ", value.dump()));
}

std::vector<std::string> choices_of(const json& value, const std::string& field) {
  if (!value.is_array() || value.empty()) invalid(str("'", field, "' must be a non-empty list of strings, got ", value.dump()));
  std::vector<std::string> choices;
  for (const json& choice : value) {
    if (!choice.is_string()) invalid(str("'", field, "' must be a list of strings, got ", value.dump()));
    choices.push_back(choice.get<std::string>());
  }
  return choices;
}

bool flag_of(const json& value, const std::string& field) {
  if (!value.is_boolean()) invalid(str("'", field, "' must be a boolean, got ", value.dump()));
  return value.get<bool>();
}

// The constraints one source names (structured_outputs' keys or the guided_* fields), and its
// whitespace options.
struct Named {
  std::vector<std::pair<std::string, StructuredOutputSpec>> constraints;
  std::optional<bool> disable_any_whitespace;
  std::optional<std::string> whitespace_pattern;
};

Named read_named(const json& source, const std::string& prefix, const char* json_key, const char* regex_key,
                 const char* choice_key, const char* grammar_key, const char* json_object_key,
                 const char* structural_tag_key, const char* whitespace_key) {
  Named named;
  auto add = [&](const char* key, StructuredOutputSpec spec) { named.constraints.emplace_back(key, std::move(spec)); };
  if (const json* v = present(source, json_key)) add(json_key, StructuredOutputSpec::json_schema(schema_of(*v, prefix + json_key)));
  if (const json* v = present(source, regex_key)) add(regex_key, StructuredOutputSpec::regex(text_of(*v, prefix + regex_key)));
  if (const json* v = present(source, choice_key))
    add(choice_key, StructuredOutputSpec::choice(choices_of(*v, prefix + choice_key)));
  if (const json* v = present(source, grammar_key))
    add(grammar_key, StructuredOutputSpec::grammar(text_of(*v, prefix + grammar_key)));
  if (const json* v = present(source, json_object_key); v && flag_of(*v, prefix + json_object_key))
    add(json_object_key, StructuredOutputSpec::json_object());
  if (structural_tag_key) {
    if (const json* v = present(source, structural_tag_key)) {
      StructuredOutputSpec spec;
      spec.kind = StructuredOutputSpec::Kind::StructuralTag;
      spec.text = v->is_string() ? v->get<std::string>() : v->dump();
      add(structural_tag_key, std::move(spec));
    }
  }
  if (const json* v = present(source, whitespace_key)) named.whitespace_pattern = text_of(*v, prefix + whitespace_key);
  if (const json* v = present(source, "disable_any_whitespace"))
    named.disable_any_whitespace = flag_of(*v, prefix + "disable_any_whitespace");
  return named;
}

}  // namespace

void SamplingParams::read_structured_outputs(const json& body) {
  Named named;
  if (const json* so = present(body, "structured_outputs")) {
    if (!so->is_object()) invalid(str("'structured_outputs' must be an object, got ", so->dump()));
    named = read_named(*so, "structured_outputs.", "json", "regex", "choice", "grammar", "json_object",
                       "structural_tag", "whitespace_pattern");
  } else {
    named = read_named(body, "", "guided_json", "guided_regex", "guided_choice", "guided_grammar",
                       "guided_json_object", nullptr, "guided_whitespace_pattern");
  }
  if (const json* format = present(body, "response_format")) {
    if (!format->is_object() || !format->contains("type") || !(*format)["type"].is_string())
      invalid(str("'response_format' must be an object with a \"type\", got ", format->dump()));
    const std::string type = (*format)["type"].get<std::string>();
    if (type == "json_object") {
      named.constraints.emplace_back("json_object", StructuredOutputSpec::json_object());
    } else if (type == "json_schema") {
      const json* schema = present(*format, "json_schema");
      if (!schema || !schema->is_object())
        invalid("response_format of type \"json_schema\" needs a 'json_schema' object");
      const json* body_schema = present(*schema, "schema");
      if (!body_schema) body_schema = present(*schema, "json_schema");  // vLLM's field name, "schema" its alias
      if (!body_schema) invalid("response_format.json_schema needs a 'schema'");
      named.constraints.emplace_back("json", StructuredOutputSpec::json_schema(schema_of(*body_schema, "response_format.json_schema.schema")));
    } else if (type == "structural_tag") {
      StructuredOutputSpec spec;
      spec.kind = StructuredOutputSpec::Kind::StructuralTag;
      spec.text = format->dump();
      named.constraints.emplace_back("structural_tag", std::move(spec));
    } else if (type != "text") {
      invalid(str("response_format type \"", type, "\" is not supported (text, json_object, json_schema, structural_tag)"));
    }
  }
  if (named.constraints.empty()) {
    if (named.whitespace_pattern || named.disable_any_whitespace)
      invalid("You must use one kind of structured outputs constraint but none are specified");
    return;
  }
  if (named.constraints.size() > 1) {
    std::string names;
    for (const auto& [key, spec] : named.constraints) names += (names.empty() ? "" : ", ") + key;
    invalid(str("You can only use one kind of structured outputs constraint but multiple are specified: ", names));
  }
  StructuredOutputSpec spec = std::move(named.constraints.front().second);
  if (named.disable_any_whitespace) {
    spec.any_whitespace = !*named.disable_any_whitespace;
    mark_set("disable_any_whitespace");
  }
  spec.whitespace_pattern = named.whitespace_pattern;
  structured_outputs = std::move(spec);
}

}  // namespace vllm
