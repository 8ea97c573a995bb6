// Pooler: a pooling model's last stage (vLLM's Pooler). It turns the hidden states of each
// sequence's prompt into one vector (last token, first/CLS token or the mean over tokens), or
// keeps one per token (ALL), or the tokens at process-reward step tags (STEP), then optionally
// L2-normalises it or applies the classifier's activation (softmax / sigmoid).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.h"

namespace vllm {

enum class PoolingType { Last, First, Mean, All, Step };

// vLLM's names: LAST, CLS (or FIRST), MEAN, ALL, STEP (case-insensitive); InvalidArgument naming
// the known ones.
PoolingType parse_pooling_type(const std::string& name);
const char* pooling_type_name(PoolingType type);

// A model's resolved pooler: its defaults merged with --pooler-config.
struct PoolerSpec {
  PoolingType type = PoolingType::Last;
  bool normalize = false;  // L2 norm of each pooled vector (embeddings)
  bool softmax = false;    // softmax of each pooled vector (classification probabilities)
  bool sigmoid = false;    // sigmoid of each value (one-label classifiers, cross-encoders)
  std::optional<int32_t> step_tag_id;       // STEP: rows whose token is this one (unset: every row)
  std::vector<int32_t> returned_token_ids;  // STEP: these columns only (empty: all)
};

// --pooler-config (vLLM's PoolerConfig): every field optional; a set field overrides the model's
// default. `dimensions` is the default Matryoshka width of embeddings.
struct PoolerConfig {
  std::optional<PoolingType> pooling_type;
  std::optional<bool> normalize;
  std::optional<bool> activation;  // vLLM's `activation` (older `softmax`): the classifier's activation on/off
  std::optional<int64_t> dimensions;
  std::optional<int32_t> step_tag_id;
  std::optional<std::vector<int32_t>> returned_token_ids;

  bool empty() const {
    return !pooling_type && !normalize && !activation && !dimensions && !step_tag_id && !returned_token_ids;
  }
  // The JSON of --pooler-config / --override-pooler-config. InvalidArgument naming an unknown key
  // or a wrong type; enable_chunked_processing (and the other keys vLLM knows but this engine has
  // no use for) are accepted with a warning.
  static PoolerConfig from_json(const nlohmann::json& json);
  static PoolerConfig parse(const std::string& text);
  // `base` with this config's set fields on top (activation sets whichever of softmax/sigmoid
  // the base uses, softmax when neither).
  PoolerSpec apply(PoolerSpec base) const;
};

// hidden [T, H] f32 (any device) of whole prompts; query_start [B + 1] (host) delimits them;
// token_ids (host int32 [T], STEP only). Returns one host f32 tensor per sequence, before any
// normalisation or activation: [H] (Last, First, Mean), [L, H] (All) or [S, H] (Step: the rows
// at step tags; returned_token_ids are columns the head's output keeps, see select_columns).
std::vector<Tensor> pool_rows(const PoolerSpec& spec, const Tensor& hidden, const std::vector<int64_t>& query_start,
                              const int32_t* token_ids = nullptr);

// Row-wise post-processing of a host f32 tensor ([D] or [N, D]), in place.
void normalize_rows(Tensor& rows);  // torch.nn.functional.normalize: x / max(||x||, 1e-12)
void softmax_rows(Tensor& rows);
void sigmoid_values(Tensor& rows);
// The columns `columns` of rows [N, D] (STEP's returned_token_ids); InvalidArgument for one >= D.
Tensor select_columns(const Tensor& rows, const std::vector<int32_t>& columns);
// The first `dimensions` values of each row (Matryoshka truncation).
Tensor truncate_rows(const Tensor& rows, int64_t dimensions);

// A sentence-transformers Dense module after pooling (modules.json's models.Dense):
// rows [N, in] -> activation(rows W^T + b) [N, out], host f32.
struct DenseProjection {
  enum class Activation { Identity, Tanh, Sigmoid, Relu };
  Tensor weight;  // host f32 [out, in]
  Tensor bias;    // host f32 [out], or undefined
  Activation activation = Activation::Identity;

  // The class name's last component ("torch.nn.modules.activation.Tanh" -> Tanh); Unsupported
  // naming the known ones.
  static Activation parse_activation(const std::string& qualified_name);
  Tensor forward(const Tensor& rows) const;
};

class Pooler {
 public:
  explicit Pooler(PoolerSpec spec) : spec_(std::move(spec)) {}
  const PoolerSpec& spec() const { return spec_; }

  // hidden [T, H] f32 (any device) of whole prompts; query_start [B + 1] (host) delimits them.
  // Returns, on the host, [B, H] f32 (Last, First, Mean) or [T, H] (All), normalised or
  // activated as the spec says. (STEP needs token ids: pool_rows.)
  Tensor pool(const Tensor& hidden, const std::vector<int64_t>& query_start) const;

 private:
  PoolerSpec spec_;
};

}  // namespace vllm
