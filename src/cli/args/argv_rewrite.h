// vLLM's command-line conventions (FlexibleArgumentParser), applied to the argument list before
// CLI11 parses it.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace vllm::cli {

// `--config FILE.yaml`: vLLM's YAML config file, whose keys are flag names. Its flags are placed
// after a leading positional MODEL and before the command line's own flags, so that those win; a
// flag given on the command line drops the file's. true -> --key, false -> --key=false, a list ->
// --key a b, a mapping -> --key '<JSON>'. InvalidArgument when the file is missing or malformed.
std::vector<std::string> expand_config_file(std::vector<std::string> args);

// vLLM's spellings, rewritten to the long names CLI11 knows: --max_model_len -> --max-model-len,
// -tp 2 / -tp=2 -> --tensor-parallel-size 2 (every single-dash alias of the flag table), -O3 / -O=3
// / -O 3 -> --optimization-level 3, -O '{...}' -> --compilation-config '{...}', and dotted JSON
// fields (--speculative-config.method ngram, --x.list+ a,b) merged into one JSON value per flag.
std::vector<std::string> normalize_spellings(const std::vector<std::string>& args);

// The --help request, if any: "" for plain --help or -h, else the keyword of --help=KEYWORD.
std::optional<std::string> help_request(const std::vector<std::string>& args);

}  // namespace vllm::cli
