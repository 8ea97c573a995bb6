// Phi-3: checkpoints hold fused qkv_proj and gate_up_proj (already the decoder's layout), a
// sliding window on every layer when set, partial rotary and LongRoPE.
#include "models/generic_decoder.h"

namespace vllm {
namespace {

DecoderSpec phi3_spec(const ModelConfig& config) {
  DecoderSpec spec = llama_like_spec(config, false);
  if (config.layer_types().empty()) {
    for (DecoderLayerSpec& layer : spec.layers) layer.sliding_window = config.sliding_window().value_or(0);
  }
  return spec;
}

const std::vector<Task> kGenerate = {Task::Generate};

ModelRegistrar phi3{{"Phi3ForCausalLM", "phi3", kGenerate, {}, decoder_builder(phi3_spec)}};

}  // namespace
}  // namespace vllm
