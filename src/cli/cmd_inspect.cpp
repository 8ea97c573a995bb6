// `vllm-cpp inspect MODEL`: what vllm-cpp would build from a checkpoint, without loading it: the
// architecture, the family and decoder spec chosen, the supported tasks, the parameter count and
// dtypes (from the safetensors headers; for a mixture of experts also the parameters one token
// uses), and the config.json fields that change nothing.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/command.h"
#include "core/error.h"
#include "loader/model_config.h"
#include "loader/model_path.h"
#include "loader/safetensors.h"
#include "models/registry.h"

namespace vllm::cli {
namespace {

using json = nlohmann::json;

// Fields that are bookkeeping or read by other parts of the engine (tokens, dtype), never listed.
bool never_listed(const std::string& key) {
  static const char* const kKeys[] = {"architectures", "model_type", "dtype", "torch_dtype", "bos_token_id",
                                      "eos_token_id", "pad_token_id", "transformers_version", "_name_or_path",
                                      "initializer_range", "use_cache", "auto_map"};
  for (const char* known : kKeys)
    if (key == known) return true;
  return key.find("dropout") != std::string::npos;
}

// A field is without effect when the config without it describes the same model (the field is
// unread, or holds the value its absence implies).
std::vector<std::string> fields_without_effect(const ModelConfig& config, const ArchitectureInfo& info,
                                               const json& baseline) {
  std::vector<std::string> fields;
  if (!info.describe) return fields;
  for (const auto& [key, value] : config.raw().items()) {
    if (never_listed(key)) continue;
    json reduced = config.raw();
    reduced.erase(key);
    try {
      if (info.describe(ModelConfig::from_json(reduced, config.source())) == baseline) fields.push_back(key);
    } catch (const Error&) {
      // Required: the model cannot be described without it.
    }
  }
  return fields;
}

json parameter_summary(const std::filesystem::path& dir) {
  json summary = {{"count", 0}, {"by_dtype", json::object()}, {"tensors", 0}};
  Checkpoint checkpoint = Checkpoint::open(dir);
  int64_t total = 0;
  std::map<std::string, int64_t> by_dtype;
  for (const std::string& name : checkpoint.names()) {
    const TensorInfo& info = checkpoint.info(name);
    int64_t count = shape_numel(info.shape);
    total += count;
    by_dtype[dtype_name(info.dtype)] += count;
  }
  summary["count"] = total;
  summary["by_dtype"] = by_dtype;
  summary["tensors"] = checkpoint.size();
  return summary;
}

std::string with_commas(int64_t value) {
  std::string digits = std::to_string(value), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

int run_inspect(int argc, char** argv) {
  CLI::App app{"Describe what vllm-cpp would build from a model folder, without loading its weights", argv[0]};
  std::string model, hf_overrides, model_impl = "auto";
  bool as_json = false;
  app.add_option("model", model, "Model folder or Hugging Face id (cached)")->required();
  app.add_option("--hf-overrides", hf_overrides, "JSON merged over config.json");
  app.add_option("--model-impl", model_impl, "auto or generic (as serve / generate)")
      ->check(CLI::IsMember({"auto", "generic"}));
  app.add_flag("--json", as_json, "one JSON object instead of text");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  std::filesystem::path dir = resolve_model_path(model);
  ModelConfig config = ModelConfig::from_directory(dir, parse_hf_overrides(hf_overrides));
  const ArchitectureInfo& info = ModelRegistry::resolve(config, model_impl);
  json report;
  report["architecture"] = config.architecture();
  report["family"] = info.family;
  json spec = info.describe ? info.describe(config) : json();
  // Family files with their own model class name it in their spec's "model".
  const std::string own_class = spec.is_object() && spec.contains("model") ? spec["model"].get<std::string>() : "";
  report["implementation"] = info.name != config.architecture() ? "generic decoder as " + info.name + " (--model-impl generic)"
                             : !own_class.empty()               ? own_class
                             : info.describe                    ? "generic decoder"
                                                                : "model class";
  json tasks = json::array();
  for (Task task : info.tasks) tasks.push_back(task_name(task));
  report["tasks"] = tasks;
  if (auto dtype = config.dtype()) report["config_dtype"] = dtype_name(*dtype);
  try {
    report["parameters"] = parameter_summary(dir);
  } catch (const Error& error) {
    report["parameters"] = {{"error", error.what()}};
  }
  report["spec"] = spec;
  // A mixture of experts: a token reads top_k of each MoE layer's experts.
  const bool moe = spec.is_object() && spec.contains("moe") && spec["moe"].is_object();
  if (moe && !report["parameters"].contains("error"))
    report["parameters"]["active_per_token"] =
        report["parameters"]["count"].get<int64_t>() - spec["moe"]["inactive_parameters_per_token"].get<int64_t>();
  report["fields_without_effect"] = fields_without_effect(config, info, spec);

  std::string out;
  if (as_json) {
    out = report.dump(2) + "\n";
  } else {
    out += "architecture: " + config.architecture() + "\n";
    out += "family: " + info.family + " (" + report["implementation"].get<std::string>() + ")\n";
    std::string task_list;
    for (const json& task : tasks) task_list += (task_list.empty() ? "" : ", ") + task.get<std::string>();
    out += "tasks: " + task_list + "\n";
    const json& params = report["parameters"];
    if (params.contains("error")) {
      out += "parameters: unknown (" + params["error"].get<std::string>() + ")\n";
    } else {
      std::string dtypes;
      for (const auto& [dtype, count] : params["by_dtype"].items())
        dtypes += (dtypes.empty() ? "" : ", ") + dtype + " " + with_commas(count.get<int64_t>());
      out += "parameters: " + with_commas(params["count"].get<int64_t>()) + " (" + dtypes + ")\n";
      if (params.contains("active_per_token"))
        out += "active parameters per token: " + with_commas(params["active_per_token"].get<int64_t>()) + "\n";
    }
    if (moe) {
      const json& m = spec["moe"];
      std::string shared = m["shared_expert"].is_null() ? "no shared expert"
                           : str("shared expert of ", m["shared_expert"]["intermediate"].get<int64_t>(),
                                 m["shared_expert"]["gate"].get<bool>() ? " (sigmoid-gated)" : "");
      out += str("experts: ", m["experts"].get<int64_t>(), ", top-k ", m["top_k"].get<int64_t>(), ", routing ",
                 m["routing"]["kind"].get<std::string>(), ", ", shared, ", on ", m["layers"].size(), " of ",
                 spec["layers"].size(), " layers\n");
    }
    if (report.contains("config_dtype")) out += "config dtype: " + report["config_dtype"].get<std::string>() + "\n";
    std::string fields;
    for (const json& field : report["fields_without_effect"])
      fields += (fields.empty() ? "" : ", ") + field.get<std::string>();
    out += "config fields without effect: " + (fields.empty() ? std::string("none") : fields) + "\n";
    out += "spec: " + (spec.is_null() ? std::string("(not a generic-decoder architecture)") : spec.dump(2)) + "\n";
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

CommandRegistrar inspect{{"inspect", "Show the architecture, spec, tasks and parameters a model folder gives",
                          run_inspect}};

}  // namespace
}  // namespace vllm::cli
