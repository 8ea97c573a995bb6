// `vllm-cpp generate`, `run-batch` and `bench` end to end against the built binary.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "ssm_test_checkpoint.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace {

// Runs a shell command; returns its stdout and sets *status to the exit code.
std::string run(const std::string& command, int* status = nullptr) {
  std::string output;
  FILE* pipe = popen(("OMP_WAIT_POLICY=PASSIVE " + command).c_str(), "r");
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  int code = pclose(pipe);
  if (status) *status = WIFEXITED(code) ? WEXITSTATUS(code) : -1;
  return output;
}

std::string binary() { return VLLM_BINARY; }
std::string default_model() { return (vllm::testing::source_dir() / "models/default").string(); }
std::string fixture(const std::string& name) { return (vllm::testing::source_dir() / "tests/data/models" / name).string(); }

fs::path temp_file(const std::string& name) {
  return fs::temp_directory_path() / ("vllm_cli_" + std::to_string(::getpid()) + "_" + name);
}

TEST(GenerateCli, GreedyTextAndJson) {
  int status = 0;
  std::string text = run(binary() + " generate --model " + default_model() +
                             " --prompt 'Once upon a time, there was a little' --temperature 0 --max-tokens 8 2>/dev/null",
                         &status);
  EXPECT_EQ(status, 0);
  EXPECT_EQ(text, "Once upon a time, there was a little girl named Lily. She loved to play\n");  // transformers: reference.json
  std::string json = run(binary() + " generate --model " + default_model() +
                             " --prompt Hello --temperature 0 --max-tokens 4 --logprobs 2 --json 2>/dev/null",
                         &status);
  nlohmann::json output = nlohmann::json::parse(json);
  ASSERT_EQ(output["outputs"].size(), 1u);
  EXPECT_EQ(output["outputs"][0]["token_ids"].size(), 4u);
  EXPECT_EQ(output["outputs"][0]["finish_reason"], "length");
  EXPECT_EQ(output["outputs"][0]["logprobs"].size(), 4u);
}

// --async-scheduling (on by default for CUDA only) through the CLI: the same greedy text, and the
// engine says which mode it runs in; without either flag the CPU runs synchronously.
TEST(GenerateCli, AsyncSchedulingFlagsReachTheEngine) {
  const std::string command = binary() + " generate --model " + default_model() + " --device cpu" +
                              " --prompt 'Once upon a time, there was a little' --temperature 0 --max-tokens 8";
  int status = 0;
  std::string async_log = run(command + " --async-scheduling 2>&1 >/dev/null", &status);
  EXPECT_EQ(status, 0);
  EXPECT_NE(async_log.find(", async scheduling"), std::string::npos) << async_log;
  EXPECT_EQ(run(command + " --async-scheduling 2>/dev/null"), "Once upon a time, there was a little girl named Lily. She loved to play\n");
  for (const std::string& flags : {std::string(), std::string(" --no-async-scheduling")}) {
    std::string log = run(command + flags + " 2>&1 >/dev/null", &status);
    EXPECT_EQ(status, 0);
    EXPECT_EQ(log.find("async scheduling"), std::string::npos) << flags << ": " << log;
  }
}

// --admission-reserve-tokens reaches the scheduler (the engine names it; 0 is vLLM's rule, a
// negative count is refused) and leaves the greedy text alone.
TEST(GenerateCli, AdmissionReserveFlagReachesTheEngine) {
  const std::string command = binary() + " generate --model " + default_model() + " --device cpu" +
                              " --prompt 'Once upon a time, there was a little' --temperature 0 --max-tokens 8";
  int status = 0;
  std::string log = run(command + " 2>&1 >/dev/null", &status);
  EXPECT_EQ(status, 0);
  // The default 1024, capped at this model's max_model_len of 512.
  EXPECT_NE(log.find(", admission reserve 512 tokens"), std::string::npos) << log;
  log = run(command + " --admission-reserve-tokens 64 2>&1 >/dev/null", &status);
  EXPECT_NE(log.find(", admission reserve 64 tokens"), std::string::npos) << log;
  log = run(command + " --admission-reserve-tokens 0 2>&1 >/dev/null", &status);
  EXPECT_EQ(status, 0);
  EXPECT_EQ(log.find("admission reserve"), std::string::npos) << log;
  EXPECT_EQ(run(command + " --admission-reserve-tokens 0 2>/dev/null"),
            "Once upon a time, there was a little girl named Lily. She loved to play\n");
  run(command + " --admission-reserve-tokens -5 2>&1", &status);
  EXPECT_NE(status, 0);
}

// VLLM_STEP_TIMING=1 profiles steps on any device (the CUDA build touches no driver on the CPU).
TEST(GenerateCli, StepTimingLogsOnTheCpu) {
  for (const char* mode : {"--async-scheduling", "--no-async-scheduling"}) {
    int status = 0;
    std::string log = run("VLLM_STEP_TIMING=1 " + binary() + " generate --model " + default_model() +
                              " --device cpu --prompt Hello --temperature 0 --max-tokens 4 " + mode + " 2>&1 >/dev/null",
                          &status);
    EXPECT_EQ(status, 0) << log;
    EXPECT_NE(log.find("step timing, decode-only, 3 steps"), std::string::npos) << mode << ": " << log;
  }
}

TEST(GenerateCli, TokenIdPromptsWithoutTokenizer) {
  int status = 0;
  std::string ids = run(binary() + " generate --model " + fixture("llama_gqa_5x") +
                            " --skip-tokenizer-init --prompt-token-ids 5,6,7 --temperature 0 --max-tokens 3 --ignore-eos 2>/dev/null",
                        &status);
  EXPECT_EQ(status, 0);
  std::istringstream in(ids);
  int count = 0;
  for (int id; in >> id;) ++count;
  EXPECT_EQ(count, 3);
}

TEST(GenerateCli, BadInputExitsNonZeroWithAMessage) {
  int status = 0;
  std::string err = run(binary() + " generate --model /no/such/model --prompt x 2>&1", &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(err.find("/no/such/model"), std::string::npos) << err;
  err = run(binary() + " generate --model " + default_model() + " --prompt x --temperature -1 2>&1", &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(err.find("temperature must be non-negative"), std::string::npos) << err;
}

// The README's commands run on the files of examples/ as written there.
TEST(ReadmeExamples, RunBatchAndRenderTakeTheExampleFiles) {
  const fs::path examples = vllm::testing::source_dir() / "examples";
  fs::path output = temp_file("examples_out.jsonl");
  int status = 0;
  run(binary() + " run-batch -i " + (examples / "requests.jsonl").string() + " -o " + output.string() + " --model " +
          default_model() + " --served-model-name default 2>/dev/null",
      &status);
  EXPECT_EQ(status, 0);
  std::ifstream in(output);
  int answered = 0;
  for (std::string line; std::getline(in, line); ++answered)
    EXPECT_EQ(nlohmann::json::parse(line)["response"]["status_code"], 200) << line;
  EXPECT_EQ(answered, 2);
  fs::remove(output);
  const std::string prompt = run(binary() + " render --tokenizer " + default_model() + " --request " +
                                     (examples / "chat-request.json").string() + " 2>&1",
                                 &status);
  EXPECT_EQ(status, 0) << prompt;
  EXPECT_NE(prompt.find("A story about a dog, please."), std::string::npos) << prompt;
}

TEST(RunBatchCli, AnswersEachLineInOrderWithServerBodies) {
  fs::path input = temp_file("batch_in.jsonl"), output = temp_file("batch_out.jsonl");
  std::ofstream(input)
      << R"({"custom_id": "c1", "method": "POST", "url": "/v1/completions", "body": {"model": "m", "prompt": "Once upon a time", "max_tokens": 5, "temperature": 0, "prompt_logprobs": 1, "return_token_ids": true}})"
      << "\n"
      << R"({"custom_id": "c2", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "m", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4, "temperature": 0}})"
      << "\n"
      << R"({"custom_id": "c3", "method": "POST", "url": "/v1/completions", "body": {"model": "m", "prompt": "Hi", "top_p": 7}})"
      << "\n"
      << "not json\n"
      << R"({"custom_id": "c5", "method": "POST", "url": "/v1/embeddings", "body": {"model": "m", "input": "Hi"}})"
      << "\n";
  int status = 0;
  run(binary() + " run-batch -i " + input.string() + " -o " + output.string() + " --model " + default_model() +
          " --served-model-name m 2>/dev/null",
      &status);
  EXPECT_EQ(status, 0);
  std::ifstream in(output);
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0]["custom_id"], "c1");
  EXPECT_EQ(lines[0]["response"]["status_code"], 200);
  const nlohmann::json& completion = lines[0]["response"]["body"];
  EXPECT_EQ(completion["object"], "text_completion");
  EXPECT_EQ(completion["choices"][0]["token_ids"].size(), 5u);
  ASSERT_TRUE(completion["choices"][0]["prompt_logprobs"].is_array());
  EXPECT_TRUE(completion["choices"][0]["prompt_logprobs"][0].is_null());
  EXPECT_EQ(lines[1]["response"]["body"]["object"], "chat.completion");
  EXPECT_EQ(lines[1]["response"]["body"]["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(lines[2]["response"]["status_code"], 400);
  EXPECT_NE(lines[2]["error"]["message"].get<std::string>().find("top_p"), std::string::npos);
  EXPECT_EQ(lines[3]["response"]["status_code"], 400);
  EXPECT_TRUE(lines[3]["custom_id"].is_null());
  // A generative model answers the pooling urls as vLLM's server does (the pooling models' lines
  // are tested with the fake engine in tests/server/test_pooling_routes.cpp).
  EXPECT_EQ(lines[4]["custom_id"], "c5");
  EXPECT_EQ(lines[4]["response"]["status_code"], 400);
  EXPECT_EQ(lines[4]["error"]["message"], "The model does not support Embeddings API");
}

TEST(BenchCli, LatencyAndThroughputWriteJson) {
  fs::path latency = temp_file("latency.json"), throughput = temp_file("throughput.json");
  std::string common = " --model " + fixture("qwen2_tied_bias_4x") + " --load-format dummy --skip-tokenizer-init";
  int status = 0;
  run(binary() + " bench latency" + common + " --input-len 8 --output-len 4 --batch-size 2 --num-iters 2 --num-iters-warmup 1 --output-json " +
          latency.string() + " 2>/dev/null",
      &status);
  EXPECT_EQ(status, 0);
  nlohmann::json result = nlohmann::json::parse(std::ifstream(latency));
  EXPECT_EQ(result["latencies"].size(), 2u);
  EXPECT_GT(result["avg_latency"].get<double>(), 0.0);
  run(binary() + " bench throughput" + common + " --input-len 8 --output-len 4 --num-prompts 5 --output-json " +
          throughput.string() + " 2>/dev/null",
      &status);
  EXPECT_EQ(status, 0);
  result = nlohmann::json::parse(std::ifstream(throughput));
  EXPECT_EQ(result["num_requests"], 5);
  EXPECT_EQ(result["total_num_tokens"], 5 * (8 + 4));
}

// --structured-outputs puts every request under the constraint (a choice, met within the output
// length); a bad constraint is an error naming it, malformed JSON exits 2.
TEST(BenchCli, ThroughputUnderAStructuredOutputsConstraint) {
  std::string common = " --model " + (vllm::testing::source_dir() / "models/default").string() +
                       " --input-len 8 --output-len 4 --num-prompts 3 --kv-cache-memory 16000000";
  int status = 0;
  std::string printed = run(binary() + " bench throughput" + common +
                                " --structured-outputs '{\"choice\": [\"yes\", \"no\"]}' 2>&1",
                            &status);
  EXPECT_EQ(status, 0) << printed;
  EXPECT_NE(printed.find("Throughput:"), std::string::npos) << printed;
  printed = run(binary() + " bench throughput" + common + " --structured-outputs '{\"regex\": \"(a\"}' 2>&1", &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(printed.find("missing ')'"), std::string::npos) << printed;
  printed = run(binary() + " bench throughput" + common + " --structured-outputs '{json' 2>&1", &status);
  EXPECT_EQ(status, 2);
  EXPECT_NE(printed.find("not valid JSON"), std::string::npos) << printed;
}

std::string encoder_fixture(const std::string& name) {
  return (vllm::testing::source_dir() / "tests/data/encoders" / name).string();
}

// A pooling model benchmarks its first task of embed, classify, encode: an encoder classifier, and
// a decoder converted to an embedder.
TEST(BenchCli, ThroughputOfPoolingModels) {
  struct Case {
    std::string model, flags, task;
  };
  const std::vector<Case> cases = {{encoder_fixture("bert_classifier"), "", "classify"},
                                   {fixture("qwen2_tied_bias_4x"), " --runner pooling --convert embed", "embed"}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.model);
    if (!fs::exists(c.model)) GTEST_SKIP() << c.model << " is absent";
    fs::path out = temp_file("pooling_throughput.json");
    int status = 0;
    const std::string printed = run(binary() + " bench throughput --model " + c.model + c.flags +
                                        " --skip-tokenizer-init --input-len 8 --num-prompts 6 --output-json " +
                                        out.string() + " 2>/dev/null",
                                    &status);
    EXPECT_EQ(status, 0);
    EXPECT_NE(printed.find("Throughput (" + c.task + ")"), std::string::npos) << printed;
    const nlohmann::json result = nlohmann::json::parse(std::ifstream(out));
    EXPECT_EQ(result["task"], c.task);
    EXPECT_EQ(result["num_requests"], 6);
    EXPECT_EQ(result["total_num_tokens"], 6 * 8);
    EXPECT_GT(result["requests_per_second"].get<double>(), 0.0);
  }
}

// run-batch serves a pooling model's /v1/embeddings lines with the real engine: token-id input,
// one embedding per prompt, unit length by default.
TEST(RunBatchCli, EmbeddingLinesOnAnEncoder) {
  const std::string model = encoder_fixture("bert_model");
  if (!fs::exists(model)) GTEST_SKIP() << model << " is absent";
  fs::path input = temp_file("embed_in.jsonl"), output = temp_file("embed_out.jsonl");
  std::ofstream(input)
      << R"({"custom_id": "e1", "method": "POST", "url": "/v1/embeddings", "body": {"model": "m", "input": [[1, 5, 7, 2], [1, 9, 2]]}})"
      << "\n"
      << R"({"custom_id": "e2", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "m", "messages": [{"role": "user", "content": "Hi"}]}})"
      << "\n";
  int status = 0;
  run(binary() + " run-batch -i " + input.string() + " -o " + output.string() + " --model " + model +
          " --skip-tokenizer-init --served-model-name m 2>/dev/null",
      &status);
  EXPECT_EQ(status, 0);
  std::ifstream in(output);
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["response"]["status_code"], 200);
  const nlohmann::json& data = lines[0]["response"]["body"]["data"];
  ASSERT_EQ(data.size(), 2u);
  for (const nlohmann::json& item : data) {
    double norm = 0;
    for (const nlohmann::json& v : item["embedding"]) norm += v.get<double>() * v.get<double>();
    EXPECT_NEAR(norm, 1.0, 1e-4);
  }
  EXPECT_EQ(lines[0]["response"]["body"]["usage"]["prompt_tokens"], 7);
  EXPECT_EQ(lines[1]["response"]["status_code"], 400);
  EXPECT_EQ(lines[1]["error"]["message"], "The model does not support Chat Completions API");
}

}  // namespace

// A tiny random Mamba checkpoint (tests/ssm_test_checkpoint.h, the default model's tokenizer)
// generates from a text prompt; a token budget of 3 per step (the prompt prefilled in chunks
// through its state slot) gives the same greedy tokens.
TEST(GenerateCli, MambaCheckpointGenerates) {
  for (vllm::testing::SsmKind kind : {vllm::testing::SsmKind::Mamba, vllm::testing::SsmKind::Mamba2}) {
    const fs::path dir = temp_file(kind == vllm::testing::SsmKind::Mamba ? "mamba" : "mamba2");
    vllm::testing::write_tiny_ssm_with_tokenizer(dir, default_model(), kind);
    const std::string command = binary() + " generate --model " + dir.string() +
                                " --prompt 'Once upon a time, there was' --temperature 0 --max-tokens 6 --json";
    int status = 0;
    std::string whole = run(command + " 2>/dev/null", &status);
    ASSERT_EQ(status, 0) << run(command + " 2>&1");
    nlohmann::json output = nlohmann::json::parse(whole);
    EXPECT_EQ(output["outputs"][0]["token_ids"].size(), 6u);
    EXPECT_EQ(output["outputs"][0]["finish_reason"], "length");
    std::string chunked = run(command + " --max-num-batched-tokens 3 --max-num-seqs 2 2>/dev/null", &status);
    ASSERT_EQ(status, 0);
    EXPECT_EQ(nlohmann::json::parse(chunked)["outputs"][0]["token_ids"], output["outputs"][0]["token_ids"]);
    fs::remove_all(dir);
  }
}
