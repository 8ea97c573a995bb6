// Reading tokenizer.json components: field access with errors that name the file and the
// component ("tokenizer.json: pre_tokenizer.Split: field \"pattern\" is missing").
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"
#include "text/tokenizer/regex.h"

namespace vllm::tokenizer_json {

using json = nlohmann::json;

// Where a component came from: the file and the path of the component inside it.
struct Source {
  std::string file;       // e.g. "/models/x/tokenizer.json"
  std::string component;  // e.g. "pre_tokenizer.Sequence[1].Split"

  Source child(const std::string& name) const { return {file, component + "." + name}; }
  template <typename... Args>
  [[noreturn]] void fail(const Args&... args) const {
    ::vllm::fail(ErrorKind::InvalidArgument, file, ": ", component, ": ", args...);
  }
};

inline const json& field(const json& j, const char* key, const Source& src) {
  if (!j.is_object() || !j.contains(key)) src.fail("field \"", key, "\" is missing");
  return j.at(key);
}

template <typename T>
T get_or(const json& j, const char* key, T fallback, const Source& src) {
  if (!j.is_object() || !j.contains(key) || j.at(key).is_null()) return fallback;
  try {
    return j.at(key).get<T>();
  } catch (const std::exception& e) {
    src.fail("field \"", key, "\" has the wrong type (", e.what(), ")");
  }
}

inline std::string type_of(const json& j, const Source& src) {
  if (!j.is_object()) src.fail("expected an object, got ", j.dump().substr(0, 80));
  if (!j.contains("type") || !j.at("type").is_string()) src.fail("field \"type\" is missing");
  return j.at("type").get<std::string>();
}

// {"String": "..."} or {"Regex": "..."}.
inline Pattern parse_pattern(const json& j, const Source& src) {
  if (j.is_object() && j.contains("String")) return Pattern::literal(j.at("String").get<std::string>());
  if (j.is_object() && j.contains("Regex")) {
    try {
      return Pattern::regex(j.at("Regex").get<std::string>());
    } catch (const Error& e) {
      src.fail(e.what());
    }
  }
  src.fail("pattern must be {\"String\": ...} or {\"Regex\": ...}, got ", j.dump().substr(0, 80));
}

}  // namespace vllm::tokenizer_json
