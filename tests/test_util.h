// Helpers shared by the tests: where the repository and ../shared/data are, and an environment
// variable set for one scope.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>

namespace vllm::testing {

// The checkout (VLLM_SOURCE_DIR in the environment overrides the build's, for a copied tree).
inline std::filesystem::path source_dir() {
  if (const char* env = std::getenv("VLLM_SOURCE_DIR")) return env;
  return VLLM_SOURCE_DIR;
}

// ../shared/data beside the checkout; tests that need it call SKIP_WITHOUT_SHARED_DATA().
inline std::filesystem::path shared_data_dir() {
  if (const char* env = std::getenv("VLLM_SHARED_DATA")) return env;
  return VLLM_SHARED_DATA_DIR;
}

inline bool have_shared_data() { return std::filesystem::is_directory(shared_data_dir()); }

// The device the engine tests run on: the CPU, whose numerics their expectations pin, unless
// VLLM_TEST_DEVICE says otherwise (VLLM_TEST_DEVICE=cuda runs them on a GPU; tests/cuda holds
// the bf16 checks made for it).
inline std::string test_device() {
  const char* env = std::getenv("VLLM_TEST_DEVICE");
  return env && *env ? env : "cpu";
}

// Sets an environment variable for the life of the object, then restores it (or unsets it when
// it was unset). An empty value reads as unset through core/env.h.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const std::string& value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) old_ = old;
    setenv(name_.c_str(), value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) setenv(name_.c_str(), old_->c_str(), 1);
    else unsetenv(name_.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

}  // namespace vllm::testing

#define SKIP_WITHOUT_SHARED_DATA()                                                         \
  do {                                                                                     \
    if (!::vllm::testing::have_shared_data())                                              \
      GTEST_SKIP() << "../shared/data not found (" << ::vllm::testing::shared_data_dir()   \
                   << "); set VLLM_SHARED_DATA to run this test";                          \
  } while (0)
