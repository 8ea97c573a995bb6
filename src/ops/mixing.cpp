#include "ops/mixing.h"

#include "backend/cpu/cpu_ops.h"
#ifdef VLLM_HAVE_CUDA
#include "backend/cuda/mixing_cuda.h"
#endif
#include "ops/op_checks.h"

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
  if (device.is_cpu()) return cpu::mul(a, b, out);
#ifdef VLLM_HAVE_CUDA
  if (device.is_cuda()) return cuda::mul(a, b, out);
#endif
  no_kernel(op, device);
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
  if (device.is_cpu()) return cpu::mix_streams(streams, coefs, out);
#ifdef VLLM_HAVE_CUDA
  if (device.is_cuda()) return cuda::mix_streams(streams, coefs, out);
#endif
  no_kernel(op, device);
}

void match_rms(Tensor& x, const Tensor& reference, float min_mean_square) {
  const char* op = "match_rms";
  check_dim(op, "x", x, 2);
  check_f32_contiguous(op, "x", x);
  check_f32_contiguous(op, "reference", reference);
  check_same_shape(op, "x", x, "reference", reference);
  Device device = common_device(op, {&x, &reference});
  if (device.is_cpu()) return cpu::match_rms(x, reference, min_mean_square);
#ifdef VLLM_HAVE_CUDA
  if (device.is_cuda()) return cuda::match_rms(x, reference, min_mean_square);
#endif
  no_kernel(op, device);
}

void gaussian_topk(Tensor& x, float multiplier) {
  const char* op = "gaussian_topk";
  check_dim(op, "x", x, 2);
  check_f32_contiguous(op, "x", x);
  Device device = x.device();
  if (device.is_cpu()) return cpu::gaussian_topk(x, multiplier);
#ifdef VLLM_HAVE_CUDA
  if (device.is_cuda()) return cuda::gaussian_topk(x, multiplier);
#endif
  no_kernel(op, device);
}

}  // namespace vllm::ops
