#include "ops/linear.h"

#include "ops/dispatch.h"

namespace vllm::ops {

using namespace detail;

void linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& out) {
  const char* op = "linear";
  check_dim(op, "x", x, 2);
  check_dim(op, "weight", weight, 2);
  check_dim(op, "out", out, 2);
  check_float_weight(op, "weight", weight);
  // x: f32, or on CUDA already in the weight's half type (a norm or activation wrote it so).
  const bool half_x = x.defined() && x.device().is_cuda() && (x.dtype() == DType::BF16 || x.dtype() == DType::F16);
  if (half_x)
    VLLM_CHECK(x.dtype() == weight.dtype(), InvalidArgument, op, ": x ", describe(x), " must be f32 or have the weight's dtype ",
               dtype_name(weight.dtype()));
  else
    check_dtype(op, "x", x, DType::F32);
  // out: f32, or on CUDA the weight's half type (rounded to nearest, as a bf16 model computes).
  if (out.defined() && out.device().is_cuda() && (out.dtype() == DType::BF16 || out.dtype() == DType::F16))
    VLLM_CHECK(out.dtype() == weight.dtype(), InvalidArgument, op, ": out ", describe(out),
               " must be f32 or have the weight's dtype ", dtype_name(weight.dtype()));
  else
    check_dtype(op, "out", out, DType::F32);
  check_last_dim_contiguous(op, "x", x);
  check_contiguous(op, "weight", weight);
  check_contiguous(op, "out", out);
  const int64_t tokens = x.size(0), in_features = x.size(1), out_features = weight.size(0);
  VLLM_CHECK(weight.size(1) == in_features, InvalidArgument, op, ": x ", describe(x),
             " and weight ", describe(weight), " disagree on in_features (x.size(1) must equal weight.size(1))");
  VLLM_CHECK(out.size(0) == tokens && out.size(1) == out_features, InvalidArgument, op, ": out ",
             describe(out), " must be [", tokens, ", ", out_features, "] for x ", describe(x),
             " and weight ", describe(weight));
  if (bias.defined()) {
    check_dim(op, "bias", bias, 1);
    check_dtype(op, "bias", bias, DType::F32);
    check_contiguous(op, "bias", bias);
    VLLM_CHECK(bias.size(0) == out_features, InvalidArgument, op, ": bias ", describe(bias),
               " must be [", out_features, "]");
  }
  Device device = common_device(op, {&x, &weight, &bias, &out});
  VLLM_DISPATCH(op, device, linear, x, weight, bias, out);
}

}  // namespace vllm::ops
