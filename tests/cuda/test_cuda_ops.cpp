// CUDA kernels against the CPU ops; skipped (with a message) where no GPU is present.
#include <gtest/gtest.h>

#include <random>

#include "backend/cuda/cuda_backend.h"
#include "ops/ops.h"

using namespace vllm;

namespace {

#define SKIP_WITHOUT_GPU() \
  if (!cuda::available()) GTEST_SKIP() << "no CUDA device: CUDA op tests need a GPU"

Tensor random_tensor(const Shape& shape, uint32_t seed) {
  std::mt19937 random(seed);
  std::normal_distribution<float> normal;
  std::vector<float> values(static_cast<size_t>(shape_numel(shape)));
  for (float& value : values) value = normal(random);
  return Tensor::from_floats(values, shape);
}

void expect_close(const Tensor& gpu, const Tensor& cpu, float tolerance) {
  std::vector<float> a = gpu.to(Device::cpu()).to_float_vector(), b = cpu.to_float_vector();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], tolerance * (1 + std::abs(b[i]))) << i;
}

TEST(CudaOps, DeviceMemoryRoundTrips) {
  SKIP_WITHOUT_GPU();
  Tensor host = random_tensor({3, 5}, 1);
  EXPECT_EQ(host.to(Device::cuda()).to(Device::cpu()).to_float_vector(), host.to_float_vector());
}

TEST(CudaOps, RmsNormMatchesCpu) {
  SKIP_WITHOUT_GPU();
  for (int64_t hidden : {64, 1000, 4096}) {
    Tensor x = random_tensor({7, hidden}, 2), weight = random_tensor({hidden}, 3);
    Tensor cpu_out = Tensor::empty(x.shape(), DType::F32);
    ops::rms_norm(x, weight, 1e-6f, 1.0f, cpu_out);
    Tensor gx = x.to(Device::cuda()), gw = weight.to(Device::cuda());
    Tensor gpu_out = Tensor::empty(x.shape(), DType::F32, Device::cuda());
    cuda::rms_norm(gx, gw, 1e-6f, 1.0f, gpu_out);
    expect_close(gpu_out, cpu_out, 1e-5f);
  }
}

TEST(CudaOps, SiluAndMulMatchesCpu) {
  SKIP_WITHOUT_GPU();
  Tensor x = random_tensor({9, 2 * 333}, 4);
  Tensor cpu_out = Tensor::empty({9, 333}, DType::F32);
  ops::activation_and_mul(ops::Activation::Silu, x, cpu_out);
  Tensor gpu_out = Tensor::empty({9, 333}, DType::F32, Device::cuda());
  cuda::silu_and_mul(x.to(Device::cuda()), gpu_out);
  expect_close(gpu_out, cpu_out, 1e-5f);
}

}  // namespace
