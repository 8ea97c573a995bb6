// Rotary frequencies for every HF rope type, replicating transformers' ROPE_INIT_FUNCTIONS
// (modeling_rope_utils.py) including torch's float32 rounding: tensor arithmetic happens in float
// with Python scalars rounded to float, scalar formulas (correction ranges, mscale, NTK base) in
// double as Python does.
#include "layers/rotary_embedding.h"

#include <cmath>
#include <numbers>

#include "core/error.h"
#include "ops/attention.h"
#include "ops/rotary.h"

namespace vllm {
namespace {

const char* kKnownTypes = "default, linear, dynamic, yarn, longrope, llama3";

bool has(const nlohmann::json& p, const char* key) {
  return p.is_object() && p.contains(key) && !p[key].is_null();
}

double number(const nlohmann::json& p, const char* key, double fallback) {
  if (!has(p, key)) return fallback;
  VLLM_CHECK(p[key].is_number(), InvalidArgument, "rope parameters: \"", key,
             "\" must be a number, got ", p[key].dump());
  return p[key].get<double>();
}

double required(const nlohmann::json& p, const std::string& type, const char* key) {
  VLLM_CHECK(has(p, key), InvalidArgument, "rope parameters: rope_type \"", type, "\" needs \"",
             key, "\"");
  return number(p, key, 0.0);
}

// _compute_default_rope_parameters:
//   1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim)), all float32.
std::vector<float> default_inv_freq(double base, int64_t dim) {
  std::vector<float> inv(static_cast<size_t>(dim / 2));
  const float base_f = static_cast<float>(base);
  for (int64_t i = 0; i < dim / 2; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(dim);
    inv[i] = 1.0f / std::pow(base_f, exponent);
  }
  return inv;
}

// _compute_dynamic_ntk_parameters: the NTK base for seq_len (Python double), then the default
// float32 frequencies with it.
std::vector<float> dynamic_inv_freq(double base, int64_t dim, double factor, int64_t seq_len,
                                    int64_t max_position_embeddings) {
  const double len = static_cast<double>(std::max(seq_len, max_position_embeddings));
  const double scaled = base * std::pow(factor * len / static_cast<double>(max_position_embeddings) -
                                            (factor - 1.0),
                                        static_cast<double>(dim) / static_cast<double>(dim - 2));
  return default_inv_freq(scaled, dim);
}

// get_mscale of _compute_yarn_parameters.
double yarn_mscale(double scale, double mscale = 1.0) {
  return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

std::vector<float> factors(const nlohmann::json& p, const char* key, int64_t dim) {
  VLLM_CHECK(has(p, key) && p[key].is_array(), InvalidArgument,
             "rope parameters: rope_type \"longrope\" needs the list \"", key, "\"");
  std::vector<float> values = p[key].get<std::vector<float>>();
  VLLM_CHECK(static_cast<int64_t>(values.size()) == dim / 2, InvalidArgument,
             "rope parameters: \"", key, "\" has ", values.size(),
             " entries, expected rotary_dim / 2 = ", dim / 2);
  return values;
}

// _compute_longrope_parameters: 1.0 / (ext_factors * base ** (arange(0, dim, 2).float() / dim)).
std::vector<float> longrope_inv_freq(double base, int64_t dim, const std::vector<float>& ext) {
  std::vector<float> inv = default_inv_freq(base, dim);
  const float base_f = static_cast<float>(base);
  for (int64_t i = 0; i < dim / 2; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(dim);
    inv[i] = 1.0f / (ext[i] * std::pow(base_f, exponent));
  }
  return inv;
}

}  // namespace

RotaryEmbedding::RotaryEmbedding(const nlohmann::json& params, int64_t rotary_dim,
                                 int64_t max_position_embeddings, bool is_neox)
    : rotary_dim_(rotary_dim),
      max_position_embeddings_(max_position_embeddings),
      original_max_position_embeddings_(max_position_embeddings),
      is_neox_(is_neox) {
  VLLM_CHECK(rotary_dim > 0 && rotary_dim % 2 == 0, InvalidArgument, "RotaryEmbedding: rotary_dim ",
             rotary_dim, " must be positive and even");
  VLLM_CHECK(params.is_null() || params.is_object(), InvalidArgument,
             "rope parameters must be an object, got ", params.dump());
  rope_type_ = "default";
  if (has(params, "rope_type"))
    rope_type_ = params["rope_type"].get<std::string>();
  else if (has(params, "type"))  // transformers 4.x spelling
    rope_type_ = params["type"].get<std::string>();
  rope_theta_ = number(params, "rope_theta", 10000.0);
  original_max_position_embeddings_ = static_cast<int64_t>(
      number(params, "original_max_position_embeddings", static_cast<double>(max_position_embeddings)));
  const int64_t dim = rotary_dim;

  if (rope_type_ == "default") {
    inv_freq_ = default_inv_freq(rope_theta_, dim);
  } else if (rope_type_ == "linear") {
    // _compute_linear_scaling_rope_parameters: inv_freq /= factor (float32).
    factor_ = required(params, rope_type_, "factor");
    inv_freq_ = default_inv_freq(rope_theta_, dim);
    for (float& f : inv_freq_) f /= static_cast<float>(factor_);
  } else if (rope_type_ == "dynamic") {
    factor_ = required(params, rope_type_, "factor");
    inv_freq_ = dynamic_inv_freq(rope_theta_, dim, factor_, max_position_embeddings_,
                                 max_position_embeddings_);
  } else if (rope_type_ == "yarn") {
    // _compute_yarn_parameters (transformers 5.x): factor defaults to max / original max.
    factor_ = has(params, "factor") ? number(params, "factor", 1.0)
                                    : static_cast<double>(max_position_embeddings_) /
                                          static_cast<double>(original_max_position_embeddings_);
    const double mscale = number(params, "mscale", 0.0);
    const double mscale_all_dim = number(params, "mscale_all_dim", 0.0);
    if (has(params, "attention_factor"))
      attention_scaling_ = static_cast<float>(number(params, "attention_factor", 1.0));
    else if (mscale != 0.0 && mscale_all_dim != 0.0)
      attention_scaling_ =
          static_cast<float>(yarn_mscale(factor_, mscale) / yarn_mscale(factor_, mscale_all_dim));
    else
      attention_scaling_ = static_cast<float>(yarn_mscale(factor_));
    double beta_fast = number(params, "beta_fast", 0.0), beta_slow = number(params, "beta_slow", 0.0);
    if (beta_fast == 0.0) beta_fast = 32.0;  // Python's `or 32`
    if (beta_slow == 0.0) beta_slow = 1.0;
    const bool truncate = !has(params, "truncate") || params["truncate"].get<bool>();
    // find_correction_dim / find_correction_range, in double.
    auto correction_dim = [&](double rotations) {
      return (static_cast<double>(dim) *
              std::log(static_cast<double>(original_max_position_embeddings_) /
                       (rotations * 2.0 * std::numbers::pi))) /
             (2.0 * std::log(rope_theta_));
    };
    double low = correction_dim(beta_fast), high = correction_dim(beta_slow);
    if (truncate) {
      low = std::floor(low);
      high = std::ceil(high);
    }
    low = std::max(low, 0.0);
    high = std::min(high, static_cast<double>(dim - 1));
    if (low == high) high += 0.001;  // linear_ramp_factor's singularity guard
    const float base_f = static_cast<float>(rope_theta_);
    const float factor_f = static_cast<float>(factor_);
    inv_freq_.resize(static_cast<size_t>(dim / 2));
    for (int64_t i = 0; i < dim / 2; ++i) {
      const float pos_freq = std::pow(base_f, static_cast<float>(2 * i) / static_cast<float>(dim));
      const float extrapolation = 1.0f / pos_freq;
      const float interpolation = 1.0f / (factor_f * pos_freq);
      float ramp = (static_cast<float>(i) - static_cast<float>(low)) / static_cast<float>(high - low);
      ramp = std::min(1.0f, std::max(0.0f, ramp));
      const float extrapolation_factor = 1.0f - ramp;
      inv_freq_[i] = interpolation * (1.0f - extrapolation_factor) +
                     extrapolation * extrapolation_factor;
    }
  } else if (rope_type_ == "longrope") {
    // _compute_longrope_parameters: short factors up to the original maximum, long past it.
    factor_ = has(params, "factor") ? number(params, "factor", 1.0)
                                    : static_cast<double>(max_position_embeddings_) /
                                          static_cast<double>(original_max_position_embeddings_);
    if (has(params, "attention_factor"))
      attention_scaling_ = static_cast<float>(number(params, "attention_factor", 1.0));
    else if (factor_ <= 1.0)
      attention_scaling_ = 1.0f;
    else
      attention_scaling_ = static_cast<float>(std::sqrt(
          1.0 + std::log(factor_) / std::log(static_cast<double>(original_max_position_embeddings_))));
    inv_freq_ = longrope_inv_freq(rope_theta_, dim, factors(params, "short_factor", dim));
    long_inv_freq_ = longrope_inv_freq(rope_theta_, dim, factors(params, "long_factor", dim));
  } else if (rope_type_ == "llama3") {
    // _compute_llama3_parameters, float32 tensor arithmetic.
    factor_ = required(params, rope_type_, "factor");
    const double low_freq_factor = required(params, rope_type_, "low_freq_factor");
    const double high_freq_factor = required(params, rope_type_, "high_freq_factor");
    const double old_context_len = required(params, rope_type_, "original_max_position_embeddings");
    const float low_freq_wavelen = static_cast<float>(old_context_len / low_freq_factor);
    const float high_freq_wavelen = static_cast<float>(old_context_len / high_freq_factor);
    const float factor_f = static_cast<float>(factor_);
    inv_freq_ = default_inv_freq(rope_theta_, dim);
    for (float& inv : inv_freq_) {
      const float wavelen = static_cast<float>(2.0 * std::numbers::pi) / inv;
      const float scaled = wavelen > low_freq_wavelen ? inv / factor_f : inv;
      const float smooth = (static_cast<float>(old_context_len) / wavelen -
                            static_cast<float>(low_freq_factor)) /
                           static_cast<float>(high_freq_factor - low_freq_factor);
      const float smoothed = (1.0f - smooth) * scaled / factor_f + smooth * scaled;
      const bool medium = !(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen);
      inv = medium ? smoothed : scaled;
    }
  } else {
    fail(ErrorKind::Unsupported, "rope parameters: rope_type \"", rope_type_,
         "\" is not supported (known: ", kKnownTypes, ")");
  }
}

std::vector<float> RotaryEmbedding::inv_freq_for_seq_len(int64_t seq_len) const {
  // HF's dynamic_rope_update: "dynamic" recomputes for seq_len past the maximum (and returns to
  // the original frequencies below it); "longrope" switches to long_factor past the original
  // maximum. Here the choice is per sequence, by its own length, rather than by the longest
  // sequence HF has seen in the batch so far.
  if (rope_type_ == "dynamic" && seq_len > max_position_embeddings_)
    return dynamic_inv_freq(rope_theta_, rotary_dim_, factor_, seq_len, max_position_embeddings_);
  if (rope_type_ == "longrope" && seq_len > original_max_position_embeddings_) return long_inv_freq_;
  return inv_freq_;
}

void RotaryEmbedding::prepare_table(Device device, int64_t max_positions) {
  if (rope_type_ == "dynamic" || rope_type_ == "longrope") return;
  const int64_t half = rotary_dim_ / 2;
  Tensor table = Tensor::empty({max_positions, rotary_dim_}, DType::F32);
  float* cs = table.data<float>();
  for (int64_t p = 0; p < max_positions; ++p) {
    const float position = static_cast<float>(p);
    for (int64_t i = 0; i < half; ++i) {
      const float angle = position * inv_freq_[static_cast<size_t>(i)];
      cs[p * rotary_dim_ + i] = std::cos(angle) * attention_scaling_;
      cs[p * rotary_dim_ + half + i] = std::sin(angle) * attention_scaling_;
    }
  }
  table_ = table.to(device);
}

void RotaryEmbedding::forward_and_cache(const Tensor& positions, const Tensor& seq_len_for_token, Tensor& query,
                                        Tensor& key, const Tensor& value, Tensor& key_cache, Tensor& value_cache,
                                        const Tensor& slot_mapping) const {
  if (table_.defined() && table_.device() == positions.device()) {
    ops::rotary_embedding_and_cache(positions, query, key, value, table_, rotary_dim_, is_neox_, key_cache,
                                    value_cache, slot_mapping);
    return;
  }
  forward(positions, seq_len_for_token, query, key);
  ops::reshape_and_cache(key, value, key_cache, value_cache, slot_mapping);
}

void RotaryEmbedding::forward(const Tensor& positions, const Tensor& seq_len_for_token,
                              Tensor& query, Tensor& key) const {
  VLLM_CHECK(positions.defined() && positions.dim() == 1 && positions.dtype() == DType::I32,
             InvalidArgument, "RotaryEmbedding: positions must be int32 [T]");
  if (table_.defined() && table_.device() == positions.device()) {
    ops::rotary_embedding(positions, query, key, table_, rotary_dim_, is_neox_);
    return;
  }
  const int64_t tokens = positions.size(0), half = rotary_dim_ / 2;
  const Tensor host_positions = positions.to(Device::cpu()).contiguous();
  const int32_t* pos = host_positions.data<int32_t>();
  Tensor host_lens;
  const int32_t* lens = nullptr;
  if (seq_len_for_token.defined()) {
    VLLM_CHECK(seq_len_for_token.dim() == 1 && seq_len_for_token.size(0) == tokens &&
                   seq_len_for_token.dtype() == DType::I32,
               InvalidArgument, "RotaryEmbedding: seq_len_for_token must be int32 [", tokens, "]");
    host_lens = seq_len_for_token.to(Device::cpu()).contiguous();
    lens = host_lens.data<int32_t>();
  }
  const bool length_dependent = rope_type_ == "dynamic" || rope_type_ == "longrope";

  // cos/sin for these tokens only, [T, rotary_dim]: HF's RotaryEmbedding.forward computes
  // freqs = inv_freq * position in float32, then cos/sin * attention_scaling.
  Tensor cos_sin = Tensor::empty({tokens, rotary_dim_}, DType::F32);
  std::vector<int32_t> rows(static_cast<size_t>(tokens));
  float* cs = cos_sin.data<float>();
  std::vector<float> freqs = inv_freq_;
  int64_t freqs_len = -1;
  for (int64_t t = 0; t < tokens; ++t) {
    VLLM_CHECK(pos[t] >= 0, InvalidArgument, "RotaryEmbedding: negative position ", pos[t],
               " at token ", t);
    if (length_dependent) {
      const int64_t len = lens ? lens[t] : pos[t] + 1;  // HF: max(position_ids) + 1
      if (len != freqs_len) {
        freqs = inv_freq_for_seq_len(len);
        freqs_len = len;
      }
    }
    const float p = static_cast<float>(pos[t]);
    for (int64_t i = 0; i < half; ++i) {
      const float angle = p * freqs[i];
      cs[t * rotary_dim_ + i] = std::cos(angle) * attention_scaling_;
      cs[t * rotary_dim_ + half + i] = std::sin(angle) * attention_scaling_;
    }
    rows[t] = static_cast<int32_t>(t);
  }
  const Device device = query.device();
  Tensor row_ids = Tensor::from_ints(rows, {tokens}).to(device);
  ops::rotary_embedding(row_ids, query, key, cos_sin.to(device), rotary_dim_, is_neox_);
}

}  // namespace vllm
