// attention_varlen on the GPU: attention over packed f32 keys/values without a cache (encoder
// self-attention, vLLM's flash_attn_varlen_func), f32 throughout.
//
// A block owns one (sequence, kv head, tile of 16 rows), a row being a (query token, query head of
// the GQA group) pair as in the paged flash kernels, so each key/value tile is read once per group;
// each of its four warps holds four rows. Tiles of 32 keys and values are staged in shared memory;
// lane l scores key l of the tile against its warp's four rows (the query tile sits transposed in
// shared memory, one broadcast float4 per dim), the online softmax runs on those scores, and each
// lane accumulates its own output dims (lane, lane + 32, ...) of the four rows from the tile's
// weights (a broadcast float4 per key). Head sizes 64, 80, 96, 128 and 256 with Dv == D are
// compiled as such; any other D, Dv up to 256 runs the same kernel with runtime sizes.
#include <algorithm>
#include <climits>

#include "backend/cuda/cuda_common.cuh"

namespace vllm::cuda {
namespace {

using namespace detail;

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kRowsPerWarp = 4;  // one float4 of the transposed query tile
constexpr int kRows = kWarps * kRowsPerWarp;
constexpr int kKeys = 32;  // one per lane
constexpr int kMaxGenericSize = 256;

struct VarlenArgs {
  const float* query;  // [Tq, Hq, D], rows query_stride apart
  int64_t query_stride;
  const float* key;  // [Tk, Hk, D], rows key_stride apart
  int64_t key_stride;
  const float* value;  // [Tk, Hk, Dv], rows value_stride apart
  int64_t value_stride;
  const int32_t* query_start;  // [B + 1]
  const int32_t* key_start;    // [B + 1]
  int num_heads;
  int num_kv_heads;
  int group;  // num_heads / num_kv_heads
  int head_size;
  int value_size;
  float scale;
  bool causal;
  float softcap;              // 0: none
  int sliding_window;         // 0: none; else |pos - j| < sliding_window (and j <= pos when causal)
  const float* alibi_slopes;  // [Hq] or nullptr
  const float* sinks;         // [Hq] or nullptr
  float* out;                 // [Tq, Hq, Dv]
};

// Floats of dynamic shared memory: the warps' weights [kWarps][kKeys][kRowsPerWarp], the query
// tile [D][kRows], keys [kKeys][D | 1] (an odd row stride keeps lane l's key row in its own bank)
// and values [kKeys][Dv].
constexpr size_t shared_floats(int head_size, int value_size) {
  return static_cast<size_t>(kWarps * kKeys * kRowsPerWarp + head_size * kRows + kKeys * (head_size | 1) +
                             kKeys * value_size);
}

// kD > 0: D == Dv == kD; kD == 0: the sizes of args (up to kMaxGenericSize).
template <int kD>
__global__ void __launch_bounds__(kThreads) attention_varlen_kernel(const VarlenArgs args) {
  constexpr int kDimsPerLane = (kD > 0 ? kD + 31 : kMaxGenericSize) / 32;
  const int D = kD > 0 ? kD : args.head_size;
  const int Dv = kD > 0 ? kD : args.value_size;
  const int k_stride = D | 1;
  extern __shared__ __align__(16) float shared[];
  float* weights = shared;                               // [kWarps][kKeys][kRowsPerWarp]
  float* q_tile = weights + kWarps * kKeys * kRowsPerWarp;  // [D][kRows]
  float* k_tile = q_tile + D * kRows;                    // [kKeys][k_stride]
  float* v_tile = k_tile + kKeys * k_stride;             // [kKeys][Dv]

  const int kv_head = blockIdx.y, b = blockIdx.z, group = args.group;
  const int q_begin = args.query_start[b], q_len = args.query_start[b + 1] - q_begin;
  const int k_begin = args.key_start[b], k_len = args.key_start[b + 1] - k_begin;
  const int rows_total = q_len * group;
  // Longest row tiles (the last query rows, which see the most keys when causal) first, so that
  // short ones fill the tail of the grid.
  const int row0 = (gridDim.x - 1 - blockIdx.x) * kRows;
  if (row0 >= rows_total) return;  // past this sequence's query rows
  const int first_pos = k_len - q_len;  // position of the sequence's first query token
  const int last_row = min(row0 + kRows, rows_total) - 1;
  const int pos_lo = first_pos + row0 / group, pos_hi = first_pos + last_row / group;
  const int kv_begin = args.sliding_window > 0 ? max(0, pos_lo - args.sliding_window + 1) : 0;
  const int kv_end = args.causal               ? min(k_len, pos_hi + 1)
                     : args.sliding_window > 0 ? min(k_len, pos_hi + args.sliding_window)
                                               : k_len;

  for (int index = threadIdx.x; index < kRows * D; index += kThreads) {
    const int r = index / D, d = index % D, row = row0 + r;
    float q = 0.0f;
    if (row < rows_total)
      q = args.query[(q_begin + row / group) * args.query_stride + static_cast<int64_t>(kv_head * group + row % group) * D + d];
    q_tile[d * kRows + r] = q;
  }

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  // This warp's rows: position (for ALiBi) and visible keys [first, last]; rows past the sequence
  // see none.
  int pos[kRowsPerWarp], first[kRowsPerWarp], last[kRowsPerWarp];
  float slope[kRowsPerWarp];
#pragma unroll
  for (int i = 0; i < kRowsPerWarp; ++i) {
    const int row = row0 + warp * kRowsPerWarp + i;
    const bool valid = row < rows_total;
    pos[i] = first_pos + row / group;
    first[i] = args.sliding_window > 0 ? pos[i] - args.sliding_window + 1 : 0;
    last[i] = !valid                   ? -1
              : args.causal              ? pos[i]
              : args.sliding_window > 0 ? pos[i] + args.sliding_window - 1
                                         : INT_MAX;
    slope[i] = valid && args.alibi_slopes ? args.alibi_slopes[kv_head * group + row % group] : 0.0f;
  }
  float row_max[kRowsPerWarp], row_sum[kRowsPerWarp];  // row_sum: this lane's keys only
  float acc[kRowsPerWarp][kDimsPerLane];
#pragma unroll
  for (int i = 0; i < kRowsPerWarp; ++i) {
    row_max[i] = -INFINITY;
    row_sum[i] = 0.0f;
#pragma unroll
    for (int c = 0; c < kDimsPerLane; ++c) acc[i][c] = 0.0f;
  }
  float* warp_weights = weights + warp * kKeys * kRowsPerWarp;

  for (int tile = kv_begin; tile < kv_end; tile += kKeys) {
    const int keys = min(kKeys, kv_end - tile);
    __syncthreads();  // the previous tile is read (and, first, the query tile written)
    for (int index = threadIdx.x; index < kKeys * D; index += kThreads) {
      const int jj = index / D, d = index % D;
      k_tile[jj * k_stride + d] =
          jj < keys ? args.key[(k_begin + tile + jj) * args.key_stride + static_cast<int64_t>(kv_head) * D + d] : 0.0f;
    }
    for (int index = threadIdx.x; index < kKeys * Dv; index += kThreads) {
      const int jj = index / Dv, d = index % Dv;
      v_tile[index] =
          jj < keys ? args.value[(k_begin + tile + jj) * args.value_stride + static_cast<int64_t>(kv_head) * Dv + d]
                    : 0.0f;
    }
    __syncthreads();

    // Scores of key `tile + lane` for the warp's rows.
    float s[kRowsPerWarp] = {};
    const float* k_row = k_tile + lane * k_stride;
    const float* q_col = q_tile + warp * kRowsPerWarp;
#pragma unroll 8
    for (int d = 0; d < D; ++d) {
      const float k = k_row[d];
      const float4 q = *reinterpret_cast<const float4*>(q_col + d * kRows);
      s[0] += q.x * k;
      s[1] += q.y * k;
      s[2] += q.z * k;
      s[3] += q.w * k;
    }
    const int j = tile + lane;
    float p[kRowsPerWarp];
#pragma unroll
    for (int i = 0; i < kRowsPerWarp; ++i) {
      float x = s[i] * args.scale;
      if (args.softcap > 0.0f) x = args.softcap * tanhf(x / args.softcap);
      if (args.alibi_slopes) x += slope[i] * static_cast<float>(j - pos[i]);
      if (!(j < kv_end && j >= first[i] && j <= last[i])) x = -INFINITY;
      const float new_max = fmaxf(row_max[i], warp_max(x));
      const float base = new_max == -INFINITY ? 0.0f : new_max;  // a row that saw no key yet
      const float correction = expf(row_max[i] - base);
      p[i] = expf(x - base);
      row_sum[i] = row_sum[i] * correction + p[i];
      row_max[i] = new_max;
#pragma unroll
      for (int c = 0; c < kDimsPerLane; ++c) acc[i][c] *= correction;
    }
    *reinterpret_cast<float4*>(warp_weights + lane * kRowsPerWarp) = make_float4(p[0], p[1], p[2], p[3]);
    __syncwarp();
    for (int jj = 0; jj < keys; ++jj) {
      const float4 w = *reinterpret_cast<const float4*>(warp_weights + jj * kRowsPerWarp);
      const float* v_row = v_tile + jj * Dv;
#pragma unroll
      for (int c = 0; c < kDimsPerLane; ++c) {
        const int d = lane + 32 * c;
        if ((kD > 0 && kD % 32 == 0) || d < Dv) {
          const float v = v_row[d];
          acc[0][c] += w.x * v;
          acc[1][c] += w.y * v;
          acc[2][c] += w.z * v;
          acc[3][c] += w.w * v;
        }
      }
    }
    __syncwarp();  // the weights are rewritten for the next tile
  }

#pragma unroll
  for (int i = 0; i < kRowsPerWarp; ++i) {
    const int row = row0 + warp * kRowsPerWarp + i;
    float sum = warp_sum(row_sum[i]);
    if (row >= rows_total) continue;
    const int head = kv_head * group + row % group;
    // The sink's share, relative to the row's max as the sum is (a row that saw no key has a zero
    // accumulator and gets zeros).
    if (args.sinks) sum += expf(args.sinks[head] - row_max[i]);
    const float inverse = sum > 0.0f ? 1.0f / sum : 0.0f;
    float* dst = args.out + ((q_begin + row / group) * static_cast<int64_t>(args.num_heads) + head) * Dv;
#pragma unroll
    for (int c = 0; c < kDimsPerLane; ++c) {
      const int d = lane + 32 * c;
      if (d < Dv) dst[d] = acc[i][c] * inverse;
    }
  }
}

template <int kD>
void launch(const VarlenArgs& args, dim3 grid) {
  auto kernel = attention_varlen_kernel<kD>;
  const size_t bytes = sizeof(float) * (kD > 0 ? shared_floats(kD, kD) : shared_floats(args.head_size, args.value_size));
  static bool configured = false;  // per instantiation: room for its largest sizes
  if (!configured) {
    const size_t most = sizeof(float) * (kD > 0 ? shared_floats(kD, kD) : shared_floats(kMaxGenericSize, kMaxGenericSize));
    check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(most)),
          "cudaFuncSetAttribute(attention_varlen_kernel)");
    configured = true;
  }
  kernel<<<grid, kThreads, bytes, stream()>>>(args);
  check_launch("attention_varlen_kernel");
}

}  // namespace

void attention_varlen(const Tensor& query, const Tensor& key, const Tensor& value, const Tensor& query_start,
                      const Tensor& key_start, const ops::AttentionParams& params, Tensor& out) {
  set_device(query.device());
  const int64_t tokens = query.size(0), num_heads = query.size(1), num_kv_heads = key.size(1);
  const int64_t num_seqs = query_start.size(0) - 1;
  const int64_t head_size = query.size(2), value_size = value.size(2);
  const int64_t max_query_len = std::min(tokens, params.max_query_len >= 0 ? params.max_query_len : tokens);
  if (max_query_len == 0 || num_heads == 0 || num_seqs == 0) return;
  VLLM_CHECK(head_size <= kMaxGenericSize && value_size <= kMaxGenericSize, Unsupported,
             "attention_varlen: head sizes ", head_size, "/", value_size, " exceed the CUDA kernel's ",
             kMaxGenericSize);
  VLLM_CHECK(tokens * num_heads < (int64_t{1} << 31) && key.size(0) < (int64_t{1} << 31), Unsupported,
             "attention_varlen: batch too large for the CUDA kernel's int indices");
  const int64_t group = num_heads / num_kv_heads;
  const int64_t row_tiles = (max_query_len * group + kRows - 1) / kRows;
  VLLM_CHECK(num_kv_heads <= 65535 && num_seqs <= 65535, Unsupported, "attention_varlen: grid too large (",
             num_seqs, " sequences x ", num_kv_heads, " kv heads)");

  VarlenArgs args{};
  args.query = query.data<float>();
  args.query_stride = query.stride(0);
  args.key = key.data<float>();
  args.key_stride = key.stride(0);
  args.value = value.data<float>();
  args.value_stride = value.stride(0);
  args.query_start = query_start.data<int32_t>();
  args.key_start = key_start.data<int32_t>();
  args.num_heads = static_cast<int>(num_heads);
  args.num_kv_heads = static_cast<int>(num_kv_heads);
  args.group = static_cast<int>(group);
  args.head_size = static_cast<int>(head_size);
  args.value_size = static_cast<int>(value_size);
  args.scale = params.scale;
  args.causal = params.causal;
  args.softcap = params.logit_softcap;
  args.sliding_window = static_cast<int>(std::min<int64_t>(params.sliding_window, INT_MAX));
  args.alibi_slopes = params.alibi_slopes.defined() ? params.alibi_slopes.data<float>() : nullptr;
  args.sinks = params.sinks.defined() ? params.sinks.data<float>() : nullptr;
  args.out = out.data<float>();

  const dim3 grid(static_cast<unsigned>(row_tiles), static_cast<unsigned>(num_kv_heads),
                  static_cast<unsigned>(num_seqs));
  if (head_size == value_size) {
    switch (head_size) {
      case 64: return launch<64>(args, grid);
      case 80: return launch<80>(args, grid);
      case 96: return launch<96>(args, grid);
      case 128: return launch<128>(args, grid);
      case 256: return launch<256>(args, grid);
      default: break;
    }
  }
  launch<0>(args, grid);
}

}  // namespace vllm::cuda
