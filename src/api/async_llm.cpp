#include "api/async_llm.h"

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "core/logging.h"
#include "engine/llm_engine.h"

namespace vllm {

namespace {

class AsyncLLM : public EngineClient {
 public:
  explicit AsyncLLM(const EngineArgs& args) : engine_(std::make_unique<LLMEngine>(args)) {
    info_ = engine_->model_info();
    tokenizer_ = engine_->tokenizer();
    stats_ = engine_->stats();
    thread_ = std::thread([this] { loop(); });
  }

  ~AsyncLLM() override { shutdown(); }

  void add_request(EngineRequest request, OutputCallback on_output) override {
    // The request's one validation, on the caller's thread (the input processor reads only
    // immutable state); the engine thread then checks only that the id is free.
    engine_->input_processor().process(request);
    auto done = std::make_shared<std::promise<void>>();
    std::future<void> result = done->get_future();
    enqueue([this, done, request = std::move(request), on_output = std::move(on_output)]() mutable {
      try {
        engine_->add_processed_request(std::move(request), std::move(on_output));
        done->set_value();
      } catch (...) {
        done->set_exception(std::current_exception());
      }
    });
    result.get();  // rethrows the engine's error (an id in use) on the caller's thread
  }

  void abort(const std::string& request_id) override {
    enqueue([this, request_id] { engine_->abort_request(request_id); });
  }

  EngineStats stats() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

  const ModelInfo& model_info() const override { return info_; }
  std::shared_ptr<const Tokenizer> tokenizer() const override { return tokenizer_; }

  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return;
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void enqueue(std::function<void()> command) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      VLLM_CHECK(!stopping_, Unavailable, "the engine is shutting down");
      commands_.push_back(std::move(command));
    }
    wake_.notify_all();
  }

  void loop() {
    while (true) {
      std::deque<std::function<void()>> commands;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [this] { return stopping_ || !commands_.empty() || engine_->has_unfinished_requests(); });
        if (stopping_) break;
        commands.swap(commands_);
      }
      for (auto& command : commands) command();
      try {
        engine_->step();
      } catch (const std::exception& error) {
        // A failing step must not take the server down; abort what was in flight.
        log_error("engine step failed: ", error.what());
        abort_all();
      }
      std::lock_guard<std::mutex> lock(mutex_);
      stats_ = engine_->stats();
    }
    // Shutting down: run what was queued (adds fail fast), abort everything in flight.
    std::deque<std::function<void()>> commands;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      commands.swap(commands_);
    }
    for (auto& command : commands) command();
    abort_all();
  }

  void abort_all() {
    while (engine_->has_unfinished_requests()) {
      std::vector<std::string> ids = engine_->unfinished_request_ids();
      for (const std::string& id : ids) engine_->abort_request(id);
    }
  }

  std::unique_ptr<LLMEngine> engine_;
  ModelInfo info_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> commands_;
  EngineStats stats_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<EngineClient> create_engine_client(const EngineArgs& args) { return std::make_unique<AsyncLLM>(args); }

}  // namespace vllm
