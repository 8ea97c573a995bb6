// Row access for kernels that work along the last dimension of a tensor whose leading dimensions
// may be strided views (q/k slices of a fused qkv output, for instance).
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace vllm::cpu {

template <typename T>
class Rows {
 public:
  explicit Rows(const Tensor& t) : base_(t.data<T>()), leading_(t.dim() - 1) {
    cols_ = t.dim() > 0 ? t.size(-1) : 1;
    count_ = 1;
    for (int64_t d = 0; d < leading_; ++d) {
      sizes_[d] = t.size(d);
      strides_[d] = t.stride(d);
      count_ *= sizes_[d];
    }
  }
  int64_t count() const { return count_; }
  int64_t cols() const { return cols_; }
  T* operator[](int64_t row) const {
    int64_t offset = 0;
    for (int64_t d = leading_ - 1; d >= 0; --d) {
      offset += (row % sizes_[d]) * strides_[d];
      row /= sizes_[d];
    }
    return base_ + offset;
  }

 private:
  T* base_;
  int64_t leading_;
  int64_t cols_ = 1;
  int64_t count_ = 1;
  int64_t sizes_[4] = {};
  int64_t strides_[4] = {};
};

// Reads element i of a float weight vector of any floating dtype.
inline float weight_at(const Tensor& w, int64_t i) {
  switch (w.dtype()) {
    case DType::BF16: return bf16_to_float(w.data<uint16_t>()[i]);
    case DType::F16: return f16_to_float(w.data<uint16_t>()[i]);
    default: return w.data<float>()[i];
  }
}

// A float copy of a small 1-D weight (norm weights): widened once per call, O(hidden).
inline std::vector<float> weight_floats(const Tensor& w) {
  std::vector<float> values(static_cast<size_t>(w.numel()));
  convert_floats(w.raw_data(), w.dtype(), values.data(), DType::F32, values.size());
  return values;
}

}  // namespace vllm::cpu
