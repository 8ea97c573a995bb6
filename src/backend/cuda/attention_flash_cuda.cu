// Flash attention over the paged KV cache with tensor cores (FlashAttention-2's schedule on
// mma.sync m16n8k16, bf16 or f16 operands, f32 accumulation), for bf16/f16 caches.
//
// A block owns one (sequence, kv head, context split, tile of rows) where a row is a (query token,
// query head of the group) pair, so each K/V tile is read once per GQA group. Key tiles of BN
// tokens are gathered through the block table into shared memory with 16-byte cp.async copies,
// double-buffered; scores S = Q K^T stay in registers, the online softmax runs on them in log2
// units, and P (rounded to the cache type) multiplies V straight from registers.
//   prefill variant: 64 rows, 4 warps of 16 rows, each warp over the whole key tile;
//   decode variant: 16 rows (the group's heads, zero-padded), the 4 warps take a quarter of each
//     key tile and their partial softmax states are merged through shared memory at the end.
// Everything the grid depends on comes from shapes and host hints; the actual lengths are read on
// the device, and blocks past a sequence's rows or context exit early (CUDA-graph replays).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "backend/cuda/attention_flash.cuh"

namespace vllm::cuda::detail {
namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
// Key/value tiles in flight: two (double buffering). Three measured slower at head size 128 on an
// H200 (fewer blocks per multiprocessor; docs/benchmarks.md, session 5).
constexpr int kStages = 2;

__device__ __forceinline__ void cp_async_16(void* shared_dst, const void* global_src, bool valid) {
  const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(shared_dst));
  const int bytes = valid ? 16 : 0;  // 0: zero-fill (keys past the context, missing blocks)
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(global_src),
               "r"(bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
  const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(a));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* p) {
  const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(a));
}

// c += a (16x16, row) * b (16x8, col), f32 accumulators.
template <WType W>
__device__ __forceinline__ void mma_16x8x16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                            uint32_t b1) {
  if constexpr (W == WType::BF16) {
    asm(  // no side effects: the compiler may schedule it freely
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm(  // no side effects: the compiler may schedule it freely
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

template <WType W>
__device__ __forceinline__ uint16_t to_bits(float v) {
  if constexpr (W == WType::BF16) return __bfloat16_as_ushort(__float2bfloat16_rn(v));
  else return __half_as_ushort(__float2half_rn(v));
}

// Two floats as one register of the operand type, `lo` in the low half (the lower k index).
template <WType W>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  return static_cast<uint32_t>(to_bits<W>(lo)) | (static_cast<uint32_t>(to_bits<W>(hi)) << 16);
}

template <int D, int BN, bool kDecode>
struct FlashShape {
  static constexpr int kRows = kDecode ? kFlashDecodeRows : kFlashPrefillRows;
  static constexpr int kKeysPerWarp = kDecode ? BN / kWarps : BN;
  static constexpr int kStride = D + 8;  // elements per shared row: 16 bytes of padding keeps
                                         // ldmatrix's eight 16-byte rows in distinct banks
  static_assert(kKeysPerWarp % 16 == 0 && D % 16 == 0, "tile shapes");
  // Up to D = 128 the query's A fragments live in registers, and the query is staged through
  // shared memory that the first key/value tiles overwrite later (one block more per
  // multiprocessor); at D = 256 they would not fit, so the query keeps its own shared rows.
  static constexpr bool kQueryInRegisters = D <= 128;
  static_assert(!kQueryInRegisters || kRows <= 2 * BN, "query staging fits two tile stages");
  static_assert(kStages >= 2, "a tile loads while another is read");
  static constexpr size_t kSharedBytes =
      sizeof(uint16_t) * static_cast<size_t>((kQueryInRegisters ? 0 : kRows) + 2 * kStages * BN) * kStride;
};

// Prefill blocks up to D = 128 are held to 170 registers, so that three fit a multiprocessor as
// their shared memory allows.
template <WType W, int D, int BN, bool kDecode>
__global__ void __launch_bounds__(kThreads, kDecode || D > 128 ? 1 : 3)
    flash_paged_attention_kernel(const FlashArgs args) {
  using Shape = FlashShape<D, BN, kDecode>;
  constexpr int kRows = Shape::kRows, kStride = Shape::kStride, kKeysPerWarp = Shape::kKeysPerWarp;
  constexpr int kScoreTiles = kKeysPerWarp / 8;  // n-tiles of 8 keys per warp
  constexpr int kOutTiles = D / 8;               // n-tiles of 8 output dims
  constexpr bool kQueryInRegisters = Shape::kQueryInRegisters;
  extern __shared__ __align__(16) uint16_t shared[];
  uint16_t* k_shared = shared + (kQueryInRegisters ? 0 : kRows * kStride);  // [kStages][BN][kStride]
  uint16_t* v_shared = k_shared + kStages * BN * kStride;                   // [kStages][BN][kStride]
  // [kRows][kStride]: in registers' case staged over key stage 1 and value stage 0.
  uint16_t* q_shared = kQueryInRegisters ? k_shared + BN * kStride : shared;

  const bool rows_fastest = args.order == FlashOrder::RowsFastest;
  const int seq_split = rows_fastest ? blockIdx.z : args.order == FlashOrder::HeadsFastest ? blockIdx.y : blockIdx.x;
  const int kv_head = args.order == FlashOrder::SeqsFastest || rows_fastest ? blockIdx.y : blockIdx.x;
  const int row_tile = rows_fastest ? blockIdx.x : blockIdx.z;
  const int row_tiles = rows_fastest ? gridDim.x : gridDim.z;
  const int b = seq_split / args.num_splits, split = seq_split % args.num_splits;
  const int group = args.group;
  const int q_begin = args.query_start[b];
  const int q_len = args.query_start[b + 1] - q_begin;
  const int rows_total = q_len * group;
  // Longest row tiles (the last query rows, which see the most keys) first, so that short ones
  // fill the tail of the grid.
  const int row0 = (row_tiles - 1 - row_tile) * kRows;
  if (row0 >= rows_total) return;  // past this sequence's query rows
  const int seq_len = args.seq_lens[b];
  const int kv_len = min(seq_len, args.max_blocks * args.block_size);
  const int first_pos = seq_len - q_len;  // position of the sequence's first query token
  const int last_row = min(row0 + kRows, rows_total) - 1;
  const int pos_lo = first_pos + row0 / group, pos_hi = first_pos + last_row / group;

  // This block's keys: the split's share of the context, cut to what its rows can see.
  const int split_size = ((kv_len + args.num_splits - 1) / args.num_splits + BN - 1) / BN * BN;
  const int split_begin = split * split_size;
  int kv_begin = args.sliding_window > 0 ? max(0, pos_lo - args.sliding_window + 1) : 0;
  kv_begin = max(kv_begin, split_begin);
  const int kv_end = min(min(args.causal ? pos_hi + 1 : kv_len, kv_len), split_begin + split_size);
  const int num_tiles = kv_end > kv_begin ? (kv_end - kv_begin + BN - 1) / BN : 0;

  const uint16_t* key_cache = static_cast<const uint16_t*>(args.key_cache);
  const uint16_t* value_cache = static_cast<const uint16_t*>(args.value_cache);
  const int32_t* blocks = args.block_table + b * args.table_stride;
  auto load_tile = [&](int tile, int stage) {
    constexpr int kChunks = D / 8;  // 16-byte pieces of a row
    const int start = kv_begin + tile * BN;
    uint16_t* k_dst = k_shared + stage * BN * kStride;
    uint16_t* v_dst = v_shared + stage * BN * kStride;
    for (int index = threadIdx.x; index < BN * kChunks; index += kThreads) {
      const int r = index / kChunks, c = index % kChunks;
      const int j = start + r;
      bool valid = j < kv_end;
      int64_t offset = 0;
      if (valid) {
        const bool shift = args.block_shift >= 0;
        const int block = blocks[shift ? j >> args.block_shift : j / args.block_size];
        const int in_block = shift ? j & (args.block_size - 1) : j % args.block_size;
        valid = block >= 0 && block < args.num_blocks;
        offset = ((static_cast<int64_t>(block) * args.block_size + in_block) *
                      args.num_kv_heads + kv_head) * D + c * 8;
      }
      cp_async_16(k_dst + r * kStride + c * 8, key_cache + offset, valid);
      cp_async_16(v_dst + r * kStride + c * 8, value_cache + offset, valid);
    }
  };
  // Query rows, rounded to the operand type; rows past the sequence are zero.
  for (int index = threadIdx.x; index < kRows * D; index += kThreads) {
    const int r = index / D, d = index % D, row = row0 + r;
    float v = 0.0f;
    if (row < rows_total) {
      const int token = q_begin + row / group, head = kv_head * group + row % group;
      v = args.query[token * args.query_stride + static_cast<int64_t>(head) * D + d];
    }
    q_shared[r * kStride + d] = to_bits<W>(v);
  }
  __syncthreads();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int warp_row = kDecode ? 0 : warp * 16;
  const int warp_key = kDecode ? warp * kKeysPerWarp : 0;
  auto load_query = [&](uint32_t (&frag)[4], int kk) {
    ldmatrix_x4(frag, q_shared + (warp_row + lane % 16) * kStride + kk * 16 + (lane / 16) * 8);
  };
  uint32_t q_frags[kQueryInRegisters ? D / 16 : 1][4];
  if constexpr (kQueryInRegisters) {
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) load_query(q_frags[kk], kk);
    __syncthreads();  // the staging area becomes key/value tiles
  }
  // The first kStages - 1 tiles in flight; one commit group per tile (empty past the last), so
  // that tile t's group is complete once at most kStages - 1 younger ones are pending.
#pragma unroll
  for (int t = 0; t < kStages - 1; ++t) {
    if (t < num_tiles) load_tile(t, t);
    cp_async_commit();
  }

  // The two rows this thread holds in the mma accumulators: lane / 4 and lane / 4 + 8.
  int row_pos[2], window_first[2];
  float slope[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int row = row0 + warp_row + lane / 4 + 8 * h;
    const bool valid = row < rows_total;
    row_pos[h] = valid ? first_pos + row / group : -1;  // -1: sees no key
    window_first[h] = args.sliding_window > 0 ? row_pos[h] - args.sliding_window + 1 : 0;
    slope[h] = valid && args.alibi_slopes ? args.alibi_slopes[kv_head * group + row % group] : 0.0f;
  }
  // A key tile needs no mask when every key of it is visible to every row of the warp (rows past
  // the sequence have position -1, so their warps always mask when causal; without the causal
  // limit they see every key and are dropped at the end).
  int warp_min_pos = min(row_pos[0], row_pos[1]);
  int warp_max_window_first = max(window_first[0], window_first[1]);
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    warp_min_pos = min(warp_min_pos, __shfl_xor_sync(0xffffffffu, warp_min_pos, offset));
    warp_max_window_first =
        max(warp_max_window_first, __shfl_xor_sync(0xffffffffu, warp_max_window_first, offset));
  }
  const bool plain_scores = args.softcap <= 0.0f && !args.alibi_slopes;
  const float scale_log2 = args.scale * kLog2e;

  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.0f, 0.0f};
  float acc[kOutTiles][4];
#pragma unroll
  for (int n = 0; n < kOutTiles; ++n) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.0f;

  for (int tile = 0; tile < num_tiles; ++tile) {
    const int ahead = tile + kStages - 1;
    if (ahead < num_tiles) load_tile(ahead, ahead % kStages);
    cp_async_commit();
    cp_async_wait<kStages - 1>();
    __syncthreads();
    const uint16_t* k_tile = k_shared + (tile % kStages) * BN * kStride;
    const uint16_t* v_tile = v_shared + (tile % kStages) * BN * kStride;

    // S = Q K^T for this warp's 16 rows x kKeysPerWarp keys.
    float s[kScoreTiles][4];
#pragma unroll
    for (int n = 0; n < kScoreTiles; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t q_frag[4];
      if constexpr (kQueryInRegisters) {
#pragma unroll
        for (int i = 0; i < 4; ++i) q_frag[i] = q_frags[kk][i];
      } else {
        load_query(q_frag, kk);
      }
#pragma unroll
      for (int np = 0; np < kScoreTiles / 2; ++np) {
        uint32_t k_frag[4];
        ldmatrix_x4(k_frag, k_tile + (warp_key + np * 16 + (lane / 16) * 8 + lane % 8) * kStride +
                                kk * 16 + ((lane / 8) % 2) * 8);
        mma_16x8x16<W>(s[2 * np], q_frag, k_frag[0], k_frag[1]);
        mma_16x8x16<W>(s[2 * np + 1], q_frag, k_frag[2], k_frag[3]);
      }
    }

    // Scale, soft-cap, ALiBi and the causal / window / split mask, in log2 units.
    const int warp_first_key = kv_begin + tile * BN + warp_key;
    const int key0 = warp_first_key + (lane % 4) * 2;
    const int warp_last_key = warp_first_key + kKeysPerWarp - 1;
    const bool masked = warp_last_key >= kv_end || (args.causal && warp_last_key > warp_min_pos) ||
                        warp_first_key < warp_max_window_first;
    float new_max[2] = {row_max[0], row_max[1]};
#pragma unroll
    for (int n = 0; n < kScoreTiles; ++n) {
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const int h = c / 2, j = key0 + n * 8 + (c & 1);
        float x;
        if (plain_scores) {
          x = s[n][c] * scale_log2;
        } else {
          x = s[n][c] * args.scale;
          if (args.softcap > 0.0f) x = args.softcap * tanhf(x / args.softcap);
          if (args.alibi_slopes) x += slope[h] * static_cast<float>(j - row_pos[h]);
          x *= kLog2e;
        }
        if (masked && !((j <= row_pos[h] || !args.causal) && j >= window_first[h] && j < kv_end)) x = -INFINITY;
        s[n][c] = x;
        new_max[h] = fmaxf(new_max[h], x);
      }
    }
    float correction[2], base[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      new_max[h] = fmaxf(new_max[h], __shfl_xor_sync(0xffffffffu, new_max[h], 1));
      new_max[h] = fmaxf(new_max[h], __shfl_xor_sync(0xffffffffu, new_max[h], 2));
      base[h] = new_max[h] == -INFINITY ? 0.0f : new_max[h];  // a row that saw no key yet
      correction[h] = exp2f(row_max[h] - base[h]);
      row_max[h] = new_max[h];
      row_sum[h] *= correction[h];
    }
#pragma unroll
    for (int n = 0; n < kScoreTiles; ++n) {
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        s[n][c] = exp2f(s[n][c] - base[c / 2]);
        row_sum[c / 2] += s[n][c];
      }
    }
#pragma unroll
    for (int n = 0; n < kOutTiles; ++n) {
      acc[n][0] *= correction[0];
      acc[n][1] *= correction[0];
      acc[n][2] *= correction[1];
      acc[n][3] *= correction[1];
    }

    // O += P V: the score accumulators of two key n-tiles form one A fragment.
#pragma unroll
    for (int kk = 0; kk < kKeysPerWarp / 16; ++kk) {
      uint32_t p_frag[4];
      p_frag[0] = pack2<W>(s[2 * kk][0], s[2 * kk][1]);
      p_frag[1] = pack2<W>(s[2 * kk][2], s[2 * kk][3]);
      p_frag[2] = pack2<W>(s[2 * kk + 1][0], s[2 * kk + 1][1]);
      p_frag[3] = pack2<W>(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
      for (int dn = 0; dn < kOutTiles / 2; ++dn) {
        uint32_t v_frag[4];
        ldmatrix_x4_trans(v_frag, v_tile + (warp_key + kk * 16 + ((lane / 8) % 2) * 8 + lane % 8) *
                                               kStride + dn * 16 + (lane / 16) * 8);
        mma_16x8x16<W>(acc[2 * dn], p_frag, v_frag[0], v_frag[1]);
        mma_16x8x16<W>(acc[2 * dn + 1], p_frag, v_frag[2], v_frag[3]);
      }
    }
    __syncthreads();  // the next iteration's copy overwrites the stage read here
  }

#pragma unroll
  for (int h = 0; h < 2; ++h) {
    row_sum[h] += __shfl_xor_sync(0xffffffffu, row_sum[h], 1);
    row_sum[h] += __shfl_xor_sync(0xffffffffu, row_sum[h], 2);
  }

  // Writes row r of the tile (value o[d] already divided by the row's sum): to out, or to the
  // split's partial buffers with its log2-sum-exp.
  const bool to_partial = args.num_splits > 1;
  auto row_head = [&](int r) { return kv_head * group + (row0 + r) % group; };
  auto row_offset = [&](int r) {
    const int64_t token = q_begin + (row0 + r) / group;
    return token * args.num_heads + row_head(r);  // in [T, Hq]
  };

  if constexpr (kDecode) {
    // Merge the four warps' states (each saw a quarter of every key tile) in shared memory that
    // the key/value tiles no longer need.
    float* merged = reinterpret_cast<float*>(k_shared);  // [kWarps][kRows][D]
    float* merged_max = merged + kWarps * kRows * D;     // [kWarps][kRows]
    float* merged_sum = merged_max + kWarps * kRows;     // [kWarps][kRows]
    __syncthreads();
#pragma unroll
    for (int n = 0; n < kOutTiles; ++n) {
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const int r = lane / 4 + 8 * (c / 2), d = n * 8 + (lane % 4) * 2 + (c & 1);
        merged[(warp * kRows + r) * D + d] = acc[n][c];
      }
    }
    if (lane % 4 == 0) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        merged_max[warp * kRows + lane / 4 + 8 * h] = row_max[h];
        merged_sum[warp * kRows + lane / 4 + 8 * h] = row_sum[h];
      }
    }
    __syncthreads();
    for (int index = threadIdx.x; index < kRows * D; index += kThreads) {
      const int r = index / D, d = index % D;
      if (row0 + r >= rows_total) break;  // rows grow with index
      float m = -INFINITY;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) m = fmaxf(m, merged_max[w * kRows + r]);
      const float m_base = m == -INFINITY ? 0.0f : m;
      float sum = 0.0f, o = 0.0f;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) {
        const float f = exp2f(merged_max[w * kRows + r] - m_base);
        sum += merged_sum[w * kRows + r] * f;
        o += merged[(w * kRows + r) * D + d] * f;
      }
      if (args.sinks && !to_partial) sum += exp2f(args.sinks[row_head(r)] * kLog2e - m_base);
      const float value = sum > 0.0f ? o / sum : 0.0f;
      const int64_t at = row_offset(r);
      if (to_partial) {
        const int64_t part = split * args.tokens * args.num_heads + at;
        args.partial_out[part * D + d] = value;
        if (d == 0) args.partial_lse[part] = sum > 0.0f ? m + log2f(sum) : -INFINITY;
      } else {
        args.out[at * D + d] = value;
      }
    }
  } else {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int r = warp_row + lane / 4 + 8 * h;
      if (row0 + r >= rows_total) continue;
      // The sink's share of the denominator, relative to the row's max as row_sum is (a row that
      // saw no key has a zero accumulator and gets zeros).
      const float sum = args.sinks && !to_partial
                            ? row_sum[h] + exp2f(args.sinks[row_head(r)] * kLog2e - row_max[h])
                            : row_sum[h];
      const float inverse = sum > 0.0f ? 1.0f / sum : 0.0f;
      const int64_t at = row_offset(r);
      float* dst = to_partial ? args.partial_out + (split * args.tokens * args.num_heads + at) * D
                              : args.out + at * D;
#pragma unroll
      for (int n = 0; n < kOutTiles; ++n) {
        const int d = n * 8 + (lane % 4) * 2;
        *reinterpret_cast<float2*>(dst + d) =
            make_float2(acc[n][2 * h] * inverse, acc[n][2 * h + 1] * inverse);
      }
      if (to_partial && lane % 4 == 0)
        args.partial_lse[split * args.tokens * args.num_heads + at] =
            row_sum[h] > 0.0f ? row_max[h] + log2f(row_sum[h]) : -INFINITY;
    }
  }
}

template <WType W, int D, bool kDecode>
void launch(const FlashArgs& args, int64_t num_seqs, int64_t row_tiles) {
  // Prefill key tiles of 64 keys (32 at D = 256, to keep the accumulators in registers); decode
  // tiles of 64 keys, 16 per warp.
  constexpr int BN = kDecode || D <= 128 ? 64 : 32;
  using Shape = FlashShape<D, BN, kDecode>;
  auto kernel = flash_paged_attention_kernel<W, D, BN, kDecode>;
  static bool configured = false;  // per instantiation; one device's limits suit all H100/H200s
  if (!configured) {
    check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               static_cast<int>(Shape::kSharedBytes)),
          "cudaFuncSetAttribute(flash_paged_attention_kernel)");
    configured = true;
  }
  const unsigned seq_splits = static_cast<unsigned>(num_seqs * args.num_splits);
  const unsigned heads = static_cast<unsigned>(args.num_kv_heads), tiles = static_cast<unsigned>(row_tiles);
  dim3 grid(seq_splits, heads, tiles);
  if (args.order == FlashOrder::HeadsFastest) grid = dim3(heads, seq_splits, tiles);
  if (args.order == FlashOrder::RowsFastest) grid = dim3(tiles, heads, seq_splits);
  kernel<<<grid, kThreads, Shape::kSharedBytes, stream()>>>(args);
  check_launch("flash_paged_attention_kernel");
}

template <WType W, bool kDecode>
void launch_for_head_size(int head_size, const FlashArgs& args, int64_t num_seqs,
                          int64_t row_tiles) {
  switch (head_size) {
    case 64: return launch<W, 64, kDecode>(args, num_seqs, row_tiles);
    case 80: return launch<W, 80, kDecode>(args, num_seqs, row_tiles);
    case 96: return launch<W, 96, kDecode>(args, num_seqs, row_tiles);
    case 128: return launch<W, 128, kDecode>(args, num_seqs, row_tiles);
    case 256: return launch<W, 256, kDecode>(args, num_seqs, row_tiles);
    default: fail(ErrorKind::Internal, "flash attention: head size ", head_size, " not compiled");
  }
}

}  // namespace

bool flash_attention_supported(int head_size) {
  return head_size == 64 || head_size == 80 || head_size == 96 || head_size == 128 ||
         head_size == 256;
}

void launch_flash_attention(WType cache_type, int head_size, bool decode, const FlashArgs& args,
                            int64_t num_seqs, int64_t row_tiles) {
  if (cache_type == WType::BF16) {
    if (decode) return launch_for_head_size<WType::BF16, true>(head_size, args, num_seqs, row_tiles);
    return launch_for_head_size<WType::BF16, false>(head_size, args, num_seqs, row_tiles);
  }
  if (decode) return launch_for_head_size<WType::F16, true>(head_size, args, num_seqs, row_tiles);
  return launch_for_head_size<WType::F16, false>(head_size, args, num_seqs, row_tiles);
}

}  // namespace vllm::cuda::detail
