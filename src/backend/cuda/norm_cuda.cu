// RMSNorm, fused add + RMSNorm and LayerNorm on the GPU: one block per row (leading dims may be
// strided), statistics accumulated in double as the CPU kernels do. RMSNorm rows of up to 16384
// floats with 16-byte alignment take the register path: each thread loads its (at most four)
// float4s of the row, the residual and the weight in one go, so a row costs one memory round
// trip and one block reduction (a decode step runs two per layer).
#include <algorithm>

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

constexpr int kVecPerThread = 4;
constexpr int64_t kVecMaxRow = 1024 * kVecPerThread * 4;

// out = x * inverse_rms * (weight + offset); with kAdd, first residual += x and the sum is normed
// (out may alias x). n4 = row length / 4. out elements are O (f32, or bf16/f16 rounded to nearest).
template <WType W, bool kAdd, WType O>
__global__ void __launch_bounds__(1024)
    rms_norm_vec_kernel(const float* x, RowLayout x_rows, float* residual, RowLayout res_rows,
                        void* out, RowLayout out_rows, const void* weight, int n4, float eps,
                        float weight_offset) {
  __shared__ double scratch[32];
  allow_dependents();  // the next GEMV may start loading its weights
  const float4* x_row = reinterpret_cast<const float4*>(x + x_rows.offset(blockIdx.x));
  float4* res_row = kAdd ? reinterpret_cast<float4*>(residual + res_rows.offset(blockIdx.x)) : nullptr;
  void* out_row = static_cast<char*>(out) + out_rows.offset(blockIdx.x) * (O == WType::F32 ? 4 : 2);
  float4 v[kVecPerThread], w[kVecPerThread];
  double sum = 0.0;
#pragma unroll
  for (int j = 0; j < kVecPerThread; ++j) {
    const int i = threadIdx.x + j * blockDim.x;
    if (i >= n4) break;
    v[j] = x_row[i];
    w[j] = load4<W>(weight, i);
    if constexpr (kAdd) {
      const float4 r = res_row[i];
      v[j] = make_float4(r.x + v[j].x, r.y + v[j].y, r.z + v[j].z, r.w + v[j].w);
      res_row[i] = v[j];
    }
    sum += static_cast<double>(v[j].x) * v[j].x + static_cast<double>(v[j].y) * v[j].y +
           static_cast<double>(v[j].z) * v[j].z + static_cast<double>(v[j].w) * v[j].w;
  }
  sum = block_sum(sum, scratch);
  const float inverse = static_cast<float>(1.0 / sqrt(sum / static_cast<double>(4 * n4) + eps));
#pragma unroll
  for (int j = 0; j < kVecPerThread; ++j) {
    const int i = threadIdx.x + j * blockDim.x;
    if (i >= n4) break;
    store4<O>(out_row, i,
              make_float4(v[j].x * inverse * (w[j].x + weight_offset), v[j].y * inverse * (w[j].y + weight_offset),
                          v[j].z * inverse * (w[j].z + weight_offset), v[j].w * inverse * (w[j].w + weight_offset)));
  }
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Whether t's rows suit the register path: rows of a multiple of 4 elements, aligned to 4 of them.
bool vec_rows(const Tensor& t) {
  const int64_t n = t.size(-1);
  const uintptr_t alignment = 4 * static_cast<uintptr_t>(dtype_size(t.dtype()));
  if (n % 4 != 0 || n > kVecMaxRow || t.stride(-1) != 1 || reinterpret_cast<uintptr_t>(t.raw_data()) % alignment != 0)
    return false;
  for (int64_t d = 0; d + 1 < t.dim(); ++d)
    if (t.stride(d) % 4 != 0) return false;
  return true;
}

// Launches the register path when every operand suits it; false otherwise.
template <bool kAdd>
bool launch_rms_norm_vec(const Tensor& x, Tensor* residual, const Tensor& weight, float eps,
                         float weight_offset, Tensor& out) {
  const int64_t rows = row_count(x), n = x.size(-1);
  if (!weight.defined() || !vec_rows(x) || !vec_rows(out) || (residual && !vec_rows(*residual)) || weight.dim() != 1 ||
      weight.stride(0) != 1 || !aligned16(weight.raw_data()))
    return false;
  const int n4 = static_cast<int>(n / 4);
  const int per_thread_rows = (n4 + kVecPerThread - 1) / kVecPerThread;
  const int threads = std::max(32, (per_thread_rows + 31) / 32 * 32);
  float* res = residual ? residual->data<float>() : nullptr;
  const RowLayout res_rows = residual ? row_layout(*residual) : RowLayout{};
  auto run = [&](auto weight_tag, auto out_tag) {
    constexpr WType W = decltype(weight_tag)::value, O = decltype(out_tag)::value;
    rms_norm_vec_kernel<W, kAdd, O><<<static_cast<unsigned>(rows), threads, 0, stream()>>>(
        x.data<float>(), row_layout(x), res, res_rows, out.raw_data(), row_layout(out), weight.raw_data(), n4,
        eps, weight_offset);
  };
  dispatch_type(weight_type(out), [&](auto out_tag) {
    dispatch_type(weight_type(weight), [&](auto weight_tag) { run(weight_tag, out_tag); });
  });
  check_launch("rms_norm_vec_kernel");
  return true;
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

// Rows of up to kWarpRowMax elements: one warp a row, kWarpRows rows a block. The block-a-row
// kernel above leaves most of a 1024-thread block waiting at its barriers on short rows (BERT's
// 768: 684 us for 16384 rows on an H100, against ~40 us here). Same double sums, same result.
constexpr int64_t kWarpRowMax = 4096;
constexpr int kWarpRows = 8;

__global__ void __launch_bounds__(32 * kWarpRows)
    layer_norm_warp_kernel(const float* x, RowLayout x_rows, float* out, RowLayout out_rows, WeightRef weight,
                           WeightRef bias, int64_t rows, int64_t n, float eps) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kWarpRows + threadIdx.x / 32;
  if (r >= rows) return;
  const int lane = threadIdx.x % 32;
  const float* row = x + x_rows.offset(r);
  float* out_row = out + out_rows.offset(r);
  double sum = 0.0;
  for (int64_t i = lane; i < n; i += 32) sum += row[i];
  const double mean = warp_sum(sum) / static_cast<double>(n);
  double var = 0.0;
  for (int64_t i = lane; i < n; i += 32) {
    const double d = row[i] - mean;
    var += d * d;
  }
  var = warp_sum(var) / static_cast<double>(n);
  const float inverse = static_cast<float>(1.0 / sqrt(var + eps));
  const float mean_f = static_cast<float>(mean);
  for (int64_t i = lane; i < n; i += 32) {
    const float w = weight.data ? weight[i] : 1.0f;
    const float b = bias.data ? bias[i] : 0.0f;
    out_row[i] = (row[i] - mean_f) * inverse * w + b;
  }
}

// Writes an f32 tensor into out (f32 or half, any row layout cast() accepts).
void cast_into(const Tensor& normed, Tensor& out) {
  if (out.dtype() == DType::F32) return out.copy_from(normed);
  VLLM_CHECK(out.is_contiguous(), Unsupported, "cuda norm: a bf16/f16 out must be contiguous, got ", out.to_string());
  cast(normed, out);
}

}  // namespace

void rms_norm(const Tensor& x, const Tensor& weight, float eps, float weight_offset, Tensor& out) {
  set_device(x.device());
  const int64_t rows = row_count(x), n = x.size(-1);
  if (rows == 0 || n == 0) return;
  if (launch_rms_norm_vec<false>(x, nullptr, weight, eps, weight_offset, out)) return;
  if (out.dtype() != DType::F32) {  // half out off the register path: f32, then rounded
    Tensor normed = Tensor::empty(x.shape(), DType::F32, x.device());
    rms_norm(x, weight, eps, weight_offset, normed);
    return cast_into(normed, out);
  }
  rms_norm_kernel<<<static_cast<unsigned>(rows), row_threads(n), 0, stream()>>>(
      x.data<float>(), row_layout(x), out.data<float>(), row_layout(out), weight_ref(weight), n,
      eps, weight_offset);
  check_launch("rms_norm_kernel");
}

void fused_add_rms_norm(const Tensor& x, Tensor& residual, const Tensor& weight, float eps,
                        float weight_offset, Tensor& out) {
  set_device(x.device());
  const int64_t rows = row_count(x), n = x.size(-1);
  if (rows == 0 || n == 0) return;
  if (launch_rms_norm_vec<true>(x, &residual, weight, eps, weight_offset, out)) return;
  // Off the register path: the in-place kernel on x (or on an f32 copy), then out.
  const bool in_place = out.dtype() == DType::F32 && out.raw_data() == x.raw_data();
  Tensor normed = in_place ? out : x.clone();
  fused_add_rms_norm_kernel<<<static_cast<unsigned>(rows), row_threads(n), 0, stream()>>>(
      normed.data<float>(), row_layout(normed), residual.data<float>(), row_layout(residual),
      weight_ref(weight), n, eps, weight_offset);
  check_launch("fused_add_rms_norm_kernel");
  if (!in_place) cast_into(normed, out);
}

void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, Tensor& out) {
  set_device(x.device());
  const int64_t rows = row_count(x), n = x.size(-1);
  if (rows == 0 || n == 0) return;
  if (n <= kWarpRowMax) {
    layer_norm_warp_kernel<<<static_cast<unsigned>((rows + kWarpRows - 1) / kWarpRows), 32 * kWarpRows, 0,
                             stream()>>>(x.data<float>(), row_layout(x), out.data<float>(), row_layout(out),
                                         weight_ref(weight), weight_ref(bias), rows, n, eps);
    check_launch("layer_norm_warp_kernel");
    return;
  }
  layer_norm_kernel<<<static_cast<unsigned>(rows), row_threads(n), 0, stream()>>>(
      x.data<float>(), row_layout(x), out.data<float>(), row_layout(out), weight_ref(weight),
      weight_ref(bias), n, eps);
  check_launch("layer_norm_kernel");
}

}  // namespace vllm::cuda
