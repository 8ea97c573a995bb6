#include "loader/torch_checkpoint.h"

#include <cstring>
#include <fstream>
#include <unordered_map>

#include "core/error.h"
#include "loader/pickle.h"
#include "loader/zip_archive.h"

namespace vllm {
namespace fs = std::filesystem;

namespace {

using pickle::Value;
using pickle::ValuePtr;

struct StorageType {
  DType stored;    // the element as written
  size_t bytes;    // its size
  bool widen_f64;  // DoubleStorage: converted to F32, core has no F64
};

std::optional<StorageType> storage_type(const std::string& name) {
  if (name == "FloatStorage") return StorageType{DType::F32, 4, false};
  if (name == "HalfStorage") return StorageType{DType::F16, 2, false};
  if (name == "BFloat16Storage") return StorageType{DType::BF16, 2, false};
  if (name == "LongStorage") return StorageType{DType::I64, 8, false};
  if (name == "IntStorage") return StorageType{DType::I32, 4, false};
  if (name == "ByteStorage" || name == "BoolStorage") return StorageType{DType::U8, 1, false};
  if (name == "DoubleStorage") return StorageType{DType::F32, 8, true};
  return std::nullopt;
}

class TorchFile : public TensorFile, public std::enable_shared_from_this<TorchFile> {
 public:
  explicit TorchFile(const fs::path& path) : path_(path) {
    if (!ZipArchive::is_zip(path)) {
      std::ifstream in(path, std::ios::binary);
      if (!in) fail(ErrorKind::NotFound, path.string(), ": cannot open");
      fail(ErrorKind::InvalidArgument, path.string(),
           ": not a zip archive; PyTorch checkpoints saved before PyTorch 1.6 (the legacy tar/pickle format) are "
           "not read: re-save it with a newer torch.save or convert it to safetensors");
    }
    archive_ = ZipArchive::open(path);
    std::string pickle_name;
    for (const auto& [name, bytes] : archive_->entries())
      if (name == "data.pkl" || (name.size() > 9 && name.compare(name.size() - 9, 9, "/data.pkl") == 0)) pickle_name = name;
    if (pickle_name.empty())
      fail(ErrorKind::InvalidArgument, path.string(), ": zip archive without data.pkl (not a torch.save checkpoint)");
    prefix_ = pickle_name.substr(0, pickle_name.size() - 8);
    ValuePtr root = pickle::unpickle(archive_->entry(pickle_name), path.string());
    collect("", unwrap(root));
  }

  const fs::path& path() const override { return path_; }
  const std::vector<TensorInfo>& tensors() const override { return tensors_; }

  Tensor get(const TensorInfo& info) const override {
    auto it = records_.find(info.name);
    VLLM_ASSERT(it != records_.end(), "tensor ", info.name, " does not belong to ", path_.string());
    const Record& record = it->second;
    const char* base = record.storage.data() + record.offset * record.type.bytes;
    if (record.contiguous && !record.type.widen_f64 &&
        reinterpret_cast<uintptr_t>(base) % record.type.bytes == 0) {
      std::shared_ptr<void> owner = std::const_pointer_cast<TorchFile>(shared_from_this());
      return Tensor::from_blob(const_cast<char*>(base), info.shape, info.dtype, Device::cpu(), std::move(owner));
    }
    // A strided, unaligned or float64 tensor: gathered element by element into a new one.
    Tensor out = Tensor::empty(info.shape, info.dtype);
    char* target = static_cast<char*>(out.raw_data());
    const size_t rank = record.size.size();
    std::vector<int64_t> index(rank, 0);
    const int64_t numel = static_cast<int64_t>((info.end - info.begin) / dtype_size(info.dtype));
    for (int64_t n = 0; n < numel; ++n) {
      int64_t element = 0;
      for (size_t d = 0; d < rank; ++d) element += index[d] * record.stride[d];
      const char* source = base + element * record.type.bytes;
      if (record.type.widen_f64) {
        double value;
        std::memcpy(&value, source, 8);
        const float narrowed = static_cast<float>(value);
        std::memcpy(target + n * 4, &narrowed, 4);
      } else {
        std::memcpy(target + n * record.type.bytes, source, record.type.bytes);
      }
      for (size_t d = rank; d-- > 0;) {
        if (++index[d] < record.size[d]) break;
        index[d] = 0;
      }
    }
    return out;
  }

 private:
  struct Record {
    std::string_view storage;
    StorageType type;
    int64_t offset;
    std::vector<int64_t> size, stride;
    bool contiguous;
  };

  // A training checkpoint's state dict, under its usual keys.
  ValuePtr unwrap(ValuePtr value) const {
    for (int depth = 0; depth < 3 && value->kind == Value::Kind::Dict; ++depth) {
      bool has_tensor = false;
      ValuePtr inner;
      for (size_t i = 0; i + 1 < value->items.size(); i += 2) {
        if (value->items[i + 1]->kind == Value::Kind::Tensor) has_tensor = true;
        const std::string& key = value->items[i]->text;
        if (!inner && value->items[i + 1]->kind == Value::Kind::Dict &&
            (key == "model" || key == "state_dict" || key == "model_state_dict" || key == "module"))
          inner = value->items[i + 1];
      }
      if (has_tensor || !inner) break;
      value = inner;
    }
    if (value->kind != Value::Kind::Dict)
      fail(ErrorKind::InvalidArgument, path_.string(), ": the pickle holds no state dict (a dict of tensors)");
    return value;
  }

  void collect(const std::string& prefix, const ValuePtr& dict) {
    for (size_t i = 0; i + 1 < dict->items.size(); i += 2) {
      const ValuePtr& key = dict->items[i];
      const ValuePtr& value = dict->items[i + 1];
      if (key->kind != Value::Kind::String) continue;
      const std::string name = prefix + key->text;
      if (value->kind == Value::Kind::Dict) collect(name + ".", value);
      else if (value->kind == Value::Kind::Tensor) add(name, *value);
    }
  }

  void add(const std::string& name, const Value& tensor) {
    const std::string where = path_.string() + ": tensor '" + name + "'";
    std::optional<StorageType> type = storage_type(tensor.storage->text);
    if (!type)
      fail(ErrorKind::Unsupported, where, " is stored as ", tensor.storage->text,
           ", which this build does not load (float32, float16, bfloat16, float64, int64, int32, uint8, bool)");
    const std::string_view storage = archive_->entry(prefix_ + "data/" + tensor.storage->storage_key);
    Shape shape(tensor.size.begin(), tensor.size.end());
    int64_t numel = 1, last = 0, expected_stride = 1;
    bool contiguous = true;
    for (size_t d = tensor.size.size(); d-- > 0;) {
      if (tensor.size[d] < 0 || tensor.stride[d] < 0) fail(ErrorKind::InvalidArgument, where, " has a negative size or stride");
      numel *= tensor.size[d];
      if (tensor.size[d] > 1 && tensor.stride[d] != expected_stride) contiguous = false;
      expected_stride *= tensor.size[d];
      if (tensor.size[d] > 0) last += (tensor.size[d] - 1) * tensor.stride[d];
    }
    const uint64_t needed = numel == 0 ? 0 : static_cast<uint64_t>(tensor.storage_offset + last + 1) * type->bytes;
    if (tensor.storage_offset < 0 || needed > storage.size())
      fail(ErrorKind::InvalidArgument, where, " needs ", needed, " bytes of storage '", tensor.storage->storage_key,
           "', which holds ", storage.size(), " (truncated archive?)");
    if (records_.count(name)) fail(ErrorKind::InvalidArgument, where, " appears twice in the state dict");
    // begin/end: the tensor's bytes once read (it may be a strided view of a larger storage).
    tensors_.push_back(TensorInfo{name, type->stored, shape, 0, static_cast<size_t>(numel) * dtype_size(type->stored), path_});
    records_[name] = Record{storage, *type, tensor.storage_offset, tensor.size, tensor.stride, contiguous};
  }

  fs::path path_;
  std::shared_ptr<ZipArchive> archive_;
  std::string prefix_;  // "archive/" of "archive/data.pkl"
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, Record> records_;
};

}  // namespace

std::shared_ptr<TensorFile> open_torch_checkpoint(const fs::path& path) { return std::make_shared<TorchFile>(path); }

}  // namespace vllm
