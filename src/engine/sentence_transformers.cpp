#include "engine/sentence_transformers.h"

#include "core/error.h"
#include "loader/json_util.h"
#include "loader/safetensors.h"

namespace vllm {

namespace {

// The Pooling module's config.json: pooling_mode_* switches (sentence-transformers' names).
PoolingType pooling_mode(const nlohmann::json& config, const std::filesystem::path& path) {
  auto on = [&](const char* key) { return config.contains(key) && config[key].is_boolean() && config[key].get<bool>(); };
  if (config.contains("pooling_mode") && config["pooling_mode"].is_string()) {
    const std::string mode = config["pooling_mode"].get<std::string>();
    if (mode == "cls") return PoolingType::First;
    if (mode == "mean") return PoolingType::Mean;
    if (mode == "lasttoken") return PoolingType::Last;
    fail(ErrorKind::InvalidArgument, path.string(), ": pooling_mode '", mode, "' is not supported (cls, mean, lasttoken)");
  }
  if (on("pooling_mode_cls_token")) return PoolingType::First;
  if (on("pooling_mode_mean_tokens")) return PoolingType::Mean;
  if (on("pooling_mode_lasttoken")) return PoolingType::Last;
  fail(ErrorKind::InvalidArgument, path.string(),
       ": no supported pooling mode is on (pooling_mode_cls_token, pooling_mode_mean_tokens, pooling_mode_lasttoken)");
}

// A Dense module's folder: config.json (in_features, out_features, bias, activation_function) and
// model.safetensors.
DenseProjection read_dense(const std::filesystem::path& folder) {
  const std::filesystem::path config_path = folder / "config.json";
  VLLM_CHECK(std::filesystem::exists(config_path), InvalidArgument, "the Dense module's ", config_path.string(),
             " is missing");
  const nlohmann::json config = read_json_file(config_path);
  VLLM_CHECK(config.contains("in_features") && config["in_features"].is_number_integer() &&
                 config.contains("out_features") && config["out_features"].is_number_integer(),
             InvalidArgument, config_path.string(), ": in_features and out_features must be integers");
  const int64_t in = config["in_features"].get<int64_t>(), out = config["out_features"].get<int64_t>();
  VLLM_CHECK(std::filesystem::exists(folder / "model.safetensors"), NotFound, folder.string(),
             ": the Dense module's weights need model.safetensors (convert a pytorch_model.bin first)");
  DenseProjection dense;
  dense.activation = DenseProjection::parse_activation(
      config.value("activation_function", std::string("torch.nn.modules.activation.Tanh")));
  const Checkpoint weights = Checkpoint::open(folder);
  dense.weight = weights.get("linear.weight", DType::F32).clone();
  VLLM_CHECK(dense.weight.dim() == 2 && dense.weight.size(0) == out && dense.weight.size(1) == in, InvalidArgument,
             folder.string(), ": linear.weight is not [", out, ", ", in, "]");
  if (config.value("bias", true)) {
    dense.bias = weights.get("linear.bias", DType::F32).clone();
    VLLM_CHECK(dense.bias.dim() == 1 && dense.bias.size(0) == out, InvalidArgument, folder.string(),
               ": linear.bias is not [", out, "]");
  }
  return dense;
}

}  // namespace

SentenceTransformersConfig read_sentence_transformers(const std::filesystem::path& dir) {
  SentenceTransformersConfig st;
  const std::filesystem::path modules_path = dir / "modules.json";
  if (!std::filesystem::exists(modules_path)) return st;
  st.found = true;
  const nlohmann::json modules = read_json_file(modules_path);
  VLLM_CHECK(modules.is_array(), InvalidArgument, modules_path.string(), ": expected a list of modules");
  bool normalize = false;
  for (const nlohmann::json& module : modules) {
    const std::string type = module.value("type", "");
    const std::string path = module.value("path", "");
    if (type.ends_with("models.Pooling")) {
      const std::filesystem::path config_path = dir / path / "config.json";
      VLLM_CHECK(std::filesystem::exists(config_path), InvalidArgument, modules_path.string(),
                 ": the Pooling module's ", config_path.string(), " is missing");
      st.pooler.pooling_type = pooling_mode(read_json_file(config_path), config_path);
    } else if (type.ends_with("models.Normalize")) {
      normalize = true;
    } else if (type.ends_with("models.Dense")) {
      st.dense.push_back(read_dense(dir / path));
    }
  }
  st.pooler.normalize = normalize;
  const std::filesystem::path bert_config = dir / "sentence_bert_config.json";
  if (std::filesystem::exists(bert_config)) {
    const nlohmann::json config = read_json_file(bert_config);
    if (config.contains("max_seq_length") && config["max_seq_length"].is_number_integer())
      st.max_seq_length = config["max_seq_length"].get<int64_t>();
  }
  const std::filesystem::path st_config = dir / "config_sentence_transformers.json";
  if (std::filesystem::exists(st_config)) {
    const nlohmann::json config = read_json_file(st_config);
    if (config.contains("prompts") && config["prompts"].is_object())
      for (const auto& [name, text] : config["prompts"].items())
        if (text.is_string()) st.prompts[name] = text.get<std::string>();
    if (config.contains("default_prompt_name") && config["default_prompt_name"].is_string())
      st.default_prompt_name = config["default_prompt_name"].get<std::string>();
  }
  return st;
}

}  // namespace vllm
