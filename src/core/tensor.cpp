#include "core/tensor.h"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <numeric>
#include <sstream>

namespace vllm {

namespace {
DeviceAllocator g_cuda_allocator;
bool g_have_cuda_allocator = false;

const DeviceAllocator& require_cuda(const char* what) {
  VLLM_CHECK(g_have_cuda_allocator, Unsupported, what,
             ": this build has no CUDA backend (rebuild where nvcc is installed, or use --device cpu)");
  return g_cuda_allocator;
}
}  // namespace

void set_cuda_allocator(const DeviceAllocator& allocator) {
  g_cuda_allocator = allocator;
  g_have_cuda_allocator = true;
}

const DeviceAllocator* cuda_allocator() { return g_have_cuda_allocator ? &g_cuda_allocator : nullptr; }

std::string Device::to_string() const {
  return is_cpu() ? std::string("cpu") : str("cuda:", index);
}

std::string shape_to_string(const Shape& shape) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << ']';
  return out.str();
}

int64_t shape_numel(const Shape& shape) {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= shape[i];
  }
  return strides;
}

std::shared_ptr<Storage> Storage::allocate(size_t bytes, Device device) {
  size_t padded = (bytes + 63) / 64 * 64;
  if (padded == 0) padded = 64;
  if (device.is_cpu()) {
    void* data = std::aligned_alloc(64, padded);
    VLLM_CHECK(data != nullptr, OutOfMemory, "could not allocate ", bytes, " bytes of host memory");
    return std::make_shared<Storage>(data, bytes, device, [](void* p) { std::free(p); });
  }
  const DeviceAllocator& cuda = require_cuda("allocating device memory");
  int index = device.index;
  void* data = cuda.allocate(padded, index);
  auto free_fn = cuda.free;
  return std::make_shared<Storage>(data, bytes, device, [free_fn, index](void* p) { free_fn(p, index); });
}

std::shared_ptr<Storage> Storage::allocate_zeroed(size_t bytes, Device device) {
  constexpr size_t kMapThreshold = size_t{1} << 20;
  if (!device.is_cpu() || bytes < kMapThreshold) {
    std::shared_ptr<Storage> storage = allocate(bytes, device);
    if (device.is_cpu()) std::memset(storage->data(), 0, bytes);
    return storage;
  }
  void* data = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  VLLM_CHECK(data != MAP_FAILED, OutOfMemory, "could not map ", bytes, " bytes of host memory");
  return std::make_shared<Storage>(data, bytes, device, [bytes](void* p) { munmap(p, bytes); });
}

// A contiguous tensor over fresh storage from `allocate(bytes, device)`.
template <typename Allocate>
static Tensor contiguous_tensor(const Shape& shape, DType dtype, Device device, Allocate allocate) {
  for (int64_t extent : shape)
    VLLM_CHECK(extent >= 0, InvalidArgument, "negative extent in shape ", shape_to_string(shape));
  return Tensor::from_storage(allocate(static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype), device), shape,
                              dtype);
}

Tensor Tensor::from_storage(std::shared_ptr<Storage> storage, const Shape& shape, DType dtype) {
  Tensor t;
  t.storage_ = std::move(storage);
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  return contiguous_tensor(shape, dtype, device, Storage::allocate);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  if (device.is_cpu()) return contiguous_tensor(shape, dtype, device, Storage::allocate_zeroed);
  Tensor t = empty(shape, dtype, device);
  require_cuda("zeroing device memory").fill_zero(t.raw_data(), device.index, t.nbytes());
  return t;
}

Tensor Tensor::from_blob(void* data, const Shape& shape, DType dtype, Device device,
                         std::shared_ptr<void> owner) {
  size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  return from_storage(std::make_shared<Storage>(data, bytes, device,
                                                [owner = std::move(owner)](void*) mutable { owner.reset(); }),
                      shape, dtype);
}

Tensor Tensor::from_floats(const std::vector<float>& values, const Shape& shape, DType dtype) {
  VLLM_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), InvalidArgument,
             "from_floats: ", values.size(), " values for shape ", shape_to_string(shape));
  Tensor t = empty(shape, dtype);
  convert_floats(values.data(), DType::F32, t.raw_data(), dtype, values.size());
  return t;
}

Tensor Tensor::from_ints(const std::vector<int32_t>& values, const Shape& shape) {
  VLLM_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), InvalidArgument,
             "from_ints: ", values.size(), " values for shape ", shape_to_string(shape));
  Tensor t = empty(shape, DType::I32);
  std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(int32_t));
  return t;
}

int64_t Tensor::normalize_dim(int64_t d) const {
  int64_t n = dim();
  if (d < 0) d += n;
  VLLM_CHECK(d >= 0 && d < n, InvalidArgument, "dimension ", d, " out of range for ", to_string());
  return d;
}

bool Tensor::is_contiguous() const { return strides_ == contiguous_strides(shape_); }

Tensor Tensor::view(const Shape& shape) const {
  VLLM_CHECK(is_contiguous(), InvalidArgument, "view of a non-contiguous ", to_string());
  Shape resolved = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < resolved.size(); ++i) {
    if (resolved[i] == -1) {
      VLLM_CHECK(infer < 0, InvalidArgument, "view: more than one -1 in ", shape_to_string(shape));
      infer = static_cast<int64_t>(i);
    } else {
      known *= resolved[i];
    }
  }
  if (infer >= 0) resolved[infer] = known ? numel() / known : 0;
  VLLM_CHECK(shape_numel(resolved) == numel(), InvalidArgument, "view: cannot view ", to_string(),
             " as ", shape_to_string(shape));
  Tensor t = *this;
  t.shape_ = resolved;
  t.strides_ = contiguous_strides(resolved);
  return t;
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end) const {
  d = normalize_dim(d);
  VLLM_CHECK(0 <= start && start <= end && end <= shape_[d], InvalidArgument, "slice [", start, ", ",
             end, ") out of range for dimension ", d, " of ", to_string());
  Tensor t = *this;
  t.offset_ += static_cast<size_t>(start * strides_[d]) * element_size();
  t.shape_[d] = end - start;
  return t;
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  d = normalize_dim(d);
  VLLM_CHECK(0 <= index && index < shape_[d], InvalidArgument, "select index ", index,
             " out of range for dimension ", d, " of ", to_string());
  Tensor t = *this;
  t.offset_ += static_cast<size_t>(index * strides_[d]) * element_size();
  t.shape_.erase(t.shape_.begin() + d);
  t.strides_.erase(t.strides_.begin() + d);
  return t;
}

Tensor Tensor::transpose(int64_t dim0, int64_t dim1) const {
  dim0 = normalize_dim(dim0);
  dim1 = normalize_dim(dim1);
  Tensor t = *this;
  std::swap(t.shape_[dim0], t.shape_[dim1]);
  std::swap(t.strides_[dim0], t.strides_[dim1]);
  return t;
}

Tensor Tensor::unsqueeze(int64_t d) const {
  if (d < 0) d += dim() + 1;
  VLLM_CHECK(d >= 0 && d <= dim(), InvalidArgument, "unsqueeze dimension out of range");
  Tensor t = *this;
  int64_t stride = d < dim() ? strides_[d] * shape_[d] : 1;
  t.shape_.insert(t.shape_.begin() + d, 1);
  t.strides_.insert(t.strides_.begin() + d, stride);
  return t;
}

// Copies a strided host tensor into contiguous memory, element by element in logical order.
static void gather_strided(const Tensor& src, void* dst) {
  size_t element = src.element_size();
  int64_t n = src.numel();
  int64_t rank = src.dim();
  const char* base = static_cast<const char*>(src.raw_data());
  std::vector<int64_t> index(rank, 0);
  char* out = static_cast<char*>(dst);
  for (int64_t i = 0; i < n; ++i) {
    int64_t offset = 0;
    for (int64_t d = 0; d < rank; ++d) offset += index[d] * src.strides()[d];
    std::memcpy(out + i * element, base + offset * static_cast<int64_t>(element), element);
    for (int64_t d = rank - 1; d >= 0; --d) {
      if (++index[d] < src.shape()[d]) break;
      index[d] = 0;
    }
  }
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor result = empty(shape_, dtype_, device());
  result.copy_from(*this);
  return result;
}

void Tensor::copy_from(const Tensor& source) {
  VLLM_CHECK(source.shape_ == shape_ && source.dtype_ == dtype_, InvalidArgument, "copy_from: ",
             source.to_string(), " into ", to_string());
  VLLM_CHECK(is_contiguous(), InvalidArgument, "copy_from into a non-contiguous ", to_string());
  if (device().is_cpu() && source.device().is_cpu()) {
    if (source.is_contiguous())
      std::memcpy(raw_data(), source.raw_data(), nbytes());
    else
      gather_strided(source, raw_data());
    return;
  }
  const DeviceAllocator& cuda = require_cuda("copying to or from a GPU");
  if (!source.is_contiguous() && source.device() == device()) {
    cuda.copy_strided(source, *this);
    return;
  }
  Tensor packed = source.contiguous();
  cuda.copy(raw_data(), device(), packed.raw_data(), packed.device(), nbytes());
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_) return *this;
  VLLM_CHECK(device().is_cpu(), Unsupported, "dtype conversion of a device tensor ", to_string(),
             " (convert with ops::cast)");
  Tensor packed = contiguous();
  Tensor result = empty(shape_, dtype);
  convert_floats(packed.raw_data(), dtype_, result.raw_data(), dtype, static_cast<size_t>(numel()));
  return result;
}

Tensor Tensor::to(Device target) const {
  if (target == device()) return *this;
  Tensor result = empty(shape_, dtype_, target);
  result.copy_from(*this);
  return result;
}

float Tensor::item_float(int64_t flat_index) const {
  VLLM_CHECK(device().is_cpu() && is_contiguous(), InvalidArgument, "item_float on ", to_string());
  VLLM_CHECK(flat_index >= 0 && flat_index < numel(), InvalidArgument, "item_float index out of range");
  switch (dtype_) {
    case DType::F32: return data<float>()[flat_index];
    case DType::F16: return f16_to_float(data<uint16_t>()[flat_index]);
    case DType::BF16: return bf16_to_float(data<uint16_t>()[flat_index]);
    case DType::I32: return static_cast<float>(data<int32_t>()[flat_index]);
    case DType::I64: return static_cast<float>(data<int64_t>()[flat_index]);
    case DType::U8: return data<uint8_t>()[flat_index];
  }
  return 0;
}

std::vector<float> Tensor::to_float_vector() const {
  Tensor packed = to(Device::cpu()).contiguous();
  std::vector<float> values(static_cast<size_t>(numel()));
  for (int64_t i = 0; i < numel(); ++i) values[i] = packed.item_float(i);
  return values;
}

std::string Tensor::to_string() const {
  return str("Tensor(", dtype_name(dtype_), ", ", shape_to_string(shape_), ", ", device().to_string(), ")");
}

}  // namespace vllm
