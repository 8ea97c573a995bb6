// Writes PyTorch checkpoints by hand for the loader tests, byte for byte as torch.save does:
// a zip of stored entries (archive/data.pkl, archive/data/<key>, archive/version, data aligned to
// 64 bytes) whose pickle (protocol 2) is an OrderedDict of name -> _rebuild_tensor_v2(...).
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace vllm::testing {

struct TorchTensor {
  std::string name;
  std::string storage_type;     // "FloatStorage", "BFloat16Storage", "LongStorage", ...
  std::string storage;          // the storage's raw little-endian bytes
  int64_t storage_numel = 0;
  int64_t offset = 0;           // in elements
  std::vector<int64_t> size, stride;
};

namespace pickle_bytes {

inline std::string u32(uint32_t value) {
  return std::string{static_cast<char>(value), static_cast<char>(value >> 8), static_cast<char>(value >> 16),
                     static_cast<char>(value >> 24)};
}
inline std::string text(const std::string& value) { return "X" + u32(static_cast<uint32_t>(value.size())) + value; }
inline std::string integer(int64_t value) { return "J" + u32(static_cast<uint32_t>(value)); }
inline std::string tuple(const std::vector<int64_t>& values) {
  std::string out = "(";
  for (int64_t value : values) out += integer(value);
  return out + "t";
}
inline std::string global(const std::string& module, const std::string& name) { return "c" + module + "\n" + name + "\n"; }
inline std::string ordered_dict() { return global("collections", "OrderedDict") + ")R"; }

// The state dict's pickle; `wrap` puts it under {wrap: state_dict} as training checkpoints do.
inline std::string state_dict(const std::vector<TorchTensor>& tensors, const std::string& wrap = "") {
  std::string out = "\x80\x02";
  if (!wrap.empty()) out += "}(" + text(wrap);
  out += ordered_dict() + "(";
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TorchTensor& t = tensors[i];
    out += text(t.name);
    out += global("torch._utils", "_rebuild_tensor_v2") + "(";
    out += "(" + text("storage") + global("torch", t.storage_type) + text(std::to_string(i)) + text("cpu") +
           integer(t.storage_numel) + "tQ";
    out += integer(t.offset) + tuple(t.size) + tuple(t.stride) + "\x89" + ordered_dict() + "tR";
  }
  out += "u";
  if (!wrap.empty()) out += text("step") + integer(7) + "u";
  return out + ".";
}

}  // namespace pickle_bytes

inline uint32_t crc32_of(const std::string& data) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : data) {
    crc ^= byte;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

// A zip of stored entries, each entry's data padded (local extra field) to a 64-byte boundary.
inline void write_stored_zip(const std::filesystem::path& path, const std::vector<std::pair<std::string, std::string>>& entries) {
  using pickle_bytes::u32;
  auto u16 = [](uint32_t value) { return std::string{static_cast<char>(value), static_cast<char>(value >> 8)}; };
  std::string out, directory;
  for (const auto& [name, data] : entries) {
    const uint32_t offset = static_cast<uint32_t>(out.size());
    size_t unpadded = out.size() + 30 + name.size() + 4;
    const size_t padding = (64 - unpadded % 64) % 64;
    const std::string extra = u16(0xCAFE) + u16(static_cast<uint32_t>(padding)) + std::string(padding, 'Z');
    const uint32_t crc = crc32_of(data), size = static_cast<uint32_t>(data.size());
    out += u32(0x04034b50) + u16(20) + u16(0) + u16(0) + u16(0) + u16(0) + u32(crc) + u32(size) + u32(size) +
           u16(static_cast<uint32_t>(name.size())) + u16(static_cast<uint32_t>(extra.size())) + name + extra + data;
    directory += u32(0x02014b50) + u16(20) + u16(20) + u16(0) + u16(0) + u16(0) + u16(0) + u32(crc) + u32(size) +
                 u32(size) + u16(static_cast<uint32_t>(name.size())) + u16(0) + u16(0) + u16(0) + u16(0) + u32(0) +
                 u32(offset) + name;
  }
  const uint32_t directory_offset = static_cast<uint32_t>(out.size());
  out += directory;
  out += u32(0x06054b50) + u16(0) + u16(0) + u16(static_cast<uint32_t>(entries.size())) +
         u16(static_cast<uint32_t>(entries.size())) + u32(static_cast<uint32_t>(directory.size())) +
         u32(directory_offset) + u16(0);
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << out;
}

// A torch.save-style checkpoint of `tensors` (pickle `pickled` replaces the generated one).
inline void write_torch_checkpoint(const std::filesystem::path& path, const std::vector<TorchTensor>& tensors,
                                   const std::string& pickled = "") {
  std::vector<std::pair<std::string, std::string>> entries = {
      {"archive/data.pkl", pickled.empty() ? pickle_bytes::state_dict(tensors) : pickled}};
  for (size_t i = 0; i < tensors.size(); ++i) entries.push_back({"archive/data/" + std::to_string(i), tensors[i].storage});
  entries.push_back({"archive/version", "3\n"});
  write_stored_zip(path, entries);
}

}  // namespace vllm::testing
