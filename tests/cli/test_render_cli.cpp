// `vllm-cpp render` end to end: the prompt for a request body, the --chat-template override, errors.
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "test_util.h"

namespace {

struct Result {
  int status;
  std::string output;
};

Result run(const std::string& args) {
  std::string cmd = std::string(VLLM_BINARY) + " render " + args + " 2>&1";
  Result r{0, ""};
  FILE* pipe = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  r.status = pclose(pipe);
  return r;
}

class RenderCli : public ::testing::Test {
 protected:
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("vllm_render_cli_" + std::to_string(::getpid()));
  void SetUp() override {
    std::filesystem::create_directories(dir / "tok");
    std::ofstream(dir / "tok/tokenizer_config.json")
        << R"({"bos_token": "<s>", "chat_template": "{{ bos_token }}{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"})";
    std::ofstream(dir / "request.json") << R"({"model": "x", "messages": [{"role": "user", "content": "héllo"}]})";
    std::ofstream(dir / "override.jinja") << "override:{{ messages[0].content }}";
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
};

TEST_F(RenderCli, PrintsExactlyThePrompt) {
  Result r = run("--tokenizer " + (dir / "tok").string() + " --request " + (dir / "request.json").string());
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output, "<s><|user|>héllo\n<|assistant|>");
}

TEST_F(RenderCli, ChatTemplateOverride) {
  Result r = run("--tokenizer " + (dir / "tok").string() + " --request " + (dir / "request.json").string() +
                 " --chat-template " + (dir / "override.jinja").string());
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output, "override:héllo");
}

TEST_F(RenderCli, TemplateErrorsAreReported) {
  std::ofstream(dir / "bad.jinja") << "{{ raise_exception('roles must alternate') }}";
  Result r = run("--tokenizer " + (dir / "tok").string() + " --request " + (dir / "request.json").string() +
                 " --chat-template " + (dir / "bad.jinja").string());
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(r.output, "error: roles must alternate\n");
}

}  // namespace
