// Runs tools/chat_template_reference.py (Python's Jinja2 set up as transformers sets it up) over a
// batch of cases and compares with the C++ renderer.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_util.h"
#include "text/chat/chat_template.h"

namespace vllm::testing {

inline const char* reference_python() { return "/usr/bin/python3"; }

inline bool have_reference_jinja() {
  std::string cmd = std::string(reference_python()) + " -c 'import jinja2' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

#define SKIP_WITHOUT_REFERENCE_JINJA()                                                            \
  do {                                                                                            \
    if (!::vllm::testing::have_reference_jinja())                                                 \
      GTEST_SKIP() << "/usr/bin/python3 with jinja2 not found (scripts/install-deps.sh installs " \
                      "python3-jinja2); the parity test needs it";                                \
  } while (0)

// One rendering to compare: the C++ outcome and the reference's.
struct ParityCase {
  std::string id;
  ChatJson input;     // what the reference script reads
  bool cpp_ok = false;
  std::string cpp_text;  // output or error message
};

struct ReferenceResult {
  bool ok = false;
  std::string text, error, type;
};

inline std::vector<ReferenceResult> run_reference(const std::vector<ParityCase>& cases) {
  auto dir = std::filesystem::temp_directory_path() / ("vllm_chat_parity_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    std::ofstream in(dir / "in.jsonl");
    for (const auto& c : cases) in << c.input.dump() << "\n";
  }
  std::string cmd = std::string(reference_python()) + " " + (source_dir() / "tools/chat_template_reference.py").string() +
                    " < " + (dir / "in.jsonl").string() + " > " + (dir / "out.jsonl").string();
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::vector<ReferenceResult> results;
  std::ifstream out(dir / "out.jsonl");
  std::string line;
  while (std::getline(out, line)) {
    auto j = nlohmann::json::parse(line);
    ReferenceResult r;
    r.ok = j["ok"].get<bool>();
    if (r.ok) r.text = j["text"].get<std::string>();
    else {
      r.error = j["error"].get<std::string>();
      r.type = j["type"].get<std::string>();
    }
    results.push_back(std::move(r));
  }
  std::filesystem::remove_all(dir);
  return results;
}

// Renders with `chat_template` and records the reference case for the same inputs.
inline ParityCase make_case(const std::string& id, const ChatTemplate& chat_template, const ChatJson& conversation) {
  ChatTemplateOptions options;
  options.add_generation_prompt = conversation.value("add_generation_prompt", true);
  options.continue_final_message = conversation.value("continue_final_message", false);
  if (conversation.contains("tools")) options.tools = normalize_tools(conversation["tools"]);
  if (conversation.contains("documents")) options.documents = conversation["documents"];
  if (conversation.contains("chat_template_kwargs")) options.chat_template_kwargs = conversation["chat_template_kwargs"];
  ParityCase c;
  c.id = id;
  const bool has_tools = !options.tools.is_null();
  c.input = {{"id", id},
             {"template", chat_template.source(has_tools)},
             {"messages", chat_template.prepare_messages(conversation["messages"], has_tools)},
             {"tools", options.tools},
             {"documents", options.documents},
             {"add_generation_prompt", options.add_generation_prompt},
             {"continue_final_message", options.continue_final_message},
             {"special_tokens", chat_template.special_tokens()},
             {"kwargs", options.chat_template_kwargs}};
  try {
    c.cpp_text = chat_template.render(conversation["messages"], options);
    c.cpp_ok = true;
  } catch (const std::exception& e) {
    c.cpp_text = e.what();
  }
  return c;
}

// Compares; returns the mismatches as readable lines.
inline std::vector<std::string> compare(const std::vector<ParityCase>& cases, const std::vector<ReferenceResult>& ref) {
  std::vector<std::string> mismatches;
  for (size_t k = 0; k < cases.size(); ++k) {
    const auto& c = cases[k];
    if (k >= ref.size()) {
      mismatches.push_back(c.id + ": no reference output");
      continue;
    }
    const auto& r = ref[k];
    if (c.cpp_ok && r.ok) {
      if (c.cpp_text == r.text) continue;
      size_t at = 0;
      while (at < c.cpp_text.size() && at < r.text.size() && c.cpp_text[at] == r.text[at]) ++at;
      size_t from = at > 60 ? at - 60 : 0;
      mismatches.push_back(c.id + ": output differs at byte " + std::to_string(at) + "\n  c++:    " +
                           nlohmann::json(c.cpp_text.substr(from, 160)).dump() + "\n  python: " +
                           nlohmann::json(r.text.substr(from, 160)).dump());
    } else if (!c.cpp_ok && !r.ok) {
      if (r.type == "TemplateRaised" && c.cpp_text != r.error)
        mismatches.push_back(c.id + ": raise_exception message differs\n  c++:    " + c.cpp_text + "\n  python: " + r.error);
    } else if (c.cpp_ok) {
      mismatches.push_back(c.id + ": c++ rendered but python failed (" + r.type + ": " + r.error + ")");
    } else {
      mismatches.push_back(c.id + ": python rendered but c++ failed: " + c.cpp_text);
    }
  }
  return mismatches;
}

}  // namespace vllm::testing
