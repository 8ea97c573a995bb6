// mul, mix_streams, match_rms and gaussian_topk (src/ops/mixing.h) on CUDA tensors against the CPU
// kernels on the same random inputs; skipped where no GPU is present.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

#include "backend/cuda/cuda_backend.h"
#include "ops/ops.h"

using namespace vllm;

namespace {

#define SKIP_WITHOUT_GPU() \
  if (!cuda::available()) GTEST_SKIP() << "no CUDA device: CUDA op tests need a GPU"

Tensor random_tensor(const Shape& shape, float scale = 1.0f) {
  static std::mt19937 random(std::random_device{}());
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> values(static_cast<size_t>(shape_numel(shape)));
  for (float& value : values) value = normal(random);
  return Tensor::from_floats(values, shape, DType::F32);
}

Tensor gpu(const Tensor& t) { return t.to(Device::cuda()); }

// |gpu - cpu| <= atol + rtol |cpu| elementwise, NaN never passes.
void expect_close(const Tensor& on_gpu, const Tensor& on_cpu, float rtol, float atol, const std::string& what) {
  ASSERT_TRUE(on_gpu.device().is_cuda()) << what;
  std::vector<float> a = on_gpu.to(Device::cpu()).to_float_vector(), b = on_cpu.to_float_vector();
  ASSERT_EQ(a.size(), b.size()) << what;
  size_t bad = 0, first_bad = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double diff = std::abs(static_cast<double>(a[i]) - b[i]);
    if (!(std::isfinite(a[i]) && diff <= atol + rtol * std::abs(b[i])) && bad++ == 0) first_bad = i;
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << a.size() << " differ; first at " << first_bad
                     << ": gpu " << a[first_bad] << " cpu " << b[first_bad];
}

TEST(CudaMixing, MulMatchesCpu) {
  SKIP_WITHOUT_GPU();
  Tensor a = random_tensor({7, 1029}), b = random_tensor({7, 1029});
  Tensor cpu_out = Tensor::empty(a.shape(), DType::F32), gpu_out = gpu(Tensor::empty(a.shape(), DType::F32));
  ops::mul(a, b, cpu_out);
  ops::mul(gpu(a), gpu(b), gpu_out);
  expect_close(gpu_out, cpu_out, 0.0f, 0.0f, "mul");
}

TEST(CudaMixing, MixStreamsMatchesCpu) {
  SKIP_WITHOUT_GPU();
  for (auto [J, K] : {std::pair<int64_t, int64_t>{4, 4}, {1, 4}, {3, 2}}) {
    const int64_t T = 9, H = 257;
    Tensor streams = random_tensor({J, T, H}), coefs = random_tensor({T, K, J}), out = random_tensor({K, T, H});
    Tensor gpu_out = gpu(out);
    ops::mix_streams(streams, coefs, out);
    ops::mix_streams(gpu(streams), gpu(coefs), gpu_out);
    expect_close(gpu_out, out, 1e-5f, 1e-5f, "mix_streams J=" + std::to_string(J) + " K=" + std::to_string(K));
  }
}

TEST(CudaMixing, MatchRmsMatchesCpu) {
  SKIP_WITHOUT_GPU();
  for (int64_t H : {1, 33, 2048, 3000}) {
    Tensor x = random_tensor({6, H}, 3.0f), reference = random_tensor({6, H});
    Tensor gpu_x = gpu(x);
    ops::match_rms(x, reference, 1e-5f);
    ops::match_rms(gpu_x, gpu(reference), 1e-5f);
    expect_close(gpu_x, x, 1e-5f, 1e-6f, "match_rms H=" + std::to_string(H));
  }
}

TEST(CudaMixing, GaussianTopkMatchesCpu) {
  SKIP_WITHOUT_GPU();
  for (int64_t N : {1, 100, 4096, 5000}) {
    Tensor x = random_tensor({5, N}, 2.0f);
    Tensor gpu_x = gpu(x);
    ops::gaussian_topk(x, 1.6448536f);
    ops::gaussian_topk(gpu_x, 1.6448536f);
    expect_close(gpu_x, x, 1e-5f, 1e-5f, "gaussian_topk N=" + std::to_string(N));
  }
}

}  // namespace
