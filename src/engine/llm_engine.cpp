#include "engine/llm_engine.h"

#include <algorithm>
#include <cstdlib>
#include <random>
#include <unordered_map>

#include "core/env.h"
#include "core/error.h"
#include "core/logging.h"
#include "core/parallel.h"
#ifdef VLLM_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif
#include "engine/device_sampling.h"
#include "engine/step_timing.h"
#include "loader/model_config.h"
#include "loader/model_path.h"
#include "models/registry.h"
#include "ops/ops.h"

namespace vllm {

namespace {

constexpr size_t kDefaultCpuKvCacheBytes = size_t{4} << 30;  // vLLM's VLLM_CPU_KVCACHE_SPACE default

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// --device: auto is CUDA when this build has the backend and a GPU is present.
Device resolve_device(const std::string& name) {
#ifdef VLLM_HAVE_CUDA
  const bool have_gpu = cuda::available();
#else
  const bool have_gpu = false;
#endif
  if (name == "cpu" || (name == "auto" && !have_gpu)) return Device::cpu();
#ifndef VLLM_HAVE_CUDA
  fail(ErrorKind::Unsupported, "--device cuda: this build has no CUDA backend (nvcc was not found when it was "
       "built); use --device cpu");
#endif
  VLLM_CHECK(have_gpu, Unavailable, "--device cuda: no CUDA GPU is visible (check the driver and "
             "CUDA_VISIBLE_DEVICES), or use --device cpu");
  return Device::cuda(0);
}

// --kv-cache-dtype auto follows the compute dtype: bf16 on CUDA (f16 with --dtype float16, f32
// with --dtype float32), f32 on the CPU, whose kernels read f32 caches only.
DType kv_cache_dtype(const EngineArgs& args, Device device) {
  if (device.is_cpu()) {
    VLLM_CHECK(args.kv_cache_dtype == "auto" || args.kv_cache_dtype == "float32", Unsupported, "--kv-cache-dtype ",
               args.kv_cache_dtype, ": the CPU backend keeps its KV cache in float32 (use auto or float32)");
    return DType::F32;
  }
  std::string name = args.kv_cache_dtype;
  if (name == "auto") name = args.dtype == "float16" || args.dtype == "half" ? "float16"
                           : args.dtype == "float32" || args.dtype == "float" ? "float32" : "bfloat16";
  if (name == "float16") return DType::F16;
  if (name == "float32") return DType::F32;
  return DType::BF16;
}

// vLLM's sizing: a profiling step of max_num_batched_tokens measures the activations' peak; what
// gpu_memory_utilization of the GPU leaves beside the weights, that peak and the CUDA graphs'
// buffers holds the KV cache.
size_t gpu_kv_cache_budget(ModelRunner& runner, Device device, double utilization, int64_t max_batched_tokens,
                           int64_t max_num_seqs, bool enforce_eager) {
#ifdef VLLM_HAVE_CUDA
  const size_t peak = runner.profile(max_batched_tokens, std::min(max_num_seqs, max_batched_tokens));
  cuda::empty_cache(device);
  const cuda::DeviceMemory memory = cuda::device_memory(device);
  const size_t in_use = memory.total - memory.free;  // weights, CUDA context, workspaces (ours and others')
  // Decode graphs hold activations for up to max_num_seqs tokens.
  const double graph_share = std::min(1.0, static_cast<double>(max_num_seqs) / static_cast<double>(max_batched_tokens));
  const size_t graphs = enforce_eager ? 0 : static_cast<size_t>(static_cast<double>(peak) * graph_share) + (size_t{256} << 20);
  const double allowed = utilization * static_cast<double>(memory.total);
  const double budget = allowed - static_cast<double>(in_use + peak + graphs);
  VLLM_CHECK(budget > 0, OutOfMemory, "--gpu-memory-utilization ", utilization, " allows ",
             static_cast<size_t>(allowed) >> 20, " MiB of ", memory.total >> 20, " MiB, but the weights and CUDA already use ",
             in_use >> 20, " MiB and a step of ", max_batched_tokens, " tokens needs ", peak >> 20,
             " MiB more: nothing is left for the KV cache (raise --gpu-memory-utilization or lower "
             "--max-num-batched-tokens)");
  log_info("GPU memory: ", memory.total >> 20, " MiB, in use ", in_use >> 20, " MiB, activations peak ", peak >> 20,
           " MiB, CUDA graphs ~", graphs >> 20, " MiB, KV cache ", static_cast<size_t>(budget) >> 20, " MiB");
  return static_cast<size_t>(budget);
#else
  (void)runner, (void)device, (void)utilization, (void)max_batched_tokens, (void)max_num_seqs, (void)enforce_eager;
  return 0;
#endif
}

// vLLM's bucket bounds (vllm/v1/metrics/loggers.py).
Histogram histogram(std::vector<double> bounds) {
  Histogram h;
  h.bounds = std::move(bounds);
  h.counts.assign(h.bounds.size(), 0);
  return h;
}

}  // namespace

struct LLMEngine::RequestState {
  EngineRequest request;
  OutputCallback on_output;
  std::vector<SamplingParams> child_params;  // one per sequence (seeds differ)
  std::vector<std::string> child_ids;
  std::vector<std::unique_ptr<SequenceOutputState>> sequences;
  std::optional<std::vector<std::optional<TokenLogprobs>>> prompt_logprobs;
  RequestMetrics metrics;
  size_t num_finished = 0;
};

struct LLMEngine::StepRows {
  std::vector<std::vector<int32_t>> sampled;                       // per scheduled request
  std::map<std::string, std::optional<PositionLogprobs>> logprobs;  // sampled token's, by child id
};

// A step queued on the device whose sampled tokens the host has not processed yet.
struct LLMEngine::Step {
  SchedulerOutput out;
  StepRows rows;                       // host rows at launch, device rows at finish_step
  DeviceSampling device;               // the draw of the rows in device_owners
  std::vector<size_t> device_owners;   // device row -> index into out.scheduled
  std::unordered_map<std::string, int32_t> token_index;  // request id -> entry of device.tokens()
  bool allows_lookahead = false;       // the next step may be queued before this one's tokens are back
  bool decode_only = false;            // for VLLM_STEP_TIMING
};

LLMEngine::LLMEngine(const EngineArgs& args) : args_(args), sampler_(args.seed.value_or(std::random_device{}())) {
  if (args.cpu_threads > 0) set_cpu_threads(args.cpu_threads);
  std::string model = args.model.empty() ? default_model_path() : args.model;
  model_dir_ = resolve_model_path(model);
  const Device device = resolve_device(args.device);
  nlohmann::json overrides = args.hf_overrides.empty() ? nlohmann::json::object() : parse_hf_overrides(args.hf_overrides);

  ModelLoadOptions options;
  options.model_dir = model_dir_;
  options.dummy_weights = args.load_format == "dummy";
  options.dummy_seed = args.seed.value_or(0);
  options.model_impl = args.model_impl;
  options.device = device;
  options.dtype = args.dtype;
  model_ = load_model(options, overrides);

  if (!args.skip_tokenizer_init) {
    std::filesystem::path tokenizer_dir = args.tokenizer.empty() ? model_dir_ : resolve_model_path(args.tokenizer);
    try {
      tokenizer_ = Tokenizer::from_directory(tokenizer_dir);
    } catch (const Error& error) {
      fail(error.kind(), error.what(), " (a checkpoint without tokenizer files runs with --skip-tokenizer-init and token-id prompts)");
    }
  }

  int64_t derived_max_len = model_->max_position_embeddings();
  int64_t max_model_len = args.max_model_len.value_or(derived_max_len);
  VLLM_CHECK(max_model_len > 0 && max_model_len <= derived_max_len, InvalidArgument, "User-specified max_model_len (",
             max_model_len, ") is greater than the derived max_model_len (max_position_embeddings=", derived_max_len,
             " in ", (model_dir_ / "config.json").string(), ")");

  // KV cache: the memory budget in blocks, no more than max_num_seqs full-length sequences use.
  block_size_ = args.block_size;
  const KVCacheSpec& spec = model_->kv_cache_spec();
  const DType kv_dtype = kv_cache_dtype(args, device);
  size_t bytes_per_block = spec.bytes_per_block(block_size_, kv_dtype);
  int64_t blocks_per_sequence = (max_model_len + block_size_ - 1) / block_size_;
  ModelRunnerConfig runner_config;
  runner_config.device = device;
  runner_config.block_size = block_size_;
  runner_config.max_model_len = max_model_len;
  runner_config.enforce_eager = args.enforce_eager;
  runner_config.max_seq_len_to_capture = args.max_seq_len_to_capture;
  // vLLM's defaults by device (its arg_utils): H100/H200-class GPUs batch far more per step.
#ifdef VLLM_HAVE_CUDA
  const bool large_gpu = device.is_cuda() && cuda::device_memory(device).total >= (size_t{70} << 30);
#else
  const bool large_gpu = false;
#endif
  const int64_t max_num_seqs = args.max_num_seqs.value_or(large_gpu ? 1024 : 256);
  int64_t default_batched = device.is_cpu() ? 2048 : large_gpu ? (args.api_server ? 8192 : 16384)
                                                               : (args.api_server ? 2048 : 8192);
  if (!args.enable_chunked_prefill) default_batched = std::max<int64_t>(default_batched, max_model_len);
  const int64_t max_batched_tokens = args.max_num_batched_tokens.value_or(default_batched);
  runner_config.graph_sizes = args.cuda_graph_sizes.empty() ? default_graph_sizes(std::min<int64_t>(max_num_seqs, 512))
                                                            : args.cuda_graph_sizes;
  runner_ = std::make_unique<ModelRunner>(*model_, runner_config);
  size_t budget = args.kv_cache_memory ? static_cast<size_t>(*args.kv_cache_memory) : kDefaultCpuKvCacheBytes;
  if (device.is_cuda() && !args.kv_cache_memory)
    budget = gpu_kv_cache_budget(*runner_, device, args.gpu_memory_utilization, max_batched_tokens, max_num_seqs,
                                 args.enforce_eager);
  int64_t num_blocks = static_cast<int64_t>(budget / std::max<size_t>(bytes_per_block, 1));
  num_blocks = std::min(num_blocks, max_num_seqs * blocks_per_sequence + 1);
  VLLM_CHECK(num_blocks >= blocks_per_sequence + 1, OutOfMemory, "the KV cache (", budget >> 20, " MiB on ",
             device.to_string(), ") holds ", num_blocks, " blocks of ", block_size_,
             " tokens but one sequence of max_model_len=", max_model_len, " needs ", blocks_per_sequence,
             " (+1): lower --max-model-len", device.is_cuda() ? " or raise --gpu-memory-utilization" : " or raise --kv-cache-memory");
  runner_->set_kv_cache(KVCache::allocate(spec, num_blocks, block_size_, kv_dtype, device));
  runner_->capture_graphs();

  SchedulerConfig scheduler_config;
  scheduler_config.max_num_batched_tokens = static_cast<int>(max_batched_tokens);
  VLLM_CHECK(args.enable_chunked_prefill || scheduler_config.max_num_batched_tokens >= max_model_len, InvalidArgument,
             "max_num_batched_tokens (", scheduler_config.max_num_batched_tokens, ") is smaller than max_model_len (",
             max_model_len, ") with chunked prefill off: raise --max-num-batched-tokens or enable chunked prefill");
  scheduler_config.max_num_seqs = static_cast<int>(max_num_seqs);
  scheduler_config.max_model_len = static_cast<int>(max_model_len);
  scheduler_config.enable_chunked_prefill = args.enable_chunked_prefill;
  scheduler_config.policy = parse_scheduling_policy(args.scheduling_policy);
  scheduler_config.admission_reserve_tokens = static_cast<int>(std::min<int64_t>(args.admission_reserve_tokens, max_model_len));
  KVCacheConfig kv_config;
  kv_config.num_blocks = static_cast<int>(num_blocks);
  kv_config.block_size = static_cast<int>(block_size_);
  kv_config.enable_prefix_caching = args.enable_prefix_caching;
  kv_config.groups.clear();
  for (int64_t window : spec.group_windows()) kv_config.groups.push_back(KVCacheGroupSpec{static_cast<int>(window)});
  scheduler_ = std::make_unique<Scheduler>(scheduler_config, kv_config);
  async_scheduling_ = args.async_scheduling.value_or(device.is_cuda());
  if (env::step_timing())
    timing_ = std::make_unique<StepTiming>(runner_->device());

  if (args.generation_config == "auto")
    generation_config_ = read_generation_config(model_dir_);
  else if (args.generation_config != "vllm")
    generation_config_ = read_generation_config(args.generation_config);
  if (tokenizer_) eos_token_id_ = tokenizer_->eos_token_id();
  if (!eos_token_id_ && generation_config_.contains("eos_token_id")) {
    const nlohmann::json& eos = generation_config_["eos_token_id"];
    if (eos.is_number_integer()) eos_token_id_ = eos.get<int32_t>();
    if (eos.is_array() && !eos.empty() && eos[0].is_number_integer()) eos_token_id_ = eos[0].get<int32_t>();
  }

  model_info_.model = model;
  model_info_.served_model_names = args.served_model_name.empty() ? std::vector<std::string>{model} : args.served_model_name;
  model_info_.max_model_len = max_model_len;
  model_info_.vocab_size = model_->vocab_size();
  model_info_.max_num_seqs = max_num_seqs;

  stats_.time_to_first_token_seconds = histogram({0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
                                                  1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0});
  stats_.inter_token_latency_seconds = histogram({0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0,
                                                  2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0});
  stats_.e2e_request_latency_seconds = histogram({0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0,
                                                  40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0});
  log_info("engine ready: ", model_->architecture(), ", max_model_len ", max_model_len, ", KV cache ", num_blocks,
           " blocks of ", block_size_, " tokens (", num_blocks * bytes_per_block / (1 << 20), " MiB ",
           dtype_name(kv_dtype), "), device ", device.to_string(),
           device.is_cpu() ? str(", ", cpu_threads(), " CPU threads") : str(", ", runner_->num_graphs(), " CUDA graphs"),
           async_scheduling_ ? ", async scheduling" : "",
           scheduler_config.admission_reserve_tokens > 0
               ? str(", admission reserve ", scheduler_config.admission_reserve_tokens, " tokens")
               : std::string());
}

LLMEngine::~LLMEngine() = default;

void LLMEngine::apply_generation_defaults(SamplingParams& params) const {
  if (args_.generation_config != "vllm") params.apply_generation_config(generation_config_, eos_token_id_);
}

std::vector<int32_t> LLMEngine::encode(const std::string& prompt, bool add_special_tokens) const {
  VLLM_CHECK(tokenizer_ != nullptr, InvalidArgument,
             "text prompts need a tokenizer, but the engine runs with --skip-tokenizer-init: send token ids");
  return tokenizer_->encode(prompt, add_special_tokens);
}

void LLMEngine::add_request(EngineRequest request, OutputCallback on_output) {
  VLLM_CHECK(!requests_.count(request.request_id), InvalidArgument, "request id '", request.request_id,
             "' is already in use");
  SamplingParams& params = request.params;
  if (request.apply_generation_config) apply_generation_defaults(params);
  params.validate(static_cast<int>(model_->vocab_size()), args_.max_logprobs);
  if (!params.bad_words.empty()) {
    VLLM_CHECK(tokenizer_ != nullptr, InvalidArgument, "bad_words need a tokenizer (not with --skip-tokenizer-init)");
    params.set_bad_words_token_ids([&](const std::string& word) { return tokenizer_->encode(word, false); },
                                   static_cast<int32_t>(model_->vocab_size() - 1));
  }
  std::vector<int32_t>& prompt = request.prompt_token_ids;
  if (params.truncate_prompt_tokens) {
    size_t keep = *params.truncate_prompt_tokens < 0 ? static_cast<size_t>(model_info_.max_model_len)
                                                     : static_cast<size_t>(*params.truncate_prompt_tokens);
    if (prompt.size() > keep) prompt.erase(prompt.begin(), prompt.end() - static_cast<std::ptrdiff_t>(keep));
  }
  VLLM_CHECK(!prompt.empty(), InvalidArgument, "The prompt cannot be empty");
  for (int32_t id : prompt)
    VLLM_CHECK(id >= 0 && id < model_->vocab_size(), InvalidArgument, "Token id ", id,
               " is out of vocabulary (vocab size ", model_->vocab_size(), ")");

  auto state = std::make_unique<RequestState>();
  state->metrics.arrival_time = now_seconds();
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
    auto child = std::make_unique<Request>(state->child_ids[i], prompt, state->child_params[i], eos_token_id_,
                                           request.priority, state->metrics.arrival_time);
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

std::unique_ptr<LLMEngine::Step> LLMEngine::launch_step(SchedulerOutput scheduled_step) {
  auto step = std::make_unique<Step>();
  step->out = std::move(scheduled_step);
  const SchedulerOutput& out = step->out;
  StepRows& rows = step->rows;
  std::vector<SequenceChunk> chunks;
  std::vector<bool> prompt_rows;
  DeferredTokens deferred;
  int32_t flat_position = 0;  // of the chunk's first token in the flattened batch
  step->decode_only = true;
  for (const ScheduledRequest& scheduled : out.scheduled) {
    const Request& request = *scheduled.request;
    SequenceChunk chunk;
    chunk.num_computed_tokens = scheduled.num_computed_tokens;
    std::span<const int32_t> tokens = request.all_token_ids();
    // A position past the known tokens holds the token the previous step sampled, still on the
    // device (asynchronous scheduling): a placeholder here, filled in on the device.
    const int known = std::clamp(request.num_tokens() - scheduled.num_computed_tokens, 0, scheduled.num_new_tokens);
    chunk.token_ids.assign(tokens.begin() + scheduled.num_computed_tokens,
                           tokens.begin() + scheduled.num_computed_tokens + known);
    if (known < scheduled.num_new_tokens) {
      auto source = pending_ ? pending_->token_index.find(scheduled.request_id) : decltype(pending_->token_index)::iterator{};
      VLLM_ASSERT(pending_ && source != pending_->token_index.end() && known + 1 == scheduled.num_new_tokens, "request ",
                  scheduled.request_id, ": position ", scheduled.num_computed_tokens + known,
                  " has no token on the host or the device");
      chunk.token_ids.push_back(0);
      deferred.token_index.push_back(flat_position + known);
      deferred.source_index.push_back(source->second);
    }
    flat_position += scheduled.num_new_tokens;
    step->decode_only &= scheduled.num_new_tokens == 1;
    chunk.group_block_ids = request.block_ids;
    chunk.num_prompt_tokens = request.num_prompt_tokens();
    // Prompt logprobs need every prompt position's logits (position p scores prompt token p + 1).
    bool wants_prompt_logprobs = request.sampling_params.prompt_logprobs.has_value() &&
                                 scheduled.num_computed_tokens < request.num_prompt_tokens() - 1;
    chunk.all_logits = wants_prompt_logprobs;
    chunk.want_logits = scheduled.needs_sampling || wants_prompt_logprobs;
    prompt_rows.push_back(wants_prompt_logprobs);
    chunks.push_back(std::move(chunk));
  }
  if (!deferred.empty()) deferred.source = pending_->device.tokens();
  if (timing_) {
    timing_->mark(StepTiming::Schedule);
    timing_->device_step_begins();
  }
  Tensor logits = runner_->execute(chunks, &deferred);  // [R, vocab] on the model's device
  if (timing_) timing_->mark(StepTiming::Launch);
  const int64_t vocab = logits.size(1);
  // Drawn where the logits are unless the host must see them: on a GPU, and on the CPU under
  // asynchronous scheduling (whose next step reads the sampled tokens from step->device).
  const bool device_draws = !logits.device().is_cpu() || async_scheduling_;

  // Rows by use: prompt-logprob rows and rows the CPU sampler needs come to the host; rows that
  // samples_on_device accepts (all but logit bias, allowed/bad words, pending min_tokens and
  // whole-vocabulary logprobs) are drawn on the logits' device.
  struct SampleRow {
    size_t owner;  // index into out.scheduled
    int64_t row;   // row of logits
  };
  std::vector<SampleRow> host_samples;
  std::vector<std::pair<size_t, int64_t>> prompt_starts;  // (owner, first row) of prompt-logprob rows
  std::vector<int32_t> host_row_ids;                      // logits rows the host needs, in order
  std::vector<DeviceSampleRow> device_rows;
  int64_t row = 0;
  step->allows_lookahead = async_scheduling_;
  for (size_t i = 0; i < out.scheduled.size(); ++i) {
    const ScheduledRequest& scheduled = out.scheduled[i];
    if (prompt_rows[i]) {
      prompt_starts.emplace_back(i, row);
      for (int p = 0; p < scheduled.num_new_tokens; ++p) host_row_ids.push_back(static_cast<int32_t>(row + p));
      row += scheduled.num_new_tokens - 1;  // the last position's row is also the sampling row, when there is one
      if (!scheduled.needs_sampling) ++row;
    }
    if (scheduled.needs_sampling) {
      Request& request = const_cast<Request&>(*scheduled.request);  // advances its generator
      if (device_draws && samples_on_device(request)) {
        const SamplingParams& params = request.sampling_params;
        const uint64_t seed =
            params.is_greedy() ? 0 : (request.generator ? (*request.generator)() : sampler_.generator()());
        device_rows.push_back({row, &params, request.prompt_token_ids(), request.output_token_ids(), seed});
        step->device_owners.push_back(i);
        // The next step may be queued before this token is known when its draw needs none of
        // the request's earlier tokens (no penalties).
        step->allows_lookahead = step->allows_lookahead && draws_without_output_tokens(request);
      } else {
        host_samples.push_back({i, row});
        if (!prompt_rows[i]) host_row_ids.push_back(static_cast<int32_t>(row));
      }
      ++row;
    }
  }
  VLLM_ASSERT(row == logits.size(0), "logits rows ", logits.size(0), " but consumed ", row);
  rows.sampled.assign(out.scheduled.size(), {});
  step->allows_lookahead = step->allows_lookahead && host_row_ids.empty();
  if (!device_rows.empty()) {
    step->device = launch_device_sampling(logits, device_rows);
    for (size_t s = 0; s < device_rows.size(); ++s)
      step->token_index[out.scheduled[step->device_owners[s]].request_id] = step->device.token_index(s);
  }
  if (timing_) timing_->device_step_ends();
  if (host_row_ids.empty()) return step;

  // The host's rows, packed in host_row_ids order (all of them, in place, on the CPU).
  Tensor host_logits = logits;
  std::vector<int64_t> host_index(static_cast<size_t>(logits.size(0)), -1);
  if (!logits.device().is_cpu()) {
    const int64_t count = static_cast<int64_t>(host_row_ids.size());
    Tensor picked = Tensor::empty({count, vocab}, DType::F32, logits.device());
    ops::gather_rows(logits, Tensor::from_ints(host_row_ids, {count}).to(logits.device()), picked);
    host_logits = picked.to(Device::cpu());
    for (int64_t h = 0; h < count; ++h) host_index[static_cast<size_t>(host_row_ids[static_cast<size_t>(h)])] = h;
  } else {
    for (size_t r = 0; r < host_index.size(); ++r) host_index[r] = static_cast<int64_t>(r);
  }
  if (timing_) timing_->mark(StepTiming::Device);
  const float* logits_data = host_logits.data<float>();
  auto host_row = [&](int64_t r) {
    const int64_t h = host_index[static_cast<size_t>(r)];
    VLLM_ASSERT(h >= 0, "logits row ", r, " was not brought to the host");
    return logits_data + h * vocab;
  };

  for (const auto& [owner, first_row] : prompt_starts) {
    const ScheduledRequest& scheduled = out.scheduled[owner];
    const Request& request = *scheduled.request;
    auto [state, index] = sequences_.at(scheduled.request_id);
    std::span<const int32_t> tokens = request.all_token_ids();
    int64_t r = first_row;
    for (int p = scheduled.num_computed_tokens; p < scheduled.num_computed_tokens + scheduled.num_new_tokens; ++p, ++r) {
      if (p + 1 >= request.num_prompt_tokens() || index != 0) continue;
      std::span<const float> logits_row(host_row(r), static_cast<size_t>(vocab));
      PositionLogprobs lp = Sampler::compute_logprobs(logits_row, tokens[p + 1], *request.sampling_params.prompt_logprobs);
      (*state->prompt_logprobs)[p + 1] = to_token_logprobs(lp, tokenizer_.get());
    }
  }
  if (host_samples.empty()) return step;
  std::vector<float> sample_logits;  // rows to sample, gathered [S, vocab]
  std::vector<SamplingRow> sample_rows;
  for (const SampleRow& sample : host_samples) {
    const float* data = host_row(sample.row);
    sample_logits.insert(sample_logits.end(), data, data + vocab);
    // The scheduler owns the request; the sampler advances its seeded generator.
    sample_rows.push_back(SamplingRow::of(const_cast<Request&>(*out.scheduled[sample.owner].request)));
  }
  SamplerOutput sampled = sampler_.sample(sample_logits, static_cast<int>(vocab), sample_rows);
  for (size_t s = 0; s < host_samples.size(); ++s) {
    const size_t owner = host_samples[s].owner;
    rows.sampled[owner] = {sampled.sampled_token_ids[s]};
    rows.logprobs[out.scheduled[owner].request_id] = sampled.logprobs[s];
  }
  return step;
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
  output.finished = state.num_finished == state.sequences.size();
  for (const auto& sequence : state.sequences) output.outputs.push_back(sequence->output(sequence->finished()));
  output.metrics = state.metrics;
  return output;
}

void LLMEngine::finish_state(RequestState& state, std::vector<RequestOutput>& outputs) {
  state.metrics.finished_time = now_seconds();
  stats_.e2e_request_latency_seconds.observe(state.metrics.finished_time - state.metrics.arrival_time);
  for (const auto& sequence : state.sequences) ++stats_.request_success_total[sequence->output(true).finish_reason];
  outputs.push_back(make_output(state));
  if (state.on_output) state.on_output(outputs.back());
  for (const std::string& child : state.child_ids) sequences_.erase(child);
  requests_.erase(state.request.request_id);  // destroys `state`
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
