// Subcommands of the vllm-cpp executable register themselves here; main() dispatches on argv[1].
// Adding a subcommand is one new file in src/cli/ with a static CommandRegistrar.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace vllm::cli {

struct Command {
  std::string name;     // "serve", "tokenize", ...
  std::string summary;  // one line for `vllm-cpp --help`
  // Receives the arguments after the subcommand name (argv[0] is "vllm-cpp <name>").
  std::function<int(int argc, char** argv)> run;
};

void register_command(Command command);
const std::vector<Command>& commands();

struct CommandRegistrar {
  explicit CommandRegistrar(Command command) { register_command(std::move(command)); }
};

}  // namespace vllm::cli
