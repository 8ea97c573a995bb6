// LLaVA-1.5's processor (transformers' LlavaProcessor, vLLM's LlavaMultiModalProcessor): the CLIP
// image processor, and each "<image>" token of the prompt expanded to the vision tower's patch
// count (+ the CLS token when vision_feature_select_strategy is "full").
#include <limits>

#include "core/error.h"
#include "multimodal/clip_image_processor.h"
#include "multimodal/processor.h"

namespace vllm::mm {

namespace {

class LlavaProcessor : public MultiModalProcessor {
 public:
  LlavaProcessor(const nlohmann::json& config, const std::filesystem::path& model_dir, const nlohmann::json& kwargs)
      : image_processor_(ClipImageProcessor::from_directory(model_dir, kwargs)) {
    image_token_id_ = config.value("image_token_index", config.value("image_token_id", 32000));
    const nlohmann::json vision = config.value("vision_config", nlohmann::json(nullptr));
    // LlavaConfig's default tower is CLIP ViT-L/14-336; a vision_config dict fills CLIPVisionConfig's defaults.
    patch_size_ = vision.is_object() ? vision.value("patch_size", 32) : 14;
    const std::string strategy = config.value("vision_feature_select_strategy", "default");
    VLLM_CHECK(strategy == "default" || strategy == "full", InvalidArgument,
               "config.json: vision_feature_select_strategy '", strategy, "' is not supported (default, full)");
    extra_tokens_ = strategy == "full" ? 1 : 0;
  }

  std::string placeholder(const std::string& modality) const override {
    return modality == "image" ? "<image>" : "";
  }
  int64_t max_items(const std::string& modality) const override {
    return modality == "image" ? std::numeric_limits<int64_t>::max() : 0;
  }

  std::vector<MultiModalItem> apply(std::vector<int32_t>& prompt, const std::vector<MultiModalInput>& inputs) const override {
    std::vector<MultiModalItem> items;
    std::vector<int64_t> lengths;
    const std::string settings = image_processor_.fingerprint();
    for (const MultiModalInput& input : inputs) {
      VLLM_CHECK(input.modality == "image", InvalidArgument, "LLaVA takes images, not ", input.modality);
      MultiModalItem item;
      if (input.embeddings.defined()) {
        VLLM_CHECK(input.embeddings.dim() == 2 && input.embeddings.dtype() == DType::F32, InvalidArgument,
                   "image_embeds must be a 2-D float32 tensor [tokens, hidden], got ", input.embeddings.dim(), " dims");
        item.embeddings = input.embeddings.contiguous();
        item.length = item.embeddings.size(0);
        item.hash = hash_hex(item.embeddings.data<float>(), static_cast<size_t>(item.embeddings.numel()) * 4, "embeds");
      } else {
        item.pixel_values = image_processor_.preprocess(input.image);
        const int64_t height = item.pixel_values.size(1), width = item.pixel_values.size(2);
        item.length = (height / patch_size_) * (width / patch_size_) + extra_tokens_;
        item.hash = hash_hex(input.image.rgb.data(), input.image.rgb.size(),
                             settings + std::to_string(input.image.width) + "x" + std::to_string(input.image.height));
      }
      lengths.push_back(item.length);
      items.push_back(std::move(item));
    }
    std::vector<int64_t> offsets = expand_placeholders(prompt, image_token_id_, lengths, "image");
    for (size_t i = 0; i < items.size(); ++i) items[i].offset = offsets[i];
    return items;
  }

 private:
  ClipImageProcessor image_processor_;
  int32_t image_token_id_ = 32000;
  int64_t patch_size_ = 14;
  int64_t extra_tokens_ = 0;
};

const ProcessorRegistrar llava{"LlavaForConditionalGeneration",
                               [](const nlohmann::json& config, const std::filesystem::path& dir, const nlohmann::json& kwargs) {
                                 return std::make_unique<LlavaProcessor>(config, dir, kwargs);
                               }};

}  // namespace

}  // namespace vllm::mm
