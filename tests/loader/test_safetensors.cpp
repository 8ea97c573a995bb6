#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "core/tensor.h"
#include "loader/loader_test_util.h"
#include "loader/safetensors.h"

using namespace vllm;
using vllm::testing::expect_error;
using vllm::testing::TempDir;
using vllm::testing::write_raw_safetensors;
using vllm::testing::write_text;

namespace {

// A tensor of `dtype` whose bytes are 0, 1, 2, ... (every dtype, including the integer ones).
Tensor byte_pattern(const Shape& shape, DType dtype) {
  Tensor t = Tensor::empty(shape, dtype);
  auto* bytes = static_cast<uint8_t*>(t.raw_data());
  for (size_t i = 0; i < t.nbytes(); ++i) bytes[i] = static_cast<uint8_t>(i * 7 + 3);
  return t;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  Tensor ca = a.contiguous(), cb = b.contiguous();
  return ca.dtype() == cb.dtype() && ca.shape() == cb.shape() &&
         std::memcmp(ca.raw_data(), cb.raw_data(), ca.nbytes()) == 0;
}

std::string f32_bytes(std::initializer_list<float> values) {
  std::string bytes;
  for (float v : values) bytes.append(reinterpret_cast<const char*>(&v), 4);
  return bytes;
}

}  // namespace

TEST(Safetensors, RoundTripsEveryDtype) {
  TempDir dir;
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (DType dtype : {DType::F32, DType::F16, DType::BF16, DType::I32, DType::I64, DType::U8})
    tensors.emplace_back(std::string("t.") + dtype_name(dtype), byte_pattern({3, 5}, dtype));
  tensors.emplace_back("scalar", Tensor::from_floats({2.5f}, {}));
  tensors.emplace_back("empty", Tensor::empty({0, 4}, DType::BF16));
  tensors.emplace_back("transposed", Tensor::from_floats({1, 2, 3, 4, 5, 6}, {2, 3}).transpose(0, 1));
  save_safetensors(dir / "model.safetensors", tensors, {{"format", "pt"}});

  auto file = SafetensorsFile::open(dir / "model.safetensors");
  ASSERT_EQ(file->tensors().size(), tensors.size());
  EXPECT_EQ(file->metadata().at("format"), "pt");
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, expected] = tensors[i];
    EXPECT_EQ(file->tensors()[i].name, name);  // header order is kept
    Tensor loaded = file->get(name);
    EXPECT_TRUE(same_bytes(loaded, expected)) << name;
    EXPECT_EQ(file->info(name).file, dir / "model.safetensors");
  }
  EXPECT_EQ(file->get("transposed").to_float_vector(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  // Every tensor starts 8-byte aligned in the file (header padded), so views need no copy.
  std::ifstream in(dir / "model.safetensors", std::ios::binary);
  uint64_t header_length = 0;
  in.read(reinterpret_cast<char*>(&header_length), 8);
  EXPECT_EQ(header_length % 8, 0u);
}

TEST(Safetensors, ViewsAreZeroCopyAndKeepTheMappingAlive) {
  TempDir dir;
  save_safetensors(dir / "w.safetensors", {{"w", Tensor::from_floats({1, 2, 3, 4}, {2, 2})}});
  Tensor view;
  {
    auto file = SafetensorsFile::open(dir / "w.safetensors");
    view = file->get("w");
    EXPECT_EQ(view.raw_data(), file->get("w").raw_data());  // the same mapped bytes
  }
  std::filesystem::remove(dir / "w.safetensors");  // the mapping outlives the name
  EXPECT_EQ(view.to_float_vector(), (std::vector<float>{1, 2, 3, 4}));
}

TEST(Safetensors, ReadsHandBuiltBytes) {
  TempDir dir;
  // Unsorted names, unaligned offsets, metadata with a non-string value, trailing spaces.
  std::string header =
      R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[2,10]},)"
      R"("__metadata__":{"format":"pt","n":3},"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}  )";
  write_raw_safetensors(dir / "x.safetensors", header, "\x07\x09" + f32_bytes({1.5f, -2.0f}));
  auto file = SafetensorsFile::open(dir / "x.safetensors");
  ASSERT_EQ(file->tensors().size(), 2u);
  EXPECT_EQ(file->tensors()[0].name, "b");
  EXPECT_EQ(file->info("b").begin, 2u);
  EXPECT_EQ(file->get("b").to_float_vector(), (std::vector<float>{1.5f, -2.0f}));
  Tensor a = file->get("a");
  EXPECT_EQ(a.dtype(), DType::U8);
  EXPECT_EQ(a.data<uint8_t>()[1], 9);
  EXPECT_EQ(file->metadata().size(), 1u);
}

TEST(Checkpoint, ShardedWithIndex) {
  TempDir dir;
  save_safetensors(dir / "model-00001-of-00002.safetensors",
                   {{"embed.weight", Tensor::from_floats({1, 2, 3, 4}, {2, 2})},
                    {"stale.copy", Tensor::from_floats({9}, {1})}});
  save_safetensors(dir / "model-00002-of-00002.safetensors",
                   {{"lm_head.weight", Tensor::from_floats({5, 6}, {1, 2}, DType::BF16)},
                    {"stale.copy", Tensor::from_floats({7}, {1})}});
  write_text(dir / "model.safetensors.index.json", R"({"metadata": {"total_size": 28}, "weight_map": {
      "embed.weight": "model-00001-of-00002.safetensors",
      "lm_head.weight": "model-00002-of-00002.safetensors",
      "stale.copy": "model-00002-of-00002.safetensors"}})");
  save_safetensors(dir / "consolidated.safetensors", {{"other", Tensor::from_floats({0}, {1})}});

  Checkpoint checkpoint = Checkpoint::open(dir.path());
  EXPECT_EQ(checkpoint.files().size(), 2u);  // consolidated.safetensors is not in the index
  EXPECT_EQ(checkpoint.names(), (std::vector<std::string>{"embed.weight", "lm_head.weight", "stale.copy"}));
  EXPECT_TRUE(checkpoint.contains("lm_head.weight"));
  EXPECT_FALSE(checkpoint.contains("other"));
  EXPECT_EQ(checkpoint.get("stale.copy").to_float_vector(), std::vector<float>{7});  // index decides
  EXPECT_EQ(checkpoint.info("lm_head.weight").file.filename(), "model-00002-of-00002.safetensors");

  Tensor head = checkpoint.get("lm_head.weight");
  EXPECT_EQ(head.dtype(), DType::BF16);
  Tensor widened = checkpoint.get("lm_head.weight", DType::F32);
  EXPECT_EQ(widened.dtype(), DType::F32);
  EXPECT_EQ(widened.to_float_vector(), (std::vector<float>{5, 6}));
  Tensor narrowed = checkpoint.get("embed.weight", DType::BF16);
  EXPECT_EQ(narrowed.dtype(), DType::BF16);
  EXPECT_EQ(narrowed.to_float_vector(), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(checkpoint.get("embed.weight", DType::F32).raw_data(), checkpoint.get("embed.weight").raw_data());
}

TEST(Checkpoint, SingleFileAndFolderWithoutIndex) {
  TempDir dir;
  save_safetensors(dir / "model.safetensors", {{"a", Tensor::from_floats({1}, {1})}});
  save_safetensors(dir / "extra.safetensors", {{"b", Tensor::from_floats({2}, {1})}});
  EXPECT_EQ(Checkpoint::open(dir.path()).names(), std::vector<std::string>{"a"});  // model.safetensors wins
  EXPECT_EQ(Checkpoint::open(dir / "extra.safetensors").names(), std::vector<std::string>{"b"});

  std::filesystem::remove(dir / "model.safetensors");
  save_safetensors(dir / "part2.safetensors", {{"c", Tensor::from_floats({3}, {1})}});
  Checkpoint all = Checkpoint::open(dir.path());
  EXPECT_EQ(all.names(), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(all.get("c").to_float_vector(), std::vector<float>{3});
}

// ---------------------------------------------------------------------------------------------
// Errors: one line each, naming the file and the problem.

TEST(SafetensorsErrors, HeaderLengthLargerThanFile) {
  TempDir dir;
  write_raw_safetensors(dir / "model-00002-of-00002.safetensors", "{}", "", 123456789);
  expect_error([&] { SafetensorsFile::open(dir / "model-00002-of-00002.safetensors"); },
               ErrorKind::InvalidArgument,
               {"model-00002-of-00002.safetensors: header length 123456789 exceeds file size 10",
                "truncated or not a safetensors file"});
}

TEST(SafetensorsErrors, FileShorterThanHeaderLength) {
  TempDir dir;
  write_text(dir / "tiny.safetensors", "abc");
  expect_error([&] { SafetensorsFile::open(dir / "tiny.safetensors"); }, ErrorKind::InvalidArgument,
               {"tiny.safetensors: file is 3 bytes, too short"});
}

TEST(SafetensorsErrors, HeaderNotJson) {
  TempDir dir;
  write_raw_safetensors(dir / "model.safetensors", "{\"a\": [1, 2", "");
  expect_error([&] { SafetensorsFile::open(dir / "model.safetensors"); }, ErrorKind::InvalidArgument,
               {"model.safetensors: header is not valid JSON", "parse error"});
  write_raw_safetensors(dir / "model.safetensors", "[1, 2]", "");
  expect_error([&] { SafetensorsFile::open(dir / "model.safetensors"); }, ErrorKind::InvalidArgument,
               {"model.safetensors: header must be a JSON object, got [1,2]"});
}

TEST(SafetensorsErrors, TensorPastTheEndOfTheData) {
  TempDir dir;
  write_raw_safetensors(dir / "model.safetensors",
                        R"({"model.norm.weight":{"dtype":"F32","shape":[1024],"data_offsets":[0,4096]}})",
                        std::string(1000, '\0'));
  expect_error([&] { SafetensorsFile::open(dir / "model.safetensors"); }, ErrorKind::InvalidArgument,
               {"model.safetensors: tensor 'model.norm.weight' ends at byte 4096 past the end of the data",
                "file truncated?"});
}

TEST(SafetensorsErrors, ShapeDoesNotMatchByteSize) {
  TempDir dir;
  write_raw_safetensors(dir / "model.safetensors",
                        R"({"w":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,8]}})", std::string(8, '\0'));
  expect_error([&] { SafetensorsFile::open(dir / "model.safetensors"); }, ErrorKind::InvalidArgument,
               {"model.safetensors: tensor 'w' has shape [2, 3] of BF16 (12 bytes)", "span 8 bytes"});
}

TEST(SafetensorsErrors, UnknownAndUnsupportedDtypes) {
  TempDir dir;
  write_raw_safetensors(dir / "model.safetensors",
                        R"({"w":{"dtype":"F99","shape":[1],"data_offsets":[0,4]}})", std::string(4, '\0'));
  expect_error([&] { SafetensorsFile::open(dir / "model.safetensors"); }, ErrorKind::InvalidArgument,
               {"model.safetensors: tensor 'w' has unknown dtype \"F99\""});
  write_raw_safetensors(dir / "model.safetensors",
                        R"({"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", std::string(8, '\0'));
  expect_error([&] { SafetensorsFile::open(dir / "model.safetensors"); }, ErrorKind::Unsupported,
               {"model.safetensors: tensor 'w' has dtype F64, which this build does not load"});
}

TEST(SafetensorsErrors, MalformedEntries) {
  TempDir dir;
  const auto path = dir / "model.safetensors";
  write_raw_safetensors(path, R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", std::string(4, '\0'));
  expect_error([&] { SafetensorsFile::open(path); }, ErrorKind::InvalidArgument,
               {"model.safetensors: tensor 'w' has a shape entry that is not a non-negative integer: -1"});
  write_raw_safetensors(path, R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4]}})", std::string(4, '\0'));
  expect_error([&] { SafetensorsFile::open(path); }, ErrorKind::InvalidArgument,
               {"model.safetensors: tensor 'w' needs \"data_offsets\""});
  write_raw_safetensors(path, R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}})", std::string(4, '\0'));
  expect_error([&] { SafetensorsFile::open(path); }, ErrorKind::InvalidArgument,
               {"model.safetensors: tensor 'w' has data_offsets [4, 0] with begin after end"});
}

TEST(SafetensorsErrors, OverlappingOffsets) {
  TempDir dir;
  write_raw_safetensors(dir / "model.safetensors",
                        R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                        std::string(12, '\0'));
  expect_error([&] { SafetensorsFile::open(dir / "model.safetensors"); }, ErrorKind::InvalidArgument,
               {"model.safetensors: tensors 'a' [0, 8) and 'b' [4, 12) overlap"});
}

TEST(SafetensorsErrors, TruncatedAfterWriting) {
  TempDir dir;
  const auto path = dir / "model.safetensors";
  save_safetensors(path, {{"a", Tensor::from_floats({1, 2}, {2})}, {"b", Tensor::from_floats({3, 4}, {2})}});
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 3);  // cut into 'b'
  expect_error([&] { SafetensorsFile::open(path); }, ErrorKind::InvalidArgument,
               {path.string() + ": tensor 'b' ends at byte 16 past the end of the data (13 bytes; file truncated?)"});
  std::filesystem::resize_file(path, 20);  // cut into the header
  expect_error([&] { SafetensorsFile::open(path); }, ErrorKind::InvalidArgument,
               {"model.safetensors: header length", "exceeds file size 20"});
}

TEST(SafetensorsErrors, MissingFile) {
  TempDir dir;
  expect_error([&] { SafetensorsFile::open(dir / "nope.safetensors"); }, ErrorKind::NotFound,
               {"nope.safetensors: cannot open"});
}

TEST(CheckpointErrors, MissingShard) {
  TempDir dir;
  save_safetensors(dir / "model-00001-of-00002.safetensors", {{"embed", Tensor::from_floats({1}, {1})}});
  write_text(dir / "model.safetensors.index.json", R"({"weight_map": {
      "embed": "model-00001-of-00002.safetensors", "lm_head.weight": "model-00002-of-00002.safetensors"}})");
  expect_error([&] { Checkpoint::open(dir.path()); }, ErrorKind::NotFound,
               {"model.safetensors.index.json: shard 'model-00002-of-00002.safetensors' for tensor "
                "'lm_head.weight' not found in " + dir.path().string()});
}

TEST(CheckpointErrors, IndexNamesATensorItsShardLacks) {
  TempDir dir;
  save_safetensors(dir / "a.safetensors", {{"x", Tensor::from_floats({1}, {1})}});
  write_text(dir / "model.safetensors.index.json", R"({"weight_map": {"x": "a.safetensors", "y": "a.safetensors"}})");
  expect_error([&] { Checkpoint::open(dir.path()); }, ErrorKind::InvalidArgument,
               {"model.safetensors.index.json: tensor 'y' is listed in shard 'a.safetensors' but that file has no such tensor"});
  write_text(dir / "model.safetensors.index.json", R"({"weight_map": ["a.safetensors"]})");
  expect_error([&] { Checkpoint::open(dir.path()); }, ErrorKind::InvalidArgument,
               {"model.safetensors.index.json: needs a \"weight_map\" object"});
  write_text(dir / "model.safetensors.index.json", R"({"weight_map": )");
  expect_error([&] { Checkpoint::open(dir.path()); }, ErrorKind::InvalidArgument,
               {"model.safetensors.index.json: not valid JSON"});
}

TEST(CheckpointErrors, MissingTensorName) {
  TempDir dir;
  save_safetensors(dir / "model.safetensors", {{"a", Tensor::from_floats({1}, {1})}});
  Checkpoint checkpoint = Checkpoint::open(dir.path());
  expect_error([&] { checkpoint.get("model.layers.0.mlp.up_proj.weight"); }, ErrorKind::NotFound,
               {dir.path().string() + ": checkpoint has no tensor named 'model.layers.0.mlp.up_proj.weight'"});
  expect_error([&] { SafetensorsFile::open(dir / "model.safetensors")->get("b"); }, ErrorKind::NotFound,
               {"model.safetensors: no tensor named 'b'"});
}

TEST(CheckpointErrors, DuplicateTensorAcrossFilesWithoutIndex) {
  TempDir dir;
  save_safetensors(dir / "a.safetensors", {{"w", Tensor::from_floats({1}, {1})}});
  save_safetensors(dir / "b.safetensors", {{"w", Tensor::from_floats({2}, {1})}});
  expect_error([&] { Checkpoint::open(dir.path()); }, ErrorKind::InvalidArgument,
               {"b.safetensors: tensor 'w' is also in", "a.safetensors"});
}

TEST(CheckpointErrors, FolderWithoutSafetensors) {
  TempDir dir;
  expect_error([&] { Checkpoint::open(dir.path()); }, ErrorKind::NotFound,
               {dir.path().string() + ": no weight files (*.safetensors, *.bin or *.pt)"});
  write_text(dir / "pytorch_model.bin", "x");
  expect_error([&] { Checkpoint::open(dir.path(), "safetensors"); }, ErrorKind::NotFound,
               {dir.path().string() + ": no *.safetensors files", "PyTorch .bin/.pt weights"});
  // Without safetensors the PyTorch weights are read (tests/loader/test_torch_checkpoint.cpp).
  expect_error([&] { Checkpoint::open(dir.path()); }, ErrorKind::InvalidArgument, {"pytorch_model.bin: not a zip archive"});
  expect_error([&] { Checkpoint::open(dir / "missing"); }, ErrorKind::NotFound, {"missing: no such folder"});
}

TEST(CheckpointErrors, IntegerTensorsDoNotConvert) {
  TempDir dir;
  save_safetensors(dir / "model.safetensors", {{"ids", Tensor::from_ints({1, 2}, {2})}});
  Checkpoint checkpoint = Checkpoint::open(dir.path());
  EXPECT_EQ(checkpoint.get("ids", DType::I32).dtype(), DType::I32);
  expect_error([&] { checkpoint.get("ids", DType::F32); }, ErrorKind::Unsupported,
               {"model.safetensors: tensor 'ids' is int32 and cannot be converted to float32"});
}
