#include "layers/mamba_mixer.h"

#include <cmath>

#include "core/error.h"
#include "ops/ops.h"
#include "ops/ssm.h"

namespace vllm {

namespace {

// -exp(A_log), elementwise, on the host (a load-time fix: the scan reads A).
Tensor negative_exp(const Tensor& a_log, Device device) {
  std::vector<float> values = a_log.to(Device::cpu()).to_float_vector();
  for (float& v : values) v = -std::exp(v);
  return Tensor::from_floats(values, a_log.shape()).to(device);
}

// In place over each row: x / rms(x), no weight (FalconMamba's rms_forward).
void unit_rms_norm(Tensor& x, float eps) {
  Tensor ones = Tensor::from_floats(std::vector<float>(static_cast<size_t>(x.size(1)), 1.0f), {x.size(1)}).to(x.device());
  ops::rms_norm(x, ones, eps, 0.0f, x);
}

}  // namespace

Tensor load_conv1d_weight(WeightLoader& loader, const std::string& prefix, int64_t channels, int64_t kernel,
                          Device device) {
  // nn.Conv1d(groups = channels) stores [C, 1, K].
  return loader.take(prefix + ".weight", {channels, 1, kernel}, ParamStorage::Float32, device).view({channels, kernel});
}

Tensor negative_exp_of(WeightLoader& loader, const std::string& name, const Shape& shape, Device device) {
  return negative_exp(loader.take(name, shape, ParamStorage::Float32), device);
}

MambaMixer MambaMixer::load(WeightLoader& loader, const std::string& prefix, const MambaMixerSpec& spec,
                            Device device) {
  const int64_t h = spec.hidden_size, i = spec.intermediate_size, n = spec.state_size, r = spec.time_step_rank;
  VLLM_CHECK(h > 0 && i > 0 && n > 0 && r > 0 && spec.conv_kernel > 0, InvalidArgument, prefix,
             ": the Mamba mixer needs positive sizes (hidden ", h, ", intermediate ", i, ", state ", n,
             ", time_step_rank ", r, ", conv_kernel ", spec.conv_kernel, ")");
  MambaMixer mixer;
  mixer.spec_ = spec;
  mixer.in_proj_ = Linear::load(loader, prefix + ".in_proj", h, 2 * i, spec.use_bias, device);
  mixer.conv_weight_ = load_conv1d_weight(loader, prefix + ".conv1d", i, spec.conv_kernel, device);
  if (spec.use_conv_bias) mixer.conv_bias_ = loader.take(prefix + ".conv1d.bias", {i}, ParamStorage::Float32, device);
  mixer.x_proj_ = Linear::load(loader, prefix + ".x_proj", i, r + 2 * n, false, device);
  mixer.dt_proj_ = Linear::load(loader, prefix + ".dt_proj", r, i, true, device);
  mixer.A_ = negative_exp_of(loader, prefix + ".A_log", {i, n}, device);
  mixer.D_ = loader.take(prefix + ".D", {i}, ParamStorage::Float32, device);
  mixer.out_proj_ = Linear::load(loader, prefix + ".out_proj", i, h, spec.use_bias, device);
  return mixer;
}

Tensor MambaMixer::forward(const Tensor& hidden, const BatchMetadata& batch, StateCache& cache) const {
  const int64_t tokens = hidden.size(0), i = spec_.intermediate_size, n = spec_.state_size, r = spec_.time_step_rank;
  const ops::StateSequences sequences{batch.query_start, batch.positions, cache.state_slots};
  Tensor projected = in_proj_.forward(hidden);  // [T, 2I]: x | z
  Tensor x = Tensor::empty({tokens, i}, DType::F32, hidden.device());
  ops::causal_conv1d(projected.slice(1, 0, i), conv_weight_, conv_bias_, cache.conv_state, sequences, true, x);
  Tensor params = x_proj_.forward(x);  // [T, R + 2N]: dt | B | C
  Tensor dt = params.slice(1, 0, r), B = params.slice(1, r, r + n), C = params.slice(1, r + n, r + 2 * n);
  if (spec_.dt_bc_rms_eps > 0) {
    dt = dt.contiguous();
    B = B.contiguous();
    C = C.contiguous();
    for (Tensor* t : {&dt, &B, &C}) unit_rms_norm(*t, spec_.dt_bc_rms_eps);
  }
  Tensor delta = dt_proj_.forward(dt);  // [T, I], softplus in the scan
  Tensor y = Tensor::empty({tokens, i}, DType::F32, hidden.device());
  ops::selective_scan(x, delta, A_, B, C, D_, projected.slice(1, i, 2 * i), cache.ssm_state, sequences, y);
  return out_proj_.forward(y);
}

}  // namespace vllm
