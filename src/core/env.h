// Every environment variable vllm-cpp reads, in one table (vLLM's envs.py): name, type, default
// and one line of doc. `vllm-cpp --help-env` prints it and docs/env.md lists it (a test keeps the
// two equal); nothing else in src/ calls getenv (a test scans for it).
//
// The typed accessors below read their variable once and keep the value for the process. A value
// the type does not accept is an InvalidArgument error naming the variable and what it accepts;
// the CLI checks every set variable at start-up (check_all), and logging_level, which must not
// throw, warns and uses INFO instead.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/logging.h"

namespace vllm::env {

enum class Type { Bool, Choice, String, Path };

struct Variable {
  std::string_view name;
  Type type;
  std::string_view default_value;  // as shown to users: a value, or what happens when unset
  std::string_view choices;        // Type::Choice: the accepted values, ", "-separated; else empty
  std::string_view doc;            // one line
};

const char* type_name(Type type);  // "bool", "choice", "string", "path"

// Every variable, in the order `--help-env` and docs/env.md list them.
std::span<const Variable> variables();
// The entry of `name`: an Internal error when it is not registered.
const Variable& variable(std::string_view name);

// The variable's value, nullopt when unset or empty; read now, not cached (the Hugging Face
// cache variables, which tests change, are read this way). `name` must be registered.
std::optional<std::string> get(std::string_view name);

// `text` as the variable's type: InvalidArgument naming the variable and what it accepts.
// Booleans take 1/0, true/false, yes/no, on/off; choices are matched case-insensitively and
// returned as listed.
bool parse_bool(const Variable& variable, std::string_view text);
std::string parse_choice(const Variable& variable, std::string_view text);

// Parses every set variable of a checked type; one InvalidArgument listing each bad value.
void check_all();

// The table `vllm-cpp --help-env` prints.
std::string help_text();

// Typed accessors, each read once.
LogLevel logging_level();                    // VLLM_LOGGING_LEVEL
std::optional<std::string> cpu_isa();        // VLLM_CPU_ISA: scalar, avx2, avx512; nullopt: detected
bool step_timing();                          // VLLM_STEP_TIMING
std::optional<std::string> default_model();  // VLLM_CPP_DEFAULT_MODEL
std::optional<std::string> api_key();        // VLLM_API_KEY
std::optional<std::string> openai_api_key(); // OPENAI_API_KEY
int image_fetch_timeout();                   // VLLM_IMAGE_FETCH_TIMEOUT (seconds, default 5)
bool cuda_pdl();                             // VLLM_CUDA_PDL
bool cublaslt_tune();                        // VLLM_CUBLASLT_TUNE
std::optional<std::string> cublaslt_library();  // VLLM_CUBLASLT

enum class CudaMatmul { Auto, Cublaslt, Builtin };
CudaMatmul cuda_matmul();  // VLLM_CUDA_MATMUL

}  // namespace vllm::env
