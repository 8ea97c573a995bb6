// The model registry: HF `architectures[0]` -> builder, tasks and features. Each family file
// registers its names with a static ModelRegistrar, so adding an architecture never touches a
// switch elsewhere (vLLM's _TEXT_GENERATION_MODELS table, one line per name).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "loader/model_config.h"
#include "models/model.h"
#include "loader/weight_loader.h"

namespace vllm {

enum class Task { Generate, Embed, Classify, Score, Reward, Transcription };
const char* task_name(Task task);

struct ModelFeatures {
  bool lora = false;
  bool pipeline_parallel = false;
  bool tensor_parallel = false;
};

// Where and how a model is built.
struct ModelLoadOptions {
  std::filesystem::path model_dir;  // folder with config.json and *.safetensors
  Device device = Device::cpu();
  bool dummy_weights = false;       // --load-format dummy: random weights of the right shapes
  std::string load_format = "auto"; // else which weight files: auto, safetensors, pt (Checkpoint::open)
  uint64_t dummy_seed = 0;
  // --model-impl: "auto" (the registered architecture, else Unsupported) or "generic" (an
  // unregistered architecture runs as the Llama layout through the generic decoder, with a warning).
  std::string model_impl = "auto";
  // --dtype (vLLM's values: auto, half, float16, bfloat16, float, float32). On CUDA it sets the
  // dtype matmul and embedding weights are converted to at load; auto keeps bf16/f16 checkpoints
  // as stored and makes float32 ones float16, as vLLM does. The CPU keeps weights as stored.
  std::string dtype = "auto";
  // Resolved by load_model from dtype, the device and config.json; unset: as stored.
  std::optional<DType> weight_dtype;
  // --convert as the engine resolved it from --runner/--convert/--task: "none" builds the
  // architecture as registered; "embed", "classify" or "reward" serve a registered decoder as a
  // pooling model (vLLM's as_embedding_model / as_seq_cls_model / as_reward_model).
  std::string convert = "none";
};

using ModelBuilder =
    std::function<std::unique_ptr<Model>(const ModelConfig& config, const ModelLoadOptions& options)>;
// What a builder would build from a config, without weights (`vllm-cpp inspect`): the decoder
// spec's switches as JSON.
using ModelDescriber = std::function<nlohmann::json(const ModelConfig& config)>;

struct DecoderSpec;

struct ArchitectureInfo {
  std::string name;    // "LlamaForCausalLM"
  std::string family;  // "llama": the code that serves it
  std::vector<Task> tasks;
  ModelFeatures features;
  ModelBuilder build;
  ModelDescriber describe;  // may be empty
  // Set for architectures the generic decoder serves: --convert embed/classify/reward wraps the
  // same decoder in a pooling model (models/pooling_decoder.h).
  DecoderSpec (*decoder_spec)(const ModelConfig&) = nullptr;
  // Set where the architecture has its own pooling model (GritLM): --runner pooling with
  // --convert embed builds it instead of the generic embedder.
  ModelBuilder pooling_build;
};

class ModelRegistry {
 public:
  static void add(ArchitectureInfo info);
  // nullptr when unknown.
  static const ArchitectureInfo* find(const std::string& architecture);
  // Unsupported naming the architecture, the config file and the supported names.
  static const ArchitectureInfo& get(const ModelConfig& config);
  static std::vector<std::string> names();
  // The architecture `options.model_impl` selects for `config`: the registered one, or with
  // "generic" the Llama layout for an unknown name (a warning). Unsupported otherwise.
  static const ArchitectureInfo& resolve(const ModelConfig& config, const std::string& model_impl);
};

// The architecture an unknown name falls back to with --model-impl generic.
inline constexpr const char* kGenericFallbackArchitecture = "LlamaForCausalLM";

struct ModelRegistrar {
  explicit ModelRegistrar(ArchitectureInfo info) { ModelRegistry::add(std::move(info)); }
};

// Reads config.json from options.model_dir (hf_overrides merged) and builds the model.
// Fills a model's parameters through `load`: random weights for --load-format dummy, else the
// checkpoint in options.model_dir renamed through `map` (every checkpoint tensor must then have
// been consumed); matmul weights in options.weight_dtype when set.
void load_weights(const ModelLoadOptions& options, const WeightMap& map, const std::string& architecture,
                  const std::function<void(WeightLoader&)>& load);

// The weight dtype --dtype gives on `device` for `config` (unset: as stored); InvalidArgument for
// an unknown name.
std::optional<DType> resolve_weight_dtype(const std::string& dtype, Device device, const ModelConfig& config);

std::unique_ptr<Model> load_model(const ModelLoadOptions& options,
                                  const nlohmann::json& hf_overrides = nlohmann::json::object());

}  // namespace vllm
