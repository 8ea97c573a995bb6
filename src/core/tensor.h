// Tensor: a typed, strided view over shared storage on one device.
//
// Storage is reference-counted and may own its bytes (host malloc, device allocation) or borrow
// them from an owner that keeps them alive (an mmapped safetensors file). Views (reshape, slice,
// select, transpose) share storage; `contiguous()` and `to()` copy.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"

namespace vllm {

struct Device {
  enum class Kind : uint8_t { CPU, CUDA };
  Kind kind = Kind::CPU;
  int index = 0;

  static Device cpu() { return {}; }
  static Device cuda(int index = 0) { return {Kind::CUDA, index}; }
  bool is_cpu() const { return kind == Kind::CPU; }
  bool is_cuda() const { return kind == Kind::CUDA; }
  bool operator==(const Device&) const = default;
  std::string to_string() const;  // "cpu", "cuda:0"
};

using Shape = std::vector<int64_t>;

std::string shape_to_string(const Shape& shape);  // "[2, 3]"
int64_t shape_numel(const Shape& shape);

// Raw bytes on a device. `deleter` runs when the last reference goes; an empty deleter borrows.
class Storage {
 public:
  Storage(void* data, size_t bytes, Device device, std::function<void(void*)> deleter)
      : data_(data), bytes_(bytes), device_(device), deleter_(std::move(deleter)) {}
  ~Storage() {
    if (deleter_) deleter_(data_);
  }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

  // Allocates `bytes` on `device` (64-byte aligned on the host). Throws OutOfMemory.
  static std::shared_ptr<Storage> allocate(size_t bytes, Device device);
  // Zero-filled. Large host buffers come straight from the OS (pages zeroed lazily on first
  // touch), so a big KV cache costs nothing until used.
  static std::shared_ptr<Storage> allocate_zeroed(size_t bytes, Device device);

 private:
  void* data_;
  size_t bytes_;
  Device device_;
  std::function<void(void*)> deleter_;
};

class Tensor;

// Hooks the CUDA backend installs so that core allocates device memory without depending on it.
struct DeviceAllocator {
  void* (*allocate)(size_t bytes, int device_index) = nullptr;
  void (*free)(void* pointer, int device_index) = nullptr;
  // Copies between any pair of host/device pointers (kind of each side given).
  void (*copy)(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) = nullptr;
  void (*fill_zero)(void* dst, int device_index, size_t bytes) = nullptr;
  // dst (contiguous) = src (strided), both on one device.
  void (*copy_strided)(const Tensor& src, Tensor& dst) = nullptr;
};
void set_cuda_allocator(const DeviceAllocator& allocator);
const DeviceAllocator* cuda_allocator();  // nullptr when no CUDA backend is linked

class Tensor {
 public:
  Tensor() = default;  // undefined tensor

  static Tensor empty(const Shape& shape, DType dtype, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype, Device device = Device::cpu());
  // A view over existing memory; `owner` keeps it alive (may be null for memory the caller owns).
  static Tensor from_blob(void* data, const Shape& shape, DType dtype, Device device,
                          std::shared_ptr<void> owner);
  // A contiguous tensor over the start of `storage`.
  static Tensor from_storage(std::shared_ptr<Storage> storage, const Shape& shape, DType dtype);
  // Host tensors from values (tests and small metadata).
  static Tensor from_floats(const std::vector<float>& values, const Shape& shape,
                            DType dtype = DType::F32);
  static Tensor from_ints(const std::vector<int32_t>& values, const Shape& shape);

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device() : Device::cpu(); }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }  // in elements
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t size(int64_t d) const { return shape_[normalize_dim(d)]; }
  int64_t stride(int64_t d) const { return strides_[normalize_dim(d)]; }
  int64_t numel() const { return shape_numel(shape_); }
  size_t element_size() const { return dtype_size(dtype_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * element_size(); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  size_t storage_offset() const { return offset_; }  // in bytes

  void* raw_data() const { return static_cast<char*>(storage_->data()) + offset_; }
  template <typename T>
  T* data() const {
    return static_cast<T*>(raw_data());
  }

  // Views sharing storage.
  Tensor view(const Shape& shape) const;  // contiguous only; one dimension may be -1
  Tensor slice(int64_t dim, int64_t start, int64_t end) const;
  Tensor select(int64_t dim, int64_t index) const;  // drops `dim`
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  Tensor unsqueeze(int64_t dim) const;

  // Copies.
  Tensor contiguous() const;                     // self when already contiguous
  Tensor clone() const;                          // always a fresh contiguous copy
  Tensor to(DType dtype) const;                  // floating conversions on the host
  Tensor to(Device device) const;                // self when already there
  void copy_from(const Tensor& source);          // same shape and dtype; any devices

  // Host-side element access for tests and small metadata (floats widen to float).
  float item_float(int64_t flat_index) const;    // contiguous host tensors
  std::vector<float> to_float_vector() const;    // any host tensor, in logical order

  std::string to_string() const;  // "Tensor(bfloat16, [2, 3], cpu)"

 private:
  int64_t normalize_dim(int64_t d) const;

  std::shared_ptr<Storage> storage_;
  size_t offset_ = 0;
  Shape shape_;
  Shape strides_;
  DType dtype_ = DType::F32;
};

Shape contiguous_strides(const Shape& shape);

}  // namespace vllm
