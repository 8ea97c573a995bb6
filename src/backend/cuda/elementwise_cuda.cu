// Softmax, log-softmax, embedding lookup, adds, scaling, clamping, soft-capping and row gathers on
// the GPU. Row-wise ops run one block per row; sums accumulate in double as on the CPU.
#include "backend/cuda/cuda_common.cuh"

namespace vllm::cuda {
namespace {

using namespace detail;

constexpr int kThreads = 256;

__global__ void softmax_kernel(float* x, int64_t n) {
  __shared__ float max_scratch[32];
  __shared__ double sum_scratch[32];
  float* row = x + static_cast<int64_t>(blockIdx.x) * n;
  float m = -INFINITY;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) m = fmaxf(m, row[i]);
  m = block_max(m, max_scratch);
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const float e = expf(row[i] - m);
    row[i] = e;
    sum += e;
  }
  sum = block_sum(sum, sum_scratch);
  const float inverse = static_cast<float>(1.0 / sum);
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) row[i] *= inverse;
}

__global__ void log_softmax_kernel(const float* x, float* out, int64_t n) {
  __shared__ float max_scratch[32];
  __shared__ double sum_scratch[32];
  const float* row = x + static_cast<int64_t>(blockIdx.x) * n;
  float* out_row = out + static_cast<int64_t>(blockIdx.x) * n;
  float m = -INFINITY;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) m = fmaxf(m, row[i]);
  m = block_max(m, max_scratch);
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) sum += exp(static_cast<double>(row[i] - m));
  sum = block_sum(sum, sum_scratch);  // ends with a barrier: out may alias x
  const float log_sum = static_cast<float>(log(sum));
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) out_row[i] = row[i] - m - log_sum;
}

// One block per token; an id outside [0, vocab) yields a NaN row.
__global__ void embedding_kernel(const int32_t* __restrict__ ids, WeightRef table,
                                 int64_t table_stride, int64_t vocab, float* __restrict__ out,
                                 int64_t hidden) {
  const int64_t t = blockIdx.x;
  const int32_t id = ids[t];
  float* out_row = out + t * hidden;
  if (id < 0 || id >= vocab) {
    for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x) out_row[i] = NAN;
    return;
  }
  const int64_t base = static_cast<int64_t>(id) * table_stride;
  for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x) out_row[i] = table[base + i];
}

__global__ void gather_rows_kernel(const float* __restrict__ x, int64_t x_stride, int64_t available,
                                   const int32_t* __restrict__ rows, float* __restrict__ out,
                                   int64_t width) {
  const int64_t i = blockIdx.x;
  const int32_t r = rows[i];
  float* out_row = out + i * width;
  const bool valid = r >= 0 && r < available;
  for (int64_t c = threadIdx.x; c < width; c += blockDim.x)
    out_row[c] = valid ? x[static_cast<int64_t>(r) * x_stride + c] : NAN;
}

__global__ void add_kernel(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = a[i] + b[i];
}

__global__ void scale_kernel(float* x, float factor, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    x[i] *= factor;
}

__global__ void clamp_kernel(float* x, float lo, float hi, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    x[i] = fminf(fmaxf(x[i], lo), hi);
}

__global__ void softcap_kernel(float* x, float cap, float inverse, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    x[i] = cap * tanhf(x[i] * inverse);
}

}  // namespace

void softmax(Tensor& x) {
  set_device(x.device());
  const int64_t n = x.size(-1), rows = n == 0 ? 0 : x.numel() / n;
  if (rows == 0) return;
  softmax_kernel<<<static_cast<unsigned>(rows), row_threads(n), 0, stream()>>>(x.data<float>(), n);
  check_launch("softmax_kernel");
}

void log_softmax(const Tensor& x, Tensor& out) {
  set_device(x.device());
  const int64_t n = x.size(-1), rows = n == 0 ? 0 : x.numel() / n;
  if (rows == 0) return;
  log_softmax_kernel<<<static_cast<unsigned>(rows), row_threads(n), 0, stream()>>>(x.data<float>(),
                                                                      out.data<float>(), n);
  check_launch("log_softmax_kernel");
}

void embedding(const Tensor& ids, const Tensor& table, Tensor& out) {
  set_device(ids.device());
  const int64_t tokens = ids.size(0), hidden = table.size(1);
  if (tokens == 0 || hidden == 0) return;
  embedding_kernel<<<static_cast<unsigned>(tokens), row_threads(hidden), 0, stream()>>>(
      ids.data<int32_t>(), weight_ref(table), table.stride(0), table.size(0), out.data<float>(),
      hidden);
  check_launch("embedding_kernel");
}

void add(const Tensor& a, const Tensor& b, Tensor& out) {
  set_device(a.device());
  const int64_t n = a.numel();
  if (n == 0) return;
  add_kernel<<<grid_for(n, kThreads), kThreads, 0, stream()>>>(a.data<float>(), b.data<float>(),
                                                  out.data<float>(), n);
  check_launch("add_kernel");
}

void scale(Tensor& x, float factor) {
  set_device(x.device());
  const int64_t n = x.numel();
  if (n == 0) return;
  scale_kernel<<<grid_for(n, kThreads), kThreads, 0, stream()>>>(x.data<float>(), factor, n);
  check_launch("scale_kernel");
}

void clamp(Tensor& x, float lo, float hi) {
  set_device(x.device());
  const int64_t n = x.numel();
  if (n == 0) return;
  clamp_kernel<<<grid_for(n, kThreads), kThreads, 0, stream()>>>(x.data<float>(), lo, hi, n);
  check_launch("clamp_kernel");
}

void softcap(Tensor& x, float cap) {
  set_device(x.device());
  const int64_t n = x.numel();
  if (n == 0) return;
  softcap_kernel<<<grid_for(n, kThreads), kThreads, 0, stream()>>>(x.data<float>(), cap, 1.0f / cap, n);
  check_launch("softcap_kernel");
}

void gather_rows(const Tensor& x, const Tensor& rows, Tensor& out) {
  set_device(x.device());
  const int64_t count = rows.size(0), width = x.size(1);
  if (count == 0 || width == 0) return;
  gather_rows_kernel<<<static_cast<unsigned>(count), row_threads(width), 0, stream()>>>(
      x.data<float>(), x.stride(0), x.size(0), rows.data<int32_t>(), out.data<float>(), width);
  check_launch("gather_rows_kernel");
}

}  // namespace vllm::cuda
