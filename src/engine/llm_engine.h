// LLMEngine: one model, its KV cache, the scheduler, the model runner step, the sampler and
// the output processor, driven by step() on one thread (vLLM v1's EngineCore + the processors
// around it). The offline LLM calls step() in a loop; AsyncLLM runs it on its engine thread.
//
// Start-up (the constructor, one part each): load the model on the resolved device, load the
// tokenizer, resolve the configuration (VllmConfig, validated once), size and allocate the KV
// cache (profiling on a GPU), capture CUDA graphs, build the scheduler, read the generation config
// into the input processor, log the ready line.
#pragma once

#include <chrono>
#include <deque>
#include <optional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/engine_args.h"
#include "engine/engine_client.h"
#include "engine/input_processor.h"
#include "engine/model_runner.h"
#include "engine/output_processor.h"
#include "engine/sampler.h"
#include "engine/scheduler.h"
#include "engine/vllm_config.h"
#include "models/model.h"
#include "text/tokenizer/tokenizer.h"

namespace vllm {

class StepTiming;

class LLMEngine {
 public:
  explicit LLMEngine(const EngineArgs& args);
  ~LLMEngine();

  // Validates (the input processor: throws vllm::Error, InvalidArgument with vLLM's message, for
  // a bad request, which then leaves no trace) and queues. `on_output` may be empty (outputs only
  // from step()).
  void add_request(EngineRequest request, OutputCallback on_output = {});
  // Queues a request input_processor().process() already accepted (AsyncLLM validates on the
  // caller's thread); throws InvalidArgument only for an id already in use.
  void add_processed_request(EngineRequest request, OutputCallback on_output = {});
  // Aborts a request (all its n sequences); false when it is unknown or already finished.
  bool abort_request(const std::string& request_id);

  // One scheduling step; returns the outputs of the requests it changed (cumulative), the
  // finished ones with finished = true.
  std::vector<RequestOutput> step();
  bool has_unfinished_requests() const { return !requests_.empty() || pending_ != nullptr; }
  std::vector<std::string> unfinished_request_ids() const;

  EngineStats stats() const;
  const VllmConfig& config() const { return config_; }
  const ModelInfo& model_info() const { return model_info_; }
  const InputProcessor& input_processor() const { return *input_processor_; }
  std::shared_ptr<const Tokenizer> tokenizer() const { return tokenizer_; }
  const Model& model() const { return *model_; }
  const Scheduler& scheduler() const { return *scheduler_; }
  const std::filesystem::path& model_dir() const { return config_.model.model_dir; }
  // Text prompt -> token ids as the server and CLI do it (special tokens as the tokenizer adds
  // them). InvalidArgument with --skip-tokenizer-init.
  std::vector<int32_t> encode(const std::string& prompt, bool add_special_tokens = true) const;
  // A sentence pair as the tokenizer's pair template joins it (cross-encoders), with token types.
  PairEncoding encode_pair(const std::string& first, const std::string& second) const;
  // Fills the fields params did not set from generation_config.json (--generation-config).
  void apply_generation_defaults(SamplingParams& params) const;
  // The pooling runner (--runner pooling, or a pooling architecture): requests must carry
  // EngineRequest::pooling; each runs its whole prompt in one step and finishes there.
  bool is_pooling() const { return pooling_; }

 private:
  struct RequestState;
  struct StepRows;
  struct Step;

  // Start-up, in order.
  std::filesystem::path load_model(const EngineArgs& args, Device device);
  void load_tokenizer(const EngineArgs& args, const std::filesystem::path& model_dir);
  void resolve_config(const EngineArgs& args, const std::filesystem::path& model_dir, Device device);
  void init_kv_cache();
  void init_scheduler();
  void init_input_processor(const EngineArgs& args);
  void init_stats();
  void log_ready() const;
  // The pooler config: a sentence-transformers folder's, then --pooler-config on top.
  void configure_pooling(const EngineArgs& args, const std::filesystem::path& model_dir);
  // One pooling step: waiting pooling requests in order while the token and sequence budgets
  // allow (always the first), each whole, then their outputs, finished.
  void pooling_step(std::vector<RequestOutput>& outputs);

  // Queues a scheduled step on the device (host-sampled rows are drawn at once).
  std::unique_ptr<Step> launch_step(SchedulerOutput out);
  // The rows of a launched step by where they are drawn: device rows are launched; the rows the
  // host needs (prompt logprobs, host sampling) are listed in the step.
  void launch_device_rows(Step& step, const ModelRunnerOutput& result, std::vector<int32_t>& host_row_ids,
                          std::vector<size_t>& host_samples);
  // Prompt logprobs and host sampling over the logits rows brought to the host.
  void run_host_rows(Step& step, const ModelRunnerOutput& result, const std::vector<int32_t>& host_row_ids,
                     const std::vector<size_t>& host_samples);
  // Waits for a launched step's tokens, updates the scheduler and the requests' outputs.
  void finish_step(Step& step, std::vector<RequestOutput>& outputs);
  void finish_pending(std::vector<RequestOutput>& outputs);
  void process_updates(const SchedulerOutput& out, const StepRows& rows,
                       const std::vector<RequestUpdate>& updates, std::vector<RequestOutput>& outputs);
  RequestOutput make_output(RequestState& state) const;
  void finish_state(RequestState& state, std::vector<RequestOutput>& outputs);
  FinishedRequestStats finished_request_stats(const RequestState& state) const;

  VllmConfig config_;  // resolved once, read everywhere
  std::unique_ptr<Model> model_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  std::unique_ptr<ModelRunner> runner_;  // owns the KV cache
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<InputProcessor> input_processor_;
  Sampler sampler_;
  ModelInfo model_info_;

  std::map<std::string, std::unique_ptr<RequestState>> requests_;         // by request id
  std::map<std::string, std::pair<RequestState*, int>> sequences_;         // child id -> parent, index
  EngineStats stats_;
  std::unique_ptr<StepTiming> timing_;  // VLLM_STEP_TIMING=1 only
  std::unique_ptr<Step> pending_;       // launched, its tokens not yet processed
  bool pooling_ = false;
  std::deque<std::string> pooling_waiting_;  // pooling request ids, in arrival order
  std::optional<int64_t> st_max_seq_length_;  // sentence_bert_config.json's cap on max_model_len
};

}  // namespace vllm
