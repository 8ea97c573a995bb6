// Typed errors: every failure a user can cause carries a kind (mapped to HTTP codes by the
// server) and a message that names the thing and the fix.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace vllm {

enum class ErrorKind {
  InvalidArgument,  // bad request, bad flag, ill-typed config field
  NotFound,         // missing file, unknown model name, unknown tensor
  Unsupported,      // unknown architecture, unsupported feature or dtype
  OutOfMemory,      // allocation failed, KV cache too small
  Unavailable,      // overloaded or shutting down: retry later (HTTP 503)
  Internal,         // a bug: an invariant the code should have kept
};

const char* error_kind_name(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

// str("a", 1, 'b') -> "a1b": builds messages without a formatting library.
template <typename... Args>
std::string str(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

template <typename... Args>
[[noreturn]] void fail(ErrorKind kind, const Args&... args) {
  throw Error(kind, str(args...));
}

}  // namespace vllm

// VLLM_CHECK(cond, kind, message parts...): throws vllm::Error when cond is false.
#define VLLM_CHECK(cond, kind, ...)                         \
  do {                                                      \
    if (!(cond)) ::vllm::fail(::vllm::ErrorKind::kind, __VA_ARGS__); \
  } while (0)

// VLLM_ASSERT(cond, message parts...): an internal invariant.
#define VLLM_ASSERT(cond, ...)                                                              \
  do {                                                                                      \
    if (!(cond))                                                                            \
      ::vllm::fail(::vllm::ErrorKind::Internal, __FILE__, ":", __LINE__, ": ", #cond, " ", \
                   ##__VA_ARGS__);                                                          \
  } while (0)
