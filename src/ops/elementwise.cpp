#include "ops/elementwise.h"

#include "ops/dispatch.h"

namespace vllm::ops {

using namespace detail;

namespace {

void check_f32_contiguous(const char* op, const char* name, const Tensor& t) {
  check_dtype(op, name, t, DType::F32);
  check_contiguous(op, name, t);
}

// The CPU's dtype conversion is core's convert_floats.
void cast_cpu(const Tensor& x, Tensor& out) {
  convert_floats(x.raw_data(), x.dtype(), out.raw_data(), out.dtype(), static_cast<size_t>(x.numel()));
}

}  // namespace

void softmax(Tensor& x) {
  const char* op = "softmax";
  check_f32_contiguous(op, "x", x);
  VLLM_CHECK(x.dim() >= 1, InvalidArgument, op, ": x must have a last dimension, got ", describe(x));
  Device device = x.device();
  VLLM_DISPATCH(op, device, softmax, x);
}

void log_softmax(const Tensor& x, Tensor& out) {
  const char* op = "log_softmax";
  check_f32_contiguous(op, "x", x);
  check_f32_contiguous(op, "out", out);
  check_same_shape(op, "x", x, "out", out);
  VLLM_CHECK(x.dim() >= 1, InvalidArgument, op, ": x must have a last dimension, got ", describe(x));
  Device device = common_device(op, {&x, &out});
  VLLM_DISPATCH(op, device, log_softmax, x, out);
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
  VLLM_DISPATCH(op, device, embedding, ids, table, out);
}

void add(const Tensor& a, const Tensor& b, Tensor& out) {
  const char* op = "add";
  check_f32_contiguous(op, "a", a);
  check_f32_contiguous(op, "b", b);
  check_f32_contiguous(op, "out", out);
  check_same_shape(op, "a", a, "b", b);
  check_same_shape(op, "a", a, "out", out);
  Device device = common_device(op, {&a, &b, &out});
  VLLM_DISPATCH(op, device, add, a, b, out);
}

void clamp(Tensor& x, float lo, float hi) {
  const char* op = "clamp";
  check_f32_contiguous(op, "x", x);
  VLLM_DISPATCH(op, x.device(), clamp, x, lo, hi);
}

void scale(Tensor& x, float factor) {
  const char* op = "scale";
  check_f32_contiguous(op, "x", x);
  VLLM_DISPATCH(op, x.device(), scale, x, factor);
}

void softcap(Tensor& x, float cap) {
  const char* op = "softcap";
  check_f32_contiguous(op, "x", x);
  VLLM_CHECK(cap > 0.0f, InvalidArgument, op, ": cap must be positive, got ", cap);
  VLLM_DISPATCH(op, x.device(), softcap, x, cap);
}

void cast(const Tensor& x, Tensor& out) {
  const char* op = "cast";
  check_float_weight(op, "x", x);
  check_float_weight(op, "out", out);
  check_contiguous(op, "x", x);
  check_contiguous(op, "out", out);
  check_same_shape(op, "x", x, "out", out);
  Device device = common_device(op, {&x, &out});
  VLLM_DISPATCH_WITH_CPU(op, device, cast_cpu, cast, x, out);
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
  VLLM_DISPATCH(op, device, gather_rows, x, rows, out);
}

}  // namespace vllm::ops
