#include "loader/model_config.h"

#include <cmath>
#include <limits>

#include "core/error.h"
#include "loader/json_util.h"

namespace vllm {
namespace fs = std::filesystem;
using json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Construction

ModelConfig ModelConfig::from_directory(const fs::path& dir, const json& hf_overrides) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) fail(ErrorKind::NotFound, dir.string(), ": no such folder");
  const fs::path path = fs::is_directory(dir) ? dir / "config.json" : dir;
  if (!fs::exists(path, ec))
    fail(ErrorKind::NotFound, path.string(), ": not found (every Hugging Face model folder has a "
         "config.json)");
  return from_json(read_json_file(path), path.string(), hf_overrides);
}

ModelConfig ModelConfig::from_json(json config, std::string source, const json& hf_overrides) {
  if (!config.is_object())
    fail(ErrorKind::InvalidArgument, source, ": must be a JSON object, got ", json_value_text(config));
  if (!hf_overrides.is_null() && !hf_overrides.is_object())
    fail(ErrorKind::InvalidArgument, "--hf-overrides must be a JSON object, got ",
         json_value_text(hf_overrides));
  ModelConfig result;
  result.json_ = hf_overrides.is_object() ? merge_json(std::move(config), hf_overrides)
                                          : std::move(config);
  result.source_ = std::move(source);
  return result;
}

ModelConfig ModelConfig::text_config() const {
  const json* sub = lookup("text_config");
  if (!sub || sub->is_null()) return *this;
  if (!sub->is_object()) fail_field("text_config", "must be an object, got " + json_value_text(*sub));
  ModelConfig result;
  result.json_ = *sub;
  result.source_ = source_;
  result.prefix_ = prefix_ + "text_config.";
  // Wrappers often record the dtype only at the top level.
  if (!result.has("dtype") && !result.has("torch_dtype")) {
    if (has("dtype")) result.json_["dtype"] = *lookup("dtype");
    else if (has("torch_dtype")) result.json_["torch_dtype"] = *lookup("torch_dtype");
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Typed getters

const json* ModelConfig::lookup(std::string_view key) const {
  const json* node = &json_;
  size_t start = 0;
  while (true) {
    size_t dot = key.find('.', start);
    std::string part(key.substr(start, dot == std::string_view::npos ? key.npos : dot - start));
    if (!node->is_object()) return nullptr;
    auto it = node->find(part);
    if (it == node->end()) return nullptr;
    node = &*it;
    if (dot == std::string_view::npos) return node;
    start = dot + 1;
  }
}

std::string ModelConfig::field(std::string_view key) const {
  return "'" + prefix_ + std::string(key) + "'";
}

void ModelConfig::fail_field(std::string_view key, const std::string& problem) const {
  fail(ErrorKind::InvalidArgument, source_, ": field ", field(key), " ", problem);
}

bool ModelConfig::has(std::string_view key) const {
  const json* value = lookup(key);
  return value && !value->is_null();
}

std::optional<int64_t> ModelConfig::find_int(std::string_view key) const {
  const json* value = lookup(key);
  if (!value || value->is_null()) return std::nullopt;
  if (value->is_number_integer()) {
    if (value->is_number_unsigned() && value->get<uint64_t>() > uint64_t(INT64_MAX))
      fail_field(key, "is too large: " + json_value_text(*value));
    return value->get<int64_t>();
  }
  if (value->is_number_float()) {  // 4096.0: written by some tools, means 4096
    double number = value->get<double>();
    if (std::isfinite(number) && number == std::floor(number) && std::abs(number) < 9.0e18)
      return static_cast<int64_t>(number);
  }
  fail_field(key, "must be an integer, got " + json_value_text(*value));
}

std::optional<double> ModelConfig::find_float(std::string_view key) const {
  const json* value = lookup(key);
  if (!value || value->is_null()) return std::nullopt;
  if (!value->is_number()) fail_field(key, "must be a number, got " + json_value_text(*value));
  return value->get<double>();
}

std::optional<std::string> ModelConfig::find_string(std::string_view key) const {
  const json* value = lookup(key);
  if (!value || value->is_null()) return std::nullopt;
  if (!value->is_string()) fail_field(key, "must be a string, got " + json_value_text(*value));
  return value->get<std::string>();
}

int64_t ModelConfig::get_int(std::string_view key) const {
  if (auto value = find_int(key)) return *value;
  fail_field(key, "is missing");
}

int64_t ModelConfig::get_int(std::string_view key, int64_t fallback) const {
  return find_int(key).value_or(fallback);
}

double ModelConfig::get_float(std::string_view key) const {
  if (auto value = find_float(key)) return *value;
  fail_field(key, "is missing");
}

double ModelConfig::get_float(std::string_view key, double fallback) const {
  return find_float(key).value_or(fallback);
}

bool ModelConfig::get_bool(std::string_view key, bool fallback) const {
  const json* value = lookup(key);
  if (!value || value->is_null()) return fallback;
  if (!value->is_boolean()) fail_field(key, "must be true or false, got " + json_value_text(*value));
  return value->get<bool>();
}

std::string ModelConfig::get_string(std::string_view key, std::string fallback) const {
  return find_string(key).value_or(std::move(fallback));
}

// ---------------------------------------------------------------------------------------------
// Normalised fields

std::string ModelConfig::architecture() const {
  const json* value = lookup("architectures");
  if (!value || value->is_null())
    fail_field("architectures", "is missing (it names the model class, e.g. [\"LlamaForCausalLM\"])");
  bool strings = value->is_array() && !value->empty();
  if (strings)
    for (const json& item : *value) strings = strings && item.is_string();
  if (!strings)
    fail_field("architectures", "must be a non-empty list of strings, got " + json_value_text(*value));
  return (*value)[0].get<std::string>();
}

std::string ModelConfig::model_type() const { return get_string("model_type", ""); }

int64_t ModelConfig::first_int(std::initializer_list<std::string_view> keys) const {
  for (std::string_view key : keys) {
    if (auto value = find_int(key)) {
      if (*value <= 0) fail_field(key, "must be positive, got " + std::to_string(*value));
      return *value;
    }
  }
  std::string also;
  for (auto it = keys.begin() + 1; it != keys.end(); ++it)
    also += (also.empty() ? "" : ", ") + field(*it);
  fail_field(*keys.begin(), also.empty() ? "is missing" : "is missing (also looked for " + also + ")");
}

// Older spellings are the `attribute_map`s of transformers' GPT2, GPT-J, Bloom, Falcon, MPT and
// T5 configs.
int64_t ModelConfig::hidden_size() const { return first_int({"hidden_size", "n_embd", "d_model"}); }
int64_t ModelConfig::num_hidden_layers() const {
  return first_int({"num_hidden_layers", "n_layer", "num_layers", "n_layers"});
}
int64_t ModelConfig::num_attention_heads() const {
  return first_int({"num_attention_heads", "n_head", "num_heads", "n_heads"});
}
int64_t ModelConfig::vocab_size() const { return first_int({"vocab_size"}); }

int64_t ModelConfig::num_key_value_heads() const {
  const int64_t heads = num_attention_heads();
  const int64_t kv_heads = find_int("num_key_value_heads").value_or(heads);
  if (kv_heads <= 0 || heads % kv_heads != 0)
    fail_field("num_key_value_heads", "must divide num_attention_heads " + std::to_string(heads) +
                                          ", got " + std::to_string(kv_heads));
  return kv_heads;
}

int64_t ModelConfig::head_dim() const {
  if (auto value = find_int("head_dim")) {
    if (*value <= 0) fail_field("head_dim", "must be positive, got " + std::to_string(*value));
    return *value;
  }
  const int64_t hidden = hidden_size(), heads = num_attention_heads();
  if (hidden % heads != 0)
    fail(ErrorKind::InvalidArgument, source_, ": hidden_size ", hidden,
         " is not divisible by num_attention_heads ", heads, " and there is no ", field("head_dim"));
  return hidden / heads;
}

std::optional<DType> ModelConfig::dtype() const {
  const char* key = has("dtype") ? "dtype" : "torch_dtype";
  std::optional<std::string> name = find_string(key);
  if (!name) return std::nullopt;
  std::string_view text = *name;
  if (text.starts_with("torch.")) text.remove_prefix(6);
  std::optional<DType> dtype = parse_dtype(text);
  if (!dtype || !is_floating(*dtype))
    fail(ErrorKind::Unsupported, source_, ": field ", field(key), " is \"", *name,
         "\", supported: float32, float16, bfloat16");
  return dtype;
}

std::optional<int64_t> ModelConfig::max_position_embeddings() const {
  // The keys vLLM's _get_and_verify_max_len reads, first present wins.
  for (std::string_view key : {"max_position_embeddings", "n_positions", "max_seq_len", "seq_length",
                               "max_sequence_length", "max_seq_length", "seq_len"})
    if (auto value = find_int(key)) return value;
  return std::nullopt;
}

std::optional<int64_t> ModelConfig::sliding_window() const {
  if (!get_bool("use_sliding_window", true)) return std::nullopt;
  std::optional<int64_t> window = find_int("sliding_window");
  if (window && *window <= 0) fail_field("sliding_window", "must be positive or null, got " +
                                                               std::to_string(*window));
  return window;
}

std::vector<std::string> ModelConfig::layer_types() const {
  const json* value = lookup("layer_types");
  if (!value || value->is_null()) return {};
  std::vector<std::string> result;
  if (value->is_array())
    for (const json& item : *value)
      if (item.is_string()) result.push_back(item.get<std::string>());
  if (!value->is_array() || result.size() != value->size())
    fail_field("layer_types", "must be a list of strings, got " + json_value_text(*value));
  if (auto layers = find_int("num_hidden_layers"); layers && *layers != int64_t(result.size()))
    fail_field("layer_types", "has " + std::to_string(result.size()) +
                                  " entries but num_hidden_layers is " + std::to_string(*layers));
  return result;
}

// ---------------------------------------------------------------------------------------------
// Overrides and generation config

json merge_json(json base, const json& overrides) {
  if (!base.is_object() || !overrides.is_object()) return overrides;
  for (const auto& [key, value] : overrides.items()) {
    auto it = base.find(key);
    if (it != base.end() && it->is_object() && value.is_object())
      *it = merge_json(std::move(*it), value);
    else
      base[key] = value;
  }
  return base;
}

json parse_hf_overrides(const std::string& text) {
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) return json::object();
  json overrides;
  try {
    overrides = json::parse(text);
  } catch (const json::exception& e) {
    fail(ErrorKind::InvalidArgument, "--hf-overrides: not valid JSON (", json_error_text(e), ")");
  }
  if (!overrides.is_object())
    fail(ErrorKind::InvalidArgument, "--hf-overrides must be a JSON object such as "
         "'{\"max_position_embeddings\": 4096}', got ", json_value_text(overrides));
  return overrides;
}

json read_generation_config(const fs::path& dir) {
  const fs::path path = dir / "generation_config.json";
  std::error_code ec;
  if (!fs::exists(path, ec)) return json::object();
  json config = read_json_file(path);
  if (!config.is_object())
    fail(ErrorKind::InvalidArgument, path.string(), ": must be a JSON object, got ",
         json_value_text(config));
  return config;
}

}  // namespace vllm
