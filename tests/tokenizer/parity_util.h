// Helpers of the tokenizer parity tests: reading the recorded fixtures and counting matches.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"
#include "text/tokenizer/tokenizer.h"

namespace vllm::testing {

inline std::filesystem::path tokenizer_data_dir() { return source_dir() / "tests" / "data" / "tokenizer"; }

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline nlohmann::json read_json(const std::filesystem::path& path) { return nlohmann::json::parse(read_text(path)); }

inline std::string ids_str(const std::vector<int32_t>& ids) { return nlohmann::json(ids).dump(); }

// Counts cases and reports the first few mismatches with their context.
struct ParityCounter {
  std::string name;
  int passed = 0, total = 0, reported = 0;
  template <typename A, typename B>
  void check(const A& actual, const B& expected, const std::string& what) {
    ++total;
    if (actual == expected) {
      ++passed;
      return;
    }
    if (reported++ < 8) ADD_FAILURE() << name << ": " << what << "\n  actual:   " << nlohmann::json(actual).dump()
                                      << "\n  expected: " << nlohmann::json(expected).dump();
    else ADD_FAILURE() << name << ": " << what;
  }
  ~ParityCounter() { std::printf("[parity] %-48s %d/%d\n", name.c_str(), passed, total); }
};

// The real tokenizer folders of ../shared/data/tokenizers.tar.xz, extracted once per test run.
inline std::filesystem::path real_tokenizers_dir() {
  static std::filesystem::path dir = [] {
    auto out = std::filesystem::temp_directory_path() / ("vllm_tokenizers_" + std::to_string(::getpid()));
    std::filesystem::create_directories(out);
    std::string cmd = "tar xJf '" + (shared_data_dir() / "tokenizers.tar.xz").string() + "' -C '" + out.string() + "'";
    if (std::system(cmd.c_str()) != 0) return std::filesystem::path();
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(std::filesystem::temp_directory_path() / ("vllm_tokenizers_" + std::to_string(::getpid())), ec);
    });
    return out / "tokenizers";
  }();
  return dir;
}

// A real tokenizer folder of real_tokenizers_dir(), loaded once per test run, as transformers 5's
// AutoTokenizer loads it.
inline std::shared_ptr<Tokenizer> load_real(const std::string& name) {
  static std::map<std::string, std::shared_ptr<Tokenizer>> cache;
  auto& slot = cache[name];
  if (!slot) slot = Tokenizer::from_directory(real_tokenizers_dir() / name);
  return slot;
}

// The same folder with its tokenizer.json pipeline run as written, as HF `tokenizers` and
// transformers 4 run it: tokenizer_config.json without "tokenizer_class", so that no transformers
// 5 class rebuilds the pipeline (LlamaTokenizer, GPT2Tokenizer: see docs/tokenizer.md). Folders
// without tokenizer.json load as load_real does.
inline std::shared_ptr<Tokenizer> load_real_as_written(const std::string& name) {
  static std::map<std::string, std::shared_ptr<Tokenizer>> cache;
  auto& slot = cache[name];
  if (slot) return slot;
  auto dir = real_tokenizers_dir() / name;
  if (!std::filesystem::exists(dir / "tokenizer.json")) return slot = load_real(name);
  nlohmann::json config = nlohmann::json::object();
  if (std::filesystem::exists(dir / "tokenizer_config.json")) config = read_json(dir / "tokenizer_config.json");
  config.erase("tokenizer_class");
  slot = Tokenizer::from_json_string(read_text(dir / "tokenizer.json"), config, (dir / "tokenizer.json").string());
  return slot;
}

}  // namespace vllm::testing
