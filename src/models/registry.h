// The model registry: HF `architectures[0]` -> builder, tasks and features. Each family file
// registers its names with a static ModelRegistrar, so adding an architecture never touches a
// switch elsewhere (vLLM's _TEXT_GENERATION_MODELS table, one line per name).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "loader/model_config.h"
#include "models/model.h"

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
  uint64_t dummy_seed = 0;
};

using ModelBuilder =
    std::function<std::unique_ptr<Model>(const ModelConfig& config, const ModelLoadOptions& options)>;

struct ArchitectureInfo {
  std::string name;    // "LlamaForCausalLM"
  std::string family;  // "llama": the code that serves it
  std::vector<Task> tasks;
  ModelFeatures features;
  ModelBuilder build;
};

class ModelRegistry {
 public:
  static void add(ArchitectureInfo info);
  // nullptr when unknown.
  static const ArchitectureInfo* find(const std::string& architecture);
  // Unsupported naming the architecture, the config file and the supported names.
  static const ArchitectureInfo& get(const ModelConfig& config);
  static std::vector<std::string> names();
};

struct ModelRegistrar {
  explicit ModelRegistrar(ArchitectureInfo info) { ModelRegistry::add(std::move(info)); }
};

// Reads config.json from options.model_dir (hf_overrides merged) and builds the model.
std::unique_ptr<Model> load_model(const ModelLoadOptions& options,
                                  const nlohmann::json& hf_overrides = nlohmann::json::object());

}  // namespace vllm
