#include "loader/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

#include "loader/json_util.h"
#include "loader/torch_checkpoint.h"

namespace vllm {
namespace fs = std::filesystem;

static_assert(std::endian::native == std::endian::little,
              "safetensors stores little-endian data; a big-endian host would need byte swaps");

namespace {

// The reference implementation refuses larger headers (safetensors' MAX_HEADER_SIZE).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

std::optional<DType> core_dtype(std::string_view name) {
  if (name == "F32") return DType::F32;
  if (name == "F16") return DType::F16;
  if (name == "BF16") return DType::BF16;
  if (name == "I32") return DType::I32;
  if (name == "I64") return DType::I64;
  if (name == "U8") return DType::U8;
  return std::nullopt;
}

// Every dtype the safetensors format defines (safetensors/src/tensor.rs `Dtype`).
bool is_safetensors_dtype(std::string_view name) {
  static const std::set<std::string_view> known = {
      "BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0",
      "I16",  "U16", "F16",    "BF16",    "I32", "U32", "F32",    "F64",     "I64",  "U64", "C64"};
  return known.count(name) != 0;
}

}  // namespace

const char* safetensors_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
    case DType::U8: return "U8";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------
// SafetensorsFile

SafetensorsFile::~SafetensorsFile() {
  if (mapping_) ::munmap(const_cast<char*>(mapping_), file_size_);
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const fs::path& path) {
  std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    fail(err == ENOENT ? ErrorKind::NotFound : ErrorKind::InvalidArgument, path.string(),
         ": cannot open (", std::strerror(err), ")");
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(ErrorKind::InvalidArgument, path.string(), ": not a regular file");
  }
  file->file_size_ = static_cast<size_t>(st.st_size);
  if (file->file_size_ < 8) {
    ::close(fd);
    fail(ErrorKind::InvalidArgument, path.string(), ": file is ", file->file_size_,
         " bytes, too short for the 8-byte header length (truncated or not a safetensors file)");
  }
  void* mapped = ::mmap(nullptr, file->file_size_, PROT_READ, MAP_PRIVATE, fd, 0);
  int err = errno;
  ::close(fd);
  if (mapped == MAP_FAILED)
    fail(ErrorKind::InvalidArgument, path.string(), ": mmap of ", file->file_size_,
         " bytes failed (", std::strerror(err), ")");
  file->mapping_ = static_cast<const char*>(mapped);
  file->parse_header();
  return file;
}

void SafetensorsFile::parse_header() {
  const std::string where = path_.string();
  uint64_t header_bytes;
  std::memcpy(&header_bytes, mapping_, 8);
  if (header_bytes > file_size_ - 8)
    fail(ErrorKind::InvalidArgument, where, ": header length ", header_bytes, " exceeds file size ",
         file_size_, " (truncated or not a safetensors file)");
  if (header_bytes > kMaxHeaderBytes)
    fail(ErrorKind::InvalidArgument, where, ": header length ", header_bytes,
         " exceeds the safetensors limit of ", kMaxHeaderBytes, " bytes (not a safetensors file?)");
  data_start_ = 8 + static_cast<size_t>(header_bytes);
  const size_t data_bytes = file_size_ - data_start_;

  nlohmann::ordered_json header;
  try {
    header = nlohmann::ordered_json::parse(mapping_ + 8, mapping_ + data_start_);
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::InvalidArgument, where, ": header is not valid JSON (", json_error_text(e),
         "; truncated or not a safetensors file?)");
  }
  if (!header.is_object())
    fail(ErrorKind::InvalidArgument, where, ": header must be a JSON object, got ",
         json_value_text(header));

  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {  // free-form string -> string map; only strings are kept
      if (entry.is_object())
        for (const auto& [key, value] : entry.items())
          if (value.is_string()) metadata_[key] = value.get<std::string>();
      continue;
    }
    auto bad = [&](const auto&... parts) {
      fail(ErrorKind::InvalidArgument, where, ": tensor '", name, "' ", parts...);
    };
    if (!entry.is_object()) bad("must be an object, got ", json_value_text(entry));
    auto dtype_it = entry.find("dtype");
    auto shape_it = entry.find("shape");
    auto offsets_it = entry.find("data_offsets");
    if (dtype_it == entry.end() || !dtype_it->is_string())
      bad("has no \"dtype\" string");
    const std::string dtype_text = dtype_it->get<std::string>();
    std::optional<DType> dtype = core_dtype(dtype_text);
    if (!dtype) {
      if (is_safetensors_dtype(dtype_text))
        fail(ErrorKind::Unsupported, where, ": tensor '", name, "' has dtype ", dtype_text,
             ", which this build does not load (supported: F32, F16, BF16, I32, I64, U8)");
      bad("has unknown dtype \"", dtype_text, "\"");
    }
    if (shape_it == entry.end() || !shape_it->is_array()) bad("has no \"shape\" list");
    Shape shape;
    uint64_t numel = 1;
    for (const auto& dim : *shape_it) {
      if (!dim.is_number_unsigned()) bad("has a shape entry that is not a non-negative integer: ",
                                         dim.dump());
      uint64_t size = dim.get<uint64_t>();
      if (size > static_cast<uint64_t>(INT64_MAX) || __builtin_mul_overflow(numel, size, &numel))
        bad("has an impossibly large shape ", shape_it->dump());
      shape.push_back(static_cast<int64_t>(size));
    }
    if (offsets_it == entry.end() || !offsets_it->is_array() || offsets_it->size() != 2 ||
        !(*offsets_it)[0].is_number_unsigned() || !(*offsets_it)[1].is_number_unsigned())
      bad("needs \"data_offsets\": [begin, end] with non-negative integers");
    const uint64_t begin = (*offsets_it)[0].get<uint64_t>();
    const uint64_t end = (*offsets_it)[1].get<uint64_t>();
    if (begin > end) bad("has data_offsets [", begin, ", ", end, "] with begin after end");
    uint64_t expected;
    if (__builtin_mul_overflow(numel, dtype_size(*dtype), &expected) || expected != end - begin)
      bad("has shape ", shape_to_string(shape), " of ", dtype_text, " (", numel * dtype_size(*dtype),
          " bytes) but data_offsets [", begin, ", ", end, "] span ", end - begin, " bytes");
    if (end > data_bytes)
      bad("ends at byte ", end, " past the end of the data (", data_bytes,
          " bytes; file truncated?)");
    index_.emplace(name, tensors_.size());
    tensors_.push_back(TensorInfo{name, *dtype, std::move(shape), static_cast<size_t>(begin),
                                  static_cast<size_t>(end), path_});
  }

  // Non-empty byte ranges must not overlap (the reference reader also refuses this).
  std::vector<const TensorInfo*> by_offset;
  for (const TensorInfo& info : tensors_)
    if (info.end > info.begin) by_offset.push_back(&info);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const TensorInfo& a = *by_offset[i - 1];
    const TensorInfo& b = *by_offset[i];
    if (b.begin < a.end)
      fail(ErrorKind::InvalidArgument, where, ": tensors '", a.name, "' [", a.begin, ", ", a.end,
           ") and '", b.name, "' [", b.begin, ", ", b.end, ") overlap in the data section");
  }
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end())
    fail(ErrorKind::NotFound, path_.string(), ": no tensor named '", name, "'");
  return tensors_[it->second];
}

Tensor SafetensorsFile::get(const std::string& name) const { return get(info(name)); }

Tensor SafetensorsFile::get(const TensorInfo& info) const {
  VLLM_ASSERT(info.end <= file_size_ - data_start_ && info.begin <= info.end,
              "tensor info does not belong to ", path_.string());
  const char* bytes = mapping_ + data_start_ + info.begin;
  if (reinterpret_cast<uintptr_t>(bytes) % dtype_size(info.dtype) != 0) {
    Tensor copy = Tensor::empty(info.shape, info.dtype);
    std::memcpy(copy.raw_data(), bytes, info.end - info.begin);
    return copy;
  }
  std::shared_ptr<void> owner = std::const_pointer_cast<SafetensorsFile>(shared_from_this());
  return Tensor::from_blob(const_cast<char*>(bytes), info.shape, info.dtype, Device::cpu(),
                           std::move(owner));
}

// ---------------------------------------------------------------------------------------------
// Checkpoint

namespace {

const char* kIndexName = "model.safetensors.index.json";

bool is_safetensors_name(const fs::path& path) { return path.extension() == ".safetensors"; }

}  // namespace

Checkpoint Checkpoint::open(const fs::path& model_dir, const std::string& load_format) {
  Checkpoint checkpoint;
  std::error_code ec;
  if (!fs::exists(model_dir, ec))
    fail(ErrorKind::NotFound, model_dir.string(), ": no such folder");
  if (load_format != "auto" && load_format != "safetensors" && load_format != "pt")
    fail(ErrorKind::InvalidArgument, "--load-format '", load_format, "' does not name weight files (auto, safetensors, pt)");
  checkpoint.directory_ = fs::is_directory(model_dir) ? model_dir : model_dir.parent_path();

  // Adds every tensor of `file`, except those whose name `owner` assigns to another file.
  std::unordered_map<std::string, std::string> owner;  // tensor -> shard, from the index
  auto add_file = [&](const fs::path& path) {
    std::shared_ptr<TensorFile> file;
    if (is_safetensors_name(path)) file = SafetensorsFile::open(path);
    else file = open_torch_checkpoint(path);
    size_t file_index = checkpoint.files_.size();
    checkpoint.files_.push_back(file);
    const std::string shard = path.filename().string();
    for (size_t i = 0; i < file->tensors().size(); ++i) {
      const std::string& name = file->tensors()[i].name;
      auto listed = owner.find(name);
      if (listed != owner.end() && listed->second != shard) continue;  // the index decides
      auto [it, inserted] = checkpoint.entries_.emplace(name, Entry{file_index, i});
      if (!inserted)
        fail(ErrorKind::InvalidArgument, path.string(), ": tensor '", name, "' is also in ",
             checkpoint.files_[it->second.file]->path().string(),
             " (duplicate tensor names across shards)");
    }
  };

  if (!fs::is_directory(model_dir)) {
    add_file(model_dir);
    return checkpoint;
  }

  // An index json (model.safetensors.index.json, pytorch_model.bin.index.json): its shards.
  auto add_indexed = [&](const char* index_name) {
    const fs::path index_path = model_dir / index_name;
    nlohmann::json index = read_json_file(index_path);
    auto map_it = index.find("weight_map");
    if (!index.is_object() || map_it == index.end() || !map_it->is_object())
      fail(ErrorKind::InvalidArgument, index_path.string(),
           ": needs a \"weight_map\" object of tensor name -> shard file");
    std::map<std::string, std::string> first_tensor;  // shard -> a tensor it holds (for messages)
    for (const auto& [name, shard] : map_it->items()) {
      if (!shard.is_string())
        fail(ErrorKind::InvalidArgument, index_path.string(), ": weight_map entry '", name,
             "' must be a file name, got ", json_value_text(shard));
      owner[name] = shard.get<std::string>();
      first_tensor.emplace(shard.get<std::string>(), name);
    }
    for (const auto& [shard, tensor] : first_tensor)
      if (!fs::is_regular_file(model_dir / shard))
        fail(ErrorKind::NotFound, index_name, ": shard '", shard, "' for tensor '", tensor,
             "' not found in ", model_dir.string());
    for (const auto& [shard, tensor] : first_tensor) add_file(model_dir / shard);
    for (const auto& [name, shard] : owner)
      if (!checkpoint.entries_.count(name))
        fail(ErrorKind::InvalidArgument, index_path.string(), ": tensor '", name,
             "' is listed in shard '", shard, "' but that file has no such tensor");
  };
  // Every file of the folder whose extension is one of `extensions`, sorted.
  auto files_with = [&](std::initializer_list<const char*> extensions) {
    std::vector<fs::path> found;
    for (const auto& item : fs::directory_iterator(model_dir)) {
      if (!item.is_regular_file()) continue;
      const std::string name = item.path().filename().string();
      if (name == "training_args.bin" || name.rfind("optimizer", 0) == 0 || name.rfind("scheduler", 0) == 0 ||
          name.rfind("rng_state", 0) == 0 || name.rfind("scaler", 0) == 0)
        continue;  // training state, not weights
      for (const char* extension : extensions)
        if (item.path().extension() == extension) found.push_back(item.path());
    }
    std::sort(found.begin(), found.end());
    return found;
  };

  if (load_format != "pt") {
    if (fs::exists(model_dir / kIndexName)) {
      add_indexed(kIndexName);
      return checkpoint;
    }
    if (fs::is_regular_file(model_dir / "model.safetensors")) {
      add_file(model_dir / "model.safetensors");
      return checkpoint;
    }
    std::vector<fs::path> shards = files_with({".safetensors"});
    if (!shards.empty() || load_format == "safetensors") {
      if (shards.empty())
        fail(ErrorKind::NotFound, model_dir.string(), ": no *.safetensors files",
             files_with({".bin", ".pt", ".pth"}).empty() ? "" : " (found PyTorch .bin/.pt weights: pass --load-format pt or auto)");
      for (const auto& shard : shards) add_file(shard);
      return checkpoint;
    }
  }
  // PyTorch weights, only when there are no safetensors (vLLM's order).
  if (fs::exists(model_dir / "pytorch_model.bin.index.json")) {
    add_indexed("pytorch_model.bin.index.json");
    return checkpoint;
  }
  std::vector<fs::path> pickles = files_with({".bin"});
  if (pickles.empty()) pickles = files_with({".pt", ".pth"});
  if (pickles.empty())
    fail(ErrorKind::NotFound, model_dir.string(),
         load_format == "pt" ? ": no PyTorch *.bin or *.pt weight files (--load-format pt)"
                             : ": no weight files (*.safetensors, *.bin or *.pt)");
  for (const auto& file : pickles) add_file(file);
  return checkpoint;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> result;
  result.reserve(entries_.size());
  for (const auto& [name, entry] : entries_) result.push_back(name);
  std::sort(result.begin(), result.end());
  return result;
}

const Checkpoint::Entry& Checkpoint::entry(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end())
    fail(ErrorKind::NotFound, directory_.string(), ": checkpoint has no tensor named '", name,
         "' (", entries_.size(), " tensors in ", files_.size(), " file(s))");
  return it->second;
}

const TensorInfo& Checkpoint::info(const std::string& name) const {
  const Entry& e = entry(name);
  return files_[e.file]->tensors()[e.tensor];
}

Tensor Checkpoint::get(const std::string& name) const {
  const Entry& e = entry(name);
  return files_[e.file]->get(files_[e.file]->tensors()[e.tensor]);
}

Tensor Checkpoint::get(const std::string& name, DType dtype) const {
  const TensorInfo& tensor_info = info(name);
  if (tensor_info.dtype == dtype) return get(name);
  if (!is_floating(tensor_info.dtype) || !is_floating(dtype))
    fail(ErrorKind::Unsupported, tensor_info.file.string(), ": tensor '", name, "' is ",
         dtype_name(tensor_info.dtype), " and cannot be converted to ", dtype_name(dtype),
         " (only floating dtypes convert)");
  return get(name).to(dtype);
}

// ---------------------------------------------------------------------------------------------
// Writer

void save_safetensors(const fs::path& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<Tensor> packed;
  packed.reserve(tensors.size());
  size_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    VLLM_CHECK(tensor.defined(), InvalidArgument, path.string(), ": tensor '", name, "' is undefined");
    VLLM_CHECK(tensor.device().is_cpu(), InvalidArgument, path.string(), ": tensor '", name,
               "' is on ", tensor.device().to_string(), "; move it to the host first");
    VLLM_CHECK(name != "__metadata__" && !header.contains(name), InvalidArgument, path.string(),
               ": tensor name '", name, "' is used twice or reserved");
    packed.push_back(tensor.contiguous());
    const size_t bytes = packed.back().nbytes();
    header[name] = {{"dtype", safetensors_dtype_name(tensor.dtype())},
                    {"shape", tensor.shape()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data section starts 8-byte aligned

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  VLLM_CHECK(out.good(), InvalidArgument, path.string(), ": cannot open for writing (",
             std::strerror(errno), ")");
  const uint64_t header_bytes = text.size();
  out.write(reinterpret_cast<const char*>(&header_bytes), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const Tensor& tensor : packed)
    out.write(static_cast<const char*>(tensor.raw_data()), static_cast<std::streamsize>(tensor.nbytes()));
  out.close();
  VLLM_CHECK(!out.fail(), InvalidArgument, path.string(), ": write failed (disk full?)");
}

}  // namespace vllm
