// Fills a model's parameters from a checkpoint by name. Renames, fused projections and ignored
// tensors are data (a WeightMap per family); a checkpoint tensor that nothing consumes, or a
// parameter that nothing fills, is an error naming it.
#pragma once

#include <functional>
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
  // Applied to checkpoint names before matching, each rule in order to the previous result:
  // every occurrence of `from` becomes `to` ("attn.c_proj" -> "self_attn.o_proj"); a `from`
  // starting with '^' matches only at the start of the name ("^h." -> "model.layers.").
  std::vector<std::pair<std::string, std::string>> renames;
  // A parameter module concatenating checkpoint modules along dim 0 when the checkpoint does
  // not hold it fused: {"qkv_proj", {"q_proj", "k_proj", "v_proj"}} (vLLM's
  // packed_modules_mapping). Matched on a whole dotted component of the parameter name (the last
  // one included: {"gate_up_proj", {"w1", "v1"}} fills experts.gate_up_proj from experts.w1, v1).
  std::vector<std::pair<std::string, std::vector<std::string>>> packed;
  // A parameter stacking the tensors of each expert of a mixture-of-experts layer along a new
  // leading dimension: {"experts.gate_up_proj", {"experts.$.gate_proj.weight",
  // "experts.$.up_proj.weight"}} fills `<prefix>experts.gate_up_proj` [E, rows, cols] from
  // `<prefix>experts.0.gate_proj.weight`, `<prefix>experts.0.up_proj.weight`, then expert 1, ...
  // ('$' is the expert index, E the parameter's first dimension; one expert's parts are
  // concatenated along dim 0). Matched on the parameter name's suffix, after `packed`; a
  // checkpoint without expert 0's first part is not in this layout (a fused tensor may be).
  std::vector<std::pair<std::string, std::vector<std::string>>> stacked;
  // Checkpoint tensors known to be unused, by name suffix ("rotary_emb.inv_freq").
  std::vector<std::string> ignored_suffixes;
  // Checkpoint tensors known to be unused, by name prefix ("model.mtp_layers.").
  std::vector<std::string> ignored_prefixes;
  // Load-time fixes of a checkpoint's layout, by (renamed) parameter-name suffix, applied before
  // the shape check: Conv1D weights transposed, per-head interleaved fused qkv reordered.
  std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> transforms;
};

// Rows of `tensor` (dim 0) reordered from a fused qkv grouped as [kv_heads, q_per_kv + 2,
// head_dim] (GPT-NeoX, Bloom, Persimmon: q_per_kv = 1; Falcon's new decoder) into q | k | v.
Tensor deinterleave_qkv(const Tensor& tensor, int64_t kv_heads, int64_t q_per_kv, int64_t head_dim);
// A 2-D tensor transposed (GPT-2's Conv1D weights are stored [in, out]).
Tensor transpose_2d(const Tensor& tensor);

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
  // The parameter `name`, which must have `shape`, on `device`. On a GPU the weight goes from the
  // mmapped checkpoint straight into its device tensor: fused parts into their rows, a --dtype
  // or f32 conversion on the device after the upload, so no host copy of it is ever made (except
  // where a `transforms` fix rewrites it on the host first). On the CPU a tensor kept as stored
  // is a view of the mapping.
  Tensor take(const std::string& name, const Shape& shape, ParamStorage storage, Device device = Device::cpu());
  // Tensor() when the checkpoint lacks it (optional parameters such as biases).
  Tensor take_optional(const std::string& name, const Shape& shape, ParamStorage storage,
                       Device device = Device::cpu());
  // A checkpoint tensor read and deliberately not used (lm_head.weight with tied embeddings).
  void skip(const std::string& name);
  // InvalidArgument naming every checkpoint tensor nothing consumed.
  void finish() const;
  // ParamStorage::Keep parameters (and dummy weights) converted to `dtype` (unset: as stored).
  void set_weight_dtype(std::optional<DType> dtype);

 private:
  // The dtype a parameter stored as `stored` gets.
  DType parameter_dtype(DType stored, ParamStorage storage) const;
  std::optional<std::vector<std::string>> packed_sources(const std::string& name) const;
  // The per-expert sources of a stacked parameter of `shape` [E, rows, cols] (WeightMap::stacked);
  // InvalidArgument naming the first missing expert tensor once expert 0's is present.
  std::optional<std::vector<std::string>> stacked_sources(const std::string& name, const Shape& shape) const;
  Tensor dummy(const Shape& shape, ParamStorage storage);

  const Checkpoint* checkpoint_ = nullptr;
  WeightMap map_;
  std::string architecture_;
  std::unordered_map<std::string, std::string> by_name_;  // renamed name -> checkpoint name
  std::set<std::string> consumed_;
  std::mt19937_64 random_;
  DType dummy_dtype_ = DType::BF16;
  std::optional<DType> weight_dtype_;
};

}  // namespace vllm
