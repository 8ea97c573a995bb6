// Multimodal processing at the edge (vLLM's BaseMultiModalProcessor): a request's images become
// processed items (pixel values, or embeddings given by the client), the prompt's placeholder
// tokens are expanded to each item's token count, and each item carries its placeholder range and
// a content hash through the engine (encoder cache and prefix-cache keys).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.h"
#include "multimodal/image.h"

namespace vllm::mm {

// One input of a request before processing: a decoded image, or precomputed embeddings
// (`image_embeds` content parts: [N, hidden] f32).
struct MultiModalInput {
  std::string modality = "image";
  Image image;
  Tensor embeddings;  // defined for image_embeds
};

// One processed item as the engine carries it. Tensors are host f32.
struct MultiModalItem {
  std::string modality = "image";
  std::string hash;     // 32 hex digits (XXH3-128 of the input and the processor's settings)
  int64_t offset = 0;   // first placeholder token of the item in the prompt
  int64_t length = 0;   // placeholder tokens = rows of the item's embeddings
  Tensor pixel_values;  // [3, H, W] from the image processor, or undefined
  Tensor embeddings;    // [length, hidden] given by the client (image_embeds), or undefined
};

// The items of one request, shared read-only between the request and the engine's copies.
using MultiModalItems = std::shared_ptr<const std::vector<MultiModalItem>>;

// 32 hex digits of XXH3-128 over `bytes`.
std::string hash_hex(const void* bytes, size_t size, const std::string& seed_text = {});

class MultiModalProcessor {
 public:
  virtual ~MultiModalProcessor() = default;
  // The text the chat template's image marker becomes for a "string" content-format template
  // ("<image>" for LLaVA; vLLM's get_placeholder_str).
  virtual std::string placeholder(const std::string& modality) const = 0;
  // Items of `modality` one prompt may hold at most (0: the modality is not supported).
  virtual int64_t max_items(const std::string& modality) const = 0;
  // Processes `inputs` (in prompt order) and expands their placeholder tokens in `prompt`; the
  // items come back with their ranges. InvalidArgument when the prompt's placeholders and the
  // items disagree.
  virtual std::vector<MultiModalItem> apply(std::vector<int32_t>& prompt, const std::vector<MultiModalInput>& inputs) const = 0;
};

// What a family's processor is built from: config.json, the model folder (its
// preprocessor_config.json) and --mm-processor-kwargs, which override preprocessor fields.
using ProcessorBuilder = std::function<std::unique_ptr<MultiModalProcessor>(
    const nlohmann::json& config, const std::filesystem::path& model_dir, const nlohmann::json& kwargs)>;

struct ProcessorRegistrar {
  ProcessorRegistrar(const std::string& architecture, ProcessorBuilder build);
};

// The processor of config.json's architectures[0], or null for a text-only architecture.
std::unique_ptr<MultiModalProcessor> make_processor(const nlohmann::json& config, const std::filesystem::path& model_dir,
                                                     const nlohmann::json& kwargs = nlohmann::json::object());

// vLLM's limit check: `counts` per modality against the model's support and --limit-mm-per-prompt
// (`limits`, a missing modality: no limit beyond the model's). InvalidArgument with vLLM's message
// "At most N image(s) may be provided in one prompt." A null processor supports nothing.
void check_item_limits(const std::map<std::string, int64_t>& counts, const MultiModalProcessor* processor,
                       const std::map<std::string, int64_t>& limits);

// Replaces each occurrence of `token` in `prompt`, in order, by `lengths[i]` copies and returns the
// offsets of the expanded ranges. InvalidArgument naming `what` when the counts differ.
std::vector<int64_t> expand_placeholders(std::vector<int32_t>& prompt, int32_t token, const std::vector<int64_t>& lengths,
                                         const std::string& what);

}  // namespace vllm::mm
