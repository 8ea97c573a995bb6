// RMSNorm, fused add + RMSNorm and LayerNorm on the GPU: one block per row (leading dims may be
// strided), statistics accumulated in double as the CPU kernels do.
#include "backend/cuda/cuda_common.cuh"

namespace vllm::cuda {
namespace {

using namespace detail;

__global__ void rms_norm_kernel(const float* x, RowLayout x_rows, float* out,
                                RowLayout out_rows, WeightRef weight, int64_t n, float eps,
                                float weight_offset) {
  __shared__ double scratch[32];
  const float* row = x + x_rows.offset(blockIdx.x);
  float* out_row = out + out_rows.offset(blockIdx.x);
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) sum += static_cast<double>(row[i]) * row[i];
  sum = block_sum(sum, scratch);
  const float inverse = static_cast<float>(1.0 / sqrt(sum / static_cast<double>(n) + eps));
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
    out_row[i] = row[i] * inverse * (weight[i] + weight_offset);
}

__global__ void fused_add_rms_norm_kernel(float* x, RowLayout x_rows, float* residual,
                                          RowLayout res_rows, WeightRef weight, int64_t n,
                                          float eps, float weight_offset) {
  __shared__ double scratch[32];
  float* x_row = x + x_rows.offset(blockIdx.x);
  float* res_row = residual + res_rows.offset(blockIdx.x);
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const float r = res_row[i] + x_row[i];
    res_row[i] = r;
    sum += static_cast<double>(r) * r;
  }
  sum = block_sum(sum, scratch);
  const float inverse = static_cast<float>(1.0 / sqrt(sum / static_cast<double>(n) + eps));
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
    x_row[i] = res_row[i] * inverse * (weight[i] + weight_offset);
}

__global__ void layer_norm_kernel(const float* x, RowLayout x_rows, float* out,
                                  RowLayout out_rows, WeightRef weight, WeightRef bias, int64_t n,
                                  float eps) {
  __shared__ double scratch[32];
  const float* row = x + x_rows.offset(blockIdx.x);
  float* out_row = out + out_rows.offset(blockIdx.x);
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) sum += row[i];
  const double mean = block_sum(sum, scratch) / static_cast<double>(n);
  double var = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const double d = row[i] - mean;
    var += d * d;
  }
  var = block_sum(var, scratch) / static_cast<double>(n);
  const float inverse = static_cast<float>(1.0 / sqrt(var + eps));
  const float mean_f = static_cast<float>(mean);
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const float w = weight.data ? weight[i] : 1.0f;
    const float b = bias.data ? bias[i] : 0.0f;
    out_row[i] = (row[i] - mean_f) * inverse * w + b;
  }
}

}  // namespace

void rms_norm(const Tensor& x, const Tensor& weight, float eps, float weight_offset, Tensor& out) {
  set_device(x.device());
  const int64_t rows = row_count(x), n = x.size(-1);
  if (rows == 0 || n == 0) return;
  rms_norm_kernel<<<static_cast<unsigned>(rows), row_threads(n), 0, stream()>>>(
      x.data<float>(), row_layout(x), out.data<float>(), row_layout(out), weight_ref(weight), n,
      eps, weight_offset);
  check_launch("rms_norm_kernel");
}

void fused_add_rms_norm(Tensor& x, Tensor& residual, const Tensor& weight, float eps,
                        float weight_offset) {
  set_device(x.device());
  const int64_t rows = row_count(x), n = x.size(-1);
  if (rows == 0 || n == 0) return;
  fused_add_rms_norm_kernel<<<static_cast<unsigned>(rows), row_threads(n), 0, stream()>>>(
      x.data<float>(), row_layout(x), residual.data<float>(), row_layout(residual),
      weight_ref(weight), n, eps, weight_offset);
  check_launch("fused_add_rms_norm_kernel");
}

void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, Tensor& out) {
  set_device(x.device());
  const int64_t rows = row_count(x), n = x.size(-1);
  if (rows == 0 || n == 0) return;
  layer_norm_kernel<<<static_cast<unsigned>(rows), row_threads(n), 0, stream()>>>(
      x.data<float>(), row_layout(x), out.data<float>(), row_layout(out), weight_ref(weight),
      weight_ref(bias), n, eps);
  check_launch("layer_norm_kernel");
}

}  // namespace vllm::cuda
