#include "engine/model_runner.h"

#include <algorithm>

#include "core/error.h"
#include "core/logging.h"
#include "engine/request.h"
#include "ops/sampling.h"

namespace vllm {

struct ModelRunner::CapturedGraph {
  int64_t size = 0;
  Tensor inputs;  // the packed int32 batch arrays the graph reads (upload_batch's `into`)
  device::Graph graph;
};

ModelRunner::ModelRunner(Model& model, const VllmConfig& config)
    : model_(model),
      device_(config.device.device),
      block_size_(config.cache.block_size),
      max_num_seqs_(config.scheduler.max_num_seqs),
      max_num_batched_tokens_(config.scheduler.max_num_batched_tokens),
      gpu_memory_utilization_(config.cache.gpu_memory_utilization),
      compilation_(config.compilation) {
  graph_seq_len_ = std::min(config.max_model_len(), compilation_.max_seq_len_to_capture);
  table_width_ = (graph_seq_len_ + block_size_ - 1) / block_size_;
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

Tensor ModelRunner::run_model(const FlatBatch& batch, KVCache& cache) {
  return forward_logits(model_, batch.token_ids, batch.metadata, cache);
}

std::vector<SequenceChunk> ModelRunner::prepare_inputs(const SchedulerOutput& out, const DeviceTokens* previous,
                                                       DeferredTokens& deferred, ModelRunnerOutput& output,
                                                       int64_t& num_rows) const {
  std::vector<SequenceChunk> chunks;
  chunks.reserve(out.scheduled.size());
  output.rows.assign(out.scheduled.size(), RequestRows{});
  output.decode_only = true;
  int32_t flat_position = 0;  // of the chunk's first token in the flattened batch
  int64_t row = 0;            // of the chunk's first logits row
  for (size_t i = 0; i < out.scheduled.size(); ++i) {
    const ScheduledRequest& scheduled = out.scheduled[i];
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
      auto source = previous && previous->index ? previous->index->find(scheduled.request_id)
                                                : std::unordered_map<std::string, int32_t>::const_iterator{};
      VLLM_ASSERT(previous && previous->index && source != previous->index->end() &&
                      known + 1 == scheduled.num_new_tokens,
                  "request ", scheduled.request_id, ": position ", scheduled.num_computed_tokens + known,
                  " has no token on the host or the device");
      chunk.token_ids.push_back(0);
      deferred.token_index.push_back(flat_position + known);
      deferred.source_index.push_back(source->second);
    }
    flat_position += scheduled.num_new_tokens;
    output.decode_only &= scheduled.num_new_tokens == 1;
    chunk.group_block_ids = request.block_ids;
    chunk.state_slot = request.state_slot;
    chunk.num_prompt_tokens = request.num_prompt_tokens();
    // Prompt logprobs need every prompt position's logits (position p scores prompt token p + 1).
    const bool wants_prompt_logprobs = request.sampling_params.prompt_logprobs.has_value() &&
                                       scheduled.num_computed_tokens < request.num_prompt_tokens() - 1;
    chunk.all_logits = wants_prompt_logprobs;
    chunk.want_logits = scheduled.needs_sampling || wants_prompt_logprobs;
    chunks.push_back(std::move(chunk));

    // The rows build_flat_batch gives this chunk: every new token's with prompt logprobs (the
    // last one is also the sampling row, when there is one), else the last token's.
    RequestRows& rows = output.rows[i];
    if (wants_prompt_logprobs) {
      rows.prompt_logprobs_row = row;
      row += scheduled.num_new_tokens - 1;
      if (!scheduled.needs_sampling) ++row;
    }
    if (scheduled.needs_sampling) rows.sample_row = row++;
  }
  if (!deferred.empty()) deferred.source = previous->tokens;
  num_rows = row;
  return chunks;
}

ModelRunner::MultiModalRows ModelRunner::run_encoders(const SchedulerOutput& out) {
  MultiModalRows result;
  int32_t flat_position = 0;
  for (const ScheduledRequest& scheduled : out.scheduled) {
    const Request& request = *scheduled.request;
    const int64_t begin = scheduled.num_computed_tokens, end = begin + scheduled.num_new_tokens;
    if (request.mm_items)
      for (const mm::MultiModalItem& item : *request.mm_items) {
        const int64_t lo = std::max(begin, item.offset), hi = std::min(end, item.offset + item.length);
        if (lo >= hi) continue;
        EncoderOutput& cached = encoder_cache_[item.hash];
        if (!cached.embeddings.defined()) {
          cached.embeddings = model_.embed_multimodal(item);
          ++num_encoder_runs_;
          VLLM_CHECK(cached.embeddings.dim() == 2 && cached.embeddings.size(0) == item.length, Internal,
                     model_.architecture(), ": the encoder gave ", cached.embeddings.size(0), " rows for an item of ",
                     item.length, " placeholder tokens");
        }
        cached.users.insert(scheduled.request_id);
        std::vector<int32_t> rows;
        for (int64_t p = lo; p < hi; ++p) rows.push_back(flat_position + static_cast<int32_t>(p - begin));
        result.rows.push_back(std::move(rows));
        result.embeddings.push_back(cached.embeddings.slice(0, lo - item.offset, hi - item.offset));
      }
    flat_position += scheduled.num_new_tokens;
  }
  return result;
}

void ModelRunner::release_encoder_outputs(const std::vector<std::string>& request_ids) {
  if (encoder_cache_.empty()) return;
  for (const std::string& id : request_ids)
    for (auto it = encoder_cache_.begin(); it != encoder_cache_.end();) {
      it->second.users.erase(id);
      it = it->second.users.empty() ? encoder_cache_.erase(it) : std::next(it);
    }
}

ModelRunnerOutput ModelRunner::execute(const SchedulerOutput& scheduled, const DeviceTokens* previous_tokens) {
  ModelRunnerOutput output;
  DeferredTokens deferred;
  int64_t num_rows = 0;
  release_encoder_outputs(scheduled.finished_request_ids);
  release_encoder_outputs(scheduled.preempted_request_ids);
  std::vector<SequenceChunk> chunks = prepare_inputs(scheduled, previous_tokens, deferred, output, num_rows);
  MultiModalRows multimodal = run_encoders(scheduled);
  if (multimodal.empty()) {
    output.logits = execute(chunks, &deferred);
  } else {  // embeddings in, merged at the placeholders' rows; never a captured graph (a prefill)
    FlatBatch batch = upload_batch(build_flat_batch(chunks, block_size_), device_);
    fill_deferred(batch.token_ids, &deferred);
    Tensor embeds = model_.embed_input_ids(batch.token_ids);
    for (size_t i = 0; i < multimodal.rows.size(); ++i)
      model_.merge_multimodal_embeddings(embeds, multimodal.rows[i], multimodal.embeddings[i]);
    output.logits = forward_logits(model_, ModelInputs{batch.token_ids, embeds, Tensor()}, batch.metadata, cache_);
  }
  VLLM_ASSERT(output.logits.size(0) == num_rows, "logits rows ", output.logits.size(0), " but the layout has ",
              num_rows);
  return output;
}

size_t ModelRunner::determine_available_memory() {
  VLLM_ASSERT(device_.is_cuda(), "determine_available_memory on ", device_.to_string());
  const size_t peak = profile(max_num_batched_tokens_, std::min(max_num_seqs_, max_num_batched_tokens_));
  device::empty_cache(device_);
  const device::MemoryInfo memory = device::memory_info(device_);
  const size_t in_use = memory.total - memory.free;  // weights, CUDA context, workspaces (ours and others')
  // Decode graphs hold activations for up to max_num_seqs tokens.
  const double graph_share =
      std::min(1.0, static_cast<double>(max_num_seqs_) / static_cast<double>(max_num_batched_tokens_));
  const size_t graphs =
      compilation_.enforce_eager ? 0 : static_cast<size_t>(static_cast<double>(peak) * graph_share) + (size_t{256} << 20);
  const double utilization = gpu_memory_utilization_;
  const double allowed = utilization * static_cast<double>(memory.total);
  const double budget = allowed - static_cast<double>(in_use + peak + graphs);
  VLLM_CHECK(budget > 0, OutOfMemory, "--gpu-memory-utilization ", utilization, " allows ",
             static_cast<size_t>(allowed) >> 20, " MiB of ", memory.total >> 20, " MiB, but the weights and CUDA already use ",
             in_use >> 20, " MiB and a step of ", max_num_batched_tokens_, " tokens needs ", peak >> 20,
             " MiB more: nothing is left for the KV cache (raise --gpu-memory-utilization or lower "
             "--max-num-batched-tokens)");
  log_info("GPU memory: ", memory.total >> 20, " MiB, in use ", in_use >> 20, " MiB, activations peak ", peak >> 20,
           " MiB, CUDA graphs ~", graphs >> 20, " MiB, KV cache ", static_cast<size_t>(budget) >> 20, " MiB");
  return static_cast<size_t>(budget);
}

size_t ModelRunner::profile(int64_t num_tokens, int64_t num_seqs) {
  if (!device_.is_cuda()) return 0;
  num_seqs = std::clamp<int64_t>(num_seqs, 1, num_tokens);
  const size_t num_groups = model_.kv_cache_spec().group_windows().size();
  std::vector<SequenceChunk> chunks;
  int64_t blocks = 0;
  for (int64_t s = 0; s < num_seqs; ++s) {
    const int64_t length = num_tokens / num_seqs + (s < num_tokens % num_seqs ? 1 : 0);
    const int64_t needed = (length + block_size_ - 1) / block_size_;
    SequenceChunk chunk;
    chunk.token_ids.assign(static_cast<size_t>(length), 0);
    std::vector<int32_t> ids;
    for (int64_t b = 0; b < needed; ++b) ids.push_back(static_cast<int32_t>(blocks + b));
    chunk.group_block_ids.assign(num_groups, ids);
    blocks += needed;
    chunks.push_back(std::move(chunk));
  }
  const device::MemoryStats before = device::memory_stats(device_);
  KVCache scratch = KVCache::allocate(model_.kv_cache_spec(), blocks, block_size_,
                                      cache_.key.empty() ? DType::BF16 : cache_.key[0].dtype(), device_);
  const size_t scratch_bytes = device::memory_stats(device_).allocated - before.allocated;
  device::reset_peak_memory(device_);
  FlatBatch batch = upload_batch(build_flat_batch(chunks, block_size_), device_);
  Tensor logits = run_model(batch, scratch);
  device::synchronize(device_);
  const device::MemoryStats after = device::memory_stats(device_);
  return after.peak_allocated - before.allocated - scratch_bytes;
}

FlatBatch ModelRunner::padded_decode_batch(const std::vector<SequenceChunk>& chunks, int64_t size) const {
  std::vector<SequenceChunk> padded = chunks;
  const size_t num_groups = model_.kv_cache_spec().group_windows().size();
  std::vector<SequenceChunk> idle = idle_chunks(size - static_cast<int64_t>(chunks.size()), num_groups);
  padded.insert(padded.end(), idle.begin(), idle.end());
  FlatBatch batch = build_flat_batch(padded, block_size_, table_width_);
  drop_slots(batch, static_cast<int64_t>(chunks.size()));
  batch.metadata.max_query_len = 1;
  batch.metadata.max_seq_len = graph_seq_len_;
  return batch;
}

void ModelRunner::capture_graphs() {
  if (!device_.is_cuda() || compilation_.enforce_eager || compilation_.cuda_graph_sizes.empty()) return;
  std::vector<int64_t> sizes = compilation_.cuda_graph_sizes;
  std::sort(sizes.begin(), sizes.end());
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
  graph_logits_ = Tensor::empty({sizes.back(), model_.vocab_size()}, DType::F32, device_);
  // Largest first, so the smaller graphs reuse the private pool's blocks.
  std::vector<std::unique_ptr<CapturedGraph>> captured;
  for (auto it = sizes.rbegin(); it != sizes.rend(); ++it) {
    auto graph = std::make_unique<CapturedGraph>();
    graph->size = *it;
    FlatBatch host = padded_decode_batch({}, graph->size);
    graph->inputs = Tensor::empty({packed_batch_size(host)}, DType::I32, device_);
    FlatBatch batch = upload_batch(host, device_, &graph->inputs);
    try {
      run_model(batch, cache_);  // warm-up: lazy set-up happens outside
      graph->graph.begin_capture(device_);
      try {
        Tensor logits = run_model(batch, cache_);
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
  device::synchronize(device_);
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
  Tensor buffer = ops::upload_packed(packed.data(), packed.size() * sizeof(int32_t), device_);
  Tensor indices = Tensor::from_blob(buffer.raw_data(), {2 * count}, DType::I32, device_, buffer.storage());
  ops::scatter_tokens(token_ids, indices.slice(0, 0, count), deferred->source, indices.slice(0, count, 2 * count));
}

Tensor ModelRunner::replay(CapturedGraph& graph, const std::vector<SequenceChunk>& chunks,
                           const DeferredTokens* deferred) {
  FlatBatch host = padded_decode_batch(chunks, graph.size);
  FlatBatch batch = upload_batch(host, device_, &graph.inputs);  // into the buffers the graph reads
  fill_deferred(batch.token_ids, deferred);
  graph.graph.replay();
  return graph_logits_.slice(0, 0, static_cast<int64_t>(chunks.size()));
}

Tensor ModelRunner::execute(const std::vector<SequenceChunk>& chunks, const DeferredTokens* deferred) {
  if (CapturedGraph* graph = graph_for(chunks)) return replay(*graph, chunks, deferred);
  FlatBatch batch = upload_batch(build_flat_batch(chunks, block_size_), device_);
  fill_deferred(batch.token_ids, deferred);
  return run_model(batch, cache_);
}

std::vector<Tensor> ModelRunner::execute_pooling(const std::vector<PoolingSequence>& sequences) {
  const size_t num_groups = std::max<size_t>(model_.kv_cache_spec().group_windows().size(), 1);
  std::vector<SequenceChunk> chunks;
  PoolingBatch pooling;
  pooling.query_start.push_back(0);
  std::vector<int32_t> all_tokens, all_types;
  bool any_types = false;
  int32_t next_block = 1;  // block 0 is the null block
  for (const PoolingSequence& sequence : sequences) {
    SequenceChunk chunk;
    chunk.token_ids.assign(sequence.token_ids.begin(), sequence.token_ids.end());
    chunk.num_prompt_tokens = static_cast<int64_t>(chunk.token_ids.size());
    chunk.want_logits = false;
    const int64_t blocks = (chunk.num_prompt_tokens + block_size_ - 1) / block_size_;
    std::vector<int32_t> ids;
    for (int64_t b = 0; b < blocks; ++b) ids.push_back(next_block++);
    chunk.group_block_ids.assign(num_groups, ids);
    all_tokens.insert(all_tokens.end(), chunk.token_ids.begin(), chunk.token_ids.end());
    any_types = any_types || !sequence.token_type_ids.empty();
    pooling.query_start.push_back(static_cast<int64_t>(all_tokens.size()));
    pooling.requests.push_back(sequence.spec);
    chunks.push_back(std::move(chunk));
  }
  VLLM_ASSERT(cache_.key.empty() || std::all_of(cache_.key.begin(), cache_.key.end(), [](const Tensor& k) {
                return !k.defined();
              }) || next_block <= cache_.num_blocks,
              "a pooling step of ", all_tokens.size(), " tokens needs ", next_block, " blocks; the cache has ",
              cache_.num_blocks);
  if (any_types) {
    for (const PoolingSequence& sequence : sequences) {
      if (sequence.token_type_ids.empty()) all_types.insert(all_types.end(), sequence.token_ids.size(), 0);
      else all_types.insert(all_types.end(), sequence.token_type_ids.begin(), sequence.token_type_ids.end());
    }
  }
  FlatBatch batch = upload_batch(build_flat_batch(chunks, block_size_), device_);
  ModelInputs inputs{batch.token_ids, Tensor(), Tensor()};
  if (any_types)
    inputs.token_type_ids =
        Tensor::from_ints(all_types, {static_cast<int64_t>(all_types.size())}).to(device_);
  Tensor hidden = model_.forward(inputs, batch.metadata, cache_);
  pooling.token_ids = Tensor::from_ints(all_tokens, {static_cast<int64_t>(all_tokens.size())});
  return model_.pool(hidden, pooling);
}

}  // namespace vllm
