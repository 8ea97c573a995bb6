// Replays the scheduler alone (no model) over an offline throughput workload and reports what it
// decides: steps with prompt tokens and decode-only steps, prompt tokens computed (recomputation
// after preemption included), preemptions and the decode batch sizes. The engine's scheduling
// depends only on token counts, so this shows in a second what a GPU run of `vllm-cpp bench
// throughput` with the same numbers will schedule.
//   make bench && build/scheduler_replay [--admission-reserve-tokens N] [--num-blocks N]
//       [--input-len N] [--output-len N] [--num-prompts N] [--max-num-seqs N] [--max-num-batched-tokens N]
// Defaults: the H200 throughput figure of docs/benchmarks.md (Llama-3.1-8B: 55,129 KV blocks of 16
// tokens, 1024 sequences, 16,384 tokens per step, 1000 prompts of 1000 tokens, 1000 out).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/scheduler.h"

using namespace vllm;

int main(int argc, char** argv) {
  std::map<std::string, long> options = {{"--admission-reserve-tokens", 1024}, {"--num-blocks", 55129},
                                         {"--input-len", 1000},                {"--output-len", 1000},
                                         {"--num-prompts", 1000},              {"--max-num-seqs", 1024},
                                         {"--max-num-batched-tokens", 16384}};
  for (int i = 1; i + 1 < argc; i += 2) {
    auto found = options.find(argv[i]);
    if (found == options.end()) {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
    found->second = std::atol(argv[i + 1]);
  }
  VllmConfig config;
  config.scheduler.max_num_batched_tokens = static_cast<int>(options["--max-num-batched-tokens"]);
  config.scheduler.max_num_seqs = static_cast<int>(options["--max-num-seqs"]);
  config.scheduler.admission_reserve_tokens = static_cast<int>(options["--admission-reserve-tokens"]);
  config.model.max_model_len = 131072;
  config.cache.num_blocks = static_cast<int>(options["--num-blocks"]) + 1;  // + the null block
  config.cache.block_size = 16;
  Scheduler scheduler(config);
  std::mt19937 random(1);
  for (long i = 0; i < options["--num-prompts"]; ++i) {
    std::vector<int32_t> prompt(static_cast<size_t>(options["--input-len"]));
    for (int32_t& token : prompt) token = static_cast<int32_t>(random() % 128000);
    SamplingParams params;
    params.max_tokens = static_cast<int>(options["--output-len"]);
    params.ignore_eos = true;
    scheduler.add_request(
        std::make_unique<Request>("r" + std::to_string(i), std::move(prompt), params, std::nullopt, 0, 0.0));
  }
  long prompt_steps = 0, decode_steps = 0, prompt_tokens = 0, preemptions = 0, decode_rows = 0;
  std::map<int, int> batch_histogram;  // decode-only steps by batch size / 100
  while (scheduler.has_unfinished_requests()) {
    SchedulerOutput out = scheduler.schedule();
    preemptions += static_cast<long>(out.preempted_request_ids.size());
    std::vector<std::vector<int32_t>> sampled(out.scheduled.size());
    bool has_prompt = false;
    int decodes = 0;
    for (size_t i = 0; i < out.scheduled.size(); ++i) {
      const ScheduledRequest& s = out.scheduled[i];
      if (s.num_computed_tokens < s.request->num_prompt_tokens() || s.num_new_tokens > 1) {
        has_prompt = true;
        prompt_tokens += s.num_new_tokens;
      } else {
        ++decodes;
      }
      if (s.needs_sampling) sampled[i] = {7};
    }
    if (has_prompt) {
      ++prompt_steps;
    } else {
      ++decode_steps;
      decode_rows += decodes;
      ++batch_histogram[decodes / 100];
    }
    scheduler.update_from_output(out, sampled);
  }
  std::printf("admission reserve %ld tokens: %ld steps with prompt tokens, %ld decode-only steps (mean batch %.0f), "
              "%ld prompt tokens computed (%ld in the prompts), %ld preemptions\n",
              options["--admission-reserve-tokens"], prompt_steps, decode_steps,
              decode_steps ? static_cast<double>(decode_rows) / decode_steps : 0.0, prompt_tokens,
              options["--num-prompts"] * options["--input-len"], preemptions);
  for (const auto& [bucket, steps] : batch_histogram)
    std::printf("  decode batch %4d-%4d: %d steps\n", bucket * 100, bucket * 100 + 99, steps);
  return 0;
}
