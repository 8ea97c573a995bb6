#include "loader/zip_archive.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "core/error.h"

namespace vllm {
namespace fs = std::filesystem;

namespace {

constexpr uint32_t kLocalHeader = 0x04034b50, kCentralHeader = 0x02014b50, kEndOfDirectory = 0x06054b50,
                   kZip64End = 0x06064b50, kZip64Locator = 0x07064b50;

uint64_t read_le(const unsigned char* at, int bytes) {
  uint64_t value = 0;
  for (int i = bytes - 1; i >= 0; --i) value = value << 8 | at[i];
  return value;
}

}  // namespace

bool ZipArchive::is_zip(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char magic[4] = {0};
  in.read(reinterpret_cast<char*>(magic), 4);
  return in.gcount() == 4 && read_le(magic, 4) == kLocalHeader;
}

std::shared_ptr<ZipArchive> ZipArchive::open(const fs::path& path) {
  std::shared_ptr<ZipArchive> archive(new ZipArchive());
  archive->path_ = path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    fail(err == ENOENT ? ErrorKind::NotFound : ErrorKind::InvalidArgument, path.string(), ": cannot open (",
         std::strerror(err), ")");
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 22) {
    ::close(fd);
    fail(ErrorKind::InvalidArgument, path.string(), ": not a zip archive (too short or not a regular file)");
  }
  archive->size_ = static_cast<size_t>(st.st_size);
  void* mapped = ::mmap(nullptr, archive->size_, PROT_READ, MAP_PRIVATE, fd, 0);
  int err = errno;
  ::close(fd);
  if (mapped == MAP_FAILED)
    fail(ErrorKind::InvalidArgument, path.string(), ": mmap failed (", std::strerror(err), ")");
  archive->mapping_ = static_cast<const unsigned char*>(mapped);
  archive->read_directory();
  return archive;
}

ZipArchive::~ZipArchive() {
  if (mapping_) ::munmap(const_cast<unsigned char*>(mapping_), size_);
}

void ZipArchive::read_directory() {
  const std::string where = path_.string();
  auto bad = [&](const auto&... parts) { fail(ErrorKind::InvalidArgument, where, ": ", parts...); };
  // The end-of-directory record sits in the last 22 + 65535 (comment) bytes.
  size_t end = size_ - 22;
  const size_t lowest = size_ > 22 + 65535 ? size_ - 22 - 65535 : 0;
  while (read_le(mapping_ + end, 4) != kEndOfDirectory) {
    if (end == lowest) bad("not a zip archive (no end-of-central-directory record; truncated?)");
    --end;
  }
  uint64_t count = read_le(mapping_ + end + 10, 2);
  uint64_t directory_size = read_le(mapping_ + end + 12, 4);
  uint64_t directory_offset = read_le(mapping_ + end + 16, 4);
  if (end >= 20 && read_le(mapping_ + end - 20, 4) == kZip64Locator) {
    const uint64_t record = read_le(mapping_ + end - 20 + 8, 8);
    if (record + 56 > size_ || read_le(mapping_ + record, 4) != kZip64End) bad("broken ZIP64 end record");
    count = read_le(mapping_ + record + 32, 8);
    directory_size = read_le(mapping_ + record + 40, 8);
    directory_offset = read_le(mapping_ + record + 48, 8);
  }
  if (directory_offset + directory_size > size_) bad("central directory past the end of the file (truncated?)");
  size_t at = directory_offset;
  for (uint64_t i = 0; i < count; ++i) {
    if (at + 46 > size_ || read_le(mapping_ + at, 4) != kCentralHeader) bad("corrupt central directory entry ", i);
    const unsigned char* header = mapping_ + at;
    const uint64_t method = read_le(header + 10, 2);
    uint64_t compressed = read_le(header + 20, 4), uncompressed = read_le(header + 24, 4);
    const size_t name_length = read_le(header + 28, 2), extra_length = read_le(header + 30, 2),
                 comment_length = read_le(header + 32, 2);
    uint64_t local = read_le(header + 42, 4);
    if (at + 46 + name_length + extra_length > size_) bad("corrupt central directory entry ", i);
    std::string name(reinterpret_cast<const char*>(header + 46), name_length);
    // ZIP64 extra field: the 64-bit values of the fields saturated at 0xFFFFFFFF, in this order.
    for (size_t extra = 0; extra + 4 <= extra_length;) {
      const unsigned char* field = header + 46 + name_length + extra;
      const size_t id = read_le(field, 2), length = read_le(field + 2, 2);
      if (id == 0x0001) {
        const unsigned char* value = field + 4;
        if (uncompressed == 0xFFFFFFFF) uncompressed = read_le(value, 8), value += 8;
        if (compressed == 0xFFFFFFFF) compressed = read_le(value, 8), value += 8;
        if (local == 0xFFFFFFFF) local = read_le(value, 8);
      }
      extra += 4 + length;
    }
    if (method != 0)
      fail(ErrorKind::Unsupported, where, ": entry '", name, "' is compressed (method ", method,
           "); only stored entries are read, as torch.save writes them");
    if (local + 30 > size_ || read_le(mapping_ + local, 4) != kLocalHeader) bad("entry '", name, "' has no local header");
    const uint64_t data = local + 30 + read_le(mapping_ + local + 26, 2) + read_le(mapping_ + local + 28, 2);
    if (data + uncompressed > size_) bad("entry '", name, "' runs past the end of the file (truncated?)");
    entries_[name] = std::string_view(reinterpret_cast<const char*>(mapping_ + data), uncompressed);
    at += 46 + name_length + extra_length + comment_length;
  }
}

std::string_view ZipArchive::entry(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) fail(ErrorKind::NotFound, path_.string(), ": archive has no entry '", name, "'");
  return it->second;
}

}  // namespace vllm
