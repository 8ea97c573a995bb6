// Paged KV cache writes and paged attention on the GPU, for a flattened batch of prefill chunks
// and decodes. Caches are f32, bf16 or f16 ([num_blocks, block_size, Hk, D]).
//
// paged_attention picks one of three paths from shapes and the caller's host-side hints only (a
// CUDA graph replays the same launches with new lengths):
//   - bf16/f16 caches, D == Dv in {64, 80, 96, 128, 256}, and every sequence's query rows times
//     its GQA group fit 16 rows (decode, short speculative runs): the tensor-core decode kernel of
//     attention_flash_cuda.cu, split along the context ("flash decoding") into as many parts as
//     fill the GPU, then merge_attention_splits combines the parts by their log-sum-exp;
//   - same caches and sizes, longer query runs (prefill, chunked prefill, mixed batches): the
//     tensor-core prefill kernel, 64 rows per block;
//   - anything else (f32 caches, other head sizes, Dv != D): the straightforward kernel below,
//     one block per (query row, query head), warps over interleaved keys with an online softmax.
#include <algorithm>

#include <cuda_bf16.h>

#include "backend/cuda/attention_flash.cuh"
#include "backend/cuda/cuda_common.cuh"

namespace vllm::cuda {
namespace {

using namespace detail;

constexpr int kAttentionThreads = 128;
constexpr int kAttentionWarps = kAttentionThreads / 32;

// One block per token; a slot outside [0, num_slots) is skipped (negative: vLLM's padding).
// Values are rounded to nearest into the cache's type.
template <WType W>
__global__ void reshape_and_cache_kernel(const float* __restrict__ key, int64_t key_stride,
                                         const float* __restrict__ value, int64_t value_stride,
                                         typename WeightStorage<W>::type* __restrict__ key_cache,
                                         typename WeightStorage<W>::type* __restrict__ value_cache,
                                         const int32_t* __restrict__ slots, int64_t num_slots,
                                         int64_t key_row, int64_t value_row) {
  const int64_t t = blockIdx.x;
  const int64_t slot = slots[t];
  if (slot < 0 || slot >= num_slots) return;
  const float* k = key + t * key_stride;
  const float* v = value + t * value_stride;
  for (int64_t i = threadIdx.x; i < key_row; i += blockDim.x)
    key_cache[slot * key_row + i] = narrow<W>(k[i]);
  for (int64_t i = threadIdx.x; i < value_row; i += blockDim.x)
    value_cache[slot * value_row + i] = narrow<W>(v[i]);
}

struct AttentionArgs {
  const float* query;
  int64_t query_stride;  // between tokens; heads are packed (head_size apart)
  const void* key_cache;
  const void* value_cache;
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
  bool causal;
  int64_t sliding_window;
  float softcap;
  const float* alibi_slopes;  // nullptr: none
  const float* sinks;         // nullptr: none
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

// The fallback: any cache type and head sizes. Dynamic shared memory: q [head_size], then per
// warp: output [value_size]; then per warp max and sum.
template <WType W>
__global__ void __launch_bounds__(kAttentionThreads)
    paged_attention_kernel(const AttentionArgs args) {
  using Storage = typename WeightStorage<W>::type;
  extern __shared__ float shared[];
  const int64_t t = blockIdx.x, h = blockIdx.y;
  const int64_t b = find_sequence(args.query_start, args.num_seqs, t);
  if (b < 0) return;  // rows past the batch are left untouched
  const int64_t q_len = args.query_start[b + 1] - args.query_start[b];
  const int64_t pos = args.seq_lens[b] - q_len + (t - args.query_start[b]);
  const int64_t capacity = args.max_blocks * args.block_size;
  if (args.causal && (pos < 0 || pos >= capacity)) return;
  // Keys [first, last]: up to the query's position, or the whole context without the causal limit.
  const int64_t last = args.causal ? pos : min(static_cast<int64_t>(args.seq_lens[b]), capacity) - 1;
  const int64_t window_start = pos - args.sliding_window + 1;
  const int64_t first = args.sliding_window > 0 && window_start > 0 ? window_start : 0;
  const int64_t kv_head = h / (args.num_heads / args.num_kv_heads);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const Storage* key_cache = static_cast<const Storage*>(args.key_cache);
  const Storage* value_cache = static_cast<const Storage*>(args.value_cache);

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
  for (int64_t j = first + warp; j <= last; j += kAttentionWarps) {
    const int64_t block = blocks[j / args.block_size];
    if (block < 0 || block >= args.num_blocks) continue;  // the CPU raises InvalidArgument
    const int64_t slot = block * args.block_size + j % args.block_size;
    const Storage* k = key_cache + (slot * kv_row + kv_head) * args.head_size;
    float partial = 0.0f;
    for (int64_t d = lane; d < args.head_size; d += 32) partial += q[d] * widen<W>(k[d]);
    float s = warp_sum(partial) * args.scale;
    if (args.softcap > 0.0f) s = args.softcap * tanhf(s / args.softcap);
    if (args.alibi_slopes) s += slope * static_cast<float>(j - pos);
    const float m_new = fmaxf(m, s);
    const float correction = expf(m - m_new), p = expf(s - m_new);
    l = l * correction + p;
    m = m_new;
    const Storage* v = value_cache + (slot * kv_row + kv_head) * args.value_size;
    for (int64_t d = lane; d < args.value_size; d += 32)
      acc[d] = acc[d] * correction + p * widen<W>(v[d]);
  }
  if (lane == 0) {
    warp_max[warp] = m;
    warp_sum_l[warp] = l;
  }
  __syncthreads();

  // The sink joins the max and the denominator, and no output.
  const float sink = args.sinks ? args.sinks[h] : -INFINITY;
  float global_max = sink;
  for (int w = 0; w < kAttentionWarps; ++w) global_max = fmaxf(global_max, warp_max[w]);
  float factors[kAttentionWarps];
  float total = args.sinks ? expf(sink - global_max) : 0.0f;
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

// out[t, h] = sum_s w_s partial_out[s, t, h] / sum_s w_s with w_s = 2^(lse_s - max lse), for the
// query rows of sequence blockIdx.x and head blockIdx.y; parts that saw no key (lse = -inf) are
// skipped. A head's sink (sinks: [Hq] or nullptr) joins as one more part with no output. Rows of no
// sequence stay untouched.
// The weights are computed once per row in shared memory (threads over parts), then each thread
// sums its output dims over the parts with independent loads in flight.
constexpr int kMaxSplits = 64;
constexpr int kMergeThreads = 128;
__global__ void __launch_bounds__(kMergeThreads)
    merge_attention_splits_kernel(const float* __restrict__ partial_out,
                                  const float* __restrict__ partial_lse,
                                  const int32_t* __restrict__ query_start,
                                  const float* __restrict__ sinks, int num_splits, int64_t tokens,
                                  int num_heads, int head_size, float* __restrict__ out) {
  __shared__ float weights[kMaxSplits];
  __shared__ float scratch[32];
  allow_dependents();  // the output projection's GEMV may start loading its weights
  const int b = blockIdx.x, h = blockIdx.y;
  const int begin = query_start[b], end = query_start[b + 1];
  const int64_t split_stride = tokens * num_heads;
  const float sink = sinks ? sinks[h] * kLog2e : -INFINITY;  // in the parts' log2 units
  for (int t = begin; t < end; ++t) {
    const int64_t row = static_cast<int64_t>(t) * num_heads + h;
    const float lse = threadIdx.x < num_splits ? partial_lse[threadIdx.x * split_stride + row]
                                               : -INFINITY;
    const float max_lse = fmaxf(block_max(lse, scratch), sink);
    const float w = lse == -INFINITY ? 0.0f : exp2f(lse - max_lse);
    if (threadIdx.x < num_splits) weights[threadIdx.x] = w;
    float sum = block_sum(w, scratch);  // ends with a barrier: weights are visible
    if (sinks) sum += exp2f(sink - max_lse);
    const float inverse = sum > 0.0f ? 1.0f / sum : 0.0f;
    for (int d = threadIdx.x; d < head_size; d += blockDim.x) {
      float o = 0.0f;
#pragma unroll 8
      for (int s = 0; s < num_splits; ++s)
        if (weights[s] != 0.0f)
          o += weights[s] * partial_out[(s * split_stride + row) * head_size + d];
      out[row * head_size + d] = o * inverse;
    }
    __syncthreads();  // weights are rewritten for the next row
  }
}

int multiprocessor_count() {
  int device = 0, count = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device),
        "cudaDeviceGetAttribute(MultiProcessorCount)");
  return count;
}

// The tensor-core paths: bf16/f16 caches, D == Dv of a compiled size, 16-byte aligned rows.
bool use_flash(const Tensor& query, const Tensor& key_cache, const Tensor& value_cache) {
  const int64_t head_size = query.size(2);
  return (key_cache.dtype() == DType::BF16 || key_cache.dtype() == DType::F16) &&
         value_cache.size(3) == head_size && flash_attention_supported(static_cast<int>(head_size)) &&
         reinterpret_cast<uintptr_t>(key_cache.raw_data()) % 16 == 0 &&
         reinterpret_cast<uintptr_t>(value_cache.raw_data()) % 16 == 0 &&
         key_cache.numel() < (int64_t{1} << 31) * 8;  // int block ids times row sizes fit int64
}

// One launch (plus the merge of its context splits) over sequences [first, first + count) of the
// batch. `tokens` bounds the query rows of those sequences (the split buffers' row count); the
// rows of sequence b are query_start[b].. as for the whole batch.
void launch_flash_part(FlashArgs args, const Tensor& query, int64_t first, int64_t count, int64_t tokens,
                       int64_t max_query_len, int64_t max_seq_len) {
  const int64_t num_heads = args.num_heads, num_kv_heads = args.num_kv_heads, head_size = query.size(2);
  args.query_start += first;
  args.seq_lens += first;
  args.block_table += first * args.table_stride;
  args.tokens = tokens;
  args.num_splits = 1;
  const bool decode = max_query_len * args.group <= kFlashDecodeRows;
  const int64_t rows = decode ? kFlashDecodeRows : kFlashPrefillRows;
  const int64_t row_tiles = (max_query_len * args.group + rows - 1) / rows;
  VLLM_CHECK(row_tiles <= 65535 && num_kv_heads <= 65535, Unsupported,
             "paged_attention: grid too large (", row_tiles, " row tiles x ", num_kv_heads,
             " kv heads)");
  Tensor partial_out, partial_lse;
  if (decode) {
    // Split the context until the grid fills one wave (three decode blocks fit a multiprocessor
    // at a time), keeping at least 128 keys (two key tiles) per part and at most kMaxSplits parts.
    // The parts are cut on the device from each sequence's actual length, so an over-estimated
    // max_seq_len (a CUDA graph's) only costs empty blocks, which exit at once; a second wave
    // would cost a whole block's latency (measured on an H200 at batch 1: 14.9 us with 1.3 waves).
    static const int multiprocessors = multiprocessor_count();
    const int64_t base_blocks = count * num_kv_heads * row_tiles;
    const int64_t wanted = std::max<int64_t>(1, 3 * multiprocessors / base_blocks);
    const int64_t by_length = (max_seq_len + 127) / 128;
    // Cutting every context into more parts than that, for load balance, made large batches
    // slower (docs/benchmarks.md, session 4).
    args.num_splits = static_cast<int>(std::max<int64_t>(1, std::min({wanted, by_length, int64_t{kMaxSplits}})));
  }
  VLLM_CHECK(count * args.num_splits <= 0x7fffffff, Unsupported,
             "paged_attention: grid too large (", count, " sequences)");
  // Grid order (FlashOrder): a sequence's kv heads side by side for decodes, a (sequence, kv head)'s
  // row tiles side by side for prompts; both measured faster on an H200 than sequences side by
  // side (docs/benchmarks.md, session 5), which stays for grids whose y or z would pass 65535.
  args.order = FlashOrder::SeqsFastest;
  if (count * args.num_splits <= 65535) args.order = decode ? FlashOrder::HeadsFastest : FlashOrder::RowsFastest;
  if (args.num_splits > 1) {
    // [num_splits, T, Hq, D] and [num_splits, T, Hq], from the caching allocator (capture-safe).
    partial_out = Tensor::empty({args.num_splits, tokens, num_heads, head_size}, DType::F32, query.device());
    partial_lse = Tensor::empty({args.num_splits, tokens, num_heads}, DType::F32, query.device());
    args.partial_out = partial_out.data<float>();
    args.partial_lse = partial_lse.data<float>();
  }
  launch_flash_attention(args.cache_type, static_cast<int>(head_size), decode, args, count, row_tiles);
  if (args.num_splits > 1) {
    const dim3 grid(static_cast<unsigned>(count), static_cast<unsigned>(num_heads));
    merge_attention_splits_kernel<<<grid, kMergeThreads, 0, stream()>>>(
        args.partial_out, args.partial_lse, args.query_start, args.sinks, args.num_splits, tokens,
        static_cast<int>(num_heads), static_cast<int>(head_size), args.out);
    check_launch("merge_attention_splits_kernel");
  }
}

void flash_paged_attention(const Tensor& query, const Tensor& key_cache, const Tensor& value_cache,
                           const Tensor& query_start, const Tensor& seq_lens,
                           const Tensor& block_table, const ops::AttentionParams& params,
                           Tensor& out) {
  const int64_t tokens = query.size(0), num_heads = query.size(1);
  const int64_t num_seqs = seq_lens.size(0), num_kv_heads = key_cache.size(2);
  const int64_t group = num_heads / num_kv_heads;
  const int64_t block_size = key_cache.size(1), max_blocks = block_table.size(1);
  const int64_t capacity = max_blocks * block_size;
  const int64_t max_query_len =
      std::min(tokens, params.max_query_len >= 0 ? params.max_query_len : tokens);
  if (max_query_len == 0) return;
  const int64_t max_seq_len =
      std::min(capacity, params.max_seq_len >= 0 ? params.max_seq_len : capacity);
  VLLM_CHECK(capacity < (int64_t{1} << 31) && tokens * num_heads < (int64_t{1} << 31) &&
                 key_cache.size(0) < (int64_t{1} << 31),
             Unsupported, "paged_attention: batch too large for the CUDA kernels' int indices");

  FlashArgs args{};
  args.query = query.data<float>();
  args.query_stride = query.stride(0);
  args.key_cache = key_cache.raw_data();
  args.value_cache = value_cache.raw_data();
  args.cache_type = weight_type(key_cache);
  args.query_start = query_start.data<int32_t>();
  args.seq_lens = seq_lens.data<int32_t>();
  args.block_table = block_table.data<int32_t>();
  args.table_stride = block_table.stride(0);
  args.max_blocks = static_cast<int>(max_blocks);
  args.block_size = static_cast<int>(block_size);
  args.block_shift = -1;
  for (int shift = 0; shift < 31; ++shift)
    if ((int64_t{1} << shift) == block_size) args.block_shift = shift;
  args.num_blocks = static_cast<int>(key_cache.size(0));
  args.num_heads = static_cast<int>(num_heads);
  args.num_kv_heads = static_cast<int>(num_kv_heads);
  args.group = static_cast<int>(group);
  args.scale = params.scale;
  args.causal = params.causal;
  args.softcap = params.logit_softcap;
  args.sliding_window = static_cast<int>(std::min<int64_t>(params.sliding_window, capacity + 1));
  args.alibi_slopes = params.alibi_slopes.defined() ? params.alibi_slopes.data<float>() : nullptr;
  args.sinks = params.sinks.defined() ? params.sinks.data<float>() : nullptr;
  args.out = out.data<float>();

  // A batch of decodes and prompts (the leading num_decode_seqs sequences have one query token
  // each, rows 0..D-1): the decodes go through the split decode kernel and the prompts through the
  // prefill kernel sized by the prompts alone, instead of one prefill grid whose decode blocks
  // each hold one row of 64 and run their context unsplit.
  // One launch for both measured slower (docs/benchmarks.md, session 4).
  const int64_t decodes = params.num_decode_seqs;
  if (decodes > 0 && decodes < num_seqs && max_query_len * group > kFlashDecodeRows) {
    launch_flash_part(args, query, 0, decodes, decodes, 1, max_seq_len);
    launch_flash_part(args, query, decodes, num_seqs - decodes, tokens, max_query_len, max_seq_len);
    return;
  }
  launch_flash_part(args, query, 0, num_seqs, tokens, max_query_len, max_seq_len);
}

}  // namespace

void reshape_and_cache(const Tensor& key, const Tensor& value, Tensor& key_cache,
                       Tensor& value_cache, const Tensor& slot_mapping) {
  set_device(key.device());
  const int64_t tokens = key.size(0), kv_heads = key.size(1);
  if (tokens == 0) return;
  const int64_t key_row = kv_heads * key.size(2), value_row = kv_heads * value.size(2);
  const int64_t num_slots = key_cache.size(0) * key_cache.size(1);
  const unsigned blocks = static_cast<unsigned>(tokens);
  const int threads = row_threads(std::max(key_row, value_row));
  auto run = [&](auto type) {
    constexpr WType W = decltype(type)::value;
    using Storage = typename WeightStorage<W>::type;
    reshape_and_cache_kernel<W><<<blocks, threads, 0, stream()>>>(
        key.data<float>(), key.stride(0), value.data<float>(), value.stride(0),
        static_cast<Storage*>(key_cache.raw_data()), static_cast<Storage*>(value_cache.raw_data()),
        slot_mapping.data<int32_t>(), num_slots, key_row, value_row);
  };
  dispatch_type(weight_type(key_cache), run);
  check_launch("reshape_and_cache_kernel");
}

void paged_attention(const Tensor& query, const Tensor& key_cache, const Tensor& value_cache,
                     const Tensor& query_start, const Tensor& seq_lens, const Tensor& block_table,
                     const ops::AttentionParams& params, Tensor& out) {
  set_device(query.device());
  const int64_t tokens = query.size(0), num_heads = query.size(1);
  const int64_t num_seqs = seq_lens.size(0);
  if (tokens == 0 || num_heads == 0 || num_seqs == 0) return;
  if (use_flash(query, key_cache, value_cache))
    return flash_paged_attention(query, key_cache, value_cache, query_start, seq_lens, block_table,
                                 params, out);
  AttentionArgs args{};
  args.query = query.data<float>();
  args.query_stride = query.stride(0);
  args.key_cache = key_cache.raw_data();
  args.value_cache = value_cache.raw_data();
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
  args.causal = params.causal;
  args.sliding_window = params.sliding_window;
  args.softcap = params.logit_softcap;
  args.alibi_slopes = params.alibi_slopes.defined() ? params.alibi_slopes.data<float>() : nullptr;
  args.sinks = params.sinks.defined() ? params.sinks.data<float>() : nullptr;
  args.out = out.data<float>();
  const size_t shared_bytes =
      sizeof(float) * static_cast<size_t>(args.head_size + kAttentionWarps * args.value_size +
                                          2 * kAttentionWarps);
  VLLM_CHECK(shared_bytes <= 48 * 1024, Unsupported, "paged_attention: head sizes ",
             args.head_size, "/", args.value_size, " exceed the CUDA kernel's shared memory");
  VLLM_CHECK(tokens <= 0x7fffffff && num_heads <= 65535, Unsupported,
             "paged_attention: grid too large (", tokens, " tokens x ", num_heads, " heads)");
  const dim3 grid(static_cast<unsigned>(tokens), static_cast<unsigned>(num_heads));
  switch (weight_type(key_cache)) {
    case WType::F32:
      paged_attention_kernel<WType::F32><<<grid, kAttentionThreads, shared_bytes, stream()>>>(args);
      break;
    case WType::BF16:
      paged_attention_kernel<WType::BF16><<<grid, kAttentionThreads, shared_bytes, stream()>>>(args);
      break;
    case WType::F16:
      paged_attention_kernel<WType::F16><<<grid, kAttentionThreads, shared_bytes, stream()>>>(args);
      break;
  }
  check_launch("paged_attention_kernel");
}

}  // namespace vllm::cuda
