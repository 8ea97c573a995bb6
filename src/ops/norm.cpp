#include "ops/norm.h"

#include "ops/dispatch.h"

namespace vllm::ops {

using namespace detail;

namespace {

void check_norm_weight(const char* op, const char* name, const Tensor& weight, const Tensor& x) {
  check_dim(op, name, weight, 1);
  check_float_weight(op, name, weight);
  check_contiguous(op, name, weight);
  VLLM_CHECK(weight.size(0) == x.size(-1), InvalidArgument, op, ": ", name, " ", describe(weight),
             " must match the last dimension of x ", describe(x));
}

void check_norm_input(const char* op, const char* name, const Tensor& x) {
  check_defined(op, name, x);
  VLLM_CHECK(x.dim() >= 1 && x.dim() <= 4, InvalidArgument, op, ": ", name,
             " must have 1 to 4 dimensions, got ", describe(x));
  check_dtype(op, name, x, DType::F32);
  check_last_dim_contiguous(op, name, x);
}

// out of rms_norm / fused_add_rms_norm: f32 anywhere, bf16/f16 on CUDA.
void check_norm_output(const char* op, const Tensor& out) {
  check_defined(op, "out", out);
  if (out.dtype() == DType::F32 || !out.device().is_cuda()) return check_norm_input(op, "out", out);
  VLLM_CHECK(out.dtype() == DType::BF16 || out.dtype() == DType::F16, InvalidArgument, op, ": out ",
             describe(out), " must be f32, bf16 or f16");
  VLLM_CHECK(out.dim() >= 1 && out.dim() <= 4, InvalidArgument, op, ": out must have 1 to 4 dimensions, got ",
             describe(out));
  check_last_dim_contiguous(op, "out", out);
}

// The CPU kernel works in place: out = x first.
void fused_add_rms_norm_cpu(const Tensor& x, Tensor& residual, const Tensor& weight, float eps, float weight_offset,
                            Tensor& out) {
  if (out.raw_data() != x.raw_data()) out.copy_from(x);
  cpu::fused_add_rms_norm(out, residual, weight, eps, weight_offset);
}

}  // namespace

void rms_norm(const Tensor& x, const Tensor& weight, float eps, float weight_offset, Tensor& out) {
  const char* op = "rms_norm";
  check_norm_input(op, "x", x);
  check_norm_output(op, out);
  check_same_shape(op, "x", x, "out", out);
  check_norm_weight(op, "weight", weight, x);
  Device device = common_device(op, {&x, &weight, &out});
  VLLM_DISPATCH(op, device, rms_norm, x, weight, eps, weight_offset, out);
}

void fused_add_rms_norm(Tensor& x, Tensor& residual, const Tensor& weight, float eps,
                        float weight_offset) {
  fused_add_rms_norm(x, residual, weight, eps, weight_offset, x);
}

void fused_add_rms_norm(const Tensor& x, Tensor& residual, const Tensor& weight, float eps, float weight_offset,
                        Tensor& out) {
  const char* op = "fused_add_rms_norm";
  check_norm_input(op, "x", x);
  check_norm_input(op, "residual", residual);
  check_norm_output(op, out);
  check_same_shape(op, "x", x, "residual", residual);
  check_same_shape(op, "x", x, "out", out);
  check_norm_weight(op, "weight", weight, x);
  Device device = common_device(op, {&x, &residual, &weight, &out});
  VLLM_DISPATCH_WITH_CPU(op, device, fused_add_rms_norm_cpu, fused_add_rms_norm, x, residual, weight, eps,
                         weight_offset, out);
}

void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, Tensor& out) {
  const char* op = "layer_norm";
  check_norm_input(op, "x", x);
  check_norm_input(op, "out", out);
  check_same_shape(op, "x", x, "out", out);
  if (weight.defined()) check_norm_weight(op, "weight", weight, x);
  if (bias.defined()) check_norm_weight(op, "bias", bias, x);
  Device device = common_device(op, {&x, &weight, &bias, &out});
  VLLM_DISPATCH(op, device, layer_norm, x, weight, bias, eps, out);
}

}  // namespace vllm::ops
