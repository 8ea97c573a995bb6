// A deterministic EngineClient for the server's tests: one thread steps every request by one
// token per step (after an optional delay), with logprobs when asked, and records aborts.
// Output token i of choice j of a prompt is (sum(prompt) + 7 * i + j) % vocab; its text is
// " t<id>".
#pragma once

#include <algorithm>
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
};

class FakeEngine : public EngineClient {
 public:
  using Options = FakeEngineOptions;

  explicit FakeEngine(Options options = {}, std::vector<std::string> served_names = {"fake-model"})
      : options_(options) {
    info_.model = "/models/fake";
    info_.served_model_names = std::move(served_names);
    info_.max_model_len = options.max_model_len;
    info_.vocab_size = options.vocab_size;
    thread_ = std::thread([this] { loop(); });
  }
  ~FakeEngine() override { shutdown(); }

  static std::string token_text(int32_t id) { return " t" + std::to_string(id); }

  void add_request(EngineRequest request, OutputCallback on_output) override {
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

 private:
  struct Active {
    RequestOutput output;
    OutputCallback callback;
    SamplingParams params;
    int64_t max_tokens = 0;
    int64_t seed = 0;
  };

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
  SamplingParams last_params_;
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace vllm::testing
