// Parity with Python's Jinja2 as transformers sets it up, over every real chat template in
// ../shared/data/chat-templates and the conversation set in tests/data/chat/conversations.json.
#include <algorithm>
#include <fstream>
#include <iostream>

#include "chat_parity_util.h"
#include "core/error.h"

namespace vllm {
namespace {

using testing::ParityCase;

ChatJson read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  return ChatJson::parse(in);
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

const ChatJson kDefaultSpecialTokens = {{"bos_token", "<s>"}, {"eos_token", "</s>"}, {"unk_token", "<unk>"}, {"pad_token", "<pad>"}};

struct NamedTemplate {
  std::string name;
  ChatTemplate chat_template;
};

std::vector<NamedTemplate> load_shared_templates() {
  auto root = testing::shared_data_dir() / "chat-templates";
  std::vector<NamedTemplate> out;
  std::vector<std::filesystem::path> files;
  for (const char* sub : {"jinja", "mistral-common"})
    for (const auto& entry : std::filesystem::directory_iterator(root / sub)) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (const auto& path : files) {
    std::string name = path.parent_path().filename().string() + "/" + path.filename().string();
    try {
      out.push_back({name, ChatTemplate::from_string(read_text(path), kDefaultSpecialTokens)});
    } catch (const std::exception& e) {
      ADD_FAILURE() << name << ": " << e.what();
    }
  }
  // Whole tokenizer_config.json files (and a processor chat_template.json) load as a tokenizer folder.
  std::vector<std::filesystem::path> configs;
  for (const auto& entry : std::filesystem::directory_iterator(root / "tokenizer-configs")) configs.push_back(entry.path());
  std::sort(configs.begin(), configs.end());
  for (const auto& path : configs) {
    std::string file = path.filename().string();
    auto sep = file.find("__");
    std::string kind = file.substr(sep + 2);
    if (kind != "tokenizer_config.json" && kind != "chat_template.json") continue;
    auto dir = std::filesystem::temp_directory_path() / ("vllm_chat_cfg_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    std::filesystem::copy_file(path, dir / kind);
    if (kind == "chat_template.json") {
      std::filesystem::path tok = path.parent_path() / (file.substr(0, sep) + "__tokenizer_config.json");
      if (std::filesystem::exists(tok)) {
        ChatJson config = read_json(tok);
        config.erase("chat_template");
        std::ofstream(dir / "tokenizer_config.json") << config.dump();
      }
    }
    try {
      out.push_back({"tokenizer-configs/" + file, ChatTemplate::from_directory(dir)});
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::NotFound) ADD_FAILURE() << file << ": " << e.what();
    }
    std::filesystem::remove_all(dir);
  }
  ChatJson ollama = read_json(root / "ollama-index.json");
  for (const auto& entry : ollama) {
    std::string name = "ollama/" + entry["name"].get<std::string>();
    try {
      out.push_back({name, ChatTemplate::from_string(entry["template"].get<std::string>(), kDefaultSpecialTokens)});
    } catch (const std::exception& e) {
      ADD_FAILURE() << name << ": " << e.what();
    }
  }
  return out;
}

TEST(ChatTemplateParity, EveryTemplateEveryConversation) {
  SKIP_WITHOUT_SHARED_DATA();
  SKIP_WITHOUT_REFERENCE_JINJA();
  ChatJson conversations = read_json(testing::source_dir() / "tests/data/chat/conversations.json");
  std::vector<NamedTemplate> templates = load_shared_templates();
  std::vector<ParityCase> cases;
  for (const auto& t : templates)
    for (const auto& conversation : conversations)
      cases.push_back(testing::make_case(t.name + " x " + conversation["name"].get<std::string>(), t.chat_template, conversation));
  auto reference = testing::run_reference(cases);
  auto mismatches = testing::compare(cases, reference);
  size_t rendered = 0;
  for (size_t k = 0; k < cases.size() && k < reference.size(); ++k) rendered += cases[k].cpp_ok && reference[k].ok;
  std::cout << "chat template parity: " << templates.size() << " templates x " << conversations.size()
            << " conversations: " << cases.size() - mismatches.size() << "/" << cases.size() << " match (" << rendered
            << " rendered, the rest raise in both)\n";
  for (const auto& m : mismatches) ADD_FAILURE() << m;
}

}  // namespace
}  // namespace vllm
