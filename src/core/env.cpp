#include "core/env.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <vector>

#include "core/error.h"

namespace vllm::env {

namespace {

// The one table. Keep docs/env.md in step (tests/core/test_env.cpp compares them). constexpr, so
// it is ready before any static initialiser that logs.
constexpr Variable kVariables[] = {
    {"VLLM_LOGGING_LEVEL", Type::Choice, "INFO", "DEBUG, INFO, WARNING, WARN, ERROR, CRITICAL",
     "Least severe log messages printed on stderr, as vLLM (WARN is WARNING; CRITICAL prints errors only)."},
    {"VLLM_CPU_ISA", Type::Choice, "the best the CPU supports", "scalar, avx2, avx512",
     "Caps the instruction set of the CPU kernels (a level the CPU lacks falls back to the best it has)."},
    {"VLLM_STEP_TIMING", Type::Bool, "0", "",
     "1 logs where each engine step's wall time goes and, on CUDA, the device's busy and idle time per step."},
    {"VLLM_CPP_DEFAULT_MODEL", Type::Path, "models/default of the source tree", "",
     "The model folder a command uses when it is given no --model."},
    {"VLLM_API_KEY", Type::String, "unset", "",
     "serve: the key clients must send unless --api-key is given; chat/complete: the key sent unless --api-key is."},
    {"OPENAI_API_KEY", Type::String, "unset", "",
     "chat/complete: the key sent when neither --api-key nor VLLM_API_KEY is set (not a VLLM variable)."},
    {"VLLM_CUDA_PDL", Type::Bool, "1", "",
     "CUDA: 0 turns off programmatic dependent launch of the GEMVs and the kernels before them."},
    {"VLLM_CUBLASLT_TUNE", Type::Bool, "1", "",
     "CUDA: 0 keeps cuBLASLt's first heuristic algorithm for each matmul shape instead of timing its top 8."},
    {"VLLM_CUBLASLT", Type::Path, "libcublasLt.so.13 from the library path", "",
     "CUDA: the cuBLASLt library file to load first."},
    {"VLLM_CUDA_MATMUL", Type::Choice, "auto", "auto, cublaslt, builtin",
     "CUDA: auto runs a GEMV up to 8 rows and cuBLASLt above; cublaslt skips the GEMV; builtin runs the "
     "backend's own f32 kernels only (exact f32 activations, slow)."},
    {"VLLM_IMAGE_FETCH_TIMEOUT", Type::String, "5", "",
     "Seconds an http(s) image of a request may take to download (vLLM's variable)."},
    {"HF_HUB_CACHE", Type::Path, "$HF_HOME/hub", "",
     "The Hugging Face Hub cache a model id is looked up in (not a VLLM variable; read as huggingface_hub does)."},
    {"HUGGINGFACE_HUB_CACHE", Type::Path, "unset", "",
     "The older name of HF_HUB_CACHE, read when HF_HUB_CACHE is unset (not a VLLM variable)."},
    {"HF_HOME", Type::Path, "$XDG_CACHE_HOME/huggingface", "",
     "Hugging Face's folder; the Hub cache is its hub/ (not a VLLM variable)."},
    {"XDG_CACHE_HOME", Type::Path, "~/.cache", "", "Where HF_HOME defaults to (not a VLLM variable)."},
    {"HOME", Type::Path, "set by the system", "", "~ of the default Hub cache ~/.cache/huggingface/hub."},
    {"HF_ENDPOINT", Type::String, "https://huggingface.co", "",
     "The Hugging Face Hub a model id is downloaded from (a mirror or a local server). Not a vLLM variable."},
    {"HF_TOKEN", Type::String, "unset", "",
     "The Hub access token sent for downloads when --hf-token is not given (gated and private models). Not a vLLM variable."},
    {"HF_TOKEN_PATH", Type::Path, "$HF_HOME/token", "",
     "The token file `hf auth login` writes, read when neither --hf-token nor HF_TOKEN is set. Not a vLLM variable."},
    {"HF_HUB_OFFLINE", Type::Bool, "0", "",
     "1 uses the Hub cache only and never sends a request (huggingface_hub's variable)."},
    {"TRANSFORMERS_OFFLINE", Type::Bool, "0", "",
     "1 is the same as HF_HUB_OFFLINE=1 (transformers' older variable)."},
    {"HF_HUB_DISABLE_PROGRESS_BARS", Type::Bool, "0", "",
     "1 prints plain log lines instead of a progress bar while downloading, even on a terminal."},
    {"VLLM_USE_MODELSCOPE", Type::Bool, "0", "",
     "true downloads model ids from ModelScope instead of the Hugging Face Hub."},
    {"MODELSCOPE_CACHE", Type::Path, "~/.cache/modelscope/hub", "",
     "ModelScope's cache folder; models go to its models/<org>/<name>. Not a vLLM variable."},
    {"MODELSCOPE_DOMAIN", Type::String, "www.modelscope.cn", "",
     "The ModelScope host (or http(s)://host:port of a mirror or local server). Not a vLLM variable."},
};

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::vector<std::string_view> split_choices(std::string_view choices) {
  std::vector<std::string_view> out;
  while (!choices.empty()) {
    size_t comma = choices.find(", ");
    out.push_back(choices.substr(0, comma));
    choices = comma == std::string_view::npos ? std::string_view{} : choices.substr(comma + 2);
  }
  return out;
}

// The value of a bool variable, its default when unset.
bool read_bool(std::string_view name) {
  const Variable& entry = variable(name);
  std::optional<std::string> value = get(name);
  return value ? parse_bool(entry, *value) : entry.default_value == "1";
}

std::optional<std::string> read_choice(std::string_view name) {
  std::optional<std::string> value = get(name);
  if (!value) return std::nullopt;
  return parse_choice(variable(name), *value);
}

// What `read` returns at its first call, kept for the process: the typed accessors read their
// variable once. Each accessor passes its own lambda, a type of its own, so each gets its own
// static (initialised once, thread-safe, as a function-local static is).
template <typename Read>
auto read_once(Read read) {
  static const auto value = read();
  return value;
}

LogLevel level_of(const std::string& choice) {
  if (choice == "DEBUG") return LogLevel::Debug;
  if (choice == "WARNING" || choice == "WARN") return LogLevel::Warning;
  if (choice == "ERROR" || choice == "CRITICAL") return LogLevel::Error;
  return LogLevel::Info;
}

}  // namespace

const char* type_name(Type type) {
  switch (type) {
    case Type::Bool: return "bool";
    case Type::Choice: return "choice";
    case Type::String: return "string";
    case Type::Path: return "path";
  }
  return "?";
}

std::span<const Variable> variables() { return kVariables; }

const Variable& variable(std::string_view name) {
  for (const Variable& entry : kVariables)
    if (entry.name == name) return entry;
  fail(ErrorKind::Internal, "environment variable ", name, " is read but not registered in src/core/env.cpp");
}

std::optional<std::string> get(std::string_view name) {
  const Variable& entry = variable(name);
  const char* value = std::getenv(std::string(entry.name).c_str());
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

bool parse_bool(const Variable& variable, std::string_view text) {
  const std::string value = lower(text);
  if (value == "1" || value == "true" || value == "yes" || value == "on") return true;
  if (value == "0" || value == "false" || value == "no" || value == "off") return false;
  fail(ErrorKind::InvalidArgument, variable.name, "=\"", text,
       "\" is not a boolean (accepted: 1, 0, true, false, yes, no, on, off)");
}

std::string parse_choice(const Variable& variable, std::string_view text) {
  const std::string value = lower(text);
  for (std::string_view choice : split_choices(variable.choices))
    if (lower(choice) == value) return std::string(choice);
  fail(ErrorKind::InvalidArgument, variable.name, "=\"", text, "\" is not one of: ", variable.choices);
}

void check_all() {
  std::string problems;
  for (const Variable& entry : kVariables) {
    if (entry.type != Type::Bool && entry.type != Type::Choice) continue;
    std::optional<std::string> value = get(entry.name);
    if (!value) continue;
    try {
      if (entry.type == Type::Bool) parse_bool(entry, *value);
      else parse_choice(entry, *value);
    } catch (const Error& error) {
      problems += str(problems.empty() ? "" : "; ", error.what());
    }
  }
  VLLM_CHECK(problems.empty(), InvalidArgument, problems, " (`vllm-cpp --help-env` lists the variables)");
}

std::string help_text() {
  std::string out = "Environment variables read by vllm-cpp (docs/env.md):\n";
  for (const Variable& entry : kVariables) {
    std::string type = type_name(entry.type);
    if (entry.type == Type::Choice) type = str(type, " (", entry.choices, ")");
    out += str("\n  ", entry.name, "  ", type, ", default: ", entry.default_value, "\n      ", entry.doc, "\n");
  }
  return out;
}

LogLevel logging_level() {
  return read_once([] {
    try {
      std::optional<std::string> choice = read_choice("VLLM_LOGGING_LEVEL");
      return choice ? level_of(*choice) : LogLevel::Info;
    } catch (const Error& error) {
      // Not log_warning: that asks for this level.
      log_message(LogLevel::Warning, str(error.what(), "; using INFO"));
      return LogLevel::Info;
    }
  });
}

std::optional<std::string> cpu_isa() { return read_once([] { return read_choice("VLLM_CPU_ISA"); }); }
bool step_timing() { return read_once([] { return read_bool("VLLM_STEP_TIMING"); }); }
std::optional<std::string> default_model() { return read_once([] { return get("VLLM_CPP_DEFAULT_MODEL"); }); }
std::optional<std::string> api_key() { return read_once([] { return get("VLLM_API_KEY"); }); }
std::optional<std::string> openai_api_key() { return read_once([] { return get("OPENAI_API_KEY"); }); }
bool cuda_pdl() { return read_once([] { return read_bool("VLLM_CUDA_PDL"); }); }
bool cublaslt_tune() { return read_once([] { return read_bool("VLLM_CUBLASLT_TUNE"); }); }
std::optional<std::string> cublaslt_library() { return read_once([] { return get("VLLM_CUBLASLT"); }); }

int image_fetch_timeout() {
  return read_once([] {
    std::optional<std::string> value = get("VLLM_IMAGE_FETCH_TIMEOUT");
    if (!value) return 5;
    char* end = nullptr;
    const long seconds = std::strtol(value->c_str(), &end, 10);
    VLLM_CHECK(end && *end == '\0' && seconds > 0, InvalidArgument, "VLLM_IMAGE_FETCH_TIMEOUT=\"", *value,
               "\" is not a positive whole number of seconds");
    return static_cast<int>(seconds);
  });
}

CudaMatmul cuda_matmul() {
  return read_once([] {
    const std::string choice = read_choice("VLLM_CUDA_MATMUL").value_or("auto");
    if (choice == "cublaslt") return CudaMatmul::Cublaslt;
    if (choice == "builtin") return CudaMatmul::Builtin;
    return CudaMatmul::Auto;
  });
}

}  // namespace vllm::env
