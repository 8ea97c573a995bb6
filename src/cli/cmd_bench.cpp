// `vllm-cpp bench latency|throughput`: vLLM's offline benchmarks over random token prompts
// (ignore_eos, fixed lengths), for real or --load-format dummy weights.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>

#include <nlohmann/json.hpp>

#include "api/llm.h"
#include "cli/bench_stats.h"
#include "cli/args/command_line.h"
#include "cli/command.h"
#include "core/error.h"

namespace vllm::cli {

int bench_serve(int argc, char** argv);  // cmd_bench_serve.cpp

namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::vector<int32_t>> random_prompts(int64_t count, int64_t length, int64_t vocab, uint64_t seed) {
  std::mt19937_64 random(seed);
  std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(vocab - 1));
  std::vector<std::vector<int32_t>> prompts(static_cast<size_t>(count), std::vector<int32_t>(static_cast<size_t>(length)));
  for (auto& prompt : prompts)
    for (int32_t& id : prompt) id = token(random);
  return prompts;
}

SamplingParams bench_params(int64_t output_len) {
  SamplingParams params;  // vLLM's benchmarks: temperature 1, top_p 1, ignore_eos
  params.temperature = 1.0;
  params.top_p = 1.0;
  params.ignore_eos = true;
  params.max_tokens = static_cast<int>(output_len);
  return params;
}

void write_json(const std::string& path, const nlohmann::json& value) {
  if (path.empty()) return;
  std::ofstream out(path);
  VLLM_CHECK(out.good(), InvalidArgument, path, ": cannot write --output-json");
  out << value.dump(4) << "\n";
}

int latency(int argc, char** argv) {
  CLI::App app("Latency of one batch: prefill input-len tokens, then decode output-len", argv[0]);
  EngineArgs args;
  CommandLine command_line(app, args);
  int64_t input_len = 32, output_len = 128, batch_size = 8, iters = 30, warmup = 10;
  std::string output_json;
  app.add_option("--input-len", input_len)->check(CLI::PositiveNumber);
  app.add_option("--output-len", output_len)->check(CLI::PositiveNumber);
  app.add_option("--batch-size", batch_size)->check(CLI::PositiveNumber);
  app.add_option("--num-iters", iters, "Timed iterations")->check(CLI::PositiveNumber);
  app.add_option("--num-iters-warmup", warmup, "Untimed iterations first");
  app.add_option("--output-json", output_json, "Write the results as JSON");
  if (!command_line.parse(argc, argv)) return 0;
  LLM llm(args);
  auto prompts = random_prompts(batch_size, input_len, llm.engine().model_info().vocab_size, 0);
  SamplingParams params = bench_params(output_len);
  auto run_once = [&] {
    Clock::time_point start = Clock::now();
    llm.generate(prompts, params);
    return std::chrono::duration<double>(Clock::now() - start).count();
  };
  for (int64_t i = 0; i < warmup; ++i) run_once();
  std::vector<double> latencies;
  for (int64_t i = 0; i < iters; ++i) latencies.push_back(run_once());
  double average = 0;
  for (double value : latencies) average += value;
  average /= static_cast<double>(latencies.size());
  std::cout << "Avg latency: " << average << " seconds\n";
  nlohmann::json percentiles;
  for (int p : {10, 25, 50, 75, 90, 99}) {
    double value = percentile(latencies, p);
    std::cout << p << "% percentile latency: " << value << " seconds\n";
    percentiles[std::to_string(p)] = value;
  }
  double decode_rate = static_cast<double>(batch_size * output_len) / average;
  std::cout << "Output tokens/s (batch " << batch_size << "): " << decode_rate << "\n";
  write_json(output_json, {{"avg_latency", average}, {"latencies", latencies}, {"percentiles", percentiles},
                           {"input_len", input_len}, {"output_len", output_len}, {"batch_size", batch_size},
                           {"output_tokens_per_second", decode_rate}});
  return 0;
}

// A pooling model (--runner pooling): every prompt through the model's first task of embed,
// classify, encode (--output-len does not apply); requests/s and prompt tokens/s.
int pooling_throughput(LLM& llm, const std::vector<std::vector<int32_t>>& prompts, int64_t input_len,
                       const std::string& output_json) {
  const std::vector<PoolingTask>& tasks = llm.engine().model_info().pooling_tasks;
  auto serves = [&](PoolingTask task) { return std::find(tasks.begin(), tasks.end(), task) != tasks.end(); };
  const PoolingTask task = serves(PoolingTask::Embed)      ? PoolingTask::Embed
                           : serves(PoolingTask::Classify) ? PoolingTask::Classify
                                                           : PoolingTask::Encode;
  Clock::time_point start = Clock::now();
  if (task == PoolingTask::Embed) llm.embed(prompts);
  else if (task == PoolingTask::Classify) llm.classify(prompts);
  else llm.encode(prompts);
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const int64_t count = static_cast<int64_t>(prompts.size()), total = count * input_len;
  std::cout << "Throughput (" << pooling_task_name(task) << "): " << static_cast<double>(count) / elapsed
            << " requests/s, " << static_cast<double>(total) / elapsed << " total tokens/s\n";
  write_json(output_json, {{"elapsed_time", elapsed}, {"num_requests", count}, {"total_num_tokens", total},
                           {"task", pooling_task_name(task)},
                           {"requests_per_second", static_cast<double>(count) / elapsed},
                           {"tokens_per_second", static_cast<double>(total) / elapsed}});
  return 0;
}

int throughput(int argc, char** argv) {
  CLI::App app("Offline throughput: num-prompts requests at once", argv[0]);
  EngineArgs args;
  CommandLine command_line(app, args);
  int64_t input_len = 128, output_len = 128, num_prompts = 100;
  std::string output_json, structured_outputs;
  app.add_option("--input-len", input_len)->check(CLI::PositiveNumber);
  app.add_option("--output-len", output_len)->check(CLI::PositiveNumber);
  app.add_option("--num-prompts", num_prompts)->check(CLI::PositiveNumber);
  app.add_option("--output-json", output_json, "Write the results as JSON");
  app.add_option("--structured-outputs", structured_outputs,
                 "Every request under this constraint: a structured_outputs object as JSON, e.g. "
                 "'{\"json\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}}}'");
  if (!command_line.parse(argc, argv)) return 0;
  SamplingParams params = bench_params(output_len);
  if (!structured_outputs.empty()) {
    nlohmann::json constraint = nlohmann::json::parse(structured_outputs, nullptr, false);
    if (constraint.is_discarded()) {
      std::cerr << "--structured-outputs is not valid JSON: " << structured_outputs << "\n";
      return 2;
    }
    params.read_structured_outputs({{"structured_outputs", constraint}});
  }
  LLM llm(args);
  auto prompts = random_prompts(num_prompts, input_len, llm.engine().model_info().vocab_size, 0);
  if (llm.engine().is_pooling()) return pooling_throughput(llm, prompts, input_len, output_json);
  Clock::time_point start = Clock::now();
  std::vector<RequestOutput> outputs = llm.generate(prompts, params);
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  int64_t generated = 0;
  for (const RequestOutput& output : outputs) generated += static_cast<int64_t>(output.outputs[0].token_ids.size());
  int64_t total = generated + num_prompts * input_len;
  std::cout << "Throughput: " << static_cast<double>(num_prompts) / elapsed << " requests/s, "
            << static_cast<double>(total) / elapsed << " total tokens/s, "
            << static_cast<double>(generated) / elapsed << " output tokens/s\n";
  write_json(output_json, {{"elapsed_time", elapsed}, {"num_requests", num_prompts}, {"total_num_tokens", total},
                           {"requests_per_second", static_cast<double>(num_prompts) / elapsed},
                           {"tokens_per_second", static_cast<double>(total) / elapsed},
                           {"output_tokens_per_second", static_cast<double>(generated) / elapsed}});
  return 0;
}

int run(int argc, char** argv) {
  const char* usage = "usage: vllm-cpp bench {latency|throughput|serve} [options]  (--help for each)\n";
  if (argc >= 2 && (!std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h"))) {
    std::cout << usage;
    return 0;
  }
  if (argc < 2 || (std::strcmp(argv[1], "latency") && std::strcmp(argv[1], "throughput") &&
                    std::strcmp(argv[1], "serve"))) {
    std::cerr << usage;
    return 2;
  }
  std::string name = argv[1];
  std::string program = std::string(argv[0]) + " " + argv[1];
  argv[1] = program.data();
  if (name == "serve") return bench_serve(argc - 1, argv + 1);
  return name == "latency" ? latency(argc - 1, argv + 1) : throughput(argc - 1, argv + 1);
}

CommandRegistrar registrar({"bench", "Benchmarks: offline latency and throughput, online serving (bench latency|throughput|serve)", run});

}  // namespace
}  // namespace vllm::cli
