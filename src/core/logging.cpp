#include "core/logging.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>

namespace vllm {

LogLevel log_level() {
  static const LogLevel level = [] {
    const char* env = std::getenv("VLLM_LOGGING_LEVEL");
    if (!env) return LogLevel::Info;
    if (!strcasecmp(env, "DEBUG")) return LogLevel::Debug;
    if (!strcasecmp(env, "WARNING") || !strcasecmp(env, "WARN")) return LogLevel::Warning;
    if (!strcasecmp(env, "ERROR")) return LogLevel::Error;
    return LogLevel::Info;
  }();
  return level;
}

void log_message(LogLevel level, const std::string& message) {
  static std::mutex mutex;
  static const char* names[] = {"DEBUG", "INFO", "WARNING", "ERROR"};
  std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%m-%d %H:%M:%S", std::localtime(&now));
  std::lock_guard<std::mutex> lock(mutex);
  std::fprintf(stderr, "%s %s %s\n", names[static_cast<int>(level)], stamp, message.c_str());
}

}  // namespace vllm
