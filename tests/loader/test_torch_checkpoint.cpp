// PyTorch checkpoints: the zip reader, the restricted unpickler and Checkpoint's fallback to
// .bin/.pt weights, on checkpoints written by hand as torch.save writes them (torch_writer.h).
#include <gtest/gtest.h>

#include <cstring>

#include "loader/loader_test_util.h"
#include "loader/pickle.h"
#include "loader/safetensors.h"
#include "loader/torch_checkpoint.h"
#include "loader/torch_writer.h"
#include "test_util.h"

using namespace vllm;
using vllm::testing::expect_error;
using vllm::testing::TempDir;
using vllm::testing::TorchTensor;
using vllm::testing::write_text;
using vllm::testing::write_torch_checkpoint;
namespace fs = std::filesystem;
namespace pb = vllm::testing::pickle_bytes;

namespace {

template <typename T>
std::string bytes_of(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

std::vector<TorchTensor> known_tensors() {
  const std::vector<float> weight = {1.5f, -2.0f, 3.25f, 4.0f, 5.0f, -6.5f};
  const std::vector<uint16_t> bf16 = {0x3f80, 0xc000};  // 1.0, -2.0
  const std::vector<int64_t> ids = {7, 8, 9};
  return {
      {"model.embed.weight", "FloatStorage", bytes_of(weight), 6, 0, {2, 3}, {3, 1}},
      // The transpose of the same storage: a strided view, [3, 2] with strides [1, 3].
      {"model.embed_t.weight", "FloatStorage", bytes_of(weight), 6, 0, {3, 2}, {1, 3}},
      {"model.norm.weight", "BFloat16Storage", bytes_of(bf16), 2, 0, {2}, {1}},
      // Two of three elements, from offset 1.
      {"model.ids", "LongStorage", bytes_of(ids), 3, 1, {2}, {1}},
      {"model.scale", "DoubleStorage", bytes_of(std::vector<double>{0.25}), 1, 0, {}, {}},
  };
}

std::vector<float> floats(const Tensor& tensor) {
  Tensor f = tensor.to(DType::F32).contiguous();
  const float* data = static_cast<const float*>(f.raw_data());
  return std::vector<float>(data, data + f.numel());
}

}  // namespace

TEST(TorchCheckpoint, HandBuiltBinLoadsTheKnownTensors) {
  TempDir dir;
  write_torch_checkpoint(dir / "pytorch_model.bin", known_tensors());
  auto file = open_torch_checkpoint(dir / "pytorch_model.bin");
  ASSERT_EQ(file->tensors().size(), 5u);
  Checkpoint checkpoint = Checkpoint::open(dir.path());
  EXPECT_EQ(checkpoint.names(), (std::vector<std::string>{"model.embed.weight", "model.embed_t.weight", "model.ids",
                                                         "model.norm.weight", "model.scale"}));
  Tensor embed = checkpoint.get("model.embed.weight");
  EXPECT_EQ(embed.shape(), (Shape{2, 3}));
  EXPECT_EQ(embed.dtype(), DType::F32);
  EXPECT_EQ(floats(embed), (std::vector<float>{1.5f, -2.0f, 3.25f, 4.0f, 5.0f, -6.5f}));
  EXPECT_EQ(floats(checkpoint.get("model.embed_t.weight")), (std::vector<float>{1.5f, 4.0f, -2.0f, 5.0f, 3.25f, -6.5f}));
  Tensor norm = checkpoint.get("model.norm.weight");
  EXPECT_EQ(norm.dtype(), DType::BF16);
  EXPECT_EQ(floats(norm), (std::vector<float>{1.0f, -2.0f}));
  Tensor ids = checkpoint.get("model.ids");
  ASSERT_EQ(ids.dtype(), DType::I64);
  EXPECT_EQ(static_cast<const int64_t*>(ids.contiguous().raw_data())[0], 8);
  EXPECT_EQ(static_cast<const int64_t*>(ids.contiguous().raw_data())[1], 9);
  Tensor scale = checkpoint.get("model.scale");
  EXPECT_EQ(scale.dtype(), DType::F32);  // float64 is read as float32
  EXPECT_EQ(floats(scale), std::vector<float>{0.25f});
}

TEST(TorchCheckpoint, ForbiddenGlobalsAreRefused) {
  TempDir dir;
  // pickle.dumps of os.system("echo pwned") under protocol 2: GLOBAL os.system, REDUCE.
  const std::string evil = std::string("\x80\x02") + pb::global("posix", "system") + "(" + pb::text("echo pwned") + "tR.";
  write_torch_checkpoint(dir / "pytorch_model.bin", {}, evil);
  expect_error([&] { Checkpoint::open(dir.path()); }, ErrorKind::InvalidArgument,
               {"pytorch_model.bin", "refuses to load the global 'posix.system'", "weights_only=True"});
  // A global that is allowed only as data may not be called for something else either.
  const std::string builtins = std::string("\x80\x02") + pb::global("builtins", "eval") + "(" + pb::text("1") + "tR.";
  expect_error([&] { pickle::unpickle(builtins, "x.pt"); }, ErrorKind::InvalidArgument,
               {"x.pt: refuses to load the global 'builtins.eval'"});
  expect_error([&] { pickle::unpickle(std::string("\x80\x02") + "\xff", "x.pt"); }, ErrorKind::InvalidArgument,
               {"unsupported pickle opcode 0xff"});
  expect_error([&] { pickle::unpickle(std::string("\x80\x02") + "X\x10\0\0\0ab", "x.pt"); }, ErrorKind::InvalidArgument,
               {"truncated"});
}

TEST(TorchCheckpoint, TrainingCheckpointWrappersAreUnwrapped) {
  TempDir dir;
  std::vector<TorchTensor> tensors = {known_tensors()[0]};
  write_torch_checkpoint(dir / "model.pt", tensors, pb::state_dict(tensors, "model"));  // fairseq2's model.pt
  Checkpoint checkpoint = Checkpoint::open(dir.path());
  EXPECT_EQ(checkpoint.names(), std::vector<std::string>{"model.embed.weight"});
  EXPECT_EQ(floats(checkpoint.get("model.embed.weight"))[2], 3.25f);
}

TEST(TorchCheckpoint, LoadFormatChoosesBetweenSafetensorsAndPickles) {
  TempDir dir;
  write_torch_checkpoint(dir / "pytorch_model.bin", {known_tensors()[0]});
  write_torch_checkpoint(dir / "training_args.bin", {}, std::string("\x80\x02") + pb::global("transformers", "TrainingArguments") + ")R.");
  Tensor only = Tensor::empty({1}, DType::F32);
  static_cast<float*>(only.raw_data())[0] = 42.0f;
  save_safetensors(dir / "model.safetensors", {{"safe.weight", only}});
  EXPECT_EQ(Checkpoint::open(dir.path()).names(), std::vector<std::string>{"safe.weight"});
  EXPECT_EQ(Checkpoint::open(dir.path(), "pt").names(), std::vector<std::string>{"model.embed.weight"});
  fs::remove(dir / "model.safetensors");
  EXPECT_EQ(Checkpoint::open(dir.path()).names(), std::vector<std::string>{"model.embed.weight"}) << "auto falls back";
  expect_error([&] { Checkpoint::open(dir.path(), "safetensors"); }, ErrorKind::NotFound,
               {"no *.safetensors files", "--load-format pt"});
}

TEST(TorchCheckpoint, ShardedBinFollowsItsIndex) {
  TempDir dir;
  auto tensors = known_tensors();
  write_torch_checkpoint(dir / "pytorch_model-00001-of-00002.bin", {tensors[0]});
  write_torch_checkpoint(dir / "pytorch_model-00002-of-00002.bin", {tensors[2]});
  write_text(dir / "pytorch_model.bin.index.json",
             R"({"weight_map": {"model.embed.weight": "pytorch_model-00001-of-00002.bin",
                                "model.norm.weight": "pytorch_model-00002-of-00002.bin"}})");
  Checkpoint checkpoint = Checkpoint::open(dir.path());
  EXPECT_EQ(checkpoint.names(), (std::vector<std::string>{"model.embed.weight", "model.norm.weight"}));
  EXPECT_EQ(floats(checkpoint.get("model.norm.weight")), (std::vector<float>{1.0f, -2.0f}));
}

TEST(TorchCheckpoint, BrokenFilesAreOneLineErrors) {
  TempDir dir;
  write_text(dir / "legacy.pt", std::string("\x80\x02\x8a\x0a", 4) + "legacy magic");
  expect_error([&] { open_torch_checkpoint(dir / "legacy.pt"); }, ErrorKind::InvalidArgument,
               {"legacy.pt: not a zip archive", "before PyTorch 1.6"});
  auto tensors = known_tensors();
  tensors[0].storage.resize(8);  // 2 floats where 6 are needed
  write_torch_checkpoint(dir / "short.bin", {tensors[0]});
  expect_error([&] { open_torch_checkpoint(dir / "short.bin"); }, ErrorKind::InvalidArgument,
               {"tensor 'model.embed.weight' needs 24 bytes of storage '0', which holds 8"});
  tensors = known_tensors();
  tensors[0].storage_type = "ComplexFloatStorage";
  write_torch_checkpoint(dir / "complex.bin", {tensors[0]}, std::string("\x80\x02") + pb::global("torch", "ComplexFloatStorage") + ".");
  expect_error([&] { open_torch_checkpoint(dir / "complex.bin"); }, ErrorKind::InvalidArgument,
               {"refuses to load the global 'torch.ComplexFloatStorage'"});
}

// tools/make_pt_fixture.py writes a tiny model with PyTorch as pytorch_model.bin, as a wrapped
// model.pt and as model.safetensors; all must give the same tensors.
TEST(TorchCheckpoint, PytorchWrittenBinMatchesItsSafetensorsTwin) {
  const fs::path root = vllm::testing::source_dir() / "tests" / "data" / "models" / "pt_fixture";
  if (!fs::exists(root / "bin" / "pytorch_model.bin"))
    GTEST_SKIP() << root << " not generated (python3 tools/make_pt_fixture.py)";
  Checkpoint safe = Checkpoint::open(root / "safetensors");
  for (const char* folder : {"bin", "wrapped"}) {
    Checkpoint pickled = Checkpoint::open(root / folder);
    ASSERT_EQ(pickled.names(), safe.names()) << folder;
    for (const std::string& name : pickled.names()) {
      Tensor a = pickled.get(name).contiguous(), b = safe.get(name).contiguous();
      ASSERT_EQ(a.shape(), b.shape()) << folder << " " << name;
      ASSERT_EQ(a.dtype(), b.dtype()) << folder << " " << name;
      EXPECT_EQ(std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()), 0) << folder << " " << name;
    }
  }
}
