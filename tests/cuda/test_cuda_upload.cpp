// Host-to-device copies through the page-locked upload staging (cuda_runtime.cpp's copy()): every
// byte arrives for sizes around the staging threshold and chunk boundaries, at odd offsets, with
// the source overwritten as soon as the copy returns (the contract), back to back (a staging
// buffer is reused only after its DMA), and from several threads at once. And the weight loader
// on the GPU (fused projections assembled on the device, --dtype casts done there) gives the host
// loader's tensors bit for bit. Skipped where no GPU is present.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "cuda/cuda_test_util.h"
#include "loader/safetensors.h"
#include "loader/weight_loader.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace vllm;

namespace {

constexpr size_t kThreshold = cuda::kUploadStagingThreshold;
constexpr size_t kChunk = cuda::kUploadStagingChunk;

// Byte i of pattern `seed` (a cheap hash, so 200 MiB fill in a moment and every byte differs
// between seeds).
void fill_pattern(uint8_t* data, size_t bytes, uint32_t seed) {
  for (size_t i = 0; i < bytes; ++i) {
    uint64_t z = (i >> 3) * 0x9e3779b97f4a7c15ULL + seed;
    z ^= z >> 29;
    data[i] = static_cast<uint8_t>(z >> (8 * (i & 7)));
  }
}

// "" when `got` holds pattern `seed`, else where it first differs.
std::string pattern_mismatch(const uint8_t* got, size_t bytes, uint32_t seed) {
  std::vector<uint8_t> want(bytes);
  fill_pattern(want.data(), bytes, seed);
  if (bytes == 0 || std::memcmp(got, want.data(), bytes) == 0) return "";
  size_t bad = 0, first = bytes;
  for (size_t i = 0; i < bytes; ++i)
    if (got[i] != want[i] && bad++ == 0) first = i;
  return str(bad, " of ", bytes, " bytes differ, first at ", first, " (chunk ", first / kChunk, ", offset ",
             first % kChunk, ")");
}

// Copies `bytes` of pattern `seed` from the host (at `src_offset` in its buffer) to the GPU (at
// `dst_offset`), poisons the source the moment copy() returns, and reads the bytes back.
void round_trip(size_t bytes, uint32_t seed, size_t src_offset = 0, size_t dst_offset = 0) {
  const DeviceAllocator& hooks = *cuda_allocator();
  std::vector<uint8_t> host(src_offset + bytes + 1);  // never empty: data() is a real pointer
  fill_pattern(host.data() + src_offset, bytes, seed);
  Tensor device = Tensor::empty({static_cast<int64_t>(dst_offset + bytes + 1)}, DType::U8, Device::cuda());
  char* dst = static_cast<char*>(device.raw_data()) + dst_offset;
  hooks.copy(dst, Device::cuda(), host.data() + src_offset, Device::cpu(), bytes);
  std::memset(host.data(), 0xA5, host.size());  // the source may be reused once copy() returns
  std::vector<uint8_t> back(bytes + 1);
  hooks.copy(back.data(), Device::cpu(), dst, Device::cuda(), bytes);
  EXPECT_EQ(pattern_mismatch(back.data(), bytes, seed), "")
      << bytes << " bytes, source offset " << src_offset << ", destination offset " << dst_offset;
}

TEST(CudaUpload, EveryByteArrivesAroundThresholdAndChunkBoundaries) {
  SKIP_WITHOUT_GPU();
  static_assert(kThreshold < kChunk);
  const std::vector<size_t> sizes = {0,          1,          4097,       kThreshold - 1, kThreshold,
                                     kThreshold + 1, kChunk - 1, kChunk, kChunk + 1,     2 * kChunk,
                                     2 * kChunk + 17, (size_t{200} << 20) + 3};
  uint32_t seed = 1;
  for (size_t bytes : sizes) round_trip(bytes, seed++);
  EXPECT_TRUE(cuda::upload_staging_active(Device::cuda()))
      << "no page-locked staging was allocated: the copies above took the pageable path";
}

TEST(CudaUpload, OddOffsetsOnBothSides) {
  SKIP_WITHOUT_GPU();
  for (size_t bytes : {kThreshold + 5, kChunk + 3, 2 * kChunk + 17}) {
    round_trip(bytes, 101, 3, 0);
    round_trip(bytes, 102, 0, 5);
    round_trip(bytes, 103, 7, 1);
  }
}

// Staging buffers still being read by the previous copy's DMA are not overwritten by the next.
TEST(CudaUpload, BackToBackCopiesFromOneSourceBuffer) {
  SKIP_WITHOUT_GPU();
  const DeviceAllocator& hooks = *cuda_allocator();
  const size_t bytes = 2 * kChunk + 17;  // three chunks: buffers 0, 1, 0
  constexpr int kCopies = 4;
  std::vector<uint8_t> source(bytes);
  std::vector<Tensor> devices;
  for (int i = 0; i < kCopies; ++i) {
    fill_pattern(source.data(), bytes, 200 + i);
    devices.push_back(Tensor::empty({static_cast<int64_t>(bytes)}, DType::U8, Device::cuda()));
    hooks.copy(devices.back().raw_data(), Device::cuda(), source.data(), Device::cpu(), bytes);
  }
  std::vector<uint8_t> back(bytes);
  for (int i = 0; i < kCopies; ++i) {
    hooks.copy(back.data(), Device::cpu(), devices[i].raw_data(), Device::cuda(), bytes);
    EXPECT_EQ(pattern_mismatch(back.data(), bytes, 200 + i), "") << "copy " << i;
  }
}

TEST(CudaUpload, SeveralThreadsAtOnce) {
  SKIP_WITHOUT_GPU();
  constexpr int kThreads = 4;
  const std::vector<size_t> sizes = {kThreshold - 1, kThreshold, kChunk + 1, 2 * kChunk + 17, 1000};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round)
        for (size_t i = 0; i < sizes.size(); ++i)
          round_trip(sizes[(i + static_cast<size_t>(t)) % sizes.size()], static_cast<uint32_t>(1000 * t + 10 * round + i),
                     static_cast<size_t>(t), static_cast<size_t>(round));
    });
  for (std::thread& thread : threads) thread.join();
}

// --- weights straight onto the GPU -------------------------------------------------------------

WeightMap llama_packing() {
  WeightMap map;
  map.packed = {{"qkv_proj", {"q_proj", "k_proj", "v_proj"}}, {"gate_up_proj", {"gate_proj", "up_proj"}}};
  return map;
}

// The loader's `name` on the GPU equals the host loader's, bit for bit.
void expect_same_on_gpu(const Checkpoint& checkpoint, std::optional<DType> dtype, const std::string& name,
                        const Shape& shape, ParamStorage storage) {
  WeightLoader host(checkpoint, llama_packing(), "LlamaForCausalLM"), gpu(checkpoint, llama_packing(), "LlamaForCausalLM");
  host.set_weight_dtype(dtype);
  gpu.set_weight_dtype(dtype);
  Tensor expected = host.take(name, shape, storage).contiguous();
  Tensor got = gpu.take(name, shape, storage, Device::cuda());
  const std::string what = str(name, " as ", dtype ? dtype_name(*dtype) : "stored");
  ASSERT_TRUE(got.device().is_cuda()) << what;
  ASSERT_EQ(got.dtype(), expected.dtype()) << what;
  ASSERT_EQ(got.shape(), expected.shape()) << what;
  Tensor back = got.to(Device::cpu());
  EXPECT_EQ(std::memcmp(back.raw_data(), expected.raw_data(), expected.nbytes()), 0) << what << " differs";
}

TEST(CudaUpload, LoaderOnTheGpuMatchesTheHostLoader) {
  SKIP_WITHOUT_GPU();
  Checkpoint checkpoint = Checkpoint::open(vllm::testing::source_dir() / "tests/data/models/llama_gqa_5x");
  auto rows = [&](const std::string& name) { return checkpoint.get(name).size(0); };
  const std::string layer = "model.layers.0.";
  const int64_t hidden = checkpoint.get("model.norm.weight").size(0);
  const int64_t qkv = rows(layer + "self_attn.q_proj.weight") + rows(layer + "self_attn.k_proj.weight") +
                      rows(layer + "self_attn.v_proj.weight");
  const int64_t gate_up = rows(layer + "mlp.gate_proj.weight") + rows(layer + "mlp.up_proj.weight");
  const Shape embed = checkpoint.get("model.embed_tokens.weight").shape();
  for (std::optional<DType> dtype : {std::optional<DType>(), std::optional<DType>(DType::F16),
                                     std::optional<DType>(DType::BF16), std::optional<DType>(DType::F32)}) {
    expect_same_on_gpu(checkpoint, dtype, "model.embed_tokens.weight", embed, ParamStorage::Keep);
    expect_same_on_gpu(checkpoint, dtype, layer + "self_attn.qkv_proj.weight", {qkv, hidden}, ParamStorage::Keep);
    expect_same_on_gpu(checkpoint, dtype, layer + "mlp.gate_up_proj.weight", {gate_up, hidden}, ParamStorage::Keep);
    expect_same_on_gpu(checkpoint, dtype, "model.norm.weight", {hidden}, ParamStorage::Float32);
  }
}

// An f32 checkpoint whose fused parts exceed the 64 MiB conversion block: converted on the
// device a block of rows at a time, into the right rows.
TEST(CudaUpload, LargeFusedF32WeightsConvertOnTheGpu) {
  SKIP_WITHOUT_GPU();
  const fs::path dir = fs::temp_directory_path() / ("vllm_cuda_upload_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  constexpr int64_t kHidden = 2048, kGateRows = 9000, kUpRows = 3001;  // gate: 70 MiB of f32
  const std::string prefix = "model.layers.0.mlp.";
  save_safetensors(dir / "model.safetensors",
                   {{prefix + "gate_proj.weight", cuda_test::random_tensor({kGateRows, kHidden})},
                    {prefix + "up_proj.weight", cuda_test::random_tensor({kUpRows, kHidden})}});
  {
    Checkpoint checkpoint = Checkpoint::open(dir);
    for (DType dtype : {DType::BF16, DType::F16})
      expect_same_on_gpu(checkpoint, dtype, prefix + "gate_up_proj.weight", {kGateRows + kUpRows, kHidden},
                         ParamStorage::Keep);
  }
  fs::remove_all(dir);
}

}  // namespace
