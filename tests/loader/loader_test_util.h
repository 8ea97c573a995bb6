// Helpers for the loader tests: a scratch folder per test, raw file writers, and an error matcher.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <string>

#include "core/error.h"

namespace vllm::testing {

// A fresh folder under the system temp dir, removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "vllm-loader-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// A safetensors file built by hand: 8-byte little-endian length, `header` verbatim, `data`.
// `declared_length` replaces the true header length when given.
inline void write_raw_safetensors(const std::filesystem::path& path, const std::string& header,
                                  const std::string& data, int64_t declared_length = -1) {
  uint64_t length = declared_length >= 0 ? uint64_t(declared_length) : header.size();
  std::string bytes(reinterpret_cast<const char*>(&length), 8);
  write_text(path, bytes + header + data);
}

// Runs `body`, expects a vllm::Error of `kind` whose one-line message contains every fragment.
inline void expect_error(const std::function<void()>& body, ErrorKind kind,
                         std::initializer_list<std::string> fragments) {
  try {
    body();
    ADD_FAILURE() << "expected an error containing '" << *fragments.begin() << "'";
  } catch (const Error& error) {
    std::string message = error.what();
    EXPECT_EQ(error_kind_name(error.kind()), std::string(error_kind_name(kind))) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << "not one line: " << message;
    for (const std::string& fragment : fragments)
      EXPECT_NE(message.find(fragment), std::string::npos)
          << "message lacks '" << fragment << "': " << message;
  }
}

}  // namespace vllm::testing
