// ModelRunner: runs the model for one scheduled step on its device (vLLM's GPUModelRunner). It
// alone prepares a step's inputs: it turns the SchedulerOutput into per-sequence chunks (tokens,
// placeholders for tokens still on the device, block ids per KV-cache group, which rows need
// logits), builds the flattened batch (engine/input_batch.h), copies it to the device in one
// transfer, replays a CUDA graph for decode batches of a captured size (padded up to it), and
// returns the logits on the model's device with each request's rows. It owns the KV cache.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/tensor.h"
#include "engine/input_batch.h"
#include "engine/scheduler.h"
#include "engine/vllm_config.h"
#include "models/model.h"
#include "ops/device.h"

namespace vllm {

// Input tokens known on the device only: the tokens the previous step sampled, which
// asynchronous scheduling feeds to the next step without a round trip to the host. Entry i puts
// source[source_index[i]] at flat position token_index[i] of the step's batch.
struct DeferredTokens {
  Tensor source;  // i32 on the model's device
  std::vector<int32_t> token_index, source_index;
  bool empty() const { return token_index.empty(); }
};

// The previous step's tokens still on the device (asynchronous scheduling): `tokens` [N] i32 and,
// by request id, the entry of each request's token.
struct DeviceTokens {
  Tensor tokens;
  const std::unordered_map<std::string, int32_t>* index = nullptr;
};

// Where one scheduled request's rows are in a step's logits.
struct RequestRows {
  int64_t prompt_logprobs_row = -1;  // first of num_new_tokens rows for prompt logprobs (-1: none)
  int64_t sample_row = -1;           // the row to sample (-1: a chunk that samples nothing)
};

struct ModelRunnerOutput {
  Tensor logits;                  // [R, vocab] f32 on the model's device (a graph's: valid until the next step)
  std::vector<RequestRows> rows;  // per SchedulerOutput::scheduled entry
  bool decode_only = true;        // every request computes one token
};

// One whole prompt of a pooling step.
struct PoolingSequence {
  std::span<const int32_t> token_ids;
  std::span<const int32_t> token_type_ids;  // empty, or one per token
  PoolingRequestSpec spec;
};

class ModelRunner {
 public:
  // Reads the resolved configuration (device, block size, max_model_len, CUDA graphs).
  ModelRunner(Model& model, const VllmConfig& config);
  ~ModelRunner();

  Device device() const { return device_; }
  void set_kv_cache(KVCache cache) { cache_ = std::move(cache); }
  const KVCache& kv_cache() const { return cache_; }

  // vLLM's determine_available_memory: the bytes of device memory the KV cache may take, what
  // --gpu-memory-utilization of the GPU leaves beside the weights, the peak of a profiling step of
  // max_num_batched_tokens tokens and the CUDA graphs' buffers. OutOfMemory when nothing is left.
  // CUDA only (the CPU's budget is --kv-cache-memory).
  size_t determine_available_memory();
  // Device bytes the activations of one step of `num_tokens` tokens over `num_seqs` sequences
  // take at their peak (a forward pass over a scratch KV cache). CUDA only; 0 on the CPU.
  size_t profile(int64_t num_tokens, int64_t num_seqs);

  // Captures the decode graphs (after set_kv_cache). A model whose forward cannot be captured
  // (a host round trip inside) runs eagerly, with a warning.
  void capture_graphs();
  size_t num_graphs() const { return graphs_.size(); }

  // Queues one scheduled step: its inputs (previous_tokens fills the positions whose token is
  // still on the device), the forward, and the logits of the rows the requests need: the
  // sampling rows, and every prompt position of a request asking for prompt logprobs.
  ModelRunnerOutput execute(const SchedulerOutput& scheduled, const DeviceTokens* previous_tokens = nullptr);
  // The same from chunks built by the caller (tests): logits [R, vocab] for the rows they ask for.
  Tensor execute(const std::vector<SequenceChunk>& chunks, const DeferredTokens* deferred = nullptr);
  // A pooling step (vLLM's pooling path of execute_model): the prompts' tokens laid out in the
  // KV cache from block 1 on (the pooling engine's cache holds one step; nothing is kept), one
  // forward, then Model::pool over a PoolingBatch. One host f32 tensor per sequence.
  std::vector<Tensor> execute_pooling(const std::vector<PoolingSequence>& sequences);
  // Items whose encoder output is cached (tests).
  size_t num_encoder_cache_entries() const { return encoder_cache_.size(); }
  // Times the model's encoder ran (tests: once per distinct item).
  int64_t num_encoder_runs() const { return num_encoder_runs_; }
  // Waits for the device's queued work (a no-op on the CPU).
  void synchronize() const { device::synchronize(device_); }

 private:
  struct CapturedGraph;
  // The encoder cache (vLLM's EncoderCacheManager): an item's embeddings by its hash, computed
  // once however many requests (n > 1, the same image twice) and prefill chunks read them, and
  // dropped when the last request using it finishes or is preempted.
  struct EncoderOutput {
    Tensor embeddings;  // [item.length, H] on the model's device
    std::set<std::string> users;
  };
  // Rows of a step's flattened batch that hold multimodal placeholders, with their embeddings.
  struct MultiModalRows {
    std::vector<std::vector<int32_t>> rows;
    std::vector<Tensor> embeddings;  // embeddings[i]: [rows[i].size(), H]
    bool empty() const { return rows.empty(); }
  };
  // The encoder stage of a step: runs the encoder for the items whose placeholders the step
  // computes and whose output is not cached, and lays out where their rows go.
  MultiModalRows run_encoders(const SchedulerOutput& scheduled);
  void release_encoder_outputs(const std::vector<std::string>& request_ids);
  // The step's chunks and row layout from the scheduler's output.
  std::vector<SequenceChunk> prepare_inputs(const SchedulerOutput& scheduled, const DeviceTokens* previous_tokens,
                                            DeferredTokens& deferred, ModelRunnerOutput& output,
                                            int64_t& num_rows) const;
  // The one call of the model: the logits rows of a batch already on the device.
  Tensor run_model(const FlatBatch& batch, KVCache& cache);
  CapturedGraph* graph_for(const std::vector<SequenceChunk>& chunks);
  Tensor replay(CapturedGraph& graph, const std::vector<SequenceChunk>& chunks, const DeferredTokens* deferred);
  void fill_deferred(Tensor& token_ids, const DeferredTokens* deferred) const;
  FlatBatch padded_decode_batch(const std::vector<SequenceChunk>& chunks, int64_t size) const;

  Model& model_;
  Device device_;
  int64_t block_size_ = 16;
  int64_t max_num_seqs_ = 0, max_num_batched_tokens_ = 0;
  double gpu_memory_utilization_ = 0.9;
  CompilationConfig compilation_;
  KVCache cache_;
  int64_t graph_seq_len_ = 0;  // min(max_model_len, max_seq_len_to_capture)
  int64_t table_width_ = 0;    // block-table columns of a captured batch (graph_seq_len_ in blocks)
  std::vector<std::unique_ptr<CapturedGraph>> graphs_;  // ascending size
  Tensor graph_logits_;  // [largest size, vocab]: every graph writes its logits here
  std::unordered_map<std::string, EncoderOutput> encoder_cache_;
  int64_t num_encoder_runs_ = 0;
};

}  // namespace vllm
