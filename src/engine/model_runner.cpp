#include "engine/model_runner.h"

#include <algorithm>

#include "core/error.h"
#include "core/logging.h"
#include "ops/sampling.h"
#ifdef VLLM_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

namespace vllm {

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

struct ModelRunner::CapturedGraph {
  int64_t size = 0;
  Tensor inputs;  // the packed int32 batch arrays the graph reads (upload_batch's `into`)
#ifdef VLLM_HAVE_CUDA
  cuda::Graph graph;
#endif
};

ModelRunner::ModelRunner(Model& model, ModelRunnerConfig config) : model_(model), config_(std::move(config)) {
  graph_seq_len_ = std::min(config_.max_model_len, config_.max_seq_len_to_capture);
  table_width_ = (graph_seq_len_ + config_.block_size - 1) / config_.block_size;
}

ModelRunner::~ModelRunner() = default;

namespace {

// `count` sequences of one token each at position 0, reading block 0 and writing nowhere.
std::vector<SequenceChunk> idle_chunks(int64_t count, size_t num_groups) {
  SequenceChunk chunk;
  chunk.token_ids = {0};
  chunk.group_block_ids.assign(num_groups, std::vector<int32_t>{0});
  return std::vector<SequenceChunk>(static_cast<size_t>(count), chunk);
}

// Padding rows must not write the KV cache: their slots become -1 (skipped).
void drop_slots(FlatBatch& batch, int64_t from_row) {
  for (Tensor& slots : batch.metadata.slot_mappings) {
    int32_t* data = slots.data<int32_t>();
    for (int64_t t = from_row; t < slots.numel(); ++t) data[t] = -1;
  }
}

}  // namespace

size_t ModelRunner::profile(int64_t num_tokens, int64_t num_seqs) {
#ifdef VLLM_HAVE_CUDA
  if (!config_.device.is_cuda()) return 0;
  num_seqs = std::clamp<int64_t>(num_seqs, 1, num_tokens);
  const size_t num_groups = model_.kv_cache_spec().group_windows().size();
  std::vector<SequenceChunk> chunks;
  int64_t blocks = 0;
  for (int64_t s = 0; s < num_seqs; ++s) {
    const int64_t length = num_tokens / num_seqs + (s < num_tokens % num_seqs ? 1 : 0);
    const int64_t needed = (length + config_.block_size - 1) / config_.block_size;
    SequenceChunk chunk;
    chunk.token_ids.assign(static_cast<size_t>(length), 0);
    std::vector<int32_t> ids;
    for (int64_t b = 0; b < needed; ++b) ids.push_back(static_cast<int32_t>(blocks + b));
    chunk.group_block_ids.assign(num_groups, ids);
    blocks += needed;
    chunks.push_back(std::move(chunk));
  }
  const cuda::MemoryStats before = cuda::memory_stats(config_.device);
  KVCache scratch = KVCache::allocate(model_.kv_cache_spec(), blocks, config_.block_size,
                                      cache_.key.empty() ? DType::BF16 : cache_.key[0].dtype(), config_.device);
  const size_t scratch_bytes = cuda::memory_stats(config_.device).allocated - before.allocated;
  cuda::reset_peak_memory(config_.device);
  FlatBatch batch = upload_batch(build_flat_batch(chunks, config_.block_size), config_.device);
  Tensor logits = model_.forward(batch.token_ids, batch.metadata, scratch);
  cuda::synchronize(config_.device);
  const cuda::MemoryStats after = cuda::memory_stats(config_.device);
  return after.peak_allocated - before.allocated - scratch_bytes;
#else
  (void)num_tokens;
  (void)num_seqs;
  return 0;
#endif
}

FlatBatch ModelRunner::padded_decode_batch(const std::vector<SequenceChunk>& chunks, int64_t size) const {
  std::vector<SequenceChunk> padded = chunks;
  const size_t num_groups = model_.kv_cache_spec().group_windows().size();
  std::vector<SequenceChunk> idle = idle_chunks(size - static_cast<int64_t>(chunks.size()), num_groups);
  padded.insert(padded.end(), idle.begin(), idle.end());
  FlatBatch batch = build_flat_batch(padded, config_.block_size, table_width_);
  drop_slots(batch, static_cast<int64_t>(chunks.size()));
  batch.metadata.max_query_len = 1;
  batch.metadata.max_seq_len = graph_seq_len_;
  return batch;
}

void ModelRunner::capture_graphs() {
#ifdef VLLM_HAVE_CUDA
  if (!config_.device.is_cuda() || config_.enforce_eager || config_.graph_sizes.empty()) return;
  std::vector<int64_t> sizes = config_.graph_sizes;
  std::sort(sizes.begin(), sizes.end());
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
  graph_logits_ = Tensor::empty({sizes.back(), model_.vocab_size()}, DType::F32, config_.device);
  // Largest first, so the smaller graphs reuse the private pool's blocks.
  std::vector<std::unique_ptr<CapturedGraph>> captured;
  for (auto it = sizes.rbegin(); it != sizes.rend(); ++it) {
    auto graph = std::make_unique<CapturedGraph>();
    graph->size = *it;
    FlatBatch host = padded_decode_batch({}, graph->size);
    graph->inputs = Tensor::empty({packed_batch_size(host)}, DType::I32, config_.device);
    FlatBatch batch = upload_batch(host, config_.device, &graph->inputs);
    try {
      model_.forward(batch.token_ids, batch.metadata, cache_);  // warm-up: lazy set-up happens outside
      graph->graph.begin_capture(config_.device);
      try {
        Tensor logits = model_.forward(batch.token_ids, batch.metadata, cache_);
        Tensor out = graph_logits_.slice(0, 0, graph->size);
        out.copy_from(logits);
      } catch (...) {
        graph->graph.abort_capture();
        throw;
      }
      graph->graph.end_capture();
    } catch (const Error& error) {
      log_warning("CUDA graphs are off for ", model_.architecture(), " (capture failed: ", error.what(),
                  "); every step runs eagerly");
      graphs_.clear();
      graph_logits_ = Tensor();
      return;
    }
    captured.push_back(std::move(graph));
  }
  std::reverse(captured.begin(), captured.end());
  graphs_ = std::move(captured);
  cuda::synchronize(config_.device);
#endif
}

ModelRunner::CapturedGraph* ModelRunner::graph_for(const std::vector<SequenceChunk>& chunks) {
  if (graphs_.empty() || chunks.empty() || static_cast<int64_t>(chunks.size()) > graphs_.back()->size) return nullptr;
  for (const SequenceChunk& chunk : chunks) {
    if (chunk.token_ids.size() != 1 || !chunk.want_logits || chunk.num_computed_tokens + 1 > graph_seq_len_) return nullptr;
    for (const std::vector<int32_t>& blocks : chunk.group_block_ids)
      if (static_cast<int64_t>(blocks.size()) > table_width_) return nullptr;
    if (static_cast<int64_t>(chunk.block_ids.size()) > table_width_) return nullptr;
  }
  for (auto& graph : graphs_)
    if (graph->size >= static_cast<int64_t>(chunks.size())) return graph.get();
  return nullptr;
}

void ModelRunner::fill_deferred(Tensor& token_ids, const DeferredTokens* deferred) const {
  if (deferred == nullptr || deferred->empty()) return;
  const int64_t count = static_cast<int64_t>(deferred->token_index.size());
  VLLM_CHECK(deferred->source_index.size() == deferred->token_index.size(), Internal,
             "deferred tokens: ", count, " positions but ", deferred->source_index.size(), " sources");
  std::vector<int32_t> packed = deferred->token_index;  // [positions..., sources...], one upload
  packed.insert(packed.end(), deferred->source_index.begin(), deferred->source_index.end());
  Tensor buffer = ops::upload_packed(packed.data(), packed.size() * sizeof(int32_t), config_.device);
  Tensor indices = Tensor::from_blob(buffer.raw_data(), {2 * count}, DType::I32, config_.device, buffer.storage());
  ops::scatter_tokens(token_ids, indices.slice(0, 0, count), deferred->source, indices.slice(0, count, 2 * count));
}

Tensor ModelRunner::replay(CapturedGraph& graph, const std::vector<SequenceChunk>& chunks,
                           const DeferredTokens* deferred) {
#ifdef VLLM_HAVE_CUDA
  FlatBatch host = padded_decode_batch(chunks, graph.size);
  FlatBatch batch = upload_batch(host, config_.device, &graph.inputs);  // into the buffers the graph reads
  fill_deferred(batch.token_ids, deferred);
  graph.graph.replay();
  return graph_logits_.slice(0, 0, static_cast<int64_t>(chunks.size()));
#else
  (void)graph;
  (void)chunks;
  (void)deferred;
  return Tensor();
#endif
}

Tensor ModelRunner::execute(const std::vector<SequenceChunk>& chunks, const DeferredTokens* deferred) {
  if (CapturedGraph* graph = graph_for(chunks)) return replay(*graph, chunks, deferred);
  FlatBatch batch = upload_batch(build_flat_batch(chunks, config_.block_size), config_.device);
  fill_deferred(batch.token_ids, deferred);
  return model_.forward(batch.token_ids, batch.metadata, cache_);
}

void ModelRunner::synchronize() const {
#ifdef VLLM_HAVE_CUDA
  if (config_.device.is_cuda()) cuda::synchronize(config_.device);
#endif
}

}  // namespace vllm
