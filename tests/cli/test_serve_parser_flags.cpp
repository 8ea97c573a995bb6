// `vllm-cpp serve` refuses unknown --tool-call-parser / --reasoning-parser names and
// --enable-auto-tool-choice without a parser at start-up, before any model loads, with vLLM's messages.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace {

// The command's output (stdout and stderr) and its exit status.
std::pair<std::string, int> run(const std::string& args) {
  std::string out;
  FILE* pipe = popen((std::string(VLLM_BINARY) + " serve " + args + " 2>&1").c_str(), "r");
  std::array<char, 4096> buffer;
  for (size_t n; (n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0;) out.append(buffer.data(), n);
  int status = pclose(pipe);
  return {out, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

TEST(ServeParserFlags, UnknownNamesFailAtStartUp) {
  auto [tool_out, tool_status] = run("--enable-auto-tool-choice --tool-call-parser nope");
  EXPECT_NE(tool_status, 0);
  EXPECT_NE(tool_out.find("invalid tool call parser: nope (chose from {"), std::string::npos) << tool_out;
  EXPECT_NE(tool_out.find("hermes"), std::string::npos);

  auto [reasoning_out, reasoning_status] = run("--reasoning-parser nope");
  EXPECT_NE(reasoning_status, 0);
  EXPECT_NE(reasoning_out.find("invalid reasoning parser: nope (chose from {"), std::string::npos) << reasoning_out;

  auto [auto_out, auto_status] = run("--enable-auto-tool-choice");
  EXPECT_NE(auto_status, 0);
  EXPECT_NE(auto_out.find("--enable-auto-tool-choice requires --tool-call-parser"), std::string::npos) << auto_out;
}

}  // namespace
