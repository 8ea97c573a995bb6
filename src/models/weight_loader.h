// Fills a model's parameters from a checkpoint by name. Renames, fused projections and ignored
// tensors are data (a WeightMap per family); a checkpoint tensor that nothing consumes, or a
// parameter that nothing fills, is an error naming it.
#pragma once

#include <optional>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "loader/safetensors.h"

namespace vllm {

struct WeightMap {
  // Applied to checkpoint names before matching, first match wins: every occurrence of `from`
  // becomes `to` ("transformer.h." -> "model.layers.").
  std::vector<std::pair<std::string, std::string>> renames;
  // A parameter module concatenating checkpoint modules along dim 0 when the checkpoint does
  // not hold it fused: {"qkv_proj", {"q_proj", "k_proj", "v_proj"}} (vLLM's
  // packed_modules_mapping). Matched on a whole dotted component of the parameter name.
  std::vector<std::pair<std::string, std::vector<std::string>>> packed;
  // Checkpoint tensors known to be unused, by name suffix ("rotary_emb.inv_freq").
  std::vector<std::string> ignored_suffixes;
};

enum class ParamStorage {
  Keep,     // the checkpoint's floating dtype (matmul and embedding weights, widened in kernels)
  Float32,  // converted to f32 (norm weights, biases)
};

class WeightLoader {
 public:
  // Real weights from `checkpoint`.
  WeightLoader(const Checkpoint& checkpoint, WeightMap map, std::string architecture);
  // --load-format dummy: every parameter random (uniform in [-1e-3, 1e-3], vLLM's dummy init)
  // in `dtype`, nothing read.
  WeightLoader(uint64_t seed, DType dtype, std::string architecture);

  bool has(const std::string& name) const;
  // The parameter `name`, which must have `shape`.
  Tensor take(const std::string& name, const Shape& shape, ParamStorage storage);
  // Tensor() when the checkpoint lacks it (optional parameters such as biases).
  Tensor take_optional(const std::string& name, const Shape& shape, ParamStorage storage);
  // A checkpoint tensor read and deliberately not used (lm_head.weight with tied embeddings).
  void skip(const std::string& name);
  // InvalidArgument naming every checkpoint tensor nothing consumed.
  void finish() const;

 private:
  Tensor load(const std::string& checkpoint_name, ParamStorage storage) const;
  std::optional<std::vector<std::string>> packed_sources(const std::string& name) const;
  Tensor dummy(const Shape& shape, ParamStorage storage);

  const Checkpoint* checkpoint_ = nullptr;
  WeightMap map_;
  std::string architecture_;
  std::unordered_map<std::string, std::string> by_name_;  // renamed name -> checkpoint name
  std::set<std::string> consumed_;
  std::mt19937_64 random_;
  DType dummy_dtype_ = DType::BF16;
};

}  // namespace vllm
