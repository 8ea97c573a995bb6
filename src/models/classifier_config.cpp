#include "models/classifier_config.h"

#include <string>

#include "core/error.h"

namespace vllm {

int64_t config_num_labels(const ModelConfig& config) {
  const nlohmann::json& raw = config.raw();
  if (raw.contains("id2label") && raw["id2label"].is_object() && !raw["id2label"].empty())
    return static_cast<int64_t>(raw["id2label"].size());
  return config.get_int("num_labels", 2);
}

namespace {

// The activation a sentence-transformers cross-encoder names, by the class's last component
// ("torch.nn.modules.activation.Sigmoid", "torch.nn.Identity"); empty when none is named.
std::string cross_encoder_activation(const ModelConfig& config) {
  const nlohmann::json& raw = config.raw();
  const nlohmann::json* name = nullptr;
  if (raw.contains("sentence_transformers") && raw["sentence_transformers"].is_object() &&
      raw["sentence_transformers"].contains("activation_fn"))
    name = &raw["sentence_transformers"]["activation_fn"];
  else if (raw.contains("sbert_ce_default_activation_function"))
    name = &raw["sbert_ce_default_activation_function"];
  if (name == nullptr || !name->is_string()) return "";
  const std::string qualified = name->get<std::string>();
  return qualified.substr(qualified.rfind('.') + 1);
}

}  // namespace

PoolerSpec classifier_pooler(const ModelConfig& config, PoolingType type, int64_t num_labels) {
  PoolerSpec spec;
  spec.type = type;
  const std::string cross_encoder = cross_encoder_activation(config);
  if (!cross_encoder.empty()) {
    VLLM_CHECK(cross_encoder == "Sigmoid" || cross_encoder == "Identity", Unsupported, config.source(),
               ": the cross-encoder activation ", cross_encoder, " is not supported (known: Sigmoid, Identity)");
    spec.sigmoid = cross_encoder == "Sigmoid";
    return spec;
  }
  const std::string problem = config.get_string("problem_type", "");
  if (problem == "regression") return spec;
  if (problem == "multi_label_classification") {
    spec.sigmoid = true;
    return spec;
  }
  spec.sigmoid = num_labels == 1;
  spec.softmax = num_labels != 1;
  return spec;
}

}  // namespace vllm
