// The flags of `vllm serve` (vLLM's EngineArgs.add_cli_args and FrontendArgs) that vllm-cpp maps,
// ignores or refuses, as one table; flags with a field of their own in EngineArgs or ServeArgs are
// registered where those live (engine/engine_args.cpp, serve_args.cpp). docs/server.md lists both.
#pragma once

#include <span>
#include <string>
#include <vector>

namespace vllm {
struct EngineArgs;
}

namespace vllm::cli {

struct ServeArgs;

enum class FlagArity {
  Switch,         // --x / --no-x (argparse's BooleanOptionalAction), also --x=false
  Value,          // exactly one value
  OptionalValue,  // --x or --x VALUE (--hf-token)
  Values,         // one or more values
};

enum class FlagHandling {
  Map,        // implemented: `apply` writes the value into vllm-cpp's own settings
  Ignore,     // accepted; one warning line says why it changes nothing here
  Refuse,     // asks for what vllm-cpp cannot do yet: a one-line error before anything loads
};

enum class FlagScope {
  Engine,    // every command that takes engine arguments (serve, generate, run-batch, bench)
  Frontend,  // `serve` only
};

// What a mapped flag writes into; `serve` is null outside `vllm-cpp serve`.
struct FlagTarget {
  EngineArgs& engine;
  ServeArgs* serve;
};

struct VllmFlag {
  const char* name;          // the long name, vLLM's spelling ("--tensor-parallel-size")
  const char* short_alias;   // vLLM's single-dash alias ("-tp") or ""
  FlagScope scope;
  const char* group;         // vLLM's help group (its config class)
  FlagArity arity;
  FlagHandling handling;
  // Values that ask for what vllm-cpp does anyway ("1" for -tp, "false" for --no-enable-lora):
  // accepted with no warning and no error. Comma-separated.
  const char* accepted;
  const char* why;           // the warning's or the error's reason; the help line of a mapped flag
  void (*apply)(FlagTarget& target, const std::vector<std::string>& values) = nullptr;
};

std::span<const VllmFlag> vllm_flags();

}  // namespace vllm::cli
