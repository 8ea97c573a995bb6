// The generic decoder: embedding, N x (attention over the paged cache + gated MLP) with the norm
// placement, rotary, biases and scales its DecoderSpec names, a final norm and the LM head.
#pragma once

#include <memory>
#include <vector>

#include "layers/linear.h"
#include "layers/rotary_embedding.h"
#include "models/decoder_spec.h"
#include "models/model.h"
#include "models/registry.h"

namespace vllm {

class GenericDecoder : public Model {
 public:
  GenericDecoder(DecoderSpec spec, const ModelLoadOptions& options);

  Tensor forward(const Tensor& token_ids, const BatchMetadata& batch, KVCache& cache) override;
  const KVCacheSpec& kv_cache_spec() const override { return kv_cache_spec_; }
  int64_t vocab_size() const override { return spec_.vocab_size; }
  int64_t max_position_embeddings() const override { return spec_.max_position_embeddings; }
  const std::string& architecture() const override { return spec_.architecture; }
  int64_t recompute_at_length() const override { return spec_.recompute_at_length; }
  const DecoderSpec& spec() const { return spec_; }

 private:
  struct Layer {
    Norm input_norm;             // pre_norms only
    Norm attention_output_norm;  // sandwich norms only
    Norm mlp_input_norm;         // post_attention_layernorm (Llama) / pre_feedforward_layernorm (Gemma 2);
                                 // undefined with shared_input_norm
    Norm mlp_output_norm;        // sandwich norms only
    Norm q_norm, k_norm;         // qk_norm only
    Linear qkv_proj, o_proj, gate_up_proj, down_proj;  // gate_up_proj holds up_proj without gated_mlp
    std::shared_ptr<RotaryEmbedding> rotary;
    nlohmann::json rope_params;
    int64_t sliding_window = 0;
  };

  void load(WeightLoader& loader);
  Tensor attention(const Layer& layer, const Tensor& hidden, const BatchMetadata& batch,
                   const Tensor& block_table, const Tensor& slot_mapping, Tensor& key_cache,
                   Tensor& value_cache) const;
  Tensor mlp(const Layer& layer, const Tensor& hidden) const;
  void add_position_embeddings(const Tensor& positions, Tensor& hidden) const;

  DecoderSpec spec_;
  Device device_;
  KVCacheSpec kv_cache_spec_;
  std::vector<int64_t> layer_groups_;  // KV-cache group of each layer
  Tensor embed_tokens_;  // [vocab, hidden]
  Tensor embed_positions_;  // learned_positions only: [positions, hidden] (from position_offset on)
  Norm embedding_norm_;
  Tensor alibi_slopes_;     // alibi only: [num_heads] f32
  Tensor lm_head_bias_;
  std::vector<Layer> layers_;
  Norm final_norm_;
  Tensor lm_head_;       // [vocab, hidden]; the embedding itself when tied
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
