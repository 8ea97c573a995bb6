// The engine's one resolved configuration (vLLM's VllmConfig, vllm/config/__init__.py): the
// engine arguments and the loaded model (and device) resolved once into sub-configs, validated
// once, and read everywhere else (scheduler, KV-cache manager, model runner, engine, input
// processor). Every check of the arguments against the model and the device happens here, in
// resolve_vllm_config and VllmConfig::set_num_blocks; the parts that read the config trust it.
//
//   VllmConfig config = resolve_vllm_config(args, facts_of_the_model, DeviceConfig::of(device));
//   ... profile, then: config.set_num_blocks(budget_bytes);
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace vllm {

struct EngineArgs;

// The model as the engine runs it (vLLM's ModelConfig; that name is the config.json reader's,
// src/loader/model_config.h).
struct EngineModelConfig {
  std::string model;                             // the path or hub id given (or the default model)
  std::filesystem::path model_dir;               // where it was found
  std::vector<std::string> served_model_names;   // --served-model-name, else {model}
  std::string architecture;
  int64_t max_model_len = 0;                     // prompt + output tokens of one request
  int64_t max_position_embeddings = 0;           // the model's own limit (config.json)
  int64_t vocab_size = 0;
  std::string dtype = "auto";                    // --dtype
  int max_logprobs = 20;                         // --max-logprobs (-1: no limit)
  std::string generation_config = "auto";        // auto, vllm, or a folder
};

// One KV-cache group's attention (KVCacheManager): 0 full attention, N a window of N tokens.
struct KVCacheGroupSpec {
  int sliding_window = 0;
};

// The paged KV cache (vLLM's CacheConfig). The first four fields are what the KV-cache manager
// reads; num_blocks is filled once the memory budget is known (set_num_blocks).
struct CacheConfig {
  int num_blocks = 0;  // the whole pool, including the null block
  int block_size = 16;
  std::vector<KVCacheGroupSpec> groups = {KVCacheGroupSpec{}};  // full attention, then each window, ascending
  bool enable_prefix_caching = true;
  DType kv_cache_dtype = DType::F32;
  size_t bytes_per_block = 0;             // one block across every layer, in kv_cache_dtype
  std::optional<size_t> kv_cache_memory;  // --kv-cache-memory: the budget, set directly
  double gpu_memory_utilization = 0.9;
  // Recurrent state (models with Mamba layers): bytes of one request's slot across the layers
  // (0: none), and the slots allocated, one per running request (set_num_blocks: max_num_seqs).
  size_t state_bytes_per_slot = 0;
  int num_state_slots = 0;
};

enum class SchedulingPolicy { FCFS, PRIORITY };

// "fcfs" or "priority" (vLLM's --scheduling-policy); throws InvalidArgument otherwise.
SchedulingPolicy parse_scheduling_policy(const std::string& name);

// vLLM's SchedulerConfig.
struct SchedulerConfig {
  int max_num_batched_tokens = 8192;  // tokens computed per step, over all requests
  int max_num_seqs = 256;             // requests running at once
  bool max_num_seqs_given = false;    // --max-num-seqs was set (else the default may shrink to fit the state slots)
  bool enable_chunked_prefill = true;
  // Caps the tokens one request computes per step when > 0, so that a long prompt does not
  // hold the whole budget (vLLM's long_prefill_token_threshold).
  int long_prefill_token_threshold = 0;
  SchedulingPolicy policy = SchedulingPolicy::FCFS;
  // Admission headroom, in tokens per request: a waiting request is admitted only when, after its
  // prompt's blocks, the pool keeps room for every running request (and itself) to grow by
  // min(its remaining max_tokens, this many) tokens. 0 admits whenever the prompt fits (vLLM's
  // rule), which overfills a pool that long outputs then outgrow: the requests admitted last are
  // preempted and recomputed.
  int admission_reserve_tokens = 0;
  bool async_scheduling = false;  // queue step N + 1 before step N's tokens are back
};

// Where the model runs (vLLM's DeviceConfig).
struct DeviceConfig {
  Device device;
  size_t total_memory = 0;  // the GPU's memory in bytes (0 on the CPU)

  // The device's facts from the device layer.
  static DeviceConfig of(Device device);
  // H100/H200-class GPUs (70 GiB or more), for which vLLM's defaults batch far more per step.
  bool large_gpu() const { return device.is_cuda() && total_memory >= (size_t{70} << 30); }
};

// vLLM's ParallelConfig: one device today, so every size is 1 (validated).
struct ParallelConfig {
  int tensor_parallel_size = 1;
  int pipeline_parallel_size = 1;
  int data_parallel_size = 1;
};

// CUDA graphs (vLLM's CompilationConfig).
struct CompilationConfig {
  bool enforce_eager = false;
  std::vector<int64_t> cuda_graph_sizes;  // decode batch sizes to capture (resolved: never empty)
  // Longest sequence a graph serves (vLLM's max_seq_len_to_capture): graphs read a block table of
  // this many tokens and size attention for it; longer sequences run eagerly.
  int64_t max_seq_len_to_capture = 8192;
};

// What resolution needs to know about the loaded model (no weights), so the rules are tested
// without one.
struct ModelFacts {
  std::string architecture;
  std::filesystem::path model_dir;  // its config.json is named in the max_model_len message
  int64_t max_position_embeddings = 0;
  int64_t vocab_size = 0;
  std::vector<int64_t> group_windows = {0};  // KV-cache groups' windows (0: full attention)
  // KV-cache values one token takes across every layer (keys and values):
  // KVCacheSpec::bytes_per_block(1, DType::U8).
  size_t kv_elements_per_token = 0;
  // Bytes of one request's recurrent state (KVCacheSpec::state_bytes_per_slot; 0: no state layers).
  size_t state_bytes_per_slot = 0;
};

// vLLM's StructuredOutputsConfig. The backends vLLM names are accepted and all run the built-in
// grammar engine (src/structured).
struct StructuredOutputsConfig {
  std::string backend = "auto";
  bool disable_any_whitespace = false;  // the default of requests that do not say
  std::string reasoning_parser;         // accepted; the server's --reasoning-parser decides

  // --structured-outputs-config's JSON over --guided-decoding-backend; InvalidArgument naming an
  // unknown key, a wrong type or an unknown backend.
  static StructuredOutputsConfig parse(const std::string& json_text, const std::string& guided_decoding_backend);
};

struct VllmConfig {
  EngineModelConfig model;
  CacheConfig cache;
  SchedulerConfig scheduler;
  DeviceConfig device;
  ParallelConfig parallel;
  CompilationConfig compilation;
  StructuredOutputsConfig structured_outputs;

  int64_t max_model_len() const { return model.max_model_len; }
  // Blocks one max_model_len sequence spans in one group.
  int64_t blocks_per_sequence() const;

  // The checks between fields (positive budgets, chunked prefill against max_model_len,
  // parallel sizes); resolve_vllm_config runs it.
  void validate() const;
  // Sizes the pool from the memory budget: with state layers, first one state slot per
  // max_num_seqs (a default max_num_seqs shrinks to the slots that fit beside one sequence's
  // blocks; a given --max-num-seqs that does not fit is OutOfMemory), then budget / bytes_per_block
  // blocks, no more than max_num_seqs full-length sequences use. Throws OutOfMemory, naming both
  // numbers and the flag to change, when one max_model_len sequence does not fit.
  void set_num_blocks(size_t budget_bytes);

 private:
  // The state slots' share of the budget (sets num_state_slots, may lower max_num_seqs).
  size_t reserve_state_slots(size_t budget_bytes);
};

// The configuration of an engine over a loaded model: vLLM's defaults for the device, the
// arguments' checks against the model (vLLM's messages), the KV-cache dtype. num_blocks is left 0.
VllmConfig resolve_vllm_config(const EngineArgs& args, const ModelFacts& model, const DeviceConfig& device);

// vLLM's capture sizes: 1, 2, 4, then every 8 up to 256, then every 16, up to max_num_seqs.
std::vector<int64_t> default_graph_sizes(int64_t max_num_seqs);

// Most blocks one request of max_model_len tokens holds at once across the groups, scheduling at
// most max_num_batched_tokens per step (a sliding-window group keeps its window plus a chunk).
int max_blocks_per_request(const CacheConfig& cache, int64_t max_model_len, int64_t max_num_batched_tokens);

}  // namespace vllm
