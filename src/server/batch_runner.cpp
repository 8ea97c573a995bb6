#include "server/batch_runner.h"

#include <condition_variable>
#include <mutex>

#include "core/error.h"

namespace vllm::server {

namespace {

// The urls vLLM's run-batch takes.
constexpr const char* kBatchUrls[] = {"/v1/completions", "/v1/chat/completions", "/v1/embeddings", "/v1/score",
                                      "/score",          "/v1/rerank",           "/rerank",         "/v2/rerank"};

// One line's requests in flight: final outputs per engine request, then the response body.
struct BatchItem {
  Json custom_id;
  PreparedRequest prepared;
  std::vector<RequestOutput> finals;
  size_t remaining = 0;
  std::optional<ApiError> error;
};

Json output_line(const BatchItem& item, const ServingModel& model) {
  Json line = {{"id", random_id("vllm-")}, {"custom_id", item.custom_id}};
  std::optional<ApiError> error = item.error;
  Json body = nullptr;
  if (!error) {
    try {
      body = final_response(item.prepared, item.finals, model);
    } catch (const std::exception& failure) {  // e.g. a pooling request the engine aborted
      error = to_api_error(failure);
    }
  }
  if (error) {
    line["response"] = {{"status_code", error->status()}, {"request_id", random_id("vllm-batch-")}, {"body", nullptr}};
    line["error"] = error->body()["error"];
    return line;
  }
  line["response"] = {{"status_code", 200}, {"request_id", random_id("vllm-batch-")}, {"body", std::move(body)}};
  line["error"] = nullptr;
  return line;
}

std::optional<Endpoint> batch_endpoint(const std::string& url) {
  for (const char* known : kBatchUrls)
    if (url == known) return endpoint_for_path(url);
  std::string list;
  for (const char* known : kBatchUrls) list += str(list.empty() ? "" : ", ", known);
  throw ApiError(400, str("url '", url, "' is not supported (known: ", list, ")"), "url");
}

}  // namespace

std::vector<Json> run_batch(EngineClient& engine, const ServingModel& model, const std::vector<std::string>& lines) {
  std::mutex mutex;
  std::condition_variable done;
  size_t pending = 0;
  std::vector<BatchItem> items(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    BatchItem& item = items[i];
    try {
      Json request = Json::parse(lines[i], nullptr, false);
      if (request.is_discarded() || !request.is_object()) throw ApiError(400, str("line ", i + 1, " is not a JSON object"));
      item.custom_id = request.value("custom_id", Json());
      std::string url = request.value("url", "");
      const Json& body = request.contains("body") ? request["body"] : Json();
      Endpoint endpoint = *batch_endpoint(url);
      if (!body.is_object()) throw ApiError(400, "'body' must be an object", "body");
      item.prepared = prepare_request(endpoint, body, model);
      item.finals.resize(item.prepared.engine_requests.size());
      item.remaining = item.prepared.engine_requests.size();
      for (size_t k = 0; k < item.prepared.engine_requests.size(); ++k) {
        {
          std::lock_guard<std::mutex> lock(mutex);
          ++pending;
        }
        try {
          engine.add_request(item.prepared.engine_requests[k], [&, i, k](const RequestOutput& out) {
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
      item.error = to_api_error(error);
    }
  }
  {
    std::unique_lock<std::mutex> lock(mutex);
    done.wait(lock, [&] { return pending == 0; });
  }
  std::vector<Json> out;
  out.reserve(items.size());
  for (const BatchItem& item : items) out.push_back(output_line(item, model));
  return out;
}

}  // namespace vllm::server
