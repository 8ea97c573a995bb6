// `vllm-cpp render`: prints the prompt the server builds for a chat-completions request body, or
// its token ids with --tokens (tokenized with add_special_tokens=False, as vLLM does for chat).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>

#include "cli/command.h"
#include "core/error.h"
#include "text/chat/chat_template.h"
#include "text/tokenizer/tokenizer.h"

namespace vllm::cli {
namespace {

ChatJson read_request(const std::string& path) {
  std::stringstream text;
  if (path == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream in(path, std::ios::binary);
    VLLM_CHECK(in, NotFound, "cannot open request file ", path);
    text << in.rdbuf();
  }
  try {
    return ChatJson::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::InvalidArgument, path, ": invalid JSON: ", e.what());
  }
}

int run_render(int argc, char** argv) {
  CLI::App app{"Print the prompt that a chat-completions request renders to (chat template applied)", argv[0]};
  std::string tokenizer_dir, request_path, chat_template;
  bool tokens = false;
  app.add_option("--tokenizer", tokenizer_dir, "tokenizer folder (tokenizer_config.json, chat_template.jinja/.json)")->required();
  app.add_option("--request", request_path, "chat-completions request body (JSON file, or - for stdin)")->required();
  app.add_option("--chat-template", chat_template, "chat template file or inline template (as vLLM's --chat-template)");
  app.add_flag("--tokens", tokens, "print the prompt's token ids (needs the tokenizer files) instead of its text");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  ChatTemplate chat = ChatTemplate::from_directory(tokenizer_dir, chat_template);
  std::string prompt = render_chat_request(chat, read_request(request_path));
  if (!tokens) {
    std::fwrite(prompt.data(), 1, prompt.size(), stdout);
    return 0;
  }
  auto tokenizer = Tokenizer::from_directory(tokenizer_dir);
  std::vector<int32_t> ids = tokenizer->encode(prompt, /*add_special_tokens=*/false);
  std::string out = "[";
  for (size_t k = 0; k < ids.size(); ++k) out += (k ? ", " : "") + std::to_string(ids[k]);
  out += "]\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

CommandRegistrar reg({"render", "print the prompt a chat-completions request renders to (or its token ids)", run_render});

}  // namespace
}  // namespace vllm::cli
