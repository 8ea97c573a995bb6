#include "ops/mixing.h"

#include "ops/dispatch.h"

namespace vllm::ops {

using namespace detail;

namespace {

void check_f32_contiguous(const char* op, const char* name, const Tensor& t) {
  check_dtype(op, name, t, DType::F32);
  check_contiguous(op, name, t);
}

}  // namespace

void mul(const Tensor& a, const Tensor& b, Tensor& out) {
  const char* op = "mul";
  check_f32_contiguous(op, "a", a);
  check_f32_contiguous(op, "b", b);
  check_f32_contiguous(op, "out", out);
  check_same_shape(op, "a", a, "b", b);
  check_same_shape(op, "a", a, "out", out);
  Device device = common_device(op, {&a, &b, &out});
  VLLM_DISPATCH(op, device, mul, a, b, out);
}

void mix_streams(const Tensor& streams, const Tensor& coefs, Tensor& out) {
  const char* op = "mix_streams";
  check_dim(op, "streams", streams, 3);
  check_dim(op, "coefs", coefs, 3);
  check_dim(op, "out", out, 3);
  check_f32_contiguous(op, "streams", streams);
  check_f32_contiguous(op, "coefs", coefs);
  check_f32_contiguous(op, "out", out);
  VLLM_CHECK(coefs.size(0) == streams.size(1) && coefs.size(2) == streams.size(0) &&
                 out.size(0) == coefs.size(1) && out.size(1) == streams.size(1) && out.size(2) == streams.size(2),
             InvalidArgument, op, ": streams ", describe(streams), ", coefs ", describe(coefs), " and out ",
             describe(out), " must be [J, T, H], [T, K, J] and [K, T, H]");
  VLLM_CHECK(out.raw_data() != streams.raw_data() || out.numel() == 0, InvalidArgument, op,
             ": out must not alias streams");
  Device device = common_device(op, {&streams, &coefs, &out});
  VLLM_DISPATCH(op, device, mix_streams, streams, coefs, out);
}

void match_rms(Tensor& x, const Tensor& reference, float min_mean_square) {
  const char* op = "match_rms";
  check_dim(op, "x", x, 2);
  check_f32_contiguous(op, "x", x);
  check_f32_contiguous(op, "reference", reference);
  check_same_shape(op, "x", x, "reference", reference);
  Device device = common_device(op, {&x, &reference});
  VLLM_DISPATCH(op, device, match_rms, x, reference, min_mean_square);
}

void gaussian_topk(Tensor& x, float multiplier) {
  const char* op = "gaussian_topk";
  check_dim(op, "x", x, 2);
  check_f32_contiguous(op, "x", x);
  Device device = x.device();
  VLLM_DISPATCH(op, device, gaussian_topk, x, multiplier);
}

}  // namespace vllm::ops
