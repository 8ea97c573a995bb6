// ModelConfig: a model folder's config.json with typed getters whose errors name the file and the
// field, and normalised views of the fields whose spelling changed between transformers 4.x
// (`rope_theta` + `rope_scaling`, `torch_dtype`) and 5.x (`rope_parameters`, `dtype`,
// `layer_types`). `--hf-overrides` is merged over the file first, as vLLM does.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"

namespace vllm {

class ModelConfig {
 public:
  // Reads dir/config.json (or `dir` itself when it is a file). NotFound when missing.
  static ModelConfig from_directory(const std::filesystem::path& dir,
                                    const nlohmann::json& hf_overrides = nlohmann::json::object());
  // `source` names the config in every error message.
  static ModelConfig from_json(nlohmann::json config, std::string source = "config.json",
                               const nlohmann::json& hf_overrides = nlohmann::json::object());

  const nlohmann::json& raw() const { return json_; }  // after overrides
  const std::string& source() const { return source_; }

  std::string architecture() const;  // architectures[0]
  std::string model_type() const;    // "" when absent
  // The "text_config" sub-config of multimodal wrappers (Llava, Gemma3, Qwen2-VL in 5.x...),
  // else *this. Its errors name fields as 'text_config.<key>'; it inherits the wrapper's dtype
  // when it has none of its own.
  ModelConfig text_config() const;
  bool is_text_config() const { return !prefix_.empty(); }

  // Typed getters. A key may be a dotted path into nested objects ("quantization_config.bits").
  // Ints are accepted where floats are expected; floats with an integral value where ints are.
  int64_t get_int(std::string_view key) const;  // missing or null -> error
  int64_t get_int(std::string_view key, int64_t fallback) const;
  double get_float(std::string_view key) const;
  double get_float(std::string_view key, double fallback) const;
  bool get_bool(std::string_view key, bool fallback) const;
  std::string get_string(std::string_view key, std::string fallback) const;
  std::optional<int64_t> find_int(std::string_view key) const;  // absent or null -> nullopt
  std::optional<double> find_float(std::string_view key) const;
  std::optional<std::string> find_string(std::string_view key) const;
  bool has(std::string_view key) const;  // present and not null

  // Normalised fields. The first four also read the older names transformers maps to them
  // (`attribute_map`): n_embd/d_model, n_layer/num_layers/n_layers, n_head/num_heads/n_heads.
  int64_t hidden_size() const;
  int64_t num_hidden_layers() const;
  int64_t num_attention_heads() const;
  int64_t vocab_size() const;
  int64_t num_key_value_heads() const;  // defaults to num_attention_heads
  int64_t head_dim() const;             // "head_dim", else hidden_size / num_attention_heads
  std::optional<DType> dtype() const;   // "dtype" (5.x) or "torch_dtype" (4.x)
  std::optional<int64_t> max_position_embeddings() const;  // also n_positions, max_seq_len
  // null/absent -> nullopt; also nullopt when "use_sliding_window" is false (Qwen2 configs carry
  // a sliding_window they do not use; vLLM's get_sliding_window does the same).
  std::optional<int64_t> sliding_window() const;
  std::vector<std::string> layer_types() const;  // 5.x "layer_types", else empty

  // Rotary parameters in the 5.x form: {"rope_type": ..., "rope_theta": ..., <the type's fields>}.
  // Read from 5.x "rope_parameters" (flat, or keyed by layer type) or from 4.x "rope_theta" +
  // "rope_scaling" (type spelled "type" or "rope_type"; "su" -> "longrope", "mrope" -> "default";
  // rope_theta defaults to 10000). For layer_type "sliding_attention" a 4.x config with
  // "rope_local_base_freq" (Gemma3) gives {"rope_type": "default", "rope_theta": that}.
  // Top-level "partial_rotary_factor" and (longrope) "original_max_position_embeddings" are
  // copied in when the parameters lack them. Unknown rope_type -> Unsupported.
  nlohmann::json rope_parameters(const std::string& layer_type = "full_attention") const;

 private:
  ModelConfig() = default;
  const nlohmann::json* lookup(std::string_view key) const;  // nullptr when absent
  std::string field(std::string_view key) const;             // "'text_config.key'"
  [[noreturn]] void fail_field(std::string_view key, const std::string& problem) const;
  int64_t first_int(std::initializer_list<std::string_view> keys) const;

  nlohmann::json json_;
  std::string source_;
  std::string prefix_;  // "text_config." for a sub-config
};

// Recursive object merge, as vLLM applies --hf-overrides: objects merge key by key, anything
// else (numbers, lists, null) replaces.
nlohmann::json merge_json(nlohmann::json base, const nlohmann::json& overrides);
// The --hf-overrides flag's text; "" means none. InvalidArgument when not a JSON object.
nlohmann::json parse_hf_overrides(const std::string& text);

// dir/generation_config.json, or {} when absent. InvalidArgument when malformed or not an object.
nlohmann::json read_generation_config(const std::filesystem::path& dir);

}  // namespace vllm
