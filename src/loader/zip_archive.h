// A read-only view of a zip archive whose entries are stored uncompressed, as torch.save writes
// them (PyTorch's "zip file format": archive/data.pkl, archive/data/<key>, each entry's data
// aligned to 64 bytes so tensors can be mapped in place). The file is mmapped; an entry is a
// pointer and a length into the mapping. ZIP64 records (archives over 4 GiB) are read.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace vllm {

class ZipArchive {
 public:
  // Maps `path` and reads its central directory. InvalidArgument for a file that is not a zip
  // (or is truncated), Unsupported for a compressed entry.
  static std::shared_ptr<ZipArchive> open(const std::filesystem::path& path);
  ~ZipArchive();
  ZipArchive(const ZipArchive&) = delete;
  ZipArchive& operator=(const ZipArchive&) = delete;

  const std::filesystem::path& path() const { return path_; }
  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  // The bytes of entry `name` (NotFound naming it and the archive).
  std::string_view entry(const std::string& name) const;
  const std::map<std::string, std::string_view>& entries() const { return entries_; }

  // True when `path` starts with a zip local-file signature.
  static bool is_zip(const std::filesystem::path& path);

 private:
  ZipArchive() = default;
  void read_directory();

  std::filesystem::path path_;
  const unsigned char* mapping_ = nullptr;
  size_t size_ = 0;
  std::map<std::string, std::string_view> entries_;
};

}  // namespace vllm
