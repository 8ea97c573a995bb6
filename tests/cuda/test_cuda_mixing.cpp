// mul, mix_streams, match_rms and gaussian_topk (src/ops/mixing.h) on CUDA tensors against the CPU
// kernels on the same random inputs; skipped where no GPU is present.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

#include "backend/cuda/cuda_backend.h"
#include "cuda/cuda_test_util.h"
#include "ops/ops.h"

using namespace vllm;
using namespace vllm::cuda_test;

namespace {

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
    Tensor x = random_tensor({6, H}, DType::F32, 3.0f), reference = random_tensor({6, H});
    Tensor gpu_x = gpu(x);
    ops::match_rms(x, reference, 1e-5f);
    ops::match_rms(gpu_x, gpu(reference), 1e-5f);
    expect_close(gpu_x, x, 1e-5f, 1e-6f, "match_rms H=" + std::to_string(H));
  }
}

TEST(CudaMixing, GaussianTopkMatchesCpu) {
  SKIP_WITHOUT_GPU();
  for (int64_t N : {1, 100, 4096, 5000}) {
    Tensor x = random_tensor({5, N}, DType::F32, 2.0f);
    Tensor gpu_x = gpu(x);
    ops::gaussian_topk(x, 1.6448536f);
    ops::gaussian_topk(gpu_x, 1.6448536f);
    expect_close(gpu_x, x, 1e-5f, 1e-5f, "gaussian_topk N=" + std::to_string(N));
  }
}

}  // namespace
