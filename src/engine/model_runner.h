// ModelRunner: runs the model for one scheduled step on its device. It owns the KV cache, builds
// the flattened batch, copies it to the device in one transfer, replays a CUDA graph for decode
// batches of a captured size (padded up to it), and returns the logits on the host.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/tensor.h"
#include "models/model.h"

namespace vllm {

struct ModelRunnerConfig {
  Device device;
  int64_t block_size = 16;
  int64_t max_model_len = 0;
  bool enforce_eager = false;
  std::vector<int64_t> graph_sizes;  // decode batch sizes to capture (CUDA only)
  // Longest sequence a graph serves (vLLM's max_seq_len_to_capture): graphs read a block table of
  // this many tokens and size attention for it; longer sequences run eagerly.
  int64_t max_seq_len_to_capture = 8192;
};

// Input tokens known on the device only: the tokens the previous step sampled, which
// asynchronous scheduling feeds to the next step without a round trip to the host. Entry i puts
// source[source_index[i]] at flat position token_index[i] of the step's batch.
struct DeferredTokens {
  Tensor source;  // i32 on the model's device
  std::vector<int32_t> token_index, source_index;
  bool empty() const { return token_index.empty(); }
};

// vLLM's capture sizes: 1, 2, 4, then every 8 up to 256, then every 16, up to max_num_seqs.
std::vector<int64_t> default_graph_sizes(int64_t max_num_seqs);

class ModelRunner {
 public:
  ModelRunner(Model& model, ModelRunnerConfig config);
  ~ModelRunner();

  Device device() const { return config_.device; }
  void set_kv_cache(KVCache cache) { cache_ = std::move(cache); }
  const KVCache& kv_cache() const { return cache_; }

  // Device bytes the activations of one step of `num_tokens` tokens over `num_seqs` sequences
  // take at their peak (a forward pass over a scratch KV cache). CUDA only; 0 on the CPU.
  size_t profile(int64_t num_tokens, int64_t num_seqs);

  // Captures the decode graphs (after set_kv_cache). A model whose forward cannot be captured
  // (a host round trip inside) runs eagerly, with a warning.
  void capture_graphs();
  size_t num_graphs() const { return graphs_.size(); }

  // Queues one step: logits [R, vocab] f32 on the model's device for the rows the chunks ask for
  // (a graph's logits stay valid until the next step). `deferred` (may be null) fills the chunk
  // tokens that are placeholders on the host.
  Tensor execute(const std::vector<SequenceChunk>& chunks, const DeferredTokens* deferred = nullptr);
  // Waits for the device's queued work (a no-op on the CPU).
  void synchronize() const;

 private:
  struct CapturedGraph;
  CapturedGraph* graph_for(const std::vector<SequenceChunk>& chunks);
  Tensor replay(CapturedGraph& graph, const std::vector<SequenceChunk>& chunks, const DeferredTokens* deferred);
  void fill_deferred(Tensor& token_ids, const DeferredTokens* deferred) const;
  FlatBatch padded_decode_batch(const std::vector<SequenceChunk>& chunks, int64_t size) const;

  Model& model_;
  ModelRunnerConfig config_;
  KVCache cache_;
  int64_t graph_seq_len_ = 0;  // min(max_model_len, max_seq_len_to_capture)
  int64_t table_width_ = 0;    // block-table columns of a captured batch (graph_seq_len_ in blocks)
  std::vector<std::unique_ptr<CapturedGraph>> graphs_;  // ascending size
  Tensor graph_logits_;  // [largest size, vocab]: every graph writes its logits here
};

}  // namespace vllm
