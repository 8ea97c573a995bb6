// Minimal leveled logging to stderr. VLLM_LOGGING_LEVEL=DEBUG|INFO|WARNING|ERROR (default INFO),
// the variable vLLM reads (core/env.h).
#pragma once

#include <string>

#include "core/error.h"

namespace vllm {

enum class LogLevel { Debug = 0, Info = 1, Warning = 2, Error = 3 };

LogLevel log_level();
void log_message(LogLevel level, const std::string& message);

template <typename... Args>
void log_debug(const Args&... args) {
  if (log_level() <= LogLevel::Debug) log_message(LogLevel::Debug, str(args...));
}
template <typename... Args>
void log_info(const Args&... args) {
  if (log_level() <= LogLevel::Info) log_message(LogLevel::Info, str(args...));
}
template <typename... Args>
void log_warning(const Args&... args) {
  if (log_level() <= LogLevel::Warning) log_message(LogLevel::Warning, str(args...));
}
template <typename... Args>
void log_error(const Args&... args) {
  log_message(LogLevel::Error, str(args...));
}

}  // namespace vllm
