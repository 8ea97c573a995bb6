#include "ops/activation.h"

#include "ops/dispatch.h"

namespace vllm::ops {

using namespace detail;

void activation(Activation kind, const Tensor& x, Tensor& out) {
  const char* op = "activation";
  check_dtype(op, "x", x, DType::F32);
  check_dtype(op, "out", out, DType::F32);
  check_contiguous(op, "x", x);
  check_contiguous(op, "out", out);
  check_same_shape(op, "x", x, "out", out);
  Device device = common_device(op, {&x, &out});
  VLLM_DISPATCH(op, device, activation, kind, x, out);
}

void activation_and_mul(Activation kind, const Tensor& x, Tensor& out) {
  const char* op = "activation_and_mul";
  check_dim(op, "x", x, 2);
  check_dim(op, "out", out, 2);
  // x: f32, or on CUDA bf16/f16 (a half-precision gate_up matmul's output).
  if (!x.device().is_cuda() || (x.dtype() != DType::BF16 && x.dtype() != DType::F16))
    check_dtype(op, "x", x, DType::F32);
  // out: f32, or on CUDA bf16/f16 (the input of a half-precision matmul, rounded to nearest).
  if (!out.device().is_cuda() || (out.dtype() != DType::BF16 && out.dtype() != DType::F16))
    check_dtype(op, "out", out, DType::F32);
  check_last_dim_contiguous(op, "x", x);
  check_contiguous(op, "out", out);
  VLLM_CHECK(x.size(1) % 2 == 0 && out.size(0) == x.size(0) && out.size(1) * 2 == x.size(1),
             InvalidArgument, op, ": x ", describe(x), " must be [T, 2I] and out ", describe(out),
             " [T, I]");
  Device device = common_device(op, {&x, &out});
  VLLM_DISPATCH(op, device, activation_and_mul, kind, x, out);
}

}  // namespace vllm::ops
