// Safetensors checkpoints: one mmapped file (`SafetensorsFile`), a model folder of one or many
// shards (`Checkpoint`), and a writer for tests and tools.
//
// Format (https://github.com/huggingface/safetensors): an 8-byte little-endian header length N,
// N bytes of JSON `{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
// "__metadata__": {..}}`, then the data section; offsets are relative to the data section.
// Every entry is validated when the file is opened, so a corrupt or truncated file fails there
// with one line naming the file and the problem, never later inside a kernel.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace vllm {

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  size_t begin = 0, end = 0;  // byte offsets in the data section, [begin, end)
  std::filesystem::path file;
};

// One weights file of a checkpoint: a safetensors file, or a PyTorch .bin/.pt
// (loader/torch_checkpoint.h).
class TensorFile {
 public:
  virtual ~TensorFile() = default;
  virtual const std::filesystem::path& path() const = 0;
  virtual const std::vector<TensorInfo>& tensors() const = 0;  // in file order
  // The tensor `info` describes (one of tensors()), as a CPU tensor that keeps the file alive.
  virtual Tensor get(const TensorInfo& info) const = 0;
};

// One safetensors file, mapped read-only for the lifetime of the object and of every tensor
// view taken from it.
class SafetensorsFile : public TensorFile, public std::enable_shared_from_this<SafetensorsFile> {
 public:
  // Maps and validates the file. Throws NotFound (missing file), InvalidArgument (corrupt or
  // truncated file), Unsupported (a dtype core::DType does not have, e.g. F64, I8, BOOL, F8_*).
  static std::shared_ptr<SafetensorsFile> open(const std::filesystem::path& path);

  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::filesystem::path& path() const override { return path_; }
  const std::vector<TensorInfo>& tensors() const override { return tensors_; }  // in header order
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const;  // NotFound naming tensor and file
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // Zero-copy CPU view of the mapped bytes that keeps the mapping alive. The mapping is
  // read-only: clone() before writing. (A tensor whose offset is not a multiple of its element
  // size, which no standard writer produces, is returned as an aligned copy instead.)
  Tensor get(const std::string& name) const;
  Tensor get(const TensorInfo& info) const override;

 private:
  SafetensorsFile() = default;
  void parse_header();

  std::filesystem::path path_;
  const char* mapping_ = nullptr;  // whole file
  size_t file_size_ = 0;
  size_t data_start_ = 0;          // 8 + header length
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> index_;  // name -> position in tensors_
  std::map<std::string, std::string> metadata_;
};

// Every tensor of a model folder:
//   - model.safetensors.index.json present: the shards its weight_map names (a missing shard is
//     a NotFound naming it and the tensor that needs it), every tensor of those shards;
//   - else model.safetensors;
//   - else every *.safetensors in the folder (a tensor name in two files is an error);
//   - else (no safetensors at all, vLLM's fallback) PyTorch weights: pytorch_model.bin.index.json's
//     shards, else pytorch_model.bin, else every *.bin (training state skipped), else every
//     *.pt / *.pth (loader/torch_checkpoint.h).
// `load_format` "safetensors" or "pt" takes only that kind ("auto": as above). `model_dir` may
// also be a single .safetensors, .bin or .pt file.
class Checkpoint {
 public:
  static Checkpoint open(const std::filesystem::path& model_dir, const std::string& load_format = "auto");

  const std::filesystem::path& directory() const { return directory_; }
  const std::vector<std::shared_ptr<TensorFile>>& files() const { return files_; }
  std::vector<std::string> names() const;  // sorted
  size_t size() const { return entries_.size(); }
  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const;  // NotFound naming the tensor

  Tensor get(const std::string& name) const;  // zero-copy view in the checkpoint's dtype
  // A converted copy when dtypes differ (floating dtypes only); the view when they match.
  Tensor get(const std::string& name, DType dtype) const;

 private:
  struct Entry {
    size_t file;    // index into files_
    size_t tensor;  // index into files_[file]->tensors()
  };
  const Entry& entry(const std::string& name) const;

  std::filesystem::path directory_;
  std::vector<std::shared_ptr<TensorFile>> files_;
  std::unordered_map<std::string, Entry> entries_;
};

// Writes `tensors` (host tensors of any core dtype, any strides) in order, with the header
// padded to 8 bytes as the reference writer does. `metadata` becomes "__metadata__".
void save_safetensors(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// "F32" <-> DType::F32 etc. (the safetensors spellings of the dtypes core has).
const char* safetensors_dtype_name(DType dtype);

}  // namespace vllm
