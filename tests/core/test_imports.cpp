// Imports run one way (docs/architecture.md): every `#include "dir/..."` under src/ names a
// folder at or below the including file's own in the library order, so layers never include
// models, the engine never includes the API, and backends never include the ops dispatching to
// them.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "test_util.h"

namespace fs = std::filesystem;

namespace {

// What each folder of src/ may include besides itself.
const std::map<std::string, std::set<std::string>>& allowed_includes() {
  static const std::map<std::string, std::set<std::string>> allowed = {
      {"core", {}},
      {"text/tokenizer", {"core"}},
      {"text/chat", {"core"}},
      {"structured", {"core", "text/tokenizer"}},
      {"parsers", {"core", "text/tokenizer"}},
      {"backend", {"core"}},  // the types ops and backends share (backend/backend_types.h)
      {"backend/cpu", {"core", "backend"}},
      {"backend/cuda", {"core", "backend"}},
      {"ops", {"core", "backend", "backend/cpu", "backend/cuda"}},
      {"multimodal", {"core"}},
      {"loader", {"core", "ops"}},
      {"layers", {"core", "backend", "ops", "loader"}},
      {"models", {"core", "backend", "ops", "loader", "layers", "multimodal"}},
      {"engine", {"core", "ops", "loader", "layers", "models", "multimodal", "text/tokenizer", "text/chat", "structured"}},
      {"api", {"core", "ops", "loader", "layers", "models", "multimodal", "text/tokenizer", "text/chat", "structured", "parsers", "engine"}},
      {"server", {"core", "ops", "loader", "layers", "models", "multimodal", "text/tokenizer", "text/chat", "structured", "parsers", "engine", "api"}},
  };
  return allowed;
}

// The folder key of a path relative to src/, the longest that matches ("text/chat/x.h" ->
// "text/chat", "backend/cpu/x.h" -> "backend/cpu", "backend/x.h" -> "backend").
std::string folder_of(const std::string& relative) {
  std::string best;
  for (const auto& [folder, unused] : allowed_includes())
    if (relative.rfind(folder + "/", 0) == 0 && folder.size() > best.size()) best = folder;
  return best.empty() ? relative.substr(0, relative.find('/')) : best;
}

TEST(Imports, RunOneWay) {
  const fs::path src = vllm::testing::source_dir() / "src";
  const std::regex include_line(R"re(^\s*#\s*include\s+"([^"]+)")re");
  std::vector<std::string> violations;
  size_t files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(src)) {
    if (!entry.is_regular_file()) continue;
    const std::string ext = entry.path().extension().string();
    if (ext != ".h" && ext != ".cpp" && ext != ".cu" && ext != ".cuh" && ext != ".inl") continue;
    const std::string relative = fs::relative(entry.path(), src).generic_string();
    const std::string folder = folder_of(relative);
    auto rule = allowed_includes().find(folder);
    if (rule == allowed_includes().end()) continue;  // cli: the top, may include anything
    ++files;
    std::ifstream in(entry.path());
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
      ++number;
      std::smatch match;
      if (!std::regex_search(line, match, include_line)) continue;
      const std::string target = match[1].str();
      if (target.find('/') == std::string::npos) continue;  // a sibling header
      const std::string target_folder = folder_of(target);
      if (target_folder == folder || rule->second.count(target_folder)) continue;
      violations.push_back(relative + ":" + std::to_string(number) + " includes " + target);
    }
  }
  EXPECT_GT(files, 100u) << "the scan found too few sources under " << src;
  std::string report;
  for (const std::string& v : violations) report += "\n  " + v;
  EXPECT_TRUE(violations.empty()) << "includes against the library order:" << report;
}

// The rule table itself rejects what it must: a layer including a model, the engine the API.
TEST(Imports, TheRuleTableForbidsUpwardIncludes) {
  const auto& allowed = allowed_includes();
  EXPECT_EQ(allowed.at("layers").count("models"), 0u);
  EXPECT_EQ(allowed.at("engine").count("api"), 0u);
  EXPECT_EQ(allowed.at("engine").count("server"), 0u);
  EXPECT_EQ(allowed.at("backend/cuda").count("ops"), 0u);
  EXPECT_EQ(allowed.at("backend/cpu").count("ops"), 0u);
  EXPECT_EQ(folder_of("text/chat/chat_template.h"), "text/chat");
  EXPECT_EQ(folder_of("ops/attention.h"), "ops");
  EXPECT_EQ(folder_of("backend/cpu/cpu_ops.h"), "backend/cpu");
  EXPECT_EQ(folder_of("backend/backend_types.h"), "backend");
}

}  // namespace
