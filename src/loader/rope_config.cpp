// ModelConfig::rope_parameters: the 4.x and 5.x spellings of the rotary settings, normalised to the
// 5.x form that transformers' `standardize_rope_params` produces.
#include <algorithm>
#include <string>

#include "core/error.h"
#include "loader/json_util.h"
#include "loader/model_config.h"

namespace vllm {
using json = nlohmann::json;

namespace {

// transformers' ROPE_INIT_FUNCTIONS, with the fields each type's validation requires.
struct RopeType {
  const char* name;
  std::vector<const char*> required_numbers;
  std::vector<const char*> required_lists;
};
const std::vector<RopeType>& rope_types() {
  static const std::vector<RopeType> types = {
      {"default", {}, {}},
      {"linear", {"factor"}, {}},
      {"dynamic", {"factor"}, {}},
      {"yarn", {"factor"}, {}},
      {"longrope", {}, {"short_factor", "long_factor"}},
      {"llama3", {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"}, {}},
  };
  return types;
}

std::string known_rope_types() {
  std::string names;
  for (const RopeType& type : rope_types()) names += (names.empty() ? "" : ", ") + std::string(type.name);
  return names;
}

}  // namespace

json ModelConfig::rope_parameters(const std::string& layer_type) const {
  json params = json::object();
  std::string where;          // the object the parameters came from, for messages
  const char* type_key = "rope_type";
  const json* v5 = lookup("rope_parameters");

  if (v5 && !v5->is_null()) {  // transformers 5.x
    if (!v5->is_object())
      fail_field("rope_parameters", "must be an object, got " + json_value_text(*v5));
    bool per_layer_type = !v5->empty() && !v5->contains("rope_type") && !v5->contains("rope_theta") &&
                          !v5->contains("type") &&
                          std::all_of(v5->begin(), v5->end(), [](const json& v) { return v.is_object(); });
    where = "rope_parameters";
    if (per_layer_type) {
      auto it = v5->find(layer_type);
      if (it == v5->end()) {
        std::string keys;
        for (const auto& [key, value] : v5->items()) keys += (keys.empty() ? "" : ", ") + key;
        fail_field("rope_parameters", "has no entry for layer type '" + layer_type + "' (has: " + keys + ")");
      }
      params = *it;
      where += "." + layer_type;
    } else {
      params = *v5;
    }
  } else {  // transformers 4.x
    if (layer_type == "sliding_attention" && has("rope_local_base_freq")) {
      // Gemma3: sliding layers use plain rope with their own base; rope_scaling is for global ones.
      params = {{"rope_type", "default"}, {"rope_theta", get_float("rope_local_base_freq")}};
      where = "rope_local_base_freq";
    } else {
      const json* scaling = lookup("rope_scaling");
      where = "rope_scaling";
      if (scaling && !scaling->is_null()) {
        if (!scaling->is_object())
          fail_field("rope_scaling", "must be an object or null, got " + json_value_text(*scaling));
        params = *scaling;
      }
    }
  }

  // The type: "rope_type", or 4.x's older "type".
  std::string rope_type;
  if (params.contains("rope_type") && !params["rope_type"].is_null()) {
    type_key = "rope_type";
  } else if (params.contains("type") && !params["type"].is_null()) {
    type_key = "type";
  } else {
    type_key = nullptr;
  }
  if (type_key) {
    const json& value = params[type_key];
    if (!value.is_string())
      fail_field(where + "." + type_key, "must be a string, got " + json_value_text(value));
    rope_type = value.get<std::string>();
  } else if (where == "rope_scaling" && !params.empty() && !params.contains("mrope_section")) {
    fail_field("rope_scaling", "needs a \"rope_type\" (or \"type\"), e.g. \"linear\"; got " +
                                   json_value_text(params));
  } else {
    rope_type = "default";
  }
  params.erase("type");
  if (rope_type == "su") rope_type = "longrope";   // Phi-3's first spelling
  if (rope_type == "mrope") rope_type = "default";  // Qwen2-VL: default rope, split by mrope_section
  const RopeType* known = nullptr;
  for (const RopeType& type : rope_types())
    if (rope_type == type.name) known = &type;
  if (!known)
    fail(ErrorKind::Unsupported, source_, ": ", prefix_, where, ".", type_key ? type_key : "rope_type",
         " \"", rope_type, "\" is not supported (known: ", known_rope_types(), ")");
  params["rope_type"] = rope_type;

  // rope_theta: inside the 5.x parameters, else the 4.x top-level field (GPT-NeoX: rotary_emb_base).
  if (!params.contains("rope_theta") || params["rope_theta"].is_null()) {
    std::optional<double> theta = find_float("rope_theta");
    if (!theta) theta = find_float("rotary_emb_base");
    params["rope_theta"] = theta.value_or(10000.0);
  }
  if (!params["rope_theta"].is_number() || params["rope_theta"].get<double>() <= 0)
    fail_field(where + ".rope_theta", "must be a positive number, got " + json_value_text(params["rope_theta"]));

  // Top-level fields that 5.x moved inside the rope parameters.
  if (!params.contains("partial_rotary_factor")) {
    std::optional<double> fraction = find_float("partial_rotary_factor");
    if (!fraction) fraction = find_float("rotary_pct");  // GPT-NeoX
    if (fraction) params["partial_rotary_factor"] = *fraction;
  }
  if (rope_type != "default" && !params.contains("original_max_position_embeddings")) {
    if (auto original = find_int("original_max_position_embeddings"))  // Phi-3 longrope
      params["original_max_position_embeddings"] = *original;
  }

  for (const char* key : known->required_numbers) {
    auto it = params.find(key);
    if (it == params.end() || it->is_null())
      fail_field(where + "." + key, "is missing (rope_type \"" + rope_type + "\" needs it)");
    if (!it->is_number())
      fail_field(where + "." + key, "must be a number, got " + json_value_text(*it));
  }
  for (const char* key : known->required_lists) {
    auto it = params.find(key);
    if (it == params.end() || it->is_null())
      fail_field(where + "." + key, "is missing (rope_type \"" + rope_type + "\" needs it)");
    if (!it->is_array() || !std::all_of(it->begin(), it->end(), [](const json& v) { return v.is_number(); }))
      fail_field(where + "." + key, "must be a list of numbers, got " + json_value_text(*it));
  }
  return params;
}

}  // namespace vllm
