// The model interface the engine drives and the caches a model declares.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "layers/attention.h"
#include "layers/batch_metadata.h"
#include "layers/pooler.h"
#include "layers/state_cache.h"
#include "multimodal/processor.h"

namespace vllm {

// What one layer keeps between steps, by kind. The KV-cache manager groups the paged kinds
// (full attention, sliding window, MLA latent) into block tables and gives every running request
// one recurrent-state slot when any layer keeps state (Mamba); the other kinds name what a family
// will need (cross-attention) and what needs nothing (encoder-only layers, DeciLM's no-op
// attention).
enum class CacheKind {
  FullAttention,   // paged K/V of every token
  SlidingWindow,   // paged K/V; blocks wholly outside the window are dropped
  MLALatent,       // paged; one KV "head" of latents (MlaAttention: [c, k_rot] keys, c values)
  RecurrentState,  // one state slot per running request (Mamba, linear attention)
  CrossAttention,  // K/V of an encoder's output, written once per request
  None,            // nothing kept
};
const char* cache_kind_name(CacheKind kind);

struct LayerCacheSpec {
  CacheKind kind = CacheKind::FullAttention;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;        // key head size (MLA: kv_lora_rank + qk_rope_head_dim)
  int64_t value_head_dim = 0;  // value head size (MLA: kv_lora_rank)
  int64_t sliding_window = 0;  // SlidingWindow only
  // >= 0: this layer reads that earlier layer's cache and allocates none (Gemma 3n's KV sharing).
  int64_t shares_cache_of = -1;
  // RecurrentState only: one slot's convolution window and SSM state (f32), e.g. Mamba-1
  // [conv_dim, conv_kernel - 1] and [intermediate, d_state]; Mamba-2 [heads, head_dim, d_state].
  std::vector<int64_t> conv_state_shape;
  std::vector<int64_t> ssm_state_shape;

  bool paged() const {
    return kind == CacheKind::FullAttention || kind == CacheKind::SlidingWindow || kind == CacheKind::MLALatent;
  }
  bool allocates() const { return paged() && shares_cache_of < 0; }
};

// One entry per layer of the model. Paged layers are grouped by attention window for the
// KV-cache manager: group 0 holds the full-attention (and MLA) layers, when any, then one group
// per sliding-window size, ascending. Each group has its own block table per sequence; each
// allocating layer has its own cache tensors.
struct KVCacheSpec {
  std::vector<LayerCacheSpec> layers;
  // Window of each group (0: full attention). Unsupported for a kind the KV-cache manager cannot
  // hold yet (recurrent state, cross-attention).
  std::vector<int64_t> group_windows() const;
  std::vector<int64_t> layer_groups() const;    // group of each layer (-1: not paged)
  // Bytes one block of `block_size` tokens takes across every allocating layer.
  size_t bytes_per_block(int64_t block_size, DType dtype) const;
  // Bytes one request's recurrent-state slot takes across every RecurrentState layer (f32);
  // 0 for a model without state layers.
  size_t state_bytes_per_slot() const;
  bool has_state() const { return state_bytes_per_slot() > 0; }
};

// Per layer: key [num_blocks, block_size, Hk, D] and value [num_blocks, block_size, Hk, Dv];
// a layer sharing another's cache holds that layer's tensors; a layer with none, undefined ones.
// A RecurrentState layer holds conv_state [num_state_slots, conv_state_shape...] and ssm_state
// [num_state_slots, ssm_state_shape...] (f32) instead; every other layer, undefined ones.
struct KVCache {
  int64_t num_blocks = 0;
  int64_t block_size = 0;
  int64_t num_state_slots = 0;
  std::vector<Tensor> key;
  std::vector<Tensor> value;
  std::vector<Tensor> conv_state;
  std::vector<Tensor> ssm_state;

  static KVCache allocate(const KVCacheSpec& spec, int64_t num_blocks, int64_t block_size,
                          DType dtype, Device device, int64_t num_state_slots = 0);
};

// Layer `layer`'s view of the cache and of its group's block table for one step.
AttentionCache attention_cache(const KVCache& cache, const BatchMetadata& batch, const std::vector<int64_t>& layer_groups,
                               int64_t layer);

// Layer `layer`'s recurrent state and the step's slot of each sequence (undefined slots when no
// sequence has one: a profiling step, or a test's stateless forward; nothing is kept then).
StateCache state_cache(const KVCache& cache, const BatchMetadata& batch, int64_t layer);

// A step's input: token ids, or embeddings already computed (multimodal prompts: the text
// embeddings with an encoder's output merged in at the placeholder tokens).
struct ModelInputs {
  Tensor token_ids;       // [T] int32
  Tensor inputs_embeds;   // [T, H] f32, or undefined: the model embeds token_ids
  Tensor token_type_ids;  // [T] int32 segment of each token (BERT sentence pairs), or undefined: all 0
};

// What a pooling model computes for one sequence (vLLM's pooling tasks).
enum class PoolingTask {
  Encode,    // one vector per token (`/pooling`, reward models)
  Embed,     // one vector per sequence, normalised by default (`/v1/embeddings`)
  Classify,  // class scores per sequence, the model's activation applied by default (`/classify`)
  Score,     // a cross-encoder's relevance of a sentence pair (`/score`, `/rerank`)
};
const char* pooling_task_name(PoolingTask task);

// One sequence of a pooling step as its request resolved it (vLLM's PoolingParams).
struct PoolingRequestSpec {
  PoolingTask task = PoolingTask::Embed;
  std::optional<bool> normalize;   // Embed/Encode: unset takes the model's default
  std::optional<bool> activation;  // Classify/Score: unset takes the model's default
  int64_t dimensions = 0;          // Embed: Matryoshka truncation before normalising (0: all)
  // Keep only the last k prompt tokens (-1: max_model_len), as the input processor applies it.
  std::optional<int64_t> truncate_prompt_tokens;
};

// One pooling step: whole prompts, each sequence's rows of `hidden` in `query_start` (host
// [B + 1]); token_ids (host [T] int32) for poolers that read them (STEP pooling, GritLM).
struct PoolingBatch {
  std::vector<int64_t> query_start;
  Tensor token_ids;
  std::vector<PoolingRequestSpec> requests;  // [B]
};

// The model interface the engine drives, vLLM v1's shape: embed, merge multimodal embeddings,
// forward over one flattened batch (reading and writing the caches) to hidden states, then
// logits for the rows to sample, or a pooler for pooling models.
class Model {
 public:
  virtual ~Model() = default;
  // token_ids [T] int32 -> [T, H] f32 (the table lookup; scales the family applies to every
  // input, Gemma's sqrt(H), stay in forward).
  virtual Tensor embed_input_ids(const Tensor& token_ids) const = 0;
  // Rows placeholder_rows[i] of inputs_embeds [T, H] become embeddings[i] ([N, H] f32).
  virtual void merge_multimodal_embeddings(Tensor& inputs_embeds, const std::vector<int32_t>& placeholder_rows,
                                           const Tensor& embeddings) const;
  // Multimodal models (vLLM's embed_multimodal): the embeddings of one item's placeholder tokens,
  // [item.length, H] f32 on the model's device: the vision encoder and projector over its pixel
  // values, or the client's image_embeds. The engine runs it once per item (encoder cache).
  // Unsupported for a text-only model.
  virtual Tensor embed_multimodal(const mm::MultiModalItem& item);
  // -> hidden states [T, H] f32 after the final norm.
  virtual Tensor forward(const ModelInputs& inputs, const BatchMetadata& batch, KVCache& cache) = 0;
  // hidden rows [R, H] -> logits [R, vocab] f32.
  virtual Tensor compute_logits(const Tensor& hidden_rows) const = 0;
  // Pooling models' last stage as the family defines it (its default PoolerSpec); null for a
  // generative model. The engine's --pooler-config (or a sentence-transformers folder) overrides
  // fields of it through set_pooler_config, for every model: read pooler_spec(), not this.
  virtual const Pooler* pooler() const { return nullptr; }
  // The tasks `pool` serves; empty for a generative model.
  virtual std::vector<PoolingTask> pooling_tasks() const { return {}; }
  // hidden [T, H] of whole prompts -> one host f32 tensor per sequence: [D] (Embed), [num_labels]
  // (Classify, Score) or [L, D] (Encode: ALL; [S, D] for STEP). The default pools by
  // pooler_spec() (Unsupported without pooler()), runs pooling_head over the pooled rows, then
  // normalises or applies the activation as each request and the spec say.
  virtual std::vector<Tensor> pool(const Tensor& hidden, const PoolingBatch& batch) const;
  // What a classifier or reward model computes from pooled rows: host f32 [N, H] -> [N, D]
  // (score.weight, a reward head, the LM head for STEP over logits). Identity by default.
  virtual Tensor pooling_head(const Tensor& rows) const { return rows; }
  // The generic override point of issue 25: --pooler-config / --override-pooler-config and a
  // sentence-transformers folder's pooling mode land here (set fields win over pooler()'s).
  void set_pooler_config(PoolerConfig config) { pooler_config_ = std::move(config); }
  const PoolerConfig& pooler_config() const { return pooler_config_; }
  // pooler()'s spec (LAST when none) with the pooler config on top.
  PoolerSpec pooler_spec() const;
  // A sentence-transformers folder's Dense modules, in order: Embed rows pass through them after
  // pooling_head, before truncation and normalisation (as SentenceTransformer.encode runs them).
  void set_embedding_projections(std::vector<DenseProjection> projections) {
    embedding_projections_ = std::move(projections);
  }
  virtual const KVCacheSpec& kv_cache_spec() const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual int64_t hidden_size() const = 0;
  virtual int64_t max_position_embeddings() const = 0;
  virtual const std::string& architecture() const = 0;
  // > 0: a sequence growing past this many tokens must be recomputed from its first token, its
  // cached K/V discarded (Phi-3 LongRoPE switches every position to the long factors there, as
  // HF's Phi3ForCausalLM drops its cache at that length).
  virtual int64_t recompute_at_length() const { return 0; }

 private:
  PoolerConfig pooler_config_;
  std::vector<DenseProjection> embedding_projections_;
};

// forward, then compute_logits of batch.logits_rows: the logits [R, vocab] of a generation step.
Tensor forward_logits(Model& model, const Tensor& token_ids, const BatchMetadata& batch, KVCache& cache);
// The same from inputs already embedded (multimodal prompts): inputs.inputs_embeds [T, H].
Tensor forward_logits(Model& model, const ModelInputs& inputs, const BatchMetadata& batch, KVCache& cache);

}  // namespace vllm
