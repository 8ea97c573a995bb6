// Argument checks shared by the op entry points: each failure is an InvalidArgument naming the
// op, the argument and its shape, so a caller sees which call went wrong.
#pragma once

#include <cstdint>
#include <initializer_list>

#include "core/error.h"
#include "core/tensor.h"

namespace vllm::ops::detail {

inline std::string describe(const Tensor& t) {
  if (!t.defined()) return "undefined";
  return str(dtype_name(t.dtype()), shape_to_string(t.shape()), " on ", t.device().to_string());
}

inline void check_defined(const char* op, const char* name, const Tensor& t) {
  VLLM_CHECK(t.defined(), InvalidArgument, op, ": ", name, " is undefined");
}

inline void check_dim(const char* op, const char* name, const Tensor& t, int64_t dims) {
  check_defined(op, name, t);
  VLLM_CHECK(t.dim() == dims, InvalidArgument, op, ": ", name, " must have ", dims,
             " dimensions, got ", describe(t));
}

inline void check_dtype(const char* op, const char* name, const Tensor& t, DType dtype) {
  check_defined(op, name, t);
  VLLM_CHECK(t.dtype() == dtype, InvalidArgument, op, ": ", name, " must be ", dtype_name(dtype),
             ", got ", describe(t));
}

inline void check_float_weight(const char* op, const char* name, const Tensor& t) {
  check_defined(op, name, t);
  VLLM_CHECK(is_floating(t.dtype()), InvalidArgument, op, ": ", name,
             " must be float32, bfloat16 or float16, got ", describe(t));
}

inline void check_contiguous(const char* op, const char* name, const Tensor& t) {
  check_defined(op, name, t);
  VLLM_CHECK(t.is_contiguous(), InvalidArgument, op, ": ", name, " must be contiguous, got ",
             describe(t), " with strides ", shape_to_string(t.strides()));
}

inline void check_last_dim_contiguous(const char* op, const char* name, const Tensor& t) {
  check_defined(op, name, t);
  VLLM_CHECK(t.dim() >= 1 && (t.stride(-1) == 1 || t.size(-1) == 1), InvalidArgument, op, ": ",
             name, " must have a contiguous last dimension, got ", describe(t), " with strides ",
             shape_to_string(t.strides()));
}

inline void check_same_shape(const char* op, const char* name_a, const Tensor& a,
                             const char* name_b, const Tensor& b) {
  VLLM_CHECK(a.shape() == b.shape(), InvalidArgument, op, ": ", name_a, " ", describe(a), " and ",
             name_b, " ", describe(b), " must have the same shape");
}

// All defined tensors on one device; returns it.
inline Device common_device(const char* op, std::initializer_list<const Tensor*> tensors) {
  const Tensor* first = nullptr;
  for (const Tensor* t : tensors) {
    if (!t->defined()) continue;
    if (!first) {
      first = t;
      continue;
    }
    VLLM_CHECK(t->device() == first->device(), InvalidArgument, op,
               ": tensors are on different devices (", first->device().to_string(), " and ",
               t->device().to_string(), ")");
  }
  return first ? first->device() : Device::cpu();
}

[[noreturn]] inline void no_kernel(const char* op, Device device) {
  fail(ErrorKind::Unsupported, op, ": no kernel for device ", device.to_string(),
       " (this build implements it on cpu only)");
}

// The argument checks of rotary_embedding (rotary.cpp), shared with rotary_embedding_and_cache.
void check_rotary_args(const char* op, const Tensor& positions, const Tensor& query, const Tensor& key,
                       const Tensor& cos_sin_cache, int64_t rotary_dim);

}  // namespace vllm::ops::detail
