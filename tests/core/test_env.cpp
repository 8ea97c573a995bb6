// The environment-variable registry (core/env.h): docs/env.md lists exactly the registered
// variables, nothing in src/ reads the environment around it, and bad values are errors that
// name the variable and what it accepts.
#include "core/env.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>

#include "core/error.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace vllm;
using vllm::testing::ScopedEnv;

namespace {

// docs/env.md's "## Variables" table: name -> type column.
std::map<std::string, std::string> documented_variables() {
  std::ifstream file(vllm::testing::source_dir() / "docs/env.md");
  EXPECT_TRUE(file) << "docs/env.md not found";
  std::map<std::string, std::string> out;
  bool in_section = false;
  for (std::string line; std::getline(file, line);) {
    if (line.rfind("## ", 0) == 0) in_section = line == "## Variables";
    if (!in_section || line.rfind("| `", 0) != 0) continue;
    const size_t end = line.find('`', 3);
    const size_t type_start = line.find("| ", end) + 2;
    out[line.substr(3, end - 3)] = line.substr(type_start, line.find(" |", type_start) - type_start);
  }
  return out;
}

std::string error_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

}  // namespace

TEST(Env, DocsListEveryRegisteredVariableAndNoOther) {
  const std::map<std::string, std::string> documented = documented_variables();
  ASSERT_FALSE(documented.empty()) << "no table under ## Variables in docs/env.md";
  std::set<std::string> registered;
  for (const env::Variable& variable : env::variables()) {
    const std::string name(variable.name);
    registered.insert(name);
    auto row = documented.find(name);
    if (row == documented.end()) {
      ADD_FAILURE() << name << " is registered in src/core/env.cpp but not listed in docs/env.md";
      continue;
    }
    EXPECT_EQ(row->second.rfind(env::type_name(variable.type), 0), 0u)
        << name << ": docs/env.md gives type '" << row->second << "', the registry " << env::type_name(variable.type);
  }
  for (const auto& [name, type] : documented)
    EXPECT_TRUE(registered.count(name)) << name << " is listed in docs/env.md but not registered in src/core/env.cpp";
}

TEST(Env, NoSourceFileOutsideTheRegistryReadsTheEnvironment) {
  const fs::path src = vllm::testing::source_dir() / "src";
  ASSERT_TRUE(fs::is_directory(src)) << src;
  std::string offenders;
  for (const fs::directory_entry& entry : fs::recursive_directory_iterator(src)) {
    if (!entry.is_regular_file()) continue;
    const fs::path relative = fs::relative(entry.path(), src);
    if (relative == fs::path("core/env.cpp")) continue;
    std::ifstream file(entry.path());
    std::stringstream text;
    text << file.rdbuf();
    const std::string body = text.str();
    if (body.find("getenv(") != std::string::npos || body.find("secure_getenv(") != std::string::npos)
      offenders += " src/" + relative.string();
  }
  EXPECT_EQ(offenders, "") << "read the environment through core/env.h (register the variable in src/core/env.cpp "
                              "and docs/env.md):"
                           << offenders;
}

TEST(Env, RegistryEntriesAreComplete) {
  std::set<std::string> seen;
  for (const env::Variable& variable : env::variables()) {
    const std::string name(variable.name);
    EXPECT_TRUE(seen.insert(name).second) << name << " registered twice";
    EXPECT_FALSE(variable.doc.empty()) << name;
    EXPECT_FALSE(variable.default_value.empty()) << name;
    EXPECT_EQ(variable.type == env::Type::Choice, !variable.choices.empty()) << name;
  }
}

TEST(Env, BooleansAcceptTheUsualSpellings) {
  const env::Variable& pdl = env::variable("VLLM_CUDA_PDL");
  for (const char* yes : {"1", "true", "TRUE", "yes", "on"}) EXPECT_TRUE(env::parse_bool(pdl, yes)) << yes;
  for (const char* no : {"0", "false", "No", "off"}) EXPECT_FALSE(env::parse_bool(pdl, no)) << no;
  const std::string message = error_of([&] { env::parse_bool(pdl, "maybe"); });
  EXPECT_NE(message.find("VLLM_CUDA_PDL=\"maybe\""), std::string::npos) << message;
  EXPECT_NE(message.find("1, 0, true, false"), std::string::npos) << message;
}

TEST(Env, ChoicesMatchCaseInsensitivelyAndNameTheAcceptedValues) {
  const env::Variable& level = env::variable("VLLM_LOGGING_LEVEL");
  EXPECT_EQ(env::parse_choice(level, "debug"), "DEBUG");
  EXPECT_EQ(env::parse_choice(level, "Warn"), "WARN");
  const env::Variable& matmul = env::variable("VLLM_CUDA_MATMUL");
  EXPECT_EQ(env::parse_choice(matmul, "BUILTIN"), "builtin");
  const std::string message = error_of([&] { env::parse_choice(matmul, "fast"); });
  EXPECT_NE(message.find("VLLM_CUDA_MATMUL=\"fast\" is not one of: auto, cublaslt, builtin"), std::string::npos)
      << message;
}

TEST(Env, UnregisteredVariablesAreAnInternalError) {
  try {
    env::get("VLLM_NOT_A_VARIABLE");
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::Internal);
    EXPECT_NE(std::string(error.what()).find("VLLM_NOT_A_VARIABLE"), std::string::npos);
  }
}

TEST(Env, GetTreatsEmptyAsUnset) {
  ScopedEnv set("HF_HOME", "");
  EXPECT_EQ(env::get("HF_HOME"), std::nullopt);
  ScopedEnv set_again("HF_HOME", "/tmp/hf");
  EXPECT_EQ(env::get("HF_HOME"), "/tmp/hf");
}

TEST(Env, CheckAllReportsEveryBadValue) {
  ScopedEnv matmul("VLLM_CUDA_MATMUL", "fast");
  ScopedEnv pdl("VLLM_CUDA_PDL", "maybe");
  ScopedEnv key("VLLM_API_KEY", "anything goes");
  const std::string message = error_of([] { env::check_all(); });
  EXPECT_NE(message.find("VLLM_CUDA_MATMUL=\"fast\""), std::string::npos) << message;
  EXPECT_NE(message.find("VLLM_CUDA_PDL=\"maybe\""), std::string::npos) << message;
  EXPECT_EQ(message.find("VLLM_API_KEY"), std::string::npos) << message;
}

TEST(Env, CheckAllPassesGoodValues) {
  ScopedEnv matmul("VLLM_CUDA_MATMUL", "cuBLASLt");
  ScopedEnv level("VLLM_LOGGING_LEVEL", "warning");
  EXPECT_NO_THROW(env::check_all());
}

TEST(Env, HelpTextListsEveryVariable) {
  const std::string text = env::help_text();
  for (const env::Variable& variable : env::variables())
    EXPECT_NE(text.find(std::string(variable.name)), std::string::npos) << variable.name;
}
