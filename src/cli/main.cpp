// The vllm-cpp executable: `vllm-cpp <subcommand> [args]`, as `vllm <subcommand>` in vLLM.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "cli/command.h"
#include "core/env.h"
#include "core/error.h"
#include "core/version.h"

namespace vllm::cli {

namespace {
std::vector<Command>& registry() {
  static std::vector<Command> commands;
  return commands;
}
}  // namespace

void register_command(Command command) { registry().push_back(std::move(command)); }

const std::vector<Command>& commands() {
  auto& all = registry();
  std::sort(all.begin(), all.end(), [](const Command& a, const Command& b) { return a.name < b.name; });
  return all;
}

static void print_usage() {
  std::printf("usage: vllm-cpp <command> [options]\n\ncommands:\n");
  for (const Command& command : commands())
    std::printf("  %-14s %s\n", command.name.c_str(), command.summary.c_str());
  std::printf("\nRun `vllm-cpp <command> --help` for a command's options, `vllm-cpp --help-env` for the\n"
              "environment variables it reads.\n");
}

}  // namespace vllm::cli

int main(int argc, char** argv) {
  using namespace vllm::cli;
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    print_usage();
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version") || !std::strcmp(argv[1], "-v")) {
    std::printf("%s\n", vllm::kVersion);
    return 0;
  }
  if (!std::strcmp(argv[1], "--help-env")) {
    std::printf("%s", vllm::env::help_text().c_str());
    return 0;
  }
  for (const Command& command : commands()) {
    if (command.name != argv[1]) continue;
    std::string program = std::string("vllm-cpp ") + argv[1];
    argv[1] = program.data();
    try {
      vllm::env::check_all();  // a bad value fails here, before any work, whichever code reads it
      return command.run(argc - 1, argv + 1);
    } catch (const vllm::Error& error) {
      std::fprintf(stderr, "error: %s\n", error.what());
      return 1;
    } catch (const std::exception& error) {
      std::fprintf(stderr, "error: %s\n", error.what());
      return 1;
    }
  }
  std::fprintf(stderr, "vllm-cpp: unknown command '%s'\n\n", argv[1]);
  print_usage();
  return 2;
}
