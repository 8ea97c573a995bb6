// A subcommand's command line with vLLM's conventions: the engine flags (and for `serve` the
// frontend flags), every other flag of `vllm serve` from the flag table (vllm_flags.h) mapped,
// ignored with one warning or refused with one line, `--config FILE.yaml`, vLLM's spellings
// (argv_rewrite.h) and `--help`, `--help=all`, `--help=<group>`, `--help=<keyword>`.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "cli/args/serve_args.h"
#include "engine/engine_args.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace vllm::cli {

class CommandLine {
 public:
  // Registers the engine flags bound to `engine` on `app`. `serve`: `vllm-cpp serve`, whose
  // frontend flags bind to `*serve` and whose MODEL may come first as a positional argument
  // (`engine` must then be serve->engine). Add the command's own options to `app` afterwards.
  CommandLine(CLI::App& app, EngineArgs& engine, ServeArgs* serve = nullptr);

  // Parses the arguments after the subcommand name. Returns false when help was asked for (and
  // printed to stdout). Throws vllm::Error (InvalidArgument, NotFound, Unsupported) with a
  // one-line message for a bad flag or value, or one vllm-cpp refuses.
  bool parse(int argc, char** argv);
  bool parse(std::vector<std::string> args);

  // The warnings of the ignored flags that were given, one per flag (each also logged).
  const std::vector<std::string>& warnings() const { return warnings_; }

  // The help text for `--help=<keyword>` ("" for plain --help).
  std::string help(const std::string& keyword) const;

 private:
  void add_vllm_flags();
  void apply_vllm_flags();

  CLI::App& app_;
  EngineArgs& engine_;
  ServeArgs* serve_;
  std::map<std::string, std::vector<std::string>> values_;  // a table flag's values, by name
  std::map<std::string, CLI::Option*> table_options_;       // the table flags this parser registered
  std::vector<std::string> warnings_;
};

}  // namespace vllm::cli
