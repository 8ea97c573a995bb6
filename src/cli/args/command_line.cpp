#include "cli/args/command_line.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <set>
#include <sstream>

#include "cli/args/argv_rewrite.h"
#include "cli/args/vllm_flags.h"
#include "core/error.h"
#include "core/logging.h"

namespace vllm::cli {
namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

// vLLM's help groups in its order, with a one-line summary each.
const std::vector<std::pair<std::string, std::string>>& group_summaries() {
  static const std::vector<std::pair<std::string, std::string>> groups = {
      {"Options", "The model, --config and the logging switches"},
      {"Frontend", "The OpenAI-compatible HTTP server"},
      {"ModelConfig", "Which model, tokenizer, dtype and context length"},
      {"LoadConfig", "How the weights load"},
      {"DeviceConfig", "The device and CPU threads (vllm-cpp)"},
      {"StructuredOutputsConfig", "Structured outputs and reasoning parsers"},
      {"ParallelConfig", "Multi-GPU parallelism (vllm-cpp runs one device)"},
      {"CacheConfig", "The paged KV cache"},
      {"MultiModalConfig", "Multimodal inputs: images (docs/multimodal.md)"},
      {"LoRAConfig", "LoRA adapters (not supported yet)"},
      {"ObservabilityConfig", "Tracing and extra metrics"},
      {"SchedulerConfig", "Batching: sequences and tokens per step, chunked prefill, policy"},
      {"CompilationConfig", "CUDA graphs"},
      {"VllmConfig", "Speculative decoding, compilation, KV transfer and other JSON configs"},
  };
  return groups;
}

std::string join(const std::vector<std::string>& values, const char* separator) {
  std::string out;
  for (const std::string& value : values) out += (out.empty() ? "" : separator) + value;
  return out;
}

std::string option_names(const CLI::Option& option) {
  std::vector<std::string> names;
  for (const std::string& name : option.get_lnames()) names.push_back("--" + name);
  for (const std::string& name : option.get_snames()) names.push_back("-" + name);
  for (const VllmFlag& flag : vllm_flags())
    if (!names.empty() && names[0] == flag.name && *flag.short_alias) names.push_back(flag.short_alias);
  if (names.empty()) names.push_back(option.get_name());  // a positional
  return join(names, ", ");
}

void format_option(std::ostringstream& out, const CLI::Option& option) {
  out << "  " << option_names(option);
  if (option.get_type_size() != 0 && !option.get_type_name().empty()) out << " " << option.get_type_name();
  out << "\n";
  std::string description = option.get_description();
  if (!option.get_default_str().empty()) description += " (default: " + option.get_default_str() + ")";
  if (!description.empty()) out << "      " << description << "\n";
}

bool accepted(const VllmFlag& flag, const std::vector<std::string>& values) {
  if (!*flag.accepted || values.empty()) return false;
  std::vector<std::string> allowed;
  std::istringstream list(flag.accepted);
  for (std::string value; std::getline(list, value, ',');) allowed.push_back(value);
  return std::all_of(values.begin(), values.end(), [&](const std::string& value) {
    return std::find(allowed.begin(), allowed.end(), value) != allowed.end();
  });
}

// How the flag reads in a message: "--enable-lora", "--no-enable-lora", "-tp 2" as "--tensor-parallel-size 2".
std::string spelled(const VllmFlag& flag, const std::vector<std::string>& values) {
  if (flag.arity == FlagArity::Switch)
    return values.back() == "true" ? flag.name : "--no-" + std::string(flag.name).substr(2);
  return values.empty() ? flag.name : std::string(flag.name) + " " + join(values, " ");
}

std::string table_description(const VllmFlag& flag) {
  const std::string when = *flag.accepted ? std::string(" (except ") + flag.accepted + ")" : "";
  switch (flag.handling) {
    case FlagHandling::Map: return flag.why;
    case FlagHandling::Ignore: return "Accepted and ignored" + when + ": " + flag.why;
    case FlagHandling::Refuse: return "Refused" + when + ": " + flag.why;
  }
  return "";
}

}  // namespace

CommandLine::CommandLine(CLI::App& app, EngineArgs& engine, ServeArgs* serve)
    : app_(app), engine_(engine), serve_(serve) {
  // argparse's rule: a flag given twice keeps its last value (the command line over --config).
  app_.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)->group("Options");
  add_engine_args(app_, engine_, /*model_positional=*/serve != nullptr);
  if (serve_) add_frontend_args(app_, *serve_);
}

void CommandLine::add_vllm_flags() {
  std::set<std::string> taken;  // a flag registered by the command itself (another part of issue 23) wins
  for (const CLI::Option* option : app_.get_options())
    for (const std::string& name : option->get_lnames()) taken.insert("--" + name);
  for (const VllmFlag& flag : vllm_flags()) {
    if (table_options_.count(flag.name) || taken.count(flag.name)) continue;
    if (flag.scope == FlagScope::Frontend && !serve_) continue;
    const std::string name = flag.name;
    std::vector<std::string>& values = values_[name];
    CLI::Option* option = nullptr;
    switch (flag.arity) {
      case FlagArity::Switch:
        option = app_.add_flag_function(name + ",!--no-" + name.substr(2),
                                        [&values](int64_t count) { values = {count > 0 ? "true" : "false"}; });
        break;
      case FlagArity::Value: option = app_.add_option(name, values)->expected(1)->type_name("VALUE"); break;
      case FlagArity::OptionalValue: option = app_.add_option(name, values)->expected(0, 1)->type_name("[VALUE]"); break;
      case FlagArity::Values: option = app_.add_option(name, values)->type_name("VALUE ..."); break;
    }
    option->description(table_description(flag))->group(flag.group);
    table_options_[name] = option;
  }
}

void CommandLine::apply_vllm_flags() {
  FlagTarget target{engine_, serve_};
  for (const VllmFlag& flag : vllm_flags()) {
    auto registered = table_options_.find(flag.name);
    if (registered == table_options_.end() || registered->second->count() == 0) continue;
    const std::vector<std::string>& values = values_[flag.name];
    if (accepted(flag, values)) continue;
    switch (flag.handling) {
      case FlagHandling::Map:
        flag.apply(target, values);
        break;
      case FlagHandling::Ignore:
        warnings_.push_back(spelled(flag, values) + " is ignored: " + flag.why);
        log_warning(warnings_.back());
        break;
      case FlagHandling::Refuse:
        fail(ErrorKind::Unsupported, spelled(flag, values), ": ", flag.why);
    }
  }
}

bool CommandLine::parse(int argc, char** argv) { return parse(std::vector<std::string>(argv + 1, argv + argc)); }

bool CommandLine::parse(std::vector<std::string> args) {
  add_vllm_flags();
  if (std::optional<std::string> keyword = help_request(args)) {
    std::fputs(help(*keyword).c_str(), stdout);
    return false;
  }
  args = normalize_spellings(expand_config_file(normalize_spellings(args)));
  std::reverse(args.begin(), args.end());  // CLI11 takes the arguments last first
  try {
    app_.parse(args);
  } catch (const CLI::ParseError& error) {
    fail(ErrorKind::InvalidArgument, error.what(), " (see --help)");
  }
  apply_vllm_flags();
  return true;
}

std::string CommandLine::help(const std::string& keyword) const {
  std::ostringstream out;
  const std::vector<CLI::Option*> options =
      app_.get_options([](CLI::Option* option) { return option->get_name() != "--help"; });
  auto section = [&](const std::string& title, auto&& keep) {
    bool any = false;
    for (const CLI::Option* option : options) {
      if (!keep(*option)) continue;
      if (!any) out << title << ":\n";
      any = true;
      format_option(out, *option);
    }
    if (any) out << "\n";
    return any;
  };
  const std::string search = lower(keyword);
  if (search.empty()) {
    out << "usage: " << app_.get_name() << (serve_ ? " [model_tag]" : "") << " [options]\n\n"
        << app_.get_description() << "\n\nConfig Groups:\n";
    for (const auto& [group, summary] : group_summaries())
      if (std::any_of(options.begin(), options.end(), [&](const CLI::Option* o) { return o->get_group() == group; }))
        out << "  " << group << std::string(group.size() < 24 ? 24 - group.size() : 1, ' ') << summary << "\n";
    out << "\nUse `--help=all` to show every option, `--help=<group>` for one config group (e.g. "
           "`--help=CacheConfig`), or `--help=<keyword>` to search options by name. docs/server.md says which "
           "vLLM flags vllm-cpp implements, ignores or refuses.\n";
    return out.str();
  }
  if (search == "all" || search == "listgroup") {
    for (const auto& entry : group_summaries()) {
      if (search == "listgroup") out << entry.first << "\n";
      else section(entry.first, [&](const CLI::Option& o) { return o.get_group() == entry.first; });
    }
    return out.str();
  }
  for (const auto& entry : group_summaries())
    if (lower(entry.first) == search) {
      section(entry.first, [&](const CLI::Option& o) { return o.get_group() == entry.first; });
      return out.str();
    }
  // Options whose names contain the keyword (underscores spelled as dashes).
  std::string needle = search;
  std::replace(needle.begin(), needle.end(), '_', '-');
  if (section("Arguments matching '" + needle + "'",
              [&](const CLI::Option& o) { return contains(lower(option_names(o)), needle); }))
    return out.str();
  return "No group or arguments matching '" + needle +
         "'.\nUse '--help' to see available groups or '--help=all' to see all available parameters.\n";
}

}  // namespace vllm::cli
