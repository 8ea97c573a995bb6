#include "engine/vllm_config.h"

#include <algorithm>

#include "engine/engine_args.h"
#include "core/error.h"
#include "core/logging.h"
#include "ops/device.h"

#include <nlohmann/json.hpp>

namespace vllm {

namespace {

constexpr size_t kDefaultCpuKvCacheBytes = size_t{4} << 30;  // vLLM's VLLM_CPU_KVCACHE_SPACE default

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

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

}  // namespace

SchedulingPolicy parse_scheduling_policy(const std::string& name) {
  if (name == "fcfs") return SchedulingPolicy::FCFS;
  if (name == "priority") return SchedulingPolicy::PRIORITY;
  fail(ErrorKind::InvalidArgument, "scheduling policy \"", name, "\" is not supported (known: fcfs, priority)");
}

DeviceConfig DeviceConfig::of(Device device) {
  DeviceConfig config;
  config.device = device;
  config.total_memory = device::memory_info(device).total;
  return config;
}

std::vector<int64_t> default_graph_sizes(int64_t max_num_seqs) {
  std::vector<int64_t> sizes;
  for (int64_t size : {1, 2, 4}) sizes.push_back(size);
  for (int64_t size = 8; size <= 256; size += 8) sizes.push_back(size);
  for (int64_t size = 272; size <= 1024; size += 16) sizes.push_back(size);
  std::vector<int64_t> kept;
  for (int64_t size : sizes)
    if (size <= max_num_seqs) kept.push_back(size);
  if (kept.empty() || kept.back() < max_num_seqs) kept.push_back(max_num_seqs);
  return kept;
}

int max_blocks_per_request(const CacheConfig& cache, int64_t max_model_len, int64_t max_num_batched_tokens) {
  const int64_t full = ceil_div(max_model_len, cache.block_size);
  int64_t total = 0;
  for (const KVCacheGroupSpec& group : cache.groups) {
    if (group.sliding_window == 0) {
      total += full;
    } else {  // the window plus one scheduled chunk, plus a partly filled block at each end
      const int64_t chunk = std::min(max_num_batched_tokens, max_model_len);
      total += std::min(full, ceil_div(group.sliding_window - 1 + chunk, cache.block_size) + 1);
    }
  }
  return static_cast<int>(total);
}

int64_t VllmConfig::blocks_per_sequence() const { return ceil_div(model.max_model_len, cache.block_size); }

VllmConfig resolve_vllm_config(const EngineArgs& args, const ModelFacts& facts, const DeviceConfig& device) {
  VllmConfig config;
  config.device = device;

  EngineModelConfig& model = config.model;
  model.model = args.model.empty() ? default_model_path() : args.model;
  model.served_model_names = args.served_model_name.empty() ? std::vector<std::string>{model.model}
                                                            : args.served_model_name;
  model.model_dir = facts.model_dir;
  model.architecture = facts.architecture;
  model.max_position_embeddings = facts.max_position_embeddings;
  model.vocab_size = facts.vocab_size;
  model.dtype = args.dtype;
  model.max_logprobs = args.max_logprobs;
  model.generation_config = args.generation_config;
  config.structured_outputs = StructuredOutputsConfig::parse(args.structured_outputs_config, args.guided_decoding_backend);
  const int64_t derived_max_len = facts.max_position_embeddings;
  model.max_model_len = args.max_model_len.value_or(derived_max_len);
  VLLM_CHECK(model.max_model_len > 0 && model.max_model_len <= derived_max_len, InvalidArgument,
             "User-specified max_model_len (", model.max_model_len,
             ") is greater than the derived max_model_len (max_position_embeddings=", derived_max_len, " in ",
             (facts.model_dir / "config.json").string(), ")");
  const int64_t max_model_len = model.max_model_len;

  CacheConfig& cache = config.cache;
  VLLM_CHECK(args.block_size > 0, InvalidArgument, "--block-size must be positive, got ", args.block_size);
  cache.block_size = static_cast<int>(args.block_size);
  cache.groups.clear();
  for (int64_t window : facts.group_windows) cache.groups.push_back(KVCacheGroupSpec{static_cast<int>(window)});
  cache.enable_prefix_caching = args.enable_prefix_caching;
  cache.state_bytes_per_slot = facts.state_bytes_per_slot;
  if (cache.state_bytes_per_slot > 0 && cache.enable_prefix_caching) {
    // vLLM turns prefix caching off for Mamba layers unless its state checkpoints are on: a hit
    // would skip tokens whose recurrent state no block holds.
    log_info("prefix caching is off for ", facts.architecture,
             ": its state-space layers keep one recurrent state per request, not per block");
    cache.enable_prefix_caching = false;
  }
  cache.kv_cache_dtype = kv_cache_dtype(args, device.device);
  cache.bytes_per_block = static_cast<size_t>(cache.block_size) * facts.kv_elements_per_token *
                          dtype_size(cache.kv_cache_dtype);
  if (args.kv_cache_memory) cache.kv_cache_memory = static_cast<size_t>(*args.kv_cache_memory);
  else if (device.device.is_cpu()) cache.kv_cache_memory = kDefaultCpuKvCacheBytes;
  cache.gpu_memory_utilization = args.gpu_memory_utilization;

  // vLLM's defaults by device (its arg_utils): H100/H200-class GPUs batch far more per step.
  SchedulerConfig& scheduler = config.scheduler;
  const bool large_gpu = device.large_gpu();
  const int64_t max_num_seqs = args.max_num_seqs.value_or(large_gpu ? 1024 : 256);
  int64_t default_batched = device.device.is_cpu() ? 2048
                            : large_gpu            ? (args.api_server ? 8192 : 16384)
                                                   : (args.api_server ? 2048 : 8192);
  if (!args.enable_chunked_prefill) default_batched = std::max<int64_t>(default_batched, max_model_len);
  scheduler.max_num_seqs = static_cast<int>(max_num_seqs);
  scheduler.max_num_seqs_given = args.max_num_seqs.has_value();
  scheduler.max_num_batched_tokens = static_cast<int>(args.max_num_batched_tokens.value_or(default_batched));
  scheduler.enable_chunked_prefill = args.enable_chunked_prefill;
  scheduler.policy = parse_scheduling_policy(args.scheduling_policy);
  scheduler.admission_reserve_tokens = static_cast<int>(std::min<int64_t>(args.admission_reserve_tokens, max_model_len));
  scheduler.async_scheduling = args.async_scheduling.value_or(device.device.is_cuda());

  CompilationConfig& compilation = config.compilation;
  compilation.enforce_eager = args.enforce_eager;
  compilation.max_seq_len_to_capture = args.max_seq_len_to_capture;
  compilation.cuda_graph_sizes = args.cuda_graph_sizes.empty()
                                     ? default_graph_sizes(std::min<int64_t>(max_num_seqs, 512))
                                     : args.cuda_graph_sizes;
  config.validate();
  return config;
}

void VllmConfig::validate() const {
  VLLM_CHECK(model.max_model_len > 0, InvalidArgument, "max_model_len must be positive, got ", model.max_model_len);
  VLLM_CHECK(scheduler.max_num_batched_tokens > 0, InvalidArgument, "max_num_batched_tokens must be positive, got ",
             scheduler.max_num_batched_tokens);
  VLLM_CHECK(scheduler.max_num_seqs > 0, InvalidArgument, "max_num_seqs must be positive, got ",
             scheduler.max_num_seqs);
  VLLM_CHECK(scheduler.admission_reserve_tokens >= 0, InvalidArgument,
             "--admission-reserve-tokens must not be negative, got ", scheduler.admission_reserve_tokens);
  VLLM_CHECK(scheduler.enable_chunked_prefill || scheduler.max_num_batched_tokens >= model.max_model_len,
             InvalidArgument, "max_num_batched_tokens (", scheduler.max_num_batched_tokens,
             ") is smaller than max_model_len (", model.max_model_len,
             ") with chunked prefill off: raise --max-num-batched-tokens or enable chunked prefill");
  for (auto [name, size] : {std::pair{"tensor_parallel_size", parallel.tensor_parallel_size},
                            std::pair{"pipeline_parallel_size", parallel.pipeline_parallel_size},
                            std::pair{"data_parallel_size", parallel.data_parallel_size}})
    VLLM_CHECK(size == 1, Unsupported, name, " ", size, ": this engine runs on one device (1)");
}

void VllmConfig::set_num_blocks(size_t budget) {
  const int64_t per_sequence = blocks_per_sequence();
  if (cache.state_bytes_per_slot > 0) budget -= reserve_state_slots(budget);
  // Without attention layers (a pure state-space model) blocks hold no memory: only their ids.
  const int64_t most_blocks = scheduler.max_num_seqs * per_sequence + 1;
  int64_t num_blocks = cache.bytes_per_block == 0 ? most_blocks : static_cast<int64_t>(budget / cache.bytes_per_block);
  num_blocks = std::min(num_blocks, most_blocks);
  const Device where = device.device;
  VLLM_CHECK(num_blocks >= per_sequence + 1, OutOfMemory, "the KV cache (", budget >> 20, " MiB on ",
             where.to_string(), ") holds ", num_blocks, " blocks of ", cache.block_size,
             " tokens but one sequence of max_model_len=", model.max_model_len, " needs ", per_sequence,
             " (+1): lower --max-model-len", where.is_cuda() ? " or raise --gpu-memory-utilization" : " or raise --kv-cache-memory");
  // Sliding-window groups hold blocks beside the full-attention group's: one request may need more.
  const int needed = max_blocks_per_request(cache, model.max_model_len, scheduler.max_num_batched_tokens);
  const int64_t usable = num_blocks - 1;  // block 0 is the null block
  VLLM_CHECK(needed <= usable, OutOfMemory, "the KV cache has ", usable, " blocks of ", cache.block_size,
             " tokens, fewer than the ", needed, " blocks one request of max_model_len (", model.max_model_len,
             ") tokens needs; give the KV cache more memory or decrease max_model_len.");
  cache.num_blocks = static_cast<int>(num_blocks);
}

size_t VllmConfig::reserve_state_slots(size_t budget) {
  const size_t slot = cache.state_bytes_per_slot;
  const size_t one_sequence = static_cast<size_t>(blocks_per_sequence() + 1) * cache.bytes_per_block;
  const int64_t fit = budget > one_sequence ? static_cast<int64_t>((budget - one_sequence) / slot) : 0;
  const char* flag = device.device.is_cuda() ? "--gpu-memory-utilization" : "--kv-cache-memory";
  VLLM_CHECK(fit >= 1, OutOfMemory, "the KV cache (", budget >> 20, " MiB) cannot hold one recurrent-state slot of ",
             slot >> 10, " KiB beside one sequence's blocks: raise ", flag);
  if (scheduler.max_num_seqs > fit) {
    VLLM_CHECK(!scheduler.max_num_seqs_given, OutOfMemory, "--max-num-seqs ", scheduler.max_num_seqs, " needs ",
               scheduler.max_num_seqs, " recurrent-state slots of ", slot >> 10, " KiB, but the KV cache (",
               budget >> 20, " MiB) holds ", fit, ": lower --max-num-seqs to ", fit, " or raise ", flag);
    log_warning("max_num_seqs lowered from ", scheduler.max_num_seqs, " to ", fit,
                ": the recurrent-state slots of more requests do not fit the KV cache");
    scheduler.max_num_seqs = static_cast<int>(fit);
  }
  cache.num_state_slots = scheduler.max_num_seqs;
  return static_cast<size_t>(cache.num_state_slots) * slot;
}

StructuredOutputsConfig StructuredOutputsConfig::parse(const std::string& json_text,
                                                       const std::string& guided_decoding_backend) {
  StructuredOutputsConfig config;
  if (!guided_decoding_backend.empty()) config.backend = guided_decoding_backend;
  if (!json_text.empty()) {
    const nlohmann::json parsed = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
    VLLM_CHECK(parsed.is_object(), InvalidArgument, "--structured-outputs-config must be a JSON object, got ", json_text);
    for (const auto& [key, value] : parsed.items()) {
      if (key == "backend") {
        VLLM_CHECK(value.is_string(), InvalidArgument, "--structured-outputs-config: backend must be a string");
        config.backend = value.get<std::string>();
      } else if (key == "disable_any_whitespace" || key == "disable_fallback" ||
                 key == "disable_additional_properties" || key == "enable_in_reasoning") {
        VLLM_CHECK(value.is_boolean(), InvalidArgument, "--structured-outputs-config: ", key, " must be a boolean");
        if (key == "disable_any_whitespace") config.disable_any_whitespace = value.get<bool>();
      } else if (key == "reasoning_parser") {
        VLLM_CHECK(value.is_string(), InvalidArgument, "--structured-outputs-config: reasoning_parser must be a string");
        config.reasoning_parser = value.get<std::string>();
      } else {
        fail(ErrorKind::InvalidArgument, "--structured-outputs-config: unknown key '", key,
             "' (backend, disable_any_whitespace, disable_fallback, disable_additional_properties, "
             "enable_in_reasoning, reasoning_parser)");
      }
    }
  }
  const std::string& b = config.backend;
  VLLM_CHECK(b == "auto" || b == "xgrammar" || b == "guidance" || b == "outlines" || b == "lm-format-enforcer",
             InvalidArgument, "structured outputs backend '", b,
             "' is not known (auto, xgrammar, guidance, outlines, lm-format-enforcer)");
  return config;
}

}  // namespace vllm
