// Elementwise products, per-token stream mixing and per-row statistics on the GPU
// (src/ops/mixing.h). Row-wise ops run one block per row; sums accumulate in double as on the CPU.
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/mixing_cuda.h"

namespace vllm::cuda {
namespace {

using namespace detail;

constexpr int kThreads = 256;

__global__ void mul_kernel(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = a[i] * b[i];
}

// One thread per output element: out[k, t, h] += sum_j coefs[t, k, j] * streams[j, t, h], the
// terms added in j order as on the CPU.
__global__ void mix_streams_kernel(const float* __restrict__ streams, const float* __restrict__ coefs,
                                   float* __restrict__ out, int64_t num_in, int64_t num_out,
                                   int64_t tokens, int64_t hidden) {
  const int64_t n = num_out * tokens * hidden;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t h = i % hidden, row = i / hidden, t = row % tokens, k = row / tokens;
    const float* c = coefs + (t * num_out + k) * num_in;
    float acc = out[i];
    for (int64_t j = 0; j < num_in; ++j) acc += c[j] * streams[(j * tokens + t) * hidden + h];
    out[i] = acc;
  }
}

__global__ void match_rms_kernel(float* x, const float* __restrict__ reference, int64_t n,
                                 float min_mean_square) {
  __shared__ double scratch[32];
  float* row = x + static_cast<int64_t>(blockIdx.x) * n;
  const float* ref = reference + static_cast<int64_t>(blockIdx.x) * n;
  double ref_sum = 0.0, sum = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    ref_sum += static_cast<double>(ref[i]) * ref[i];
    sum += static_cast<double>(row[i]) * row[i];
  }
  ref_sum = block_sum(ref_sum, scratch);
  sum = block_sum(sum, scratch);
  const float target = static_cast<float>(sqrt(ref_sum / static_cast<double>(n)));
  const float scale =
      target / static_cast<float>(sqrt(fmax(sum / static_cast<double>(n), static_cast<double>(min_mean_square))));
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) row[i] *= scale;
}

__global__ void gaussian_topk_kernel(float* x, int64_t n, float multiplier) {
  __shared__ double scratch[32];
  float* row = x + static_cast<int64_t>(blockIdx.x) * n;
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) sum += row[i];
  const double mean = block_sum(sum, scratch) / static_cast<double>(n);
  double var = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) var += (row[i] - mean) * (row[i] - mean);
  var = block_sum(var, scratch);
  const float cutoff = static_cast<float>(mean + sqrt(var / static_cast<double>(n)) * multiplier);
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) row[i] = fmaxf(row[i] - cutoff, 0.0f);
}

}  // namespace

void mul(const Tensor& a, const Tensor& b, Tensor& out) {
  set_device(a.device());
  const int64_t n = a.numel();
  if (n == 0) return;
  mul_kernel<<<grid_for(n, kThreads), kThreads, 0, stream()>>>(a.data<float>(), b.data<float>(),
                                                                out.data<float>(), n);
  check_launch("mul_kernel");
}

void mix_streams(const Tensor& streams, const Tensor& coefs, Tensor& out) {
  set_device(streams.device());
  const int64_t n = out.numel();
  if (n == 0) return;
  mix_streams_kernel<<<grid_for(n, kThreads), kThreads, 0, stream()>>>(
      streams.data<float>(), coefs.data<float>(), out.data<float>(), streams.size(0), out.size(0),
      streams.size(1), streams.size(2));
  check_launch("mix_streams_kernel");
}

void match_rms(Tensor& x, const Tensor& reference, float min_mean_square) {
  set_device(x.device());
  const int64_t rows = x.size(0), n = x.size(1);
  if (rows == 0 || n == 0) return;
  match_rms_kernel<<<static_cast<unsigned>(rows), row_threads(n), 0, stream()>>>(
      x.data<float>(), reference.data<float>(), n, min_mean_square);
  check_launch("match_rms_kernel");
}

void gaussian_topk(Tensor& x, float multiplier) {
  set_device(x.device());
  const int64_t rows = x.size(0), n = x.size(1);
  if (rows == 0 || n == 0) return;
  gaussian_topk_kernel<<<static_cast<unsigned>(rows), row_threads(n), 0, stream()>>>(x.data<float>(), n,
                                                                                       multiplier);
  check_launch("gaussian_topk_kernel");
}

}  // namespace vllm::cuda
