#include "layers/mamba2_mixer.h"

#include "core/error.h"
#include "layers/mamba_mixer.h"
#include "ops/ssm.h"

namespace vllm {

Mamba2Mixer Mamba2Mixer::load(WeightLoader& loader, const std::string& prefix, const Mamba2MixerSpec& spec,
                              Device device) {
  const int64_t h = spec.hidden_size, i = spec.intermediate_size, heads = spec.num_heads;
  VLLM_CHECK(h > 0 && heads > 0 && spec.head_dim > 0 && spec.state_size > 0 && spec.conv_kernel > 0 &&
                 spec.n_groups > 0,
             InvalidArgument, prefix, ": the Mamba-2 mixer needs positive sizes");
  VLLM_CHECK(i == heads * spec.head_dim, InvalidArgument, prefix, ": intermediate size ", i, " is not num_heads ",
             heads, " x head_dim ", spec.head_dim);
  VLLM_CHECK(heads % spec.n_groups == 0, InvalidArgument, prefix, ": num_heads ", heads,
             " is not a multiple of n_groups ", spec.n_groups);
  VLLM_CHECK(spec.norm_group_size > 0 && i % spec.norm_group_size == 0, InvalidArgument, prefix,
             ": the gated norm's group size ", spec.norm_group_size, " does not divide ", i);
  Mamba2Mixer mixer;
  mixer.spec_ = spec;
  const int64_t conv_dim = spec.conv_dim();
  mixer.in_proj_ = Linear::load(loader, prefix + ".in_proj", h, i + conv_dim + heads, spec.use_bias, device);
  mixer.conv_weight_ = load_conv1d_weight(loader, prefix + ".conv1d", conv_dim, spec.conv_kernel, device);
  if (spec.use_conv_bias)
    mixer.conv_bias_ = loader.take(prefix + ".conv1d.bias", {conv_dim}, ParamStorage::Float32, device);
  mixer.dt_bias_ = loader.take(prefix + ".dt_bias", {heads}, ParamStorage::Float32, device);
  mixer.A_ = negative_exp_of(loader, prefix + ".A_log", {heads}, device);
  mixer.D_ = loader.take(prefix + ".D", {heads}, ParamStorage::Float32, device);
  mixer.norm_weight_ = loader.take(prefix + ".norm.weight", {i}, ParamStorage::Float32, device);
  mixer.out_proj_ = Linear::load(loader, prefix + ".out_proj", i, h, spec.use_bias, device);
  return mixer;
}

Tensor Mamba2Mixer::forward(const Tensor& hidden, const BatchMetadata& batch, StateCache& cache) const {
  const int64_t tokens = hidden.size(0), i = spec_.intermediate_size, conv_dim = spec_.conv_dim();
  const int64_t group_state = spec_.n_groups * spec_.state_size;
  const ops::StateSequences sequences{batch.query_start, batch.positions, cache.state_slots};
  Tensor projected = in_proj_.forward(hidden);  // [T, I + conv_dim + heads]: z | xBC | dt
  Tensor xbc = Tensor::empty({tokens, conv_dim}, DType::F32, hidden.device());
  ops::causal_conv1d(projected.slice(1, i, i + conv_dim), conv_weight_, conv_bias_, cache.conv_state, sequences, true,
                     xbc);
  Tensor y = Tensor::empty({tokens, i}, DType::F32, hidden.device());
  ops::ssd_scan(xbc.slice(1, 0, i), projected.slice(1, i + conv_dim, i + conv_dim + spec_.num_heads), A_,
                xbc.slice(1, i, i + group_state), xbc.slice(1, i + group_state, i + 2 * group_state), D_, dt_bias_,
                spec_.dt_min, spec_.dt_max, spec_.n_groups, cache.ssm_state, sequences, y);
  ops::gated_rms_norm(y, projected.slice(1, 0, i), norm_weight_, spec_.norm_group_size, spec_.norm_eps, y);
  return out_proj_.forward(y);
}

}  // namespace vllm
