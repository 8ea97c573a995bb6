// A deterministic EngineClient for the server's tests: one thread steps every request by one
// token per step (after an optional delay), with logprobs when asked, and records aborts.
// Output token i of choice j of a prompt is (sum(prompt) + 7 * i + j) % vocab; its text is
// " t<id>". Pooling requests (options.pooling_tasks makes ModelInfo a pooling model's) finish in
// the next step with fake_pooling_output(): deterministic values from the prompt's tokens.
#pragma once

#include <algorithm>
#include <cmath>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "engine/engine_client.h"
#include "core/error.h"

namespace vllm::testing {

struct FakeEngineOptions {
  int64_t max_model_len = 256;
  int64_t vocab_size = 1000;
  std::chrono::microseconds step_delay{0};
  int32_t stop_token = -1;  // finishes a choice with "stop" when generated
  // ModelInfo of a pooling model: the tasks served, classifier labels, Matryoshka widths.
  std::vector<PoolingTask> pooling_tasks = {};
  std::vector<std::string> labels = {"negative", "neutral", "positive"};
  bool is_matryoshka = false;
  std::vector<int64_t> matryoshka_dimensions = {};
  int64_t hidden_size = 8;
};

// What the fake engine's pooler returns for a request (row-major, PoolingOutput's shapes):
//  Embed [D]: raw[d] = 1 + (sum_t (id_t + 1) * (d + 1)) % 13, truncated to `dimensions`, then L2
//    normalised unless normalize == false.
//  Encode [L, D]: row t is id_t + d, L2 normalised per row only when normalize == true.
//  Classify [num_labels]: logit c = (sum(ids) + c) % 5, softmax unless activation == false.
//  Score [1]: x = (sum(ids) % 7) * 0.5 - 1.5 + 0.25 * (tokens with type id 1), sigmoid unless
//    activation == false (so a pair's token type ids change the score).
inline PoolingOutput fake_pooling_output(const EngineRequest& request, const FakeEngineOptions& options) {
  const PoolingRequestSpec& spec = *request.pooling;
  const auto& ids = request.prompt_token_ids;
  int64_t sum = 0;
  for (int32_t id : ids) sum += id;
  auto l2_normalize = [](float* row, size_t n) {
    double norm = 0;
    for (size_t i = 0; i < n; ++i) norm += double(row[i]) * row[i];
    norm = std::sqrt(norm);
    for (size_t i = 0; i < n; ++i) row[i] = float(row[i] / std::max(norm, 1e-12));
  };
  PoolingOutput out;
  int64_t width = options.hidden_size;
  switch (spec.task) {
    case PoolingTask::Embed: {
      for (int64_t d = 0; d < width; ++d) {
        int64_t acc = 0;
        for (int32_t id : ids) acc += int64_t(id + 1) * (d + 1);
        out.data.push_back(float(1 + acc % 13));
      }
      if (spec.dimensions > 0 && spec.dimensions < width) out.data.resize(size_t(spec.dimensions));
      if (spec.normalize.value_or(true)) l2_normalize(out.data.data(), out.data.size());
      out.shape = {int64_t(out.data.size())};
      break;
    }
    case PoolingTask::Encode:
      for (int32_t id : ids) {
        size_t row = out.data.size();
        for (int64_t d = 0; d < width; ++d) out.data.push_back(float(id + d));
        if (spec.normalize.value_or(false)) l2_normalize(out.data.data() + row, size_t(width));
      }
      out.shape = {int64_t(ids.size()), width};
      break;
    case PoolingTask::Classify: {
      size_t classes = std::max<size_t>(options.labels.size(), 1);
      for (size_t c = 0; c < classes; ++c) out.data.push_back(float((sum + int64_t(c)) % 5));
      if (spec.activation.value_or(true)) {
        double total = 0;
        for (float v : out.data) total += std::exp(double(v));
        for (float& v : out.data) v = float(std::exp(double(v)) / total);
      }
      out.shape = {int64_t(classes)};
      break;
    }
    case PoolingTask::Score: {
      int64_t second = std::count(request.token_type_ids.begin(), request.token_type_ids.end(), 1);
      double x = double(sum % 7) * 0.5 - 1.5 + 0.25 * double(second);
      out.data = {float(spec.activation.value_or(true) ? 1.0 / (1.0 + std::exp(-x)) : x)};
      out.shape = {1};
      break;
    }
  }
  return out;
}

class FakeEngine : public EngineClient {
 public:
  using Options = FakeEngineOptions;

  explicit FakeEngine(Options options = {}, std::vector<std::string> served_names = {"fake-model"})
      : options_(options) {
    info_.model = "/models/fake";
    info_.served_model_names = std::move(served_names);
    info_.max_model_len = options.max_model_len;
    info_.vocab_size = options.vocab_size;
    info_.pooling_tasks = options.pooling_tasks;
    if (!options.pooling_tasks.empty()) {
      info_.labels = options.labels;
      info_.is_matryoshka = options.is_matryoshka;
      info_.matryoshka_dimensions = options.matryoshka_dimensions;
      info_.hidden_size = options.hidden_size;
    }
    thread_ = std::thread([this] { loop(); });
  }
  ~FakeEngine() override { shutdown(); }

  static std::string token_text(int32_t id) { return " t" + std::to_string(id); }

  void add_request(EngineRequest request, OutputCallback on_output) override {
    if (request.pooling) return add_pooling_request(std::move(request), std::move(on_output));
    const auto& params = request.params;
    int64_t max_tokens = params.max_tokens.value_or(info_.max_model_len - (int64_t)request.prompt_token_ids.size());
    if ((int64_t)request.prompt_token_ids.size() + max_tokens > info_.max_model_len)
      fail(ErrorKind::InvalidArgument, "This model's maximum context length is ", info_.max_model_len,
           " tokens. However, you requested ", request.prompt_token_ids.size() + max_tokens, " tokens");
    std::lock_guard lock(mutex_);
    VLLM_CHECK(!stopped_, Internal, "engine stopped");
    Active active;
    active.max_tokens = max_tokens;
    active.callback = std::move(on_output);
    active.output.request_id = request.request_id;
    active.output.prompt = request.prompt;
    active.output.prompt_token_ids = request.prompt_token_ids;
    active.output.outputs.resize(params.n);
    for (int j = 0; j < params.n; ++j) active.output.outputs[j].index = j;
    if (params.logprobs) for (auto& o : active.output.outputs) o.logprobs.emplace();
    if (params.prompt_logprobs) {
      active.output.prompt_logprobs.emplace();
      active.output.prompt_logprobs->push_back(std::nullopt);
      for (size_t i = 1; i < request.prompt_token_ids.size(); ++i)
        active.output.prompt_logprobs->push_back(position(request.prompt_token_ids[i], *params.prompt_logprobs));
    }
    for (int32_t id : request.prompt_token_ids) active.seed += id;
    active.params = params;
    ids_seen_.push_back(request.request_id);
    active_.emplace(request.request_id, std::move(active));
    cv_.notify_all();
  }

  void abort(const std::string& request_id) override {
    std::lock_guard lock(mutex_);
    aborted_.insert(request_id);
    pending_aborts_.insert(request_id);
    cv_.notify_all();
  }

  EngineStats stats() const override {
    std::lock_guard lock(mutex_);
    EngineStats stats;
    stats.num_requests_running = (int64_t)active_.size();
    stats.prompt_tokens_total = 42;
    stats.time_to_first_token_seconds.bounds = {0.01, 0.1, 1.0};
    stats.time_to_first_token_seconds.observe(0.05);
    stats.request_success_total["stop"] = 3;
    return stats;
  }
  const ModelInfo& model_info() const override { return info_; }
  std::shared_ptr<const Tokenizer> tokenizer() const override { return nullptr; }

  void shutdown() override {
    {
      std::lock_guard lock(mutex_);
      if (stopped_) return;
      stopped_ = true;
      for (auto& [id, active] : active_) pending_aborts_.insert(id);
    }
    cv_.notify_all();
    thread_.join();
  }

  bool was_aborted(const std::string& prefix) const {
    std::lock_guard lock(mutex_);
    return std::any_of(aborted_.begin(), aborted_.end(), [&](const std::string& id) { return id.rfind(prefix, 0) == 0; });
  }
  size_t num_aborted() const {
    std::lock_guard lock(mutex_);
    return aborted_.size();
  }
  size_t num_active() const {
    std::lock_guard lock(mutex_);
    return active_.size();
  }
  std::vector<std::string> ids_seen() const {
    std::lock_guard lock(mutex_);
    return ids_seen_;
  }
  SamplingParams last_params() const {
    std::lock_guard lock(mutex_);
    return last_params_;
  }
  // Every pooling request as it arrived (spec, prompt ids, token type ids), in order.
  std::vector<EngineRequest> pooling_requests() const {
    std::lock_guard lock(mutex_);
    return pooling_requests_;
  }

 private:
  struct Active {
    RequestOutput output;
    OutputCallback callback;
    SamplingParams params;
    int64_t max_tokens = 0;
    int64_t seed = 0;
    std::optional<PoolingOutput> pooling;  // a pooling request: finishes with this in its next step
  };

  // The engine's checks for a pooling request: the whole prompt in max_model_len, type ids per token.
  void add_pooling_request(EngineRequest request, OutputCallback on_output) {
    int64_t length = (int64_t)request.prompt_token_ids.size();
    if (length == 0 || length > info_.max_model_len)
      fail(ErrorKind::InvalidArgument, "pooling prompt of ", length, " tokens (max_model_len ", info_.max_model_len, ")");
    if (!request.token_type_ids.empty() && request.token_type_ids.size() != request.prompt_token_ids.size())
      fail(ErrorKind::InvalidArgument, "token_type_ids has ", request.token_type_ids.size(), " ids for ", length, " tokens");
    std::lock_guard lock(mutex_);
    VLLM_CHECK(!stopped_, Internal, "engine stopped");
    Active active;
    active.callback = std::move(on_output);
    active.output.request_id = request.request_id;
    active.output.prompt = request.prompt;
    active.output.prompt_token_ids = request.prompt_token_ids;
    active.pooling = fake_pooling_output(request, options_);
    ids_seen_.push_back(request.request_id);
    pooling_requests_.push_back(request);
    active_.emplace(request.request_id, std::move(active));
    cv_.notify_all();
  }

  TokenLogprobs position(int32_t chosen, int top) const {
    TokenLogprobs entries;
    entries.push_back({chosen, -0.25f, 1, token_text(chosen)});
    for (int r = 2; r <= std::max(top, 1); ++r) {
      int32_t other = (chosen + r) % (int32_t)info_.vocab_size;
      entries.push_back({other, -1.0f * r, r, token_text(other)});
    }
    return entries;
  }

  void loop() {
    std::unique_lock lock(mutex_);
    while (true) {
      cv_.wait(lock, [&] { return stopped_ || !active_.empty(); });
      if (!pending_aborts_.empty() || stopped_) {
        std::vector<std::pair<OutputCallback, RequestOutput>> finished;
        for (auto it = active_.begin(); it != active_.end();) {
          if (pending_aborts_.count(it->first) || stopped_) {
            for (auto& o : it->second.output.outputs)
              if (o.finish_reason.empty()) o.finish_reason = "abort";
            it->second.output.finished = true;
            finished.emplace_back(std::move(it->second.callback), std::move(it->second.output));
            it = active_.erase(it);
          } else {
            ++it;
          }
        }
        pending_aborts_.clear();
        lock.unlock();
        for (auto& [callback, output] : finished) callback(output);
        lock.lock();
        if (stopped_) return;
        continue;
      }
      lock.unlock();
      if (options_.step_delay.count() > 0) std::this_thread::sleep_for(options_.step_delay);
      lock.lock();
      std::vector<std::pair<OutputCallback, RequestOutput>> updates;
      for (auto it = active_.begin(); it != active_.end();) {
        Active& a = it->second;
        if (a.pooling) {
          a.output.pooling = std::move(a.pooling);
          a.output.finished = true;
          updates.emplace_back(std::move(a.callback), std::move(a.output));
          it = active_.erase(it);
          continue;
        }
        last_params_ = a.params;
        bool all_done = true;
        for (auto& o : a.output.outputs) {
          if (!o.finish_reason.empty()) continue;
          int32_t id = (int32_t)((a.seed + 7 * (int64_t)o.token_ids.size() + o.index) % info_.vocab_size);
          o.token_ids.push_back(id);
          o.text += token_text(id);
          if (o.logprobs) o.logprobs->push_back(position(id, *a.params.logprobs));
          if (id == options_.stop_token) {
            o.finish_reason = "stop";
            o.stop_reason = id;
          } else if ((int64_t)o.token_ids.size() >= a.max_tokens) {
            o.finish_reason = "length";
          }
          if (o.finish_reason.empty()) all_done = false;
        }
        a.output.finished = all_done;
        updates.emplace_back(all_done ? std::move(a.callback) : a.callback, a.output);
        if (all_done) it = active_.erase(it);
        else ++it;
      }
      lock.unlock();
      for (auto& [callback, output] : updates) callback(output);
      lock.lock();
    }
  }

  Options options_;
  ModelInfo info_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::map<std::string, Active> active_;
  std::set<std::string> aborted_, pending_aborts_;
  std::vector<std::string> ids_seen_;
  std::vector<EngineRequest> pooling_requests_;
  SamplingParams last_params_;
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace vllm::testing
