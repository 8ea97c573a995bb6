// Llama and the architectures that share its layout exactly (vLLM's "llama" family).
#include "models/generic_decoder.h"

namespace vllm {
namespace {

DecoderSpec llama_spec(const ModelConfig& config) { return llama_like_spec(config, /*default_tie=*/false); }

// Mistral: Llama with a sliding window on every layer (4.x configs; 5.x names layer_types).
DecoderSpec mistral_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, false);
  if (config.layer_types().empty()) {
    for (DecoderLayerSpec& layer : spec.layers) layer.sliding_window = config.sliding_window().value_or(0);
  }
  return spec;
}

ModelRegistrar llama{decoder_architecture("LlamaForCausalLM", "llama", llama_spec)};
ModelRegistrar mistral{decoder_architecture("MistralForCausalLM", "llama", mistral_spec)};

}  // namespace
}  // namespace vllm
