// `vllm-cpp run-batch -i IN.jsonl -o OUT.jsonl --model M`: OpenAI batch files (vLLM's
// `vllm run-batch`). Each input line is {"custom_id", "method": "POST", "url":
// "/v1/completions" | "/v1/chat/completions", "body": {...}}; each output line is
// {"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"} with the body
// the server would return. All requests run through the engine together (continuous batching);
// outputs keep the input order.
#include <CLI/CLI.hpp>
#include <condition_variable>
#include <fstream>
#include <iostream>
#include <mutex>

#include "api/async_llm.h"
#include "cli/command.h"
#include "core/error.h"
#include "loader/model_path.h"
#include "server/serving_model.h"

namespace vllm::cli {
namespace {

using server::Json;

// One line's requests in flight: final outputs per engine request, then the response body.
struct BatchItem {
  Json custom_id;
  server::PreparedRequest prepared;
  std::vector<RequestOutput> finals;
  size_t remaining = 0;
  std::optional<server::ApiError> error;
};

Json output_line(const BatchItem& item, const server::ServingModel& model) {
  Json response = Json::object();
  Json line = {{"id", server::random_id("vllm-")}, {"custom_id", item.custom_id}};
  if (item.error) {
    response = {{"status_code", item.error->status()}, {"request_id", server::random_id("vllm-batch-")}, {"body", nullptr}};
    line["response"] = response;
    line["error"] = item.error->body()["error"];
    return line;
  }
  response = {{"status_code", 200},
              {"request_id", server::random_id("vllm-batch-")},
              {"body", server::final_response(item.prepared, item.finals, model)}};
  line["response"] = response;
  line["error"] = nullptr;
  return line;
}

int run(int argc, char** argv) {
  CLI::App app("Run an OpenAI batch file through the engine (vLLM's `vllm run-batch`)", argv[0]);
  EngineArgs args;
  add_engine_args(app, args);
  std::string input, output;
  app.add_option("-i,--input-file", input, "Input JSONL (\"-\" for stdin)")->required();
  app.add_option("-o,--output-file", output, "Output JSONL (\"-\" for stdout)")->required();
  CLI11_PARSE(app, argc, argv);

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
      server::make_serving_model(*engine, args, resolve_model_path(args.model.empty() ? default_model_path() : args.model));

  std::mutex mutex;
  std::condition_variable done;
  size_t pending = 0;
  std::vector<BatchItem> items(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    BatchItem& item = items[i];
    try {
      Json request = Json::parse(lines[i], nullptr, false);
      if (request.is_discarded() || !request.is_object())
        throw server::ApiError(400, str("line ", i + 1, " is not a JSON object"));
      item.custom_id = request.value("custom_id", Json());
      std::string url = request.value("url", "");
      const Json& body = request.contains("body") ? request["body"] : Json();
      if (!body.is_object()) throw server::ApiError(400, "'body' must be an object", "body");
      if (url == "/v1/completions")
        item.prepared = server::prepare_completion(body, model);
      else if (url == "/v1/chat/completions")
        item.prepared = server::prepare_chat(body, model);
      else
        throw server::ApiError(400, str("url '", url, "' is not supported (known: /v1/completions, /v1/chat/completions)"), "url");
      item.finals.resize(item.prepared.engine_requests.size());
      item.remaining = item.prepared.engine_requests.size();
      for (size_t k = 0; k < item.prepared.engine_requests.size(); ++k) {
        {
          std::lock_guard<std::mutex> lock(mutex);
          ++pending;
        }
        try {
          engine->add_request(item.prepared.engine_requests[k], [&, i, k](const RequestOutput& out) {
            if (!out.finished) return;
            std::lock_guard<std::mutex> lock(mutex);
            items[i].finals[k] = out;
            --items[i].remaining;
            if (--pending == 0) done.notify_all();
          });
        } catch (...) {
          std::lock_guard<std::mutex> lock(mutex);
          --pending;
          throw;
        }
      }
    } catch (const std::exception& error) {
      // Requests of this line already queued still finish; their outputs are dropped.
      std::lock_guard<std::mutex> lock(mutex);
      item.error = server::to_api_error(error);
    }
  }
  {
    std::unique_lock<std::mutex> lock(mutex);
    done.wait(lock, [&] { return pending == 0; });
  }
  engine->shutdown();

  std::ofstream out_file;
  if (output != "-") {
    out_file.open(output);
    VLLM_CHECK(out_file.good(), InvalidArgument, output, ": cannot write the batch output file");
  }
  std::ostream& out = output == "-" ? std::cout : out_file;
  size_t failed = 0;
  for (const BatchItem& item : items) {
    failed += item.error.has_value();
    out << server::dump_json(output_line(item, model)) << "\n";
  }
  std::cerr << "run-batch: " << items.size() << " requests, " << failed << " failed\n";
  return 0;
}

CommandRegistrar registrar({"run-batch", "Run an OpenAI batch file (JSONL) offline", run});

}  // namespace
}  // namespace vllm::cli
