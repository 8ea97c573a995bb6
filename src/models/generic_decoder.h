// The generic decoder: an embedding, one block per layer composed of the shared parts its
// DecoderSpec names (norms, SelfAttention, FeedForward from layers/), a final norm and the LM
// head. Norm placement (pre, sandwich, parallel residual), residual scales and skip connections
// are the only logic here; attention and MLPs are the layers'.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "layers/embedding.h"
#include "layers/feed_forward.h"
#include "layers/norm.h"
#include "layers/self_attention.h"
#include "models/decoder_spec.h"
#include "models/model.h"
#include "models/registry.h"

namespace vllm {

class GenericDecoder : public Model {
 public:
  GenericDecoder(DecoderSpec spec, const ModelLoadOptions& options);
  // `load_extra` reads parameters beyond the decoder's from the same checkpoint (a pooling head:
  // score.weight, v_head), before every tensor is checked as consumed.
  GenericDecoder(DecoderSpec spec, const ModelLoadOptions& options, const std::function<void(WeightLoader&)>& load_extra);

  Tensor embed_input_ids(const Tensor& token_ids) const override { return embed_tokens_.forward(token_ids); }
  Tensor forward(const ModelInputs& inputs, const BatchMetadata& batch, KVCache& cache) override;
  Tensor compute_logits(const Tensor& hidden_rows) const override { return lm_head_.forward(hidden_rows); }
  const KVCacheSpec& kv_cache_spec() const override { return kv_cache_spec_; }
  int64_t vocab_size() const override { return spec_.vocab_size; }
  int64_t hidden_size() const override { return spec_.hidden_size; }
  int64_t max_position_embeddings() const override { return spec_.max_position_embeddings; }
  const std::string& architecture() const override { return spec_.architecture; }
  int64_t recompute_at_length() const override { return spec_.recompute_at_length; }
  const DecoderSpec& spec() const { return spec_; }

 protected:
  const LMHead& lm_head() const { return lm_head_; }
  Device device() const { return device_; }

 private:
  struct Layer {
    Norm input_norm;             // pre_norms only
    Norm attention_output_norm;  // sandwich norms only
    Norm mlp_input_norm;         // post_attention_layernorm (Llama) / pre_feedforward_layernorm (Gemma 2);
                                 // undefined with shared_input_norm
    Norm mlp_output_norm;        // sandwich norms only
    std::unique_ptr<AttentionBlock> attention;  // SelfAttention or MlaAttention; null: DeciLM's no-op attention
    std::unique_ptr<FeedForward> mlp;        // null: DeciLM's no-op MLP
    Norm residual_mlp_norm;                  // Arctic's residual_layernorm
    std::unique_ptr<FeedForward> residual_mlp;  // Arctic's dense MLP beside the MoE, or null
  };

  void load(WeightLoader& loader);
  // Layer i's block on the residual stream `hidden`; `normed` is its input already normed (the
  // previous block's add fused with this norm) or undefined. Returns the next layer's normed
  // input when the last add could be fused with it.
  Tensor block(size_t i, Tensor& hidden, Tensor normed, const BatchMetadata& batch, KVCache& cache) const;
  // Arctic's layer (DecoderLayerSpec::residual_mlp_size): attention, then the residual MLP on
  // its output and the MLP on the layer's input, both added.
  void parallel_residual_mlp_block(const Layer& layer, size_t i, Tensor& hidden, Tensor normed,
                                   const BatchMetadata& batch, KVCache& cache) const;
  void apply_skip_connections(size_t i, Tensor& hidden, Tensor (&saved)[2]) const;
  bool has_skip_connection(size_t i) const;

  DecoderSpec spec_;
  Device device_;
  KVCacheSpec kv_cache_spec_;
  std::vector<int64_t> layer_groups_;  // KV-cache group of each layer
  Embedding embed_tokens_;
  Embedding embed_positions_;  // learned_positions only: rows from position_offset on
  Norm embedding_norm_;
  std::vector<Layer> layers_;
  Norm final_norm_;
  LMHead lm_head_;
  // What the fused add+RMSNorm and the gated activation write when only matmuls read the result:
  // f32, or on CUDA the layers' bf16/f16 weight type (the matmul rounds its input to it anyway, so
  // this skips an f32 round trip and a cast kernel per matmul without changing a value).
  DType matmul_input_dtype_ = DType::F32;
};

// Builds a GenericDecoder from a spec function: the one line a family registers.
ModelBuilder decoder_builder(DecoderSpec (*make_spec)(const ModelConfig&));
// The spec a config gives, as JSON (describe_spec), for `vllm-cpp inspect`.
ModelDescriber decoder_describer(DecoderSpec (*make_spec)(const ModelConfig&));
// The registry entry of a text-generation architecture served by the generic decoder.
ArchitectureInfo decoder_architecture(std::string name, std::string family,
                                      DecoderSpec (*make_spec)(const ModelConfig&));

}  // namespace vllm
