// docs/models.md is the user's list of supported architectures: every name the registry knows
// must appear in it (as a whole word), so registering an architecture without documenting it
// fails here rather than drifting.
#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "models/registry.h"
#include "test_util.h"

using namespace vllm;

namespace {

bool word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

bool contains_word(const std::string& text, const std::string& word) {
  for (size_t at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) {
    bool left = at == 0 || !word_char(text[at - 1]);
    bool right = at + word.size() == text.size() || !word_char(text[at + word.size()]);
    if (left && right) return true;
  }
  return false;
}

TEST(ModelsDoc, ListsEveryRegisteredArchitecture) {
  std::ifstream in(vllm::testing::source_dir() / "docs" / "models.md");
  ASSERT_TRUE(in) << "docs/models.md is missing";
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string doc = buffer.str();
  std::vector<std::string> names = ModelRegistry::names();
  ASSERT_FALSE(names.empty());
  for (const std::string& name : names)
    EXPECT_TRUE(contains_word(doc, name)) << name << " is registered but docs/models.md does not list it";
}

// ../shared/MODELS.md's dense-decoder rows: each is listed in docs/models.md, and each is
// registered unless docs/models.md lists it under "Not yet supported".
TEST(ModelsDoc, EveryDenseRowOfTheSupportedListIsServedAndListed) {
  const std::filesystem::path list = vllm::testing::shared_data_dir().parent_path() / "MODELS.md";
  if (!std::filesystem::exists(list)) GTEST_SKIP() << list << " not found";
  std::ifstream models(list), docs(vllm::testing::source_dir() / "docs" / "models.md");
  std::stringstream buffer;
  buffer << docs.rdbuf();
  const std::string doc = buffer.str();
  const size_t not_yet = doc.find("## Not yet supported");
  ASSERT_NE(not_yet, std::string::npos) << "docs/models.md has no 'Not yet supported' section";
  const std::string unsupported = doc.substr(not_yet);
  int rows = 0;
  for (std::string line; std::getline(models, line);) {
    // | `Name` | dense decoder | example |, or several names: | `A`, `B` | or | `A, B` |
    if (line.rfind("| `", 0) != 0 || line.find("| dense decoder |") == std::string::npos) continue;
    std::string names = line.substr(2, line.find(" |", 2) - 2);
    std::string name;
    for (char c : names + ",") {
      if (c == '`' || c == ' ') continue;
      if (c != ',') {
        name += c;
        continue;
      }
      ++rows;
      EXPECT_TRUE(contains_word(doc, name)) << name << " is missing from docs/models.md";
      EXPECT_TRUE(ModelRegistry::find(name) != nullptr || contains_word(unsupported, name))
          << name << " (a dense decoder row of MODELS.md) is neither registered nor listed as not yet supported";
      name.clear();
    }
  }
  EXPECT_GT(rows, 40);
}

}  // namespace
