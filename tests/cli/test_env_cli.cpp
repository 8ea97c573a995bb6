// `vllm-cpp --help-env` prints the environment-variable registry, and a bad value of a
// registered variable stops any command before it starts, naming the variable.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <string>

#include "core/env.h"

namespace {

std::string run(const std::string& command_line, int* status) {
  std::string out;
  FILE* pipe = popen((command_line + " 2>&1").c_str(), "r");
  std::array<char, 4096> buffer;
  for (size_t n; (n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0;) out.append(buffer.data(), n);
  *status = pclose(pipe);
  return out;
}

TEST(EnvCli, HelpEnvPrintsEveryRegisteredVariable) {
  int status = -1;
  const std::string out = run(std::string(VLLM_BINARY) + " --help-env", &status);
  ASSERT_EQ(status, 0) << out;
  for (const vllm::env::Variable& variable : vllm::env::variables()) {
    EXPECT_NE(out.find(std::string(variable.name)), std::string::npos) << variable.name << " missing from:\n" << out;
    EXPECT_NE(out.find(std::string(variable.doc)), std::string::npos) << variable.name << "'s doc missing";
  }
  EXPECT_NE(out.find("choice (auto, cublaslt, builtin), default: auto"), std::string::npos) << out;
}

TEST(EnvCli, UsageMentionsHelpEnv) {
  int status = -1;
  const std::string out = run(std::string(VLLM_BINARY) + " --help", &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("--help-env"), std::string::npos) << out;
}

TEST(EnvCli, BadValueStopsACommandAndNamesTheVariable) {
  int status = -1;
  const std::string out = run("VLLM_CPU_ISA=avx9 " + std::string(VLLM_BINARY) + " tokenize --help", &status);
  EXPECT_NE(status, 0) << out;
  EXPECT_NE(out.find("VLLM_CPU_ISA=\"avx9\" is not one of: scalar, avx2, avx512"), std::string::npos) << out;
  EXPECT_NE(out.find("--help-env"), std::string::npos) << out;
}

TEST(EnvCli, GoodValuesLetACommandRun) {
  int status = -1;
  const std::string out =
      run("VLLM_CPU_ISA=AVX2 VLLM_LOGGING_LEVEL=warn " + std::string(VLLM_BINARY) + " tokenize --help", &status);
  EXPECT_EQ(status, 0) << out;
}

}  // namespace
