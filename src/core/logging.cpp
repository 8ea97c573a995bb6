#include "core/logging.h"

#include <cstdio>
#include <ctime>
#include <mutex>

#include "core/env.h"

namespace vllm {

LogLevel log_level() { return env::logging_level(); }

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
