#include "engine/llm_engine.h"

#include <algorithm>
#include <cstdlib>
#include <random>

#include "core/env.h"
#include "core/error.h"
#include "core/logging.h"
#include "core/parallel.h"
#include "engine/llm_engine_state.h"
#include "engine/step_timing.h"
#include "loader/model_config.h"
#include "loader/model_path.h"
#include "models/pooling_decoder.h"
#include "models/registry.h"
#include "ops/device.h"

namespace vllm {

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

LLMEngine::LLMEngine(const EngineArgs& args) : sampler_(args.seed.value_or(std::random_device{}())) {
  if (args.cpu_threads > 0) set_cpu_threads(args.cpu_threads);
  const Device device = device::resolve(args.device);
  const std::filesystem::path model_dir = load_model(args, device);
  if (!tokenizer_) load_tokenizer(args, model_dir);
  resolve_config(args, model_dir, device);
  init_kv_cache();
  init_scheduler();
  if (env::step_timing())
    timing_ = std::make_unique<StepTiming>(runner_->device());
  init_input_processor(args);
  init_stats();
  log_ready();
}

LLMEngine::~LLMEngine() = default;

std::filesystem::path LLMEngine::load_model(const EngineArgs& args, Device device) {
  ModelLoadOptions options;
  options.model_dir = resolve_model_dir(args);
  options.dummy_weights = args.load_format == "dummy";
  options.load_format = args.load_format;
  options.dummy_seed = args.seed.value_or(0);
  options.model_impl = args.model_impl;
  options.device = device;
  options.dtype = args.dtype;
  nlohmann::json overrides = args.hf_overrides.empty() ? nlohmann::json::object() : parse_hf_overrides(args.hf_overrides);
  // --runner / --convert / --task against the architecture (vLLM's runner resolution).
  const ModelConfig config = ModelConfig::from_directory(options.model_dir, overrides);
  const ArchitectureInfo* info = ModelRegistry::find(config.architecture());
  if (!info && args.model_impl == "generic") info = ModelRegistry::find(kGenericFallbackArchitecture);
  if (info) {
    const bool generative = std::find(info->tasks.begin(), info->tasks.end(), Task::Generate) != info->tasks.end();
    const RunnerChoice choice = resolve_runner(args, info->name, generative, info->decoder_spec != nullptr);
    pooling_ = choice.pooling;
    options.convert = choice.convert;
  }
  // classifier_from_token (Qwen3-Reranker's conversion) names tokens: their ids come from the
  // tokenizer, handed to the model as classifier_from_token_ids.
  if (config.raw().contains("classifier_from_token") && !args.skip_tokenizer_init) {
    load_tokenizer(args, options.model_dir);
    std::vector<int32_t> ids;
    for (const auto& token : config.raw()["classifier_from_token"]) {
      const std::vector<int32_t> encoded = tokenizer_->encode(token.get<std::string>(), /*add_special_tokens=*/false);
      VLLM_CHECK(encoded.size() == 1, InvalidArgument, "classifier_from_token '", token.get<std::string>(),
                 "' is ", encoded.size(), " tokens; each entry must be one token");
      ids.push_back(encoded[0]);
    }
    overrides["classifier_from_token_ids"] = ids;
  }
  // GritLM's embedding pooler finds its instruction by token-id patterns: the ids of its tokens.
  if (pooling_ && info && info->pooling_build && !args.skip_tokenizer_init) {
    load_tokenizer(args, options.model_dir);
    std::vector<int32_t> ids;
    for (const char* token : kGritLMTokens) {
      const std::optional<int32_t> id = tokenizer_->token_to_id(token);
      VLLM_CHECK(id.has_value(), InvalidArgument, info->name, ": the tokenizer has no token '", token,
                 "' (GritLM's instruction pattern needs it)");
      ids.push_back(*id);
    }
    overrides["gritlm_token_ids"] = ids;
  }
  model_ = vllm::load_model(options, overrides);
  if (pooling_) configure_pooling(args, options.model_dir);
  return options.model_dir;
}

void LLMEngine::load_tokenizer(const EngineArgs& args, const std::filesystem::path& model_dir) {
  if (args.skip_tokenizer_init) return;
  std::filesystem::path tokenizer_dir = resolve_tokenizer_dir(args, model_dir);
  try {
    tokenizer_ = Tokenizer::from_directory(tokenizer_dir);
  } catch (const Error& error) {
    fail(error.kind(), error.what(), " (a checkpoint without tokenizer files runs with --skip-tokenizer-init and token-id prompts)");
  }
}

void LLMEngine::resolve_config(const EngineArgs& given_args, const std::filesystem::path& model_dir, Device device) {
  const KVCacheSpec& spec = model_->kv_cache_spec();
  EngineArgs args = given_args;
  if (pooling_) {
    // vLLM for pooling models: whole prompts in one step (no chunked prefill, so the token budget
    // is at least max_model_len), no prefix caching, nothing to schedule ahead.
    args.enable_chunked_prefill = false;
    args.enable_prefix_caching = false;
    args.async_scheduling = false;
    if (st_max_seq_length_ && !args.max_model_len)
      args.max_model_len = std::min<int64_t>(*st_max_seq_length_, model_->max_position_embeddings());
  }
  ModelFacts facts;
  facts.architecture = model_->architecture();
  facts.model_dir = model_dir;
  facts.max_position_embeddings = model_->max_position_embeddings();
  facts.vocab_size = model_->vocab_size();
  facts.group_windows = spec.group_windows();
  if (facts.group_windows.empty()) facts.group_windows = {0};  // no paged layer (encoders): one empty group
  facts.kv_elements_per_token = spec.bytes_per_block(1, DType::U8);
  facts.state_bytes_per_slot = spec.state_bytes_per_slot();
  config_ = resolve_vllm_config(args, facts, DeviceConfig::of(device));

  model_info_.model = config_.model.model;
  model_info_.served_model_names = config_.model.served_model_names;
  model_info_.max_model_len = config_.max_model_len();
  model_info_.vocab_size = config_.model.vocab_size;
  model_info_.max_num_seqs = config_.scheduler.max_num_seqs;
  model_info_.hidden_size = model_->hidden_size();
  if (pooling_) {
    model_info_.pooling_tasks = model_->pooling_tasks();
    const ModelConfig config = ModelConfig::from_directory(model_dir, args.hf_overrides.empty()
                                                                          ? nlohmann::json::object()
                                                                          : parse_hf_overrides(args.hf_overrides));
    const nlohmann::json& raw = config.raw();
    if (raw.contains("id2label") && raw["id2label"].is_object()) {
      model_info_.labels.assign(raw["id2label"].size(), "");
      for (const auto& [index, label] : raw["id2label"].items()) {
        const size_t i = static_cast<size_t>(std::stoul(index));
        if (i < model_info_.labels.size() && label.is_string()) model_info_.labels[i] = label.get<std::string>();
      }
    }
    model_info_.is_matryoshka = config.get_bool("is_matryoshka", false);
    if (raw.contains("matryoshka_dimensions") && raw["matryoshka_dimensions"].is_array())
      model_info_.matryoshka_dimensions = raw["matryoshka_dimensions"].get<std::vector<int64_t>>();
    if (!model_info_.matryoshka_dimensions.empty()) model_info_.is_matryoshka = true;
  }
}

// The budget (--kv-cache-memory, or on a GPU what a profiling step leaves), in blocks; then the
// cache and the CUDA graphs that read it.
void LLMEngine::init_kv_cache() {
  runner_ = std::make_unique<ModelRunner>(*model_, config_);
  if (pooling_) {
    // A pooling step keeps nothing: the cache holds one step's prompts (every group's blocks
    // from 1 on), and models without paged layers (encoders) allocate none at all.
    const int64_t groups = std::max<int64_t>(1, static_cast<int64_t>(config_.cache.groups.size()));
    const int64_t per_step = (config_.scheduler.max_num_batched_tokens + config_.cache.block_size - 1) /
                                 config_.cache.block_size + config_.scheduler.max_num_seqs;
    config_.cache.num_blocks = static_cast<int>(per_step * groups + 1);
    runner_->set_kv_cache(KVCache::allocate(model_->kv_cache_spec(), config_.cache.num_blocks,
                                            config_.cache.block_size, config_.cache.kv_cache_dtype,
                                            config_.device.device));
    return;
  }
  const size_t budget = config_.cache.kv_cache_memory ? *config_.cache.kv_cache_memory
                                                      : runner_->determine_available_memory();
  config_.set_num_blocks(budget);
  model_info_.max_num_seqs = config_.scheduler.max_num_seqs;  // the state slots may have lowered it
  runner_->set_kv_cache(KVCache::allocate(model_->kv_cache_spec(), config_.cache.num_blocks, config_.cache.block_size,
                                          config_.cache.kv_cache_dtype, config_.device.device,
                                          config_.cache.num_state_slots));
  runner_->capture_graphs();
}

void LLMEngine::init_scheduler() { scheduler_ = std::make_unique<Scheduler>(config_); }

void LLMEngine::init_input_processor(const EngineArgs& args) {
  nlohmann::json generation_config;
  if (args.generation_config == "auto")
    generation_config = read_generation_config(config_.model.model_dir);
  else if (args.generation_config != "vllm")
    generation_config = read_generation_config(args.generation_config);
  std::optional<int32_t> eos_token_id;
  if (tokenizer_) eos_token_id = tokenizer_->eos_token_id();
  if (!eos_token_id && generation_config.contains("eos_token_id")) {
    const nlohmann::json& eos = generation_config["eos_token_id"];
    if (eos.is_number_integer()) eos_token_id = eos.get<int32_t>();
    if (eos.is_array() && !eos.empty() && eos[0].is_number_integer()) eos_token_id = eos[0].get<int32_t>();
  }
  input_processor_ = std::make_unique<InputProcessor>(config_.model, tokenizer_, std::move(generation_config), eos_token_id,
                                                      config_.structured_outputs);
  if (pooling_) input_processor_->set_pooling(model_info_);
}

void LLMEngine::init_stats() {
  stats_.init_histograms(config_.max_model_len());
  // vLLM's CacheConfig.metrics_info(): the cache settings as label values, Python's spellings.
  const CacheConfig& cache = config_.cache;
  stats_.cache_config_info = {
      {"block_size", std::to_string(cache.block_size)},
      {"cache_dtype", dtype_name(cache.kv_cache_dtype)},
      {"enable_prefix_caching", cache.enable_prefix_caching ? "True" : "False"},
      {"gpu_memory_utilization", python_float_repr(cache.gpu_memory_utilization)},
      {"kv_cache_memory_bytes", cache.kv_cache_memory ? std::to_string(*cache.kv_cache_memory) : "None"},
      {"num_cpu_blocks", "None"},
      {"num_gpu_blocks", std::to_string(cache.num_blocks)},
  };
}

void LLMEngine::log_ready() const {
  const CacheConfig& cache = config_.cache;
  const Device device = config_.device.device;
  log_info("engine ready: ", model_->architecture(), ", max_model_len ", config_.max_model_len(), ", KV cache ",
           cache.num_blocks, " blocks of ", cache.block_size, " tokens (",
           cache.num_blocks * cache.bytes_per_block / (1 << 20), " MiB ", dtype_name(cache.kv_cache_dtype),
           "), device ", device.to_string(),
           device.is_cpu() ? str(", ", cpu_threads(), " CPU threads") : str(", ", runner_->num_graphs(), " CUDA graphs"),
           config_.scheduler.async_scheduling ? ", async scheduling" : "",
           config_.scheduler.admission_reserve_tokens > 0
               ? str(", admission reserve ", config_.scheduler.admission_reserve_tokens, " tokens")
               : std::string());
}

void LLMEngine::apply_generation_defaults(SamplingParams& params) const {
  input_processor_->apply_generation_defaults(params);
}

std::vector<int32_t> LLMEngine::encode(const std::string& prompt, bool add_special_tokens) const {
  VLLM_CHECK(tokenizer_ != nullptr, InvalidArgument,
             "text prompts need a tokenizer, but the engine runs with --skip-tokenizer-init: send token ids");
  return tokenizer_->encode(prompt, add_special_tokens);
}

PairEncoding LLMEngine::encode_pair(const std::string& first, const std::string& second) const {
  VLLM_CHECK(tokenizer_ != nullptr, InvalidArgument,
             "text pairs need a tokenizer, but the engine runs with --skip-tokenizer-init: send token ids");
  return tokenizer_->encode_pair(first, second);
}

void LLMEngine::add_request(EngineRequest request, OutputCallback on_output) {
  VLLM_CHECK(!requests_.count(request.request_id), InvalidArgument, "request id '", request.request_id,
             "' is already in use");
  input_processor_->process(request);
  add_processed_request(std::move(request), std::move(on_output));
}

void LLMEngine::add_processed_request(EngineRequest request, OutputCallback on_output) {
  VLLM_CHECK(!requests_.count(request.request_id), InvalidArgument, "request id '", request.request_id,
             "' is already in use");
  auto state = std::make_unique<RequestState>();
  state->metrics.arrival_time = now_seconds();
  if (request.pooling) {
    VLLM_CHECK(pooling_, InvalidArgument,
               "pooling requests (embed, classify, score, reward, encode) are only supported for pooling models; "
               "try passing `--runner pooling` to use the model as a pooling model");
    stats_.prompt_tokens_total += request.prompt_token_ids.size();
    pooling_waiting_.push_back(request.request_id);
    state->request = std::move(request);
    state->on_output = std::move(on_output);
    requests_[state->request.request_id] = std::move(state);
    return;
  }
  VLLM_CHECK(!pooling_, InvalidArgument,
             "generation is only supported for generative models; try passing `--runner generate` to use the "
             "model as a generative model");
  const SamplingParams& params = request.params;
  const std::vector<int32_t>& prompt = request.prompt_token_ids;
  int n = params.n;
  for (int i = 0; i < n; ++i) {
    SamplingParams child = params;
    child.n = 1;
    if (child.seed && i > 0) child.seed = *child.seed + i;  // as vLLM's ParentRequest
    state->child_params.push_back(child);
    state->child_ids.push_back(n == 1 ? request.request_id : str(i, "_", request.request_id));
  }
  if (params.prompt_logprobs) state->prompt_logprobs.emplace(prompt.size());
  for (int i = 0; i < n; ++i) {
    auto child = std::make_unique<Request>(state->child_ids[i], prompt, state->child_params[i], input_processor_->eos_token_id(),
                                           request.priority, state->metrics.arrival_time);
    child->set_mm_items(request.mm_items);
    try {
      scheduler_->add_request(std::move(child));
    } catch (...) {
      for (int j = 0; j < i; ++j) scheduler_->abort_request(state->child_ids[j]);
      throw;
    }
    state->sequences.push_back(
        std::make_unique<SequenceOutputState>(i, state->child_params[i], tokenizer_, std::span<const int32_t>(prompt)));
  }
  stats_.prompt_tokens_total += prompt.size();
  state->request = std::move(request);
  state->on_output = std::move(on_output);
  for (int i = 0; i < n; ++i) sequences_[state->child_ids[i]] = {state.get(), i};
  requests_[state->request.request_id] = std::move(state);
}

bool LLMEngine::abort_request(const std::string& request_id) {
  auto it = requests_.find(request_id);
  if (it == requests_.end()) return false;
  RequestState& state = *it->second;
  std::erase(pooling_waiting_, request_id);
  for (size_t i = 0; i < state.sequences.size(); ++i) {
    if (state.sequences[i]->finished()) continue;
    scheduler_->abort_request(state.child_ids[i]);
    state.sequences[i]->finish(RequestStatus::FINISHED_ABORTED, {});
    ++state.num_finished;
  }
  std::vector<RequestOutput> outputs;
  finish_state(state, outputs);
  return true;
}

void LLMEngine::finish_step(Step& step, std::vector<RequestOutput>& outputs) {
  if (!step.device.empty()) {
    DeviceSamplerOutput sampled = step.device.finish();  // waits for the device
    if (timing_) timing_->mark(StepTiming::Device);
    for (size_t s = 0; s < step.device_owners.size(); ++s) {
      const size_t owner = step.device_owners[s];
      step.rows.sampled[owner] = {sampled.sampled_token_ids[s]};
      step.rows.logprobs[step.out.scheduled[owner].request_id] = std::move(sampled.logprobs[s]);
    }
  }
  if (timing_) timing_->mark(StepTiming::Sample);
  std::vector<RequestUpdate> updates = scheduler_->update_from_output(step.out, step.rows.sampled);
  process_updates(step.out, step.rows, updates, outputs);
  if (timing_) timing_->mark(StepTiming::Update);
}

void LLMEngine::finish_pending(std::vector<RequestOutput>& outputs) {
  if (!pending_) return;
  std::unique_ptr<Step> step = std::move(pending_);
  finish_step(*step, outputs);
}

// Synchronous: schedule, launch, wait, update. Asynchronous (vLLM's --async-scheduling): step
// N + 1 is scheduled and queued while the device still runs step N, whose tokens are then read
// back and processed while step N + 1 runs; a step whose next one needs the host in between
// (host sampling, penalties) is finished before the next is scheduled.
std::vector<RequestOutput> LLMEngine::step() {
  std::vector<RequestOutput> outputs;
  if (timing_) timing_->start();
  if (pending_ && !pending_->allows_lookahead) finish_pending(outputs);
  if (requests_.empty()) {
    finish_pending(outputs);
    return outputs;
  }
  if (pooling_) {
    pooling_step(outputs);
    return outputs;
  }
  SchedulerOutput out = scheduler_->schedule();
  stats_.num_preemptions_total += out.preempted_request_ids.size();
  if (out.scheduled.empty()) {
    finish_pending(outputs);
    return outputs;
  }
  double now = now_seconds();
  for (const ScheduledRequest& scheduled : out.scheduled) {
    RequestState* state = sequences_.at(scheduled.request_id).first;
    if (state->metrics.first_scheduled_time == 0) state->metrics.first_scheduled_time = now;
  }
  if (pending_) ++stats_.steps_queued_ahead;
  int64_t step_tokens = 0;
  for (const ScheduledRequest& scheduled : out.scheduled) step_tokens += scheduled.num_new_tokens;
  stats_.iteration_tokens_total.observe(static_cast<double>(step_tokens));
  std::unique_ptr<Step> launched = launch_step(std::move(out));
  const bool decode_only = launched->decode_only;
  finish_pending(outputs);
  pending_ = std::move(launched);
  if (!pending_->allows_lookahead) finish_pending(outputs);
  if (timing_) {
    timing_->read_device_markers(decode_only);
    timing_->end_step(decode_only);
  }
  return outputs;
}

void LLMEngine::process_updates(const SchedulerOutput&, const StepRows& rows, const std::vector<RequestUpdate>& updates,
                                std::vector<RequestOutput>& outputs) {
  double now = now_seconds();
  std::vector<RequestState*> changed;
  for (const RequestUpdate& update : updates) {
    auto found = sequences_.find(update.request_id);
    if (found == sequences_.end()) continue;
    auto [state, index] = found->second;
    SequenceOutputState& sequence = *state->sequences[index];
    if (sequence.finished()) continue;
    std::vector<std::optional<PositionLogprobs>> logprobs;
    if (auto it = rows.logprobs.find(update.request_id); it != rows.logprobs.end()) logprobs.push_back(it->second);
    std::optional<StopStringMatch> match = sequence.append(update.new_token_ids, logprobs);

    stats_.generation_tokens_total += update.new_token_ids.size();
    if (!update.new_token_ids.empty()) {
      if (state->metrics.first_token_time == 0) {
        state->metrics.first_token_time = now;
        state->metrics.num_cached_tokens = update.num_cached_tokens;
        stats_.time_to_first_token_seconds.observe(now - state->metrics.arrival_time);
      } else if (index == 0) {
        stats_.inter_token_latency_seconds.observe(now - state->metrics.last_token_time);
      }
      if (index == 0) state->metrics.last_token_time = now;
    }
    if (match && !update.finished) {
      scheduler_->finish_request(update.request_id, RequestStatus::FINISHED_STOPPED, match->stop);
      sequence.finish(RequestStatus::FINISHED_STOPPED, match->stop);
      ++state->num_finished;
    } else if (update.finished) {
      if (match)
        sequence.finish(RequestStatus::FINISHED_STOPPED, match->stop);
      else
        sequence.finish(*update.finished, update.stop_reason);
      ++state->num_finished;
    }
    if (std::find(changed.begin(), changed.end(), state) == changed.end()) changed.push_back(state);
  }
  for (RequestState* state : changed) {
    if (state->num_finished == state->sequences.size()) {
      finish_state(*state, outputs);
    } else if (state->request.params.output_kind == SamplingParams::OutputKind::Cumulative) {
      outputs.push_back(make_output(*state));
      if (state->on_output) state->on_output(outputs.back());
    }
  }
}

RequestOutput LLMEngine::make_output(RequestState& state) const {
  RequestOutput output;
  output.request_id = state.request.request_id;
  output.prompt = state.request.prompt;
  output.prompt_token_ids = state.request.prompt_token_ids;
  output.prompt_logprobs = state.prompt_logprobs;
  output.finished = state.num_finished == state.sequences.size() && (!state.request.pooling || state.pooled);
  output.pooling = state.pooled;
  for (const auto& sequence : state.sequences) output.outputs.push_back(sequence->output(sequence->finished()));
  output.metrics = state.metrics;
  return output;
}

void LLMEngine::finish_state(RequestState& state, std::vector<RequestOutput>& outputs) {
  state.metrics.finished_time = now_seconds();
  stats_.observe_finished(finished_request_stats(state));
  for (const auto& sequence : state.sequences) ++stats_.request_success_total[sequence->output(true).finish_reason];
  outputs.push_back(make_output(state));
  if (state.on_output) state.on_output(outputs.back());
  for (const std::string& child : state.child_ids) sequences_.erase(child);
  requests_.erase(state.request.request_id);  // destroys `state`
}

// vLLM's phases of a request (IterationStats.update_from_finished_request); a phase that never
// began (aborted while waiting, or before its first token) counts as 0.
FinishedRequestStats LLMEngine::finished_request_stats(const RequestState& state) const {
  const RequestMetrics& m = state.metrics;
  FinishedRequestStats stats;
  stats.e2e_latency = m.finished_time - m.arrival_time;
  double scheduled = m.first_scheduled_time > 0 ? m.first_scheduled_time : m.finished_time;
  double first_token = m.first_token_time > 0 ? m.first_token_time : scheduled;
  double last_token = m.last_token_time > 0 ? m.last_token_time : first_token;
  stats.queued_time = std::max(0.0, scheduled - m.arrival_time);
  stats.prefill_time = std::max(0.0, first_token - scheduled);
  stats.decode_time = std::max(0.0, last_token - first_token);
  stats.inference_time = std::max(0.0, last_token - scheduled);
  stats.num_prompt_tokens = static_cast<int64_t>(state.request.prompt_token_ids.size());
  for (const auto& sequence : state.sequences) {
    int64_t generated = static_cast<int64_t>(sequence->output(true).token_ids.size());
    stats.num_generation_tokens += generated;
    stats.max_num_generation_tokens = std::max(stats.max_num_generation_tokens, generated);
  }
  if (!state.request.pooling) {
    stats.n_param = state.request.params.n;
    if (state.request.params.max_tokens) stats.max_tokens_param = *state.request.params.max_tokens;
  }
  return stats;
}

std::vector<std::string> LLMEngine::unfinished_request_ids() const {
  std::vector<std::string> ids;
  for (const auto& [id, state] : requests_) ids.push_back(id);
  return ids;
}

EngineStats LLMEngine::stats() const {
  EngineStats stats = stats_;
  stats.num_requests_running = scheduler_->num_running();
  stats.num_requests_waiting = scheduler_->num_waiting();
  stats.kv_cache_usage = scheduler_->kv_cache_manager().usage();
  stats.prefix_cache_queries = static_cast<uint64_t>(scheduler_->kv_cache_manager().prefix_cache_stats().queries);
  stats.prefix_cache_hits = static_cast<uint64_t>(scheduler_->kv_cache_manager().prefix_cache_stats().hits);
  return stats;
}

}  // namespace vllm
