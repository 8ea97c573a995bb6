#include "models/registry.h"

#include <algorithm>
#include <map>

#include "core/error.h"
#include "core/logging.h"
#include "models/pooling_decoder.h"

namespace vllm {

namespace {
std::map<std::string, ArchitectureInfo>& table() {
  static std::map<std::string, ArchitectureInfo> architectures;
  return architectures;
}
}  // namespace

const char* task_name(Task task) {
  switch (task) {
    case Task::Generate: return "generate";
    case Task::Embed: return "embed";
    case Task::Classify: return "classify";
    case Task::Score: return "score";
    case Task::Reward: return "reward";
    case Task::Transcription: return "transcription";
  }
  return "unknown";
}

void ModelRegistry::add(ArchitectureInfo info) {
  std::string name = info.name;
  VLLM_ASSERT(!table().count(name), "architecture registered twice: ", name);
  table().emplace(std::move(name), std::move(info));
}

const ArchitectureInfo* ModelRegistry::find(const std::string& architecture) {
  auto it = table().find(architecture);
  return it == table().end() ? nullptr : &it->second;
}

std::vector<std::string> ModelRegistry::names() {
  std::vector<std::string> names;
  for (const auto& [name, info] : table()) names.push_back(name);
  return names;
}

const ArchitectureInfo& ModelRegistry::get(const ModelConfig& config) {
  std::string architecture = config.architecture();
  if (const ArchitectureInfo* info = find(architecture)) return *info;
  std::string known;
  for (const std::string& name : names()) known += (known.empty() ? "" : ", ") + name;
  fail(ErrorKind::Unsupported, config.source(), ": architecture '", architecture,
       "' is not supported (supported: ", known, ")");
}

const ArchitectureInfo& ModelRegistry::resolve(const ModelConfig& config, const std::string& model_impl) {
  VLLM_CHECK(model_impl == "auto" || model_impl == "generic", InvalidArgument, "--model-impl '", model_impl,
             "' is not supported (auto, generic)");
  if (model_impl == "generic" && !find(config.architecture())) {
    const ArchitectureInfo* fallback = find(kGenericFallbackArchitecture);
    VLLM_CHECK(fallback, Internal, kGenericFallbackArchitecture, " is not registered");
    log_warning(config.source(), ": architecture '", config.architecture(),
                "' is not registered; --model-impl generic runs it as the Llama layout through the generic "
                "decoder (weights must follow Llama's names; outputs are unverified)");
    return *fallback;
  }
  return get(config);
}

void load_weights(const ModelLoadOptions& options, const WeightMap& map, const std::string& architecture,
                  const std::function<void(WeightLoader&)>& load) {
  if (options.dummy_weights) {
    WeightLoader loader(options.dummy_seed, DType::BF16, architecture);
    loader.set_weight_dtype(options.weight_dtype);
    load(loader);
    return;
  }
  Checkpoint checkpoint = Checkpoint::open(options.model_dir, options.load_format);
  WeightLoader loader(checkpoint, map, architecture);
  loader.set_weight_dtype(options.weight_dtype);
  load(loader);
  loader.finish();
}

std::optional<DType> resolve_weight_dtype(const std::string& dtype, Device device, const ModelConfig& config) {
  VLLM_CHECK(dtype == "auto" || dtype == "half" || dtype == "float16" || dtype == "bfloat16" || dtype == "float" ||
                 dtype == "float32",
             InvalidArgument, "--dtype ", dtype, ": expected auto, half, float16, bfloat16, float or float32");
  if (device.is_cpu()) return std::nullopt;  // the CPU widens weights in its kernels and computes in f32
  if (dtype == "half" || dtype == "float16") return DType::F16;
  if (dtype == "bfloat16") return DType::BF16;
  if (dtype == "float" || dtype == "float32") return DType::F32;
  std::optional<DType> stored = config.dtype();
  if (stored == DType::F32) return DType::F16;  // vLLM's auto: FP16 for FP32 checkpoints
  return stored;
}

std::unique_ptr<Model> load_model(const ModelLoadOptions& options, const nlohmann::json& hf_overrides) {
  ModelConfig config = ModelConfig::from_directory(options.model_dir, hf_overrides);
  const ArchitectureInfo& info = ModelRegistry::resolve(config, options.model_impl);
  log_info("loading ", info.name, " (family ", info.family, ") from ", options.model_dir.string());
  ModelLoadOptions resolved = options;
  if (!resolved.weight_dtype) resolved.weight_dtype = resolve_weight_dtype(options.dtype, options.device, config);
  if (resolved.convert != "none") return build_converted_decoder(info, config, resolved);
  return info.build(config, resolved);
}

}  // namespace vllm
