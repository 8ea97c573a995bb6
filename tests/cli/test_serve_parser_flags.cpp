// `vllm-cpp serve` refuses unknown --tool-call-parser / --reasoning-parser names and
// --enable-auto-tool-choice without a parser at start-up, before any model loads, with vLLM's messages;
// vLLM's other flags through the binary (the full list is test_vllm_flags.cpp's, in process).
// bad CORS lists and TLS files with messages naming the flag.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace {

// The command's output (stdout and stderr) and its exit status; `command` is a subcommand
// ("serve" unless given) and its arguments.
std::pair<std::string, int> run(const std::string& args, const std::string& command = "serve") {
  std::string out;
  FILE* pipe = popen((std::string(VLLM_BINARY) + " " + command + " " + args + " 2>&1").c_str(), "r");
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

size_t count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

// Help exits 0, a refused flag is one `error:` line, an ignored one warns once.
TEST(ServeParserFlags, VllmFlagsThroughTheBinary) {
  auto [help, help_status] = run("--help=Frontend");
  EXPECT_EQ(help_status, 0);
  EXPECT_NE(help.find("--host"), std::string::npos) << help;

  auto [refused, refused_status] = run("-tp 2");
  EXPECT_NE(refused_status, 0);
  EXPECT_EQ(refused, "error: --tensor-parallel-size 2: vllm-cpp runs a model on one device; parallelism across "
                     "GPUs is not implemented yet\n");

  // Parsing passes, then the missing model stops it before anything loads.
  auto [warned, warned_status] = run("/nonexistent/model --trust-remote-code --trust_remote_code -tp 1 --max-model-len 32k");
  EXPECT_NE(warned_status, 0);
  EXPECT_EQ(count(warned, "--trust-remote-code is ignored"), 1u) << warned;
  EXPECT_NE(warned.find("/nonexistent/model"), std::string::npos) << warned;

  for (const char* command : {"generate", "run-batch -i - -o -", "bench latency", "bench throughput"}) {
    auto [out, status] = run("--model /nonexistent/model -tp 4", command);
    EXPECT_NE(status, 0);
    EXPECT_NE(out.find("error: --tensor-parallel-size 4: "), std::string::npos) << command << ": " << out;
  }
}

// CORS lists are JSON (vLLM's json.loads), refused before the model loads; a key that cannot be
// used ends the start with the flag and the file named.
TEST(ServeParserFlags, BadCorsListsAndTlsFilesAreClearErrors) {
  auto [cors_out, cors_status] = run("--allowed-origins not-json");
  EXPECT_NE(cors_status, 0);
  EXPECT_NE(cors_out.find("--allowed-origins not-json is not a JSON list of strings"), std::string::npos) << cors_out;

  auto [reqs_out, reqs_status] = run("--ssl-cert-reqs 3");
  EXPECT_NE(reqs_status, 0);
  EXPECT_NE(reqs_out.find("--ssl-cert-reqs"), std::string::npos) << reqs_out;

  auto [key_out, key_status] = run("--host 127.0.0.1 --port 0 --kv-cache-memory 8000000 --ssl-certfile "
                                   "/nonexistent/cert.pem --ssl-keyfile /nonexistent/key.pem");
  EXPECT_NE(key_status, 0);
  EXPECT_NE(key_out.find("--ssl-certfile /nonexistent/cert.pem: no such readable file"), std::string::npos) << key_out;
}

}  // namespace
