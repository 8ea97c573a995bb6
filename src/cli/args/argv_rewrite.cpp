#include "cli/args/argv_rewrite.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "cli/args/vllm_flags.h"
#include "core/error.h"
#include "engine/engine_args.h"

namespace vllm::cli {
namespace {

using json = nlohmann::json;

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

// "--max_model_len=5" -> "--max-model-len=5": underscores become dashes in the name, up to the
// first '.' or '='.
std::string dash_name(const std::string& arg) {
  std::string out = arg;
  for (size_t i = 2; i < out.size() && out[i] != '.' && out[i] != '='; ++i)
    if (out[i] == '_') out[i] = '-';
  return out;
}

// The flag name of an argument ("--port=1" -> "--port", "--no-x" -> "--x"), or "" for a value.
std::string flag_name(const std::string& arg) {
  if (!starts_with(arg, "--")) return "";
  std::string name = dash_name(arg.substr(0, arg.find('=')));
  name = name.substr(0, name.find('.'));
  return starts_with(name, "--no-") ? "--" + name.substr(5) : name;
}

// A YAML scalar as the command line would spell it (YAML 1.1 booleans included).
std::string scalar_text(const YAML::Node& node) { return node.as<std::string>(); }

json yaml_to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      json object = json::object();
      for (const auto& item : node) object[item.first.as<std::string>()] = yaml_to_json(item.second);
      return object;
    }
    case YAML::NodeType::Sequence: {
      json array = json::array();
      for (const auto& item : node) array.push_back(yaml_to_json(item));
      return array;
    }
    case YAML::NodeType::Scalar: {
      const std::string text = node.as<std::string>();
      if (node.Tag() == "!") return text;  // quoted in the file: a string
      json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
      if (!value.is_discarded() && !value.is_object() && !value.is_array()) return value;
      bool flag = false;
      if (YAML::convert<bool>::decode(node, flag)) return flag;
      return text;
    }
    default:
      return nullptr;
  }
}

// The file's flags, vLLM's load_config_file.
std::vector<std::string> config_file_args(const std::string& path) {
  const std::string extension = std::filesystem::path(path).extension().string();
  VLLM_CHECK(extension == ".yaml" || extension == ".yml", InvalidArgument, "--config ", path,
             ": the config file must be YAML (.yaml or .yml)");
  VLLM_CHECK(std::filesystem::exists(path), NotFound, "--config ", path, ": no such file");
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& error) {
    fail(ErrorKind::InvalidArgument, "--config ", path, ": ", error.what());
  }
  if (root.IsNull()) return {};
  VLLM_CHECK(root.IsMap(), InvalidArgument, "--config ", path, ": the file must map flag names to values");
  std::vector<std::string> out;
  for (const auto& item : root) {
    const std::string flag = "--" + item.first.as<std::string>();
    const YAML::Node& value = item.second;
    if (value.IsSequence()) {
      if (value.size() == 0) continue;
      out.push_back(flag);
      for (const auto& element : value)
        out.push_back(element.IsScalar() ? scalar_text(element) : yaml_to_json(element).dump());
    } else if (value.IsMap()) {
      out.push_back(flag);
      out.push_back(yaml_to_json(value).dump());
    } else if (value.IsNull()) {
      continue;
    } else {
      json scalar = yaml_to_json(value);
      if (scalar.is_boolean()) out.push_back(flag + (scalar.get<bool>() ? "" : "=false"));
      else {
        out.push_back(flag);
        out.push_back(scalar_text(value));
      }
    }
  }
  return out;
}

const VllmFlag* flag_by_alias(const std::string& arg) {
  for (const VllmFlag& flag : vllm_flags()) {
    const std::string alias = flag.short_alias;
    if (alias.empty() || alias == "-O") continue;
    if (arg == alias || starts_with(arg, alias + "=") || starts_with(arg, alias + ".")) return &flag;
  }
  return nullptr;
}

// A dotted field's value: JSON, else a human-readable integer, else the text (vLLM's rule).
json dotted_value(const std::string& text) {
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!value.is_discarded()) return value;
  try {
    return parse_human_readable_int(text);
  } catch (const Error&) {
    return text;
  }
}

}  // namespace

std::vector<std::string> expand_config_file(std::vector<std::string> args) {
  auto config = std::find_if(args.begin(), args.end(),
                             [](const std::string& arg) { return arg == "--config" || starts_with(arg, "--config="); });
  if (config == args.end()) return args;
  std::string path;
  auto erase_end = config + 1;
  if (*config == "--config") {
    VLLM_CHECK(erase_end != args.end(), InvalidArgument, "--config needs a YAML file");
    path = *erase_end++;
  } else {
    path = config->substr(std::string("--config=").size());
  }
  args.erase(config, erase_end);
  VLLM_CHECK(std::none_of(args.begin(), args.end(),
                          [](const std::string& arg) { return arg == "--config" || starts_with(arg, "--config="); }),
             InvalidArgument, "--config may be given once");

  std::set<std::string> given;  // flags the command line sets itself
  for (const std::string& arg : args)
    if (std::string name = flag_name(arg); !name.empty()) given.insert(name);
  std::vector<std::string> file = config_file_args(path), kept;
  for (size_t i = 0; i < file.size();) {
    size_t end = i + 1;  // the flag and its values
    while (end < file.size() && !starts_with(file[end], "--")) ++end;
    if (!given.count(flag_name(file[i]))) kept.insert(kept.end(), file.begin() + i, file.begin() + end);
    i = end;
  }
  // After a leading positional MODEL (vLLM's order), before every other flag.
  const std::ptrdiff_t insert = (!args.empty() && !starts_with(args[0], "-")) ? 1 : 0;
  args.insert(args.begin() + insert, kept.begin(), kept.end());
  return args;
}

std::vector<std::string> normalize_spellings(const std::vector<std::string>& args) {
  std::vector<std::string> spelled;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (starts_with(arg, "--")) {
      spelled.push_back(dash_name(arg));
    } else if (starts_with(arg, "-O") && arg.size() > 2) {  // -O3, -O=3, -Odecode
      spelled.push_back("--optimization-level");
      spelled.push_back(arg.substr(arg[2] == '=' ? 3 : 2));
    } else if (arg == "-O") {  // -O 3, or -O '{...}' (the older alias of --compilation-config)
      const bool level = i + 1 < args.size() && args[i + 1].size() == 1 && args[i + 1][0] >= '0' && args[i + 1][0] <= '3';
      spelled.push_back(level ? "--optimization-level" : "--compilation-config");
    } else if (const VllmFlag* flag = flag_by_alias(arg)) {
      spelled.push_back(flag->name + arg.substr(std::string(flag->short_alias).size()));
    } else {
      spelled.push_back(arg);
    }
  }

  // Dotted JSON fields: --x.a.b value / --x.a.b=value / --x.list+ a,b
  std::vector<std::string> out;
  std::map<std::string, json> objects;
  std::vector<std::string> order;
  for (size_t i = 0; i < spelled.size(); ++i) {
    const std::string& arg = spelled[i];
    const size_t equals = arg.find('=');
    const std::string key = arg.substr(0, equals);
    if (!starts_with(arg, "--") || key.find('.') == std::string::npos) {
      out.push_back(arg);
      continue;
    }
    std::string text;
    if (equals != std::string::npos) {
      text = arg.substr(equals + 1);
    } else {
      VLLM_CHECK(i + 1 < spelled.size(), InvalidArgument, key, " needs a value");
      text = spelled[++i];
    }
    std::string path = key.substr(key.find('.') + 1);
    const std::string flag = key.substr(0, key.find('.'));
    json value;
    if (!path.empty() && path.back() == '+') {
      path.pop_back();
      value = json::array();
      for (size_t start = 0;;) {
        size_t comma = text.find(',', start);
        value.push_back(text.substr(start, comma - start));
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    } else {
      value = dotted_value(text);
    }
    if (!objects.count(flag)) order.push_back(flag);
    json& field = objects[flag][json::json_pointer("/" + [&] {
      std::string pointer = path;
      std::replace(pointer.begin(), pointer.end(), '.', '/');
      return pointer;
    }())];
    if (field.is_array() && value.is_array()) field.insert(field.end(), value.begin(), value.end());
    else field = value;
  }
  for (const std::string& flag : order) {
    out.push_back(flag);
    out.push_back(objects[flag].dump());
  }
  return out;
}

std::optional<std::string> help_request(const std::vector<std::string>& args) {
  for (const std::string& arg : args) {
    if (arg == "--help" || arg == "-h") return std::string();
    if (starts_with(arg, "--help=")) return arg.substr(7);
  }
  return std::nullopt;
}

}  // namespace vllm::cli
