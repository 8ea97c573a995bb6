// docs/models.md is the user's list of supported architectures: every name the registry knows
// must appear in it (as a whole word), so registering an architecture without documenting it
// fails here rather than drifting.
#include <gtest/gtest.h>

#include <cctype>
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

}  // namespace
