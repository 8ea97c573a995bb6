// `vllm-cpp run-batch -i IN.jsonl -o OUT.jsonl --model M`: OpenAI batch files (vLLM's
// `vllm run-batch`). The lines are answered by server::run_batch (server/batch_runner.h): urls
// /v1/completions, /v1/chat/completions, /v1/embeddings, /v1/score and /v1/rerank, with the
// bodies the server returns, in the input order.
#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>

#include "api/async_llm.h"
#include "cli/args/command_line.h"
#include "cli/command.h"
#include "core/error.h"
#include "loader/model_path.h"
#include "server/batch_runner.h"
#include "server/serving_model.h"

namespace vllm::cli {
namespace {

int run(int argc, char** argv) {
  CLI::App app("Run an OpenAI batch file through the engine (vLLM's `vllm run-batch`)", argv[0]);
  EngineArgs args;
  CommandLine command_line(app, args);
  std::string input, output;
  app.add_option("-i,--input-file", input, "Input JSONL (\"-\" for stdin)")->required();
  app.add_option("-o,--output-file", output, "Output JSONL (\"-\" for stdout)")->required();
  if (!command_line.parse(argc, argv)) return 0;

  std::ifstream file;
  if (input != "-") {
    file.open(input);
    VLLM_CHECK(file.good(), NotFound, input, ": cannot open the batch input file");
  }
  std::istream& in = input == "-" ? std::cin : file;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);

  std::unique_ptr<EngineClient> engine = create_engine_client(args);
  server::ServingModel model =
      server::make_serving_model(*engine, args, resolve_model_dir(args));

  std::vector<server::Json> results = server::run_batch(*engine, model, lines);
  engine->shutdown();

  std::ofstream out_file;
  if (output != "-") {
    out_file.open(output);
    VLLM_CHECK(out_file.good(), InvalidArgument, output, ": cannot write the batch output file");
  }
  std::ostream& out = output == "-" ? std::cout : out_file;
  size_t failed = 0;
  for (const server::Json& line : results) {
    failed += !line["error"].is_null();
    out << server::dump_json(line) << "\n";
  }
  std::cerr << "run-batch: " << results.size() << " requests, " << failed << " failed\n";
  return 0;
}

CommandRegistrar registrar({"run-batch", "Run an OpenAI batch file (JSONL) offline", run});

}  // namespace
}  // namespace vllm::cli
