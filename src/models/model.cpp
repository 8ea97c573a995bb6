#include "models/model.h"

#include <algorithm>

#include "core/error.h"
#include "ops/elementwise.h"

namespace vllm {

const char* cache_kind_name(CacheKind kind) {
  switch (kind) {
    case CacheKind::FullAttention: return "full_attention";
    case CacheKind::SlidingWindow: return "sliding_window";
    case CacheKind::MLALatent: return "mla_latent";
    case CacheKind::RecurrentState: return "recurrent_state";
    case CacheKind::CrossAttention: return "cross_attention";
    case CacheKind::None: return "none";
  }
  return "unknown";
}

size_t KVCacheSpec::bytes_per_block(int64_t block_size, DType dtype) const {
  size_t bytes = 0;
  for (const LayerCacheSpec& layer : layers)
    if (layer.allocates())
      bytes += static_cast<size_t>(block_size * layer.num_kv_heads * (layer.head_dim + layer.value_head_dim)) *
               dtype_size(dtype);
  return bytes;
}

size_t KVCacheSpec::state_bytes_per_slot() const {
  size_t elements = 0;
  for (const LayerCacheSpec& layer : layers)
    if (layer.kind == CacheKind::RecurrentState)
      elements += static_cast<size_t>(shape_numel(layer.conv_state_shape) + shape_numel(layer.ssm_state_shape));
  return elements * sizeof(float);
}

std::vector<int64_t> KVCacheSpec::group_windows() const {
  std::vector<int64_t> windows;
  for (const LayerCacheSpec& layer : layers) {
    VLLM_CHECK(layer.paged() || layer.kind == CacheKind::None || layer.kind == CacheKind::RecurrentState, Unsupported, "the KV-cache manager cannot hold ",
               cache_kind_name(layer.kind), " caches yet");
    if (layer.paged()) windows.push_back(layer.kind == CacheKind::SlidingWindow ? layer.sliding_window : 0);
  }
  std::sort(windows.begin(), windows.end());
  windows.erase(std::unique(windows.begin(), windows.end()), windows.end());
  return windows;
}

std::vector<int64_t> KVCacheSpec::layer_groups() const {
  std::vector<int64_t> windows = group_windows(), groups;
  for (const LayerCacheSpec& layer : layers) {
    const int64_t window = layer.kind == CacheKind::SlidingWindow ? layer.sliding_window : 0;
    groups.push_back(layer.paged() ? std::find(windows.begin(), windows.end(), window) - windows.begin() : -1);
  }
  return groups;
}

KVCache KVCache::allocate(const KVCacheSpec& spec, int64_t num_blocks, int64_t block_size,
                          DType dtype, Device device, int64_t num_state_slots) {
  spec.group_windows();  // Unsupported for kinds the manager cannot hold
  KVCache cache;
  cache.num_blocks = num_blocks;
  cache.block_size = block_size;
  cache.num_state_slots = num_state_slots;
  for (size_t l = 0; l < spec.layers.size(); ++l) {
    const LayerCacheSpec& layer = spec.layers[l];
    Tensor conv, ssm;
    if (layer.kind == CacheKind::RecurrentState && num_state_slots > 0) {
      Shape conv_shape{num_state_slots}, ssm_shape{num_state_slots};
      conv_shape.insert(conv_shape.end(), layer.conv_state_shape.begin(), layer.conv_state_shape.end());
      ssm_shape.insert(ssm_shape.end(), layer.ssm_state_shape.begin(), layer.ssm_state_shape.end());
      conv = Tensor::zeros(conv_shape, DType::F32, device);
      ssm = Tensor::zeros(ssm_shape, DType::F32, device);
    }
    cache.conv_state.push_back(conv);
    cache.ssm_state.push_back(ssm);
    Tensor key, value;
    if (layer.allocates()) {
      key = Tensor::zeros({num_blocks, block_size, layer.num_kv_heads, layer.head_dim}, dtype, device);
      if (layer.value_head_dim > 0)
        value = Tensor::zeros({num_blocks, block_size, layer.num_kv_heads, layer.value_head_dim}, dtype, device);
    } else if (layer.paged()) {
      const size_t source = static_cast<size_t>(layer.shares_cache_of);
      VLLM_CHECK(source < l, Internal, "layer ", l, " shares the cache of layer ", layer.shares_cache_of,
                 ", which is not an earlier layer");
      key = cache.key[source];
      value = cache.value[source];
    }
    cache.key.push_back(key);
    cache.value.push_back(value);
  }
  return cache;
}

AttentionCache attention_cache(const KVCache& cache, const BatchMetadata& batch, const std::vector<int64_t>& layer_groups,
                               int64_t layer) {
  const size_t l = static_cast<size_t>(layer);
  // One table serves every layer, or each KV-cache group has its own.
  const size_t group = batch.block_tables.size() == 1 ? 0 : static_cast<size_t>(layer_groups[l]);
  VLLM_CHECK(group < batch.block_tables.size() && group < batch.slot_mappings.size(), InvalidArgument, "batch has ",
             batch.block_tables.size(), " block tables; layer ", layer, " needs group ", group);
  return {cache.key[l], cache.value[l], batch.block_tables[group], batch.slot_mappings[group], Tensor()};
}

StateCache state_cache(const KVCache& cache, const BatchMetadata& batch, int64_t layer) {
  const size_t l = static_cast<size_t>(layer);
  VLLM_CHECK(l < cache.conv_state.size() && cache.conv_state[l].defined(), InvalidArgument, "layer ", layer,
             " keeps recurrent state but the cache has no state slots (KVCache::allocate's num_state_slots)");
  return {cache.conv_state[l], cache.ssm_state[l], batch.state_slots};
}

void Model::merge_multimodal_embeddings(Tensor& inputs_embeds, const std::vector<int32_t>& placeholder_rows,
                                        const Tensor& embeddings) const {
  VLLM_CHECK(embeddings.dim() == 2 && embeddings.size(0) == static_cast<int64_t>(placeholder_rows.size()) &&
                 embeddings.size(1) == inputs_embeds.size(1),
             InvalidArgument, "merge_multimodal_embeddings: ", embeddings.size(0), " embeddings of width ",
             embeddings.dim() == 2 ? embeddings.size(1) : -1, " for ", placeholder_rows.size(),
             " placeholder tokens of width ", inputs_embeds.size(1));
  const Tensor source = embeddings.to(inputs_embeds.device()).contiguous();
  for (size_t i = 0; i < placeholder_rows.size(); ++i) {
    const int64_t row = placeholder_rows[i];
    VLLM_CHECK(row >= 0 && row < inputs_embeds.size(0), InvalidArgument, "merge_multimodal_embeddings: row ", row,
               " is outside the ", inputs_embeds.size(0), " input rows");
    Tensor target = inputs_embeds.slice(0, row, row + 1);
    target.copy_from(source.slice(0, static_cast<int64_t>(i), static_cast<int64_t>(i) + 1));
  }
}

const char* pooling_task_name(PoolingTask task) {
  switch (task) {
    case PoolingTask::Encode: return "encode";
    case PoolingTask::Embed: return "embed";
    case PoolingTask::Classify: return "classify";
    case PoolingTask::Score: return "score";
  }
  return "?";
}

PoolerSpec Model::pooler_spec() const {
  const Pooler* stage = pooler();
  return pooler_config_.apply(stage ? stage->spec() : PoolerSpec{});
}

std::vector<Tensor> Model::pool(const Tensor& hidden, const PoolingBatch& batch) const {
  VLLM_CHECK(pooler() != nullptr, Unsupported, architecture(), " is not a pooling model");
  const PoolerSpec spec = pooler_spec();
  VLLM_CHECK(batch.requests.size() + 1 == batch.query_start.size(), Internal, "pool: ", batch.requests.size(),
             " requests for ", batch.query_start.size() - 1, " sequences");
  const std::vector<PoolingTask> tasks = pooling_tasks();
  for (const PoolingRequestSpec& request : batch.requests)
    VLLM_CHECK(std::find(tasks.begin(), tasks.end(), request.task) != tasks.end(), InvalidArgument, architecture(),
               " does not serve the ", pooling_task_name(request.task), " task");
  Tensor token_ids;
  if (batch.token_ids.defined()) token_ids = batch.token_ids.to(Device::cpu()).contiguous();
  const int32_t* ids = token_ids.defined() ? token_ids.data<int32_t>() : nullptr;
  // Encode is per token (vLLM's token-wise pooling: ALL, or the model's STEP); the other tasks
  // pool by the spec's type.
  auto wants_tokens = [](const PoolingRequestSpec& r) { return r.task == PoolingTask::Encode; };
  const bool any_tokens = std::any_of(batch.requests.begin(), batch.requests.end(), wants_tokens);
  const bool any_pooled = !std::all_of(batch.requests.begin(), batch.requests.end(), wants_tokens);
  PoolerSpec token_spec = spec;
  if (token_spec.type != PoolingType::Step) token_spec.type = PoolingType::All;
  std::vector<Tensor> pooled, per_token;
  if (any_pooled) pooled = pool_rows(spec, hidden, batch.query_start, ids);
  if (any_tokens) per_token = spec.type == token_spec.type && any_pooled ? pooled
                                                                         : pool_rows(token_spec, hidden, batch.query_start, ids);
  std::vector<Tensor> out;
  for (size_t b = 0; b < batch.requests.size(); ++b) {
    const PoolingRequestSpec& request = batch.requests[b];
    const Tensor& source = wants_tokens(request) ? per_token[b] : pooled[b];
    const bool one_row = source.dim() == 1;
    Tensor rows = one_row ? source.view({1, source.size(0)}) : source;
    if (rows.size(0) > 0) rows = pooling_head(rows).to(Device::cpu()).contiguous();
    if (spec.type == PoolingType::Step && !spec.returned_token_ids.empty())
      rows = select_columns(rows, spec.returned_token_ids);
    if (request.task == PoolingTask::Embed)
      for (const DenseProjection& projection : embedding_projections_) rows = projection.forward(rows);
    if (request.task == PoolingTask::Embed && request.dimensions > 0) {
      VLLM_CHECK(request.dimensions <= rows.size(1), InvalidArgument, architecture(), ": dimensions ",
                 request.dimensions, " exceeds the embedding size ", rows.size(1));
      rows = truncate_rows(rows, request.dimensions);
    }
    const bool embeds = request.task == PoolingTask::Embed || request.task == PoolingTask::Encode;
    if (embeds && request.normalize.value_or(spec.normalize)) normalize_rows(rows);
    const bool model_activation = spec.softmax || spec.sigmoid;
    if (request.task != PoolingTask::Embed && request.activation.value_or(model_activation)) {
      // The model's activation; asked for on a model without one: sigmoid for one value,
      // softmax otherwise (vLLM's PoolerClassify).
      const bool sigmoid = spec.sigmoid || (!spec.softmax && rows.size(1) == 1);
      if (sigmoid) sigmoid_values(rows);
      else softmax_rows(rows);
    }
    out.push_back(one_row ? rows.view({rows.size(1)}) : rows);
  }
  return out;
}

Tensor forward_logits(Model& model, const Tensor& token_ids, const BatchMetadata& batch, KVCache& cache) {
  return forward_logits(model, ModelInputs{token_ids, Tensor(), Tensor()}, batch, cache);
}

Tensor Model::embed_multimodal(const mm::MultiModalItem& item) {
  fail(ErrorKind::Unsupported, architecture(), " does not take ", item.modality, " inputs");
}

Tensor forward_logits(Model& model, const ModelInputs& inputs, const BatchMetadata& batch, KVCache& cache) {
  Tensor hidden = model.forward(inputs, batch, cache);
  Tensor rows = Tensor::empty({batch.logits_rows.size(0), hidden.size(1)}, DType::F32, hidden.device());
  ops::gather_rows(hidden, batch.logits_rows, rows);
  return model.compute_logits(rows);
}

}  // namespace vllm
