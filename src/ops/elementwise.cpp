#include "ops/elementwise.h"

#include "backend/cpu/cpu_ops.h"
#ifdef VLLM_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
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

void softmax(Tensor& x) {
  const char* op = "softmax";
  check_f32_contiguous(op, "x", x);
  VLLM_CHECK(x.dim() >= 1, InvalidArgument, op, ": x must have a last dimension, got ", describe(x));
  Device device = x.device();
  if (device.is_cpu()) return cpu::softmax(x);
#ifdef VLLM_HAVE_CUDA
  if (device.is_cuda()) return cuda::softmax(x);
#endif
  no_kernel(op, device);
}

void log_softmax(const Tensor& x, Tensor& out) {
  const char* op = "log_softmax";
  check_f32_contiguous(op, "x", x);
  check_f32_contiguous(op, "out", out);
  check_same_shape(op, "x", x, "out", out);
  VLLM_CHECK(x.dim() >= 1, InvalidArgument, op, ": x must have a last dimension, got ", describe(x));
  Device device = common_device(op, {&x, &out});
  if (device.is_cpu()) return cpu::log_softmax(x, out);
#ifdef VLLM_HAVE_CUDA
  if (device.is_cuda()) return cuda::log_softmax(x, out);
#endif
  no_kernel(op, device);
}

void embedding(const Tensor& ids, const Tensor& table, Tensor& out) {
  const char* op = "embedding";
  check_dim(op, "ids", ids, 1);
  check_dtype(op, "ids", ids, DType::I32);
  check_contiguous(op, "ids", ids);
  check_dim(op, "table", table, 2);
  check_float_weight(op, "table", table);
  check_last_dim_contiguous(op, "table", table);
  check_dim(op, "out", out, 2);
  check_f32_contiguous(op, "out", out);
  VLLM_CHECK(out.size(0) == ids.size(0) && out.size(1) == table.size(1), InvalidArgument, op,
             ": out ", describe(out), " must be [", ids.size(0), ", ", table.size(1), "] for ids ",
             describe(ids), " and table ", describe(table));
  Device device = common_device(op, {&ids, &table, &out});
  if (device.is_cpu()) return cpu::embedding(ids, table, out);
#ifdef VLLM_HAVE_CUDA
  if (device.is_cuda()) return cuda::embedding(ids, table, out);
#endif
  no_kernel(op, device);
}

void add(const Tensor& a, const Tensor& b, Tensor& out) {
  const char* op = "add";
  check_f32_contiguous(op, "a", a);
  check_f32_contiguous(op, "b", b);
  check_f32_contiguous(op, "out", out);
  check_same_shape(op, "a", a, "b", b);
  check_same_shape(op, "a", a, "out", out);
  Device device = common_device(op, {&a, &b, &out});
  if (device.is_cpu()) return cpu::add(a, b, out);
#ifdef VLLM_HAVE_CUDA
  if (device.is_cuda()) return cuda::add(a, b, out);
#endif
  no_kernel(op, device);
}

void clamp(Tensor& x, float lo, float hi) {
  const char* op = "clamp";
  check_f32_contiguous(op, "x", x);
  if (x.device().is_cpu()) return cpu::clamp(x, lo, hi);
#ifdef VLLM_HAVE_CUDA
  if (x.device().is_cuda()) return cuda::clamp(x, lo, hi);
#endif
  no_kernel(op, x.device());
}

void scale(Tensor& x, float factor) {
  const char* op = "scale";
  check_f32_contiguous(op, "x", x);
  if (x.device().is_cpu()) return cpu::scale(x, factor);
#ifdef VLLM_HAVE_CUDA
  if (x.device().is_cuda()) return cuda::scale(x, factor);
#endif
  no_kernel(op, x.device());
}

void softcap(Tensor& x, float cap) {
  const char* op = "softcap";
  check_f32_contiguous(op, "x", x);
  VLLM_CHECK(cap > 0.0f, InvalidArgument, op, ": cap must be positive, got ", cap);
  if (x.device().is_cpu()) return cpu::softcap(x, cap);
#ifdef VLLM_HAVE_CUDA
  if (x.device().is_cuda()) return cuda::softcap(x, cap);
#endif
  no_kernel(op, x.device());
}

void cast(const Tensor& x, Tensor& out) {
  const char* op = "cast";
  check_float_weight(op, "x", x);
  check_float_weight(op, "out", out);
  check_contiguous(op, "x", x);
  check_contiguous(op, "out", out);
  check_same_shape(op, "x", x, "out", out);
  Device device = common_device(op, {&x, &out});
  if (device.is_cpu())
    return convert_floats(x.raw_data(), x.dtype(), out.raw_data(), out.dtype(), static_cast<size_t>(x.numel()));
#ifdef VLLM_HAVE_CUDA
  if (device.is_cuda()) return cuda::cast(x, out);
#endif
  no_kernel(op, device);
}

void gather_rows(const Tensor& x, const Tensor& rows, Tensor& out) {
  const char* op = "gather_rows";
  check_dim(op, "x", x, 2);
  check_dtype(op, "x", x, DType::F32);
  check_last_dim_contiguous(op, "x", x);
  check_dim(op, "rows", rows, 1);
  check_dtype(op, "rows", rows, DType::I32);
  check_contiguous(op, "rows", rows);
  check_dim(op, "out", out, 2);
  check_f32_contiguous(op, "out", out);
  VLLM_CHECK(out.size(0) == rows.size(0) && out.size(1) == x.size(1), InvalidArgument, op,
             ": out ", describe(out), " must be [", rows.size(0), ", ", x.size(1), "] for x ",
             describe(x), " and rows ", describe(rows));
  Device device = common_device(op, {&x, &rows, &out});
  if (device.is_cpu()) return cpu::gather_rows(x, rows, out);
#ifdef VLLM_HAVE_CUDA
  if (device.is_cuda()) return cuda::gather_rows(x, rows, out);
#endif
  no_kernel(op, device);
}

}  // namespace vllm::ops
