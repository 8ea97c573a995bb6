// LLaVA-1.5 (transformers' LlavaForConditionalGeneration, vLLM's llava.py): a CLIP vision tower,
// the hidden states of vision_feature_layer (one index or a list, concatenated) with the class
// token dropped for vision_feature_select_strategy "default", a two-layer projector (linear_1,
// projector_hidden_act, linear_2), and the text model of text_config run by the generic decoder
// with the projected image features merged at the "<image>" placeholder rows.
#include <algorithm>
#include <map>
#include <memory>

#include "core/error.h"
#include "models/clip_vision.h"
#include "models/generic_decoder.h"
#include "ops/activation.h"

namespace vllm {
namespace {

using json = nlohmann::json;

// text_config as a config of its own, with the fields transformers' LlamaConfig defaults (llava-hf
// checkpoints record only what differs: vocab_size, rms_norm_eps, max_position_embeddings).
ModelConfig text_model_config(const ModelConfig& outer, std::string& architecture) {
  json text = outer.raw().value("text_config", json::object());
  const std::string model_type = text.value("model_type", std::string("llama"));
  if (text.contains("architectures") && text["architectures"].is_array() && !text["architectures"].empty()) {
    architecture = text["architectures"][0].get<std::string>();
  } else {
    static const std::map<std::string, std::string> by_type = {
        {"llama", "LlamaForCausalLM"}, {"mistral", "MistralForCausalLM"}, {"qwen2", "Qwen2ForCausalLM"}};
    auto found = by_type.find(model_type);
    VLLM_CHECK(found != by_type.end(), Unsupported, outer.source(), ": text_config.model_type '", model_type,
               "' is not supported by LLaVA here (llama, mistral, qwen2)");
    architecture = found->second;
  }
  if (model_type == "llama") {
    const json defaults = {{"hidden_size", 4096}, {"intermediate_size", 11008}, {"num_hidden_layers", 32},
                           {"num_attention_heads", 32}, {"vocab_size", 32000}, {"max_position_embeddings", 2048},
                           {"rms_norm_eps", 1e-6}, {"hidden_act", "silu"}, {"tie_word_embeddings", false}};
    for (auto it = defaults.begin(); it != defaults.end(); ++it)
      if (!text.contains(it.key())) text[it.key()] = it.value();
  }
  if (!text.contains("dtype") && !text.contains("torch_dtype")) {
    if (outer.raw().contains("dtype")) text["dtype"] = outer.raw()["dtype"];
    else if (outer.raw().contains("torch_dtype")) text["torch_dtype"] = outer.raw()["torch_dtype"];
  }
  text["architectures"] = json::array({architecture});
  return ModelConfig::from_json(text, outer.source() + " (text_config)");
}

DecoderSpec llava_text_spec(const ModelConfig& outer) {
  std::string architecture;
  const ModelConfig text = text_model_config(outer, architecture);
  const ArchitectureInfo* info = ModelRegistry::find(architecture);
  VLLM_CHECK(info && info->decoder_spec, Unsupported, outer.source(), ": LLaVA's text model ", architecture,
             " is not served by the generic decoder");
  DecoderSpec spec = info->decoder_spec(text);
  spec.architecture = outer.architecture();
  // Checkpoint names: 5.x model.language_model.* / lm_head.*; 4.x (and 5.x's save_pretrained)
  // language_model.model.* / language_model.lm_head.*; the tower and projector lose their
  // `model.` (5.x); the tower's CLIPVisionModel keeps its `vision_model.` (published llava-hf
  // checkpoints) or not (transformers 5.17's save_pretrained): both end as
  // vision_tower.vision_model.*.
  auto& renames = spec.weights.renames;
  renames.insert(renames.begin(), {{"^model.language_model.", "model."},
                                   {"^language_model.model.", "model."},
                                   {"^language_model.lm_head.", "lm_head."},
                                   {"^model.vision_tower.", "vision_tower."},
                                   {"^model.multi_modal_projector.", "multi_modal_projector."},
                                   {"^vision_tower.vision_model.", "vision_tower."},
                                   {"^vision_tower.", "vision_tower.vision_model."}});
  return spec;
}

struct LlavaVisionSpec {
  ClipVisionConfig vision;
  std::vector<int64_t> feature_layers;  // indices into HF's hidden_states (0 .. num_hidden_layers)
  bool drop_class_token = true;         // vision_feature_select_strategy "default"
  bool projector_bias = true;
  ops::Activation projector_activation = ops::Activation::Gelu;
};

LlavaVisionSpec llava_vision_spec(const ModelConfig& config) {
  LlavaVisionSpec s;
  const json& raw = config.raw();
  // LlavaConfig's default tower is CLIP ViT-L/14 at 336 px.
  const json vision = raw.contains("vision_config") && raw["vision_config"].is_object()
                          ? raw["vision_config"]
                          : json{{"hidden_size", 1024}, {"intermediate_size", 4096}, {"num_hidden_layers", 24},
                                 {"num_attention_heads", 16}, {"image_size", 336}, {"patch_size", 14}};
  const std::string model_type = vision.value("model_type", std::string("clip_vision_model"));
  VLLM_CHECK(model_type == "clip_vision_model", Unsupported, config.source(), ": vision_config.model_type '", model_type,
             "' is not supported for LLaVA yet (clip_vision_model)");
  s.vision = ClipVisionConfig::from_json(vision, config.source());
  const int64_t states = s.vision.num_hidden_layers + 1;
  json layers = raw.value("vision_feature_layer", json(-2));
  if (!layers.is_array()) layers = json::array({layers});
  for (const json& layer : layers) {
    VLLM_CHECK(layer.is_number_integer(), InvalidArgument, config.source(), ": vision_feature_layer must be integers");
    int64_t index = layer.get<int64_t>();
    if (index < 0) index += states;
    VLLM_CHECK(index >= 0 && index < states, InvalidArgument, config.source(), ": vision_feature_layer ", layer.dump(),
               " is outside the tower's ", states, " hidden states");
    s.feature_layers.push_back(index);
  }
  const std::string strategy = raw.value("vision_feature_select_strategy", std::string("default"));
  VLLM_CHECK(strategy == "default" || strategy == "full", Unsupported, config.source(),
             ": vision_feature_select_strategy '", strategy, "' is not supported (default, full)");
  s.drop_class_token = strategy == "default";
  s.projector_bias = raw.value("multimodal_projector_bias", true);
  s.projector_activation = parse_activation(config, raw.value("projector_hidden_act", std::string("gelu")));
  return s;
}

// The tower and projector, loaded while the decoder loads (GenericDecoder's load_extra runs
// inside its constructor, before Llava's own members exist).
struct LlavaVision {
  LlavaVisionSpec spec;
  ClipVisionTower tower;
  Linear linear_1, linear_2;

  void load(WeightLoader& loader, int64_t text_hidden, Device device) {
    const int64_t used = *std::max_element(spec.feature_layers.begin(), spec.feature_layers.end());
    tower = ClipVisionTower(spec.vision, used, loader, "vision_tower.vision_model.", device);
    const int64_t in = spec.vision.hidden_size * static_cast<int64_t>(spec.feature_layers.size());
    linear_1 = Linear::load(loader, "multi_modal_projector.linear_1", in, text_hidden, spec.projector_bias, device);
    linear_2 = Linear::load(loader, "multi_modal_projector.linear_2", text_hidden, text_hidden, spec.projector_bias, device);
  }
};

class Llava : public GenericDecoder {
 public:
  Llava(DecoderSpec text, std::shared_ptr<LlavaVision> vision, const ModelLoadOptions& options)
      : GenericDecoder(with_unused_tower_layers(text, vision->spec), options,
                       [vision, hidden = text.hidden_size, device = options.device](WeightLoader& loader) {
                         vision->load(loader, hidden, device);
                       }),
        vision_(std::move(vision)) {}

  Tensor embed_multimodal(const mm::MultiModalItem& item) override {
    const int64_t H = hidden_size();
    if (item.embeddings.defined()) {
      VLLM_CHECK(item.embeddings.dim() == 2 && item.embeddings.size(1) == H, InvalidArgument,
                 "image_embeds must be [tokens, ", H, "] for this model, got width ",
                 item.embeddings.dim() == 2 ? item.embeddings.size(1) : -1);
      return item.embeddings.to(device());
    }
    const LlavaVisionSpec& spec = vision_->spec;
    std::vector<Tensor> states = vision_->tower.hidden_states(item.pixel_values, spec.feature_layers);
    const int64_t first = spec.drop_class_token ? 1 : 0, rows = states[0].size(0) - first;
    const int64_t D = spec.vision.hidden_size;
    Tensor features = Tensor::empty({rows, D * static_cast<int64_t>(states.size())}, DType::F32, device());
    for (size_t i = 0; i < states.size(); ++i) {
      Tensor columns = features.slice(1, static_cast<int64_t>(i) * D, static_cast<int64_t>(i + 1) * D);
      columns.copy_from(states[i].slice(0, first, first + rows));
    }
    Tensor hidden = vision_->linear_1.forward(features);
    ops::activation(spec.projector_activation, hidden, hidden);
    return vision_->linear_2.forward(hidden);
  }

 private:
  // Tower layers past the deepest feature layer and the post-layernorm are never run: their
  // checkpoint tensors are ignored (vLLM drops them as well).
  static DecoderSpec with_unused_tower_layers(DecoderSpec spec, const LlavaVisionSpec& vision) {
    const int64_t used = *std::max_element(vision.feature_layers.begin(), vision.feature_layers.end());
    // Matched against the checkpoint's names: 5.x under model., 4.x without, and the tower with
    // or without its vision_model.
    for (const std::string root : {"model.vision_tower.vision_model.", "vision_tower.vision_model.", "model.vision_tower.",
                                   "vision_tower."}) {
      for (int64_t i = used; i < vision.vision.num_hidden_layers; ++i)
        spec.weights.ignored_prefixes.push_back(root + "encoder.layers." + std::to_string(i) + ".");
      spec.weights.ignored_prefixes.push_back(root + "post_layernorm.");
    }
    spec.weights.ignored_suffixes.push_back("embeddings.position_ids");
    return spec;
  }

  std::shared_ptr<LlavaVision> vision_;
};

ArchitectureInfo llava_architecture() {
  ArchitectureInfo info = decoder_architecture("LlavaForConditionalGeneration", "llava", llava_text_spec);
  info.build = [](const ModelConfig& config, const ModelLoadOptions& options) -> std::unique_ptr<Model> {
    auto vision = std::make_shared<LlavaVision>();
    vision->spec = llava_vision_spec(config);
    return std::make_unique<Llava>(llava_text_spec(config), std::move(vision), options);
  };
  info.decoder_spec = nullptr;  // --convert would drop the vision tower
  return info;
}

ModelRegistrar llava{llava_architecture()};

}  // namespace
}  // namespace vllm
