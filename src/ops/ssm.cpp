#include "ops/ssm.h"

#include "ops/dispatch.h"

namespace vllm::ops {

using namespace detail;

namespace {

void check_rows(const char* op, const char* name, const Tensor& t, int64_t rows, int64_t cols) {
  check_dim(op, name, t, 2);
  check_dtype(op, name, t, DType::F32);
  check_last_dim_contiguous(op, name, t);
  VLLM_CHECK(t.size(0) == rows && t.size(1) == cols, InvalidArgument, op, ": ", name, " must be [", rows, ", ",
             cols, "], got ", describe(t));
}

void check_f32(const char* op, const char* name, const Tensor& t, const Shape& shape) {
  check_dtype(op, name, t, DType::F32);
  check_contiguous(op, name, t);
  VLLM_CHECK(t.shape() == shape, InvalidArgument, op, ": ", name, " must be ", shape_to_string(shape), ", got ",
             describe(t));
}

// The sequences' arrays against T rows and the state's slot count (host data on the CPU).
void check_sequences(const char* op, const StateSequences& s, int64_t tokens, const Tensor& state) {
  check_dim(op, "query_start", s.query_start, 1);
  check_dtype(op, "query_start", s.query_start, DType::I32);
  check_dim(op, "positions", s.positions, 1);
  check_dtype(op, "positions", s.positions, DType::I32);
  VLLM_CHECK(s.positions.size(0) == tokens, InvalidArgument, op, ": positions ", describe(s.positions), " for ",
             tokens, " rows");
  const int64_t num_seqs = s.query_start.size(0) - 1;
  if (s.state_slots.defined()) {
    check_dtype(op, "state_slots", s.state_slots, DType::I32);
    VLLM_CHECK(s.state_slots.dim() == 1 && s.state_slots.size(0) == num_seqs, InvalidArgument, op,
               ": state_slots ", describe(s.state_slots), " for ", num_seqs, " sequences");
  }
  if (!s.query_start.device().is_cpu()) return;
  const Tensor query_start = s.query_start.contiguous();
  const int32_t* starts = query_start.data<int32_t>();
  VLLM_CHECK(num_seqs >= 0 && starts[0] == 0 && starts[num_seqs] == tokens, InvalidArgument, op,
             ": query_start must run from 0 to the ", tokens, " rows");
  for (int64_t b = 0; b < num_seqs; ++b)
    VLLM_CHECK(starts[b] <= starts[b + 1], InvalidArgument, op, ": query_start must not decrease");
  if (!s.state_slots.defined()) return;
  const Tensor slots = s.state_slots.contiguous();
  for (int64_t b = 0; b < num_seqs; ++b) {
    const int32_t slot = slots.data<int32_t>()[b];
    VLLM_CHECK(slot >= -1 && slot < state.size(0), InvalidArgument, op, ": state slot ", slot, " of sequence ", b,
               " is outside the cache's ", state.size(0), " slots");
  }
}

}  // namespace

void causal_conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& conv_state,
                   const StateSequences& sequences, bool silu, Tensor& out) {
  const char* op = "causal_conv1d";
  check_dim(op, "weight", weight, 2);
  check_float_weight(op, "weight", weight);
  check_contiguous(op, "weight", weight);
  const int64_t tokens = x.dim() == 2 ? x.size(0) : -1, channels = weight.size(0), kernel = weight.size(1);
  VLLM_CHECK(kernel >= 1, InvalidArgument, op, ": the kernel must have at least one tap, got ", describe(weight));
  check_rows(op, "x", x, tokens, channels);
  if (bias.defined()) check_f32(op, "bias", bias, {channels});
  check_dim(op, "conv_state", conv_state, 3);
  check_f32(op, "conv_state", conv_state, {conv_state.size(0), channels, kernel - 1});
  check_f32(op, "out", out, {tokens, channels});
  check_sequences(op, sequences, tokens, conv_state);
  const Device device = common_device(op, {&x, &weight, &bias, &conv_state, &out, &sequences.query_start});
  VLLM_DISPATCH_CPU_ONLY(op, device, causal_conv1d, x, weight, bias, conv_state, sequences, silu, out);
}

void selective_scan(const Tensor& u, const Tensor& delta, const Tensor& A, const Tensor& B, const Tensor& C,
                    const Tensor& D, const Tensor& z, Tensor& ssm_state, const StateSequences& sequences,
                    Tensor& out) {
  const char* op = "selective_scan";
  check_dim(op, "A", A, 2);
  const int64_t tokens = u.dim() == 2 ? u.size(0) : -1, dim = A.size(0), state = A.size(1);
  check_f32(op, "A", A, {dim, state});
  check_rows(op, "u", u, tokens, dim);
  check_rows(op, "delta", delta, tokens, dim);
  check_rows(op, "B", B, tokens, state);
  check_rows(op, "C", C, tokens, state);
  check_rows(op, "z", z, tokens, dim);
  check_f32(op, "D", D, {dim});
  check_dim(op, "ssm_state", ssm_state, 3);
  check_f32(op, "ssm_state", ssm_state, {ssm_state.size(0), dim, state});
  check_f32(op, "out", out, {tokens, dim});
  check_sequences(op, sequences, tokens, ssm_state);
  const Device device = common_device(op, {&u, &delta, &A, &B, &C, &D, &z, &ssm_state, &out});
  VLLM_DISPATCH_CPU_ONLY(op, device, selective_scan, u, delta, A, B, C, D, z, ssm_state, sequences, out);
}

void ssd_scan(const Tensor& x, const Tensor& dt_raw, const Tensor& A, const Tensor& B, const Tensor& C,
              const Tensor& D, const Tensor& dt_bias, float dt_min, float dt_max, int64_t n_groups,
              Tensor& ssm_state, const StateSequences& sequences, Tensor& out) {
  const char* op = "ssd_scan";
  check_dim(op, "A", A, 1);
  check_dim(op, "ssm_state", ssm_state, 4);
  const int64_t tokens = x.dim() == 2 ? x.size(0) : -1, heads = A.size(0);
  const int64_t head_dim = ssm_state.size(2), state = ssm_state.size(3);
  VLLM_CHECK(n_groups > 0 && heads % n_groups == 0, InvalidArgument, op, ": ", heads,
             " heads do not split into n_groups ", n_groups);
  check_f32(op, "A", A, {heads});
  check_f32(op, "D", D, {heads});
  check_f32(op, "dt_bias", dt_bias, {heads});
  check_f32(op, "ssm_state", ssm_state, {ssm_state.size(0), heads, head_dim, state});
  check_rows(op, "x", x, tokens, heads * head_dim);
  check_rows(op, "dt", dt_raw, tokens, heads);
  check_rows(op, "B", B, tokens, n_groups * state);
  check_rows(op, "C", C, tokens, n_groups * state);
  check_f32(op, "out", out, {tokens, heads * head_dim});
  check_sequences(op, sequences, tokens, ssm_state);
  const Device device = common_device(op, {&x, &dt_raw, &A, &B, &C, &D, &dt_bias, &ssm_state, &out});
  VLLM_DISPATCH_CPU_ONLY(op, device, ssd_scan, x, dt_raw, A, B, C, D, dt_bias, dt_min, dt_max, n_groups, ssm_state,
                         sequences, out);
}

void gated_rms_norm(const Tensor& x, const Tensor& z, const Tensor& weight, int64_t group_size, float eps,
                    Tensor& out) {
  const char* op = "gated_rms_norm";
  check_dim(op, "x", x, 2);
  const int64_t tokens = x.size(0), dim = x.size(1);
  check_f32(op, "x", x, {tokens, dim});
  check_rows(op, "z", z, tokens, dim);
  check_f32(op, "weight", weight, {dim});
  check_f32(op, "out", out, {tokens, dim});
  VLLM_CHECK(group_size > 0 && dim % group_size == 0, InvalidArgument, op, ": group_size ", group_size,
             " does not divide ", dim, " columns");
  const Device device = common_device(op, {&x, &z, &weight, &out});
  VLLM_DISPATCH_CPU_ONLY(op, device, gated_rms_norm, x, z, weight, group_size, eps, out);
}

}  // namespace vllm::ops
