// `vllm-cpp generate`: offline generation for prompts given on the command line or in a file.
#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "api/llm.h"
#include "cli/args/command_line.h"
#include "cli/command.h"
#include "cli/sampling_flags.h"
#include "core/error.h"

namespace vllm::cli {
namespace {

nlohmann::json output_json(const RequestOutput& output) {
  nlohmann::json result = {{"prompt", output.prompt}, {"prompt_token_ids", output.prompt_token_ids}};
  nlohmann::json completions = nlohmann::json::array();
  for (const CompletionOutput& completion : output.outputs) {
    nlohmann::json item = {{"index", completion.index}, {"text", completion.text},
                           {"token_ids", completion.token_ids}, {"finish_reason", completion.finish_reason}};
    if (completion.logprobs) {
      nlohmann::json logprobs = nlohmann::json::array();
      for (const TokenLogprobs& position : *completion.logprobs) {
        nlohmann::json entries = nlohmann::json::array();
        for (const TokenLogprob& entry : position)
          entries.push_back({{"token_id", entry.token_id}, {"logprob", entry.logprob}, {"rank", entry.rank},
                             {"decoded_token", entry.decoded_token}});
        logprobs.push_back(entries);
      }
      item["logprobs"] = logprobs;
    }
    completions.push_back(item);
  }
  result["outputs"] = completions;
  if (output.prompt_logprobs) {
    nlohmann::json prompt_logprobs = nlohmann::json::array();
    for (const auto& position : *output.prompt_logprobs) {
      if (!position) {
        prompt_logprobs.push_back(nullptr);
        continue;
      }
      nlohmann::json entries = nlohmann::json::object();
      for (const TokenLogprob& entry : *position)
        entries[std::to_string(entry.token_id)] = {
            {"logprob", entry.logprob}, {"rank", entry.rank}, {"decoded_token", entry.decoded_token}};
      prompt_logprobs.push_back(entries);
    }
    result["prompt_logprobs"] = prompt_logprobs;
  }
  result["metrics"] = {{"num_cached_tokens", output.metrics.num_cached_tokens},
                       {"time_to_first_token", output.metrics.first_token_time - output.metrics.arrival_time},
                       {"e2e_latency", output.metrics.finished_time - output.metrics.arrival_time}};
  return result;
}

// One prompt per line; a line that is a JSON object gives "prompt" (text) or "prompt_token_ids".
void read_prompts(const std::string& path, std::vector<std::string>& texts, std::vector<std::vector<int32_t>>& ids) {
  std::ifstream in(path);
  VLLM_CHECK(in.good(), NotFound, path, ": cannot open the prompts file");
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    if (line.front() == '{') {
      nlohmann::json item = nlohmann::json::parse(line, nullptr, false);
      VLLM_CHECK(!item.is_discarded() && item.is_object(), InvalidArgument, path, ":", number, ": not a JSON object");
      if (item.contains("prompt_token_ids")) {
        ids.push_back(item["prompt_token_ids"].get<std::vector<int32_t>>());
        continue;
      }
      VLLM_CHECK(item.contains("prompt") && item["prompt"].is_string(), InvalidArgument, path, ":", number,
                 ": needs a string \"prompt\" or \"prompt_token_ids\"");
      texts.push_back(item["prompt"].get<std::string>());
    } else {
      texts.push_back(line);
    }
  }
}

int run(int argc, char** argv) {
  CLI::App app("Generate completions offline (vLLM's LLM.generate)", argv[0]);
  EngineArgs args;
  CommandLine command_line(app, args);
  SamplingFlags sampling;
  sampling.add(app);
  std::vector<std::string> prompts;
  std::string prompts_file;
  std::vector<int32_t> prompt_token_ids;
  bool chat = false, json = false;
  app.add_option("--prompt,-p", prompts, "A prompt (repeatable)");
  app.add_option("--prompts", prompts_file, "File with one prompt per line, or JSON lines {\"prompt\": ...}");
  app.add_option("--prompt-token-ids", prompt_token_ids, "A prompt as token ids (comma or space separated)")
      ->delimiter(',');
  app.add_flag("--chat", chat, "Send each prompt as a user message through the chat template");
  app.add_flag("--json", json, "Print one JSON object per prompt (text, token ids, logprobs, metrics)");
  if (!command_line.parse(argc, argv)) return 0;
  SamplingParams params = sampling.finish();

  std::vector<std::vector<int32_t>> id_prompts;
  if (!prompts_file.empty()) read_prompts(prompts_file, prompts, id_prompts);
  if (!prompt_token_ids.empty()) id_prompts.push_back(prompt_token_ids);
  VLLM_CHECK(!prompts.empty() || !id_prompts.empty(), InvalidArgument,
             "no prompt: give --prompt, --prompts FILE or --prompt-token-ids");

  LLM llm(args);
  llm.engine().apply_generation_defaults(params);  // flags the user gave win
  std::vector<RequestOutput> outputs;
  if (chat) {
    std::vector<nlohmann::json> conversations;
    for (const std::string& prompt : prompts)
      conversations.push_back(nlohmann::json::array({{{"role", "user"}, {"content", prompt}}}));
    outputs = llm.chat(conversations, params);
  } else if (!prompts.empty()) {
    outputs = llm.generate(prompts, params);
  }
  if (!id_prompts.empty()) {
    std::vector<RequestOutput> more = llm.generate(id_prompts, params);
    outputs.insert(outputs.end(), more.begin(), more.end());
  }
  for (const RequestOutput& output : outputs) {
    if (json) {
      std::cout << output_json(output).dump() << "\n";
      continue;
    }
    for (const CompletionOutput& completion : output.outputs) {
      if (args.skip_tokenizer_init) {
        for (int32_t id : completion.token_ids) std::cout << id << ' ';
        std::cout << "\n";
      } else {
        std::cout << output.prompt << completion.text << "\n";
      }
    }
  }
  return 0;
}

CommandRegistrar registrar({"generate", "Generate completions for prompts offline", run});

}  // namespace
}  // namespace vllm::cli
