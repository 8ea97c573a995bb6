// Paged KV cache writes and paged attention on the GPU (f32 cache), for a flattened batch of
// prefill chunks and decodes. Attention is the straightforward kernel: one block per (query row,
// query head); each warp walks an interleaved share of the visible keys through the block table
// with an online softmax (its running max, sum and output row in shared memory), and the warps'
// partial results are merged at the end.
#include <algorithm>

#include "backend/cuda/cuda_common.cuh"

namespace vllm::cuda {
namespace {

using namespace detail;

constexpr int kAttentionThreads = 128;
constexpr int kAttentionWarps = kAttentionThreads / 32;

// One block per token; a slot outside [0, num_slots) is skipped (negative: vLLM's padding).
__global__ void reshape_and_cache_kernel(const float* __restrict__ key, int64_t key_stride,
                                         const float* __restrict__ value, int64_t value_stride,
                                         float* __restrict__ key_cache,
                                         float* __restrict__ value_cache,
                                         const int32_t* __restrict__ slots, int64_t num_slots,
                                         int64_t key_row, int64_t value_row) {
  const int64_t t = blockIdx.x;
  const int64_t slot = slots[t];
  if (slot < 0 || slot >= num_slots) return;
  const float* k = key + t * key_stride;
  const float* v = value + t * value_stride;
  for (int64_t i = threadIdx.x; i < key_row; i += blockDim.x) key_cache[slot * key_row + i] = k[i];
  for (int64_t i = threadIdx.x; i < value_row; i += blockDim.x)
    value_cache[slot * value_row + i] = v[i];
}

struct AttentionArgs {
  const float* query;
  int64_t query_stride;  // between tokens; heads are packed (head_size apart)
  const float* key_cache;
  const float* value_cache;
  const int32_t* query_start;  // [num_seqs + 1]
  const int32_t* seq_lens;     // [num_seqs]
  const int32_t* block_table;  // [num_seqs, table_stride]
  int64_t table_stride;
  int64_t max_blocks;
  int64_t num_seqs;
  int64_t num_blocks;
  int64_t block_size;
  int64_t num_heads;
  int64_t num_kv_heads;
  int64_t head_size;
  int64_t value_size;
  float scale;
  int64_t sliding_window;
  float softcap;
  const float* alibi_slopes;  // nullptr: none
  float* out;                 // [T, num_heads, value_size]
};

// The sequence owning query row t (query_start increasing), or -1.
__device__ int64_t find_sequence(const int32_t* query_start, int64_t num_seqs, int64_t t) {
  int64_t lo = 0, hi = num_seqs + 1;  // first i with query_start[i] > t
  while (lo < hi) {
    const int64_t mid = (lo + hi) / 2;
    if (query_start[mid] > t) hi = mid; else lo = mid + 1;
  }
  const int64_t b = lo - 1;
  if (b < 0 || b >= num_seqs || t >= query_start[b + 1]) return -1;
  return b;
}

// Dynamic shared memory: q [head_size], then per warp: output [value_size]; then per warp max and
// sum.
__global__ void __launch_bounds__(kAttentionThreads)
    paged_attention_kernel(const AttentionArgs args) {
  extern __shared__ float shared[];
  const int64_t t = blockIdx.x, h = blockIdx.y;
  const int64_t b = find_sequence(args.query_start, args.num_seqs, t);
  if (b < 0) return;  // rows past the batch are left untouched
  const int64_t q_len = args.query_start[b + 1] - args.query_start[b];
  const int64_t pos = args.seq_lens[b] - q_len + (t - args.query_start[b]);
  if (pos < 0 || pos >= args.max_blocks * args.block_size) return;
  const int64_t window_start = pos - args.sliding_window + 1;
  const int64_t first = args.sliding_window > 0 && window_start > 0 ? window_start : 0;
  const int64_t kv_head = h / (args.num_heads / args.num_kv_heads);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;

  float* q = shared;
  float* acc = q + args.head_size + warp * args.value_size;
  float* warp_max = shared + args.head_size + kAttentionWarps * args.value_size;
  float* warp_sum_l = warp_max + kAttentionWarps;

  const float* q_src = args.query + t * args.query_stride + h * args.head_size;
  for (int64_t d = threadIdx.x; d < args.head_size; d += blockDim.x) q[d] = q_src[d];
  for (int64_t d = lane; d < args.value_size; d += 32) acc[d] = 0.0f;
  __syncthreads();

  const int32_t* blocks = args.block_table + b * args.table_stride;
  const float slope = args.alibi_slopes ? args.alibi_slopes[h] : 0.0f;
  const int64_t kv_row = args.num_kv_heads;
  float m = -INFINITY, l = 0.0f;
  for (int64_t j = first + warp; j <= pos; j += kAttentionWarps) {
    const int64_t block = blocks[j / args.block_size];
    if (block < 0 || block >= args.num_blocks) continue;  // the CPU raises InvalidArgument
    const int64_t slot = block * args.block_size + j % args.block_size;
    const float* k = args.key_cache + (slot * kv_row + kv_head) * args.head_size;
    float partial = 0.0f;
    for (int64_t d = lane; d < args.head_size; d += 32) partial += q[d] * k[d];
    float s = warp_sum(partial) * args.scale;
    if (args.softcap > 0.0f) s = args.softcap * tanhf(s / args.softcap);
    if (args.alibi_slopes) s += slope * static_cast<float>(j - pos);
    const float m_new = fmaxf(m, s);
    const float correction = expf(m - m_new), p = expf(s - m_new);
    l = l * correction + p;
    m = m_new;
    const float* v = args.value_cache + (slot * kv_row + kv_head) * args.value_size;
    for (int64_t d = lane; d < args.value_size; d += 32) acc[d] = acc[d] * correction + p * v[d];
  }
  if (lane == 0) {
    warp_max[warp] = m;
    warp_sum_l[warp] = l;
  }
  __syncthreads();

  float global_max = -INFINITY;
  for (int w = 0; w < kAttentionWarps; ++w) global_max = fmaxf(global_max, warp_max[w]);
  float factors[kAttentionWarps];
  float total = 0.0f;
#pragma unroll
  for (int w = 0; w < kAttentionWarps; ++w) {
    factors[w] = warp_sum_l[w] > 0.0f ? expf(warp_max[w] - global_max) : 0.0f;
    total += warp_sum_l[w] * factors[w];
  }
  const float inverse = total > 0.0f ? 1.0f / total : 0.0f;
  float* out = args.out + (t * args.num_heads + h) * args.value_size;
  const float* accs = shared + args.head_size;
  for (int64_t d = threadIdx.x; d < args.value_size; d += blockDim.x) {
    float o = 0.0f;
#pragma unroll
    for (int w = 0; w < kAttentionWarps; ++w) o += accs[w * args.value_size + d] * factors[w];
    out[d] = o * inverse;
  }
}

}  // namespace

void reshape_and_cache(const Tensor& key, const Tensor& value, Tensor& key_cache,
                       Tensor& value_cache, const Tensor& slot_mapping) {
  set_device(key.device());
  const int64_t tokens = key.size(0), kv_heads = key.size(1);
  if (tokens == 0) return;
  const int64_t key_row = kv_heads * key.size(2), value_row = kv_heads * value.size(2);
  const int64_t num_slots = key_cache.size(0) * key_cache.size(1);
  reshape_and_cache_kernel<<<static_cast<unsigned>(tokens), row_threads(std::max(key_row, value_row))>>>(
      key.data<float>(), key.stride(0), value.data<float>(), value.stride(0),
      key_cache.data<float>(), value_cache.data<float>(), slot_mapping.data<int32_t>(), num_slots,
      key_row, value_row);
  check_launch("reshape_and_cache_kernel");
}

void paged_attention(const Tensor& query, const Tensor& key_cache, const Tensor& value_cache,
                     const Tensor& query_start, const Tensor& seq_lens, const Tensor& block_table,
                     const ops::AttentionParams& params, Tensor& out) {
  set_device(query.device());
  const int64_t tokens = query.size(0), num_heads = query.size(1);
  const int64_t num_seqs = seq_lens.size(0);
  if (tokens == 0 || num_heads == 0 || num_seqs == 0) return;
  AttentionArgs args{};
  args.query = query.data<float>();
  args.query_stride = query.stride(0);
  args.key_cache = key_cache.data<float>();
  args.value_cache = value_cache.data<float>();
  args.query_start = query_start.data<int32_t>();
  args.seq_lens = seq_lens.data<int32_t>();
  args.block_table = block_table.data<int32_t>();
  args.table_stride = block_table.stride(0);
  args.max_blocks = block_table.size(1);
  args.num_seqs = num_seqs;
  args.num_blocks = key_cache.size(0);
  args.block_size = key_cache.size(1);
  args.num_heads = num_heads;
  args.num_kv_heads = key_cache.size(2);
  args.head_size = query.size(2);
  args.value_size = value_cache.size(3);
  args.scale = params.scale;
  args.sliding_window = params.sliding_window;
  args.softcap = params.logit_softcap;
  args.alibi_slopes = params.alibi_slopes.defined() ? params.alibi_slopes.data<float>() : nullptr;
  args.out = out.data<float>();
  const size_t shared_bytes =
      sizeof(float) * static_cast<size_t>(args.head_size + kAttentionWarps * args.value_size +
                                          2 * kAttentionWarps);
  VLLM_CHECK(shared_bytes <= 48 * 1024, Unsupported, "paged_attention: head sizes ",
             args.head_size, "/", args.value_size, " exceed the CUDA kernel's shared memory");
  VLLM_CHECK(tokens <= 0x7fffffff && num_heads <= 65535, Unsupported,
             "paged_attention: grid too large (", tokens, " tokens x ", num_heads, " heads)");
  const dim3 grid(static_cast<unsigned>(tokens), static_cast<unsigned>(num_heads));
  paged_attention_kernel<<<grid, kAttentionThreads, shared_bytes>>>(args);
  check_launch("paged_attention_kernel");
}

}  // namespace vllm::cuda
