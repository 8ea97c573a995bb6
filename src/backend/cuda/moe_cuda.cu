// Mixture-of-experts on the GPU (src/ops/moe.h), with no read-back of the routing to the host, so
// a CUDA graph captured once serves any routing:
//   1. moe_topk: one thread per token runs the shared routing row (backend/moe_routing.h).
//   2. The (token, slot) assignments are grouped by expert on the device: a count per expert, an
//      exclusive scan (expert offsets, and the offsets of their tiles of kTileRows assignments),
//      a scatter into expert order.
//   3. Two grouped matmuls over tiles of one expert's assignments, grid-strided over an upper
//      bound of the tile count that depends on T alone (ceil(T k / kTileRows) + E): gate_up with
//      the activation fused ([A, I] products in expert order), then down ([A, H] f32). Each tile
//      reads only its expert's weights; tiles past the real count return at once.
//   4. Per token, the weighted sum of its k rows in increasing expert id (the CPU's order).
// The matmul is a plain shared-memory tiled f32-accumulate kernel: correct for every shape and
// dtype; a tensor-core grouped GEMM and a small-batch GEMV path are the next step (issue 17).
#include <algorithm>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/moe_cuda.h"

namespace vllm::cuda {
namespace {

using namespace detail;

constexpr int kThreads = 256;
constexpr int kTileRows = 16;   // assignments per tile
constexpr int kTileCols = 32;   // output columns per tile (gate and up columns each when gated)
constexpr int kTileDepth = 32;  // reduction slice held in shared memory
constexpr int kMaxSlots = 64;   // top_k the combine kernel orders in shared memory

__device__ __forceinline__ float activate(ops::Activation kind, float x) {
  switch (kind) {  // the CPU kernel's formulas (activation_cpu.cpp)
    case ops::Activation::Silu: return x / (1.0f + expf(-x));
    case ops::Activation::Gelu: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case ops::Activation::GeluTanh: {
      const float inner = 0.79788456080286536f * (x + 0.044715f * x * x * x);
      return 0.5f * x * (1.0f + tanhf(inner));
    }
    case ops::Activation::Relu: return x > 0.0f ? x : 0.0f;
    case ops::Activation::Relu2: {
      const float r = x > 0.0f ? x : 0.0f;
      return r * r;
    }
  }
  return x;
}

__global__ void moe_topk_kernel(const float* __restrict__ logits, const float* __restrict__ bias, int32_t experts,
                                int64_t tokens, ops::MoERouting routing, int32_t* __restrict__ ids,
                                float* __restrict__ weights) {
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < tokens;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x)
    ops::moe_route_row(logits + t * experts, bias, experts, routing, ids + t * routing.top_k,
                       weights + t * routing.top_k);
}

// counts[e] += 1 for each assignment of expert e (ids outside [0, E) are dropped).
__global__ void moe_count_kernel(const int32_t* __restrict__ ids, int64_t assignments, int32_t experts,
                                 int32_t* __restrict__ counts) {
  for (int64_t a = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; a < assignments;
       a += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int32_t e = ids[a];
    if (e >= 0 && e < experts) atomicAdd(counts + e, 1);
  }
}

// offsets[e] = sum of counts before e, tile_offsets[e] likewise in tiles; cursor = offsets.
// One thread: E is at most a few hundred.
__global__ void moe_scan_kernel(const int32_t* __restrict__ counts, int32_t experts, int32_t* __restrict__ offsets,
                                int32_t* __restrict__ tile_offsets, int32_t* __restrict__ cursor) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  int32_t offset = 0, tiles = 0;
  for (int32_t e = 0; e < experts; ++e) {
    offsets[e] = offset;
    tile_offsets[e] = tiles;
    cursor[e] = offset;
    offset += counts[e];
    tiles += (counts[e] + kTileRows - 1) / kTileRows;
  }
  offsets[experts] = offset;
  tile_offsets[experts] = tiles;
}

// sorted[p] = the assignment at expert-order position p; position[a] = its p (-1: dropped). The
// order within an expert depends on the atomics, which changes no value: each assignment's rows
// are computed alone and the combine sums by expert id.
__global__ void moe_scatter_kernel(const int32_t* __restrict__ ids, int64_t assignments, int32_t experts,
                                   int32_t* __restrict__ cursor, int32_t* __restrict__ sorted,
                                   int32_t* __restrict__ position) {
  for (int64_t a = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; a < assignments;
       a += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int32_t e = ids[a];
    if (e < 0 || e >= experts) {
      position[a] = -1;
      continue;
    }
    const int32_t p = atomicAdd(cursor + e, 1);
    sorted[p] = static_cast<int32_t>(a);
    position[a] = p;
  }
}

// One tile: kTileRows assignments of one expert x kTileCols output columns, over a reduction of
// `depth`. Gated (gate_up): input rows are x[token] ([T, depth]), weights w[e] [2N, depth] (gate
// rows, then up rows), out[p, n] = act(gate) * up into [A, N] (O: f32 or the product's half
// type). Not gated (down): input rows are the products in expert order ([A, depth]), weights
// w[e] [N, depth], out [A, N] f32.
template <WType X, WType W, WType O, bool kGated>
__global__ void __launch_bounds__(kThreads)
    moe_matmul_kernel(const void* __restrict__ input, const void* __restrict__ weight, void* __restrict__ out,
                      const int32_t* __restrict__ sorted, const int32_t* __restrict__ offsets,
                      const int32_t* __restrict__ tile_offsets, int32_t experts, int32_t slots, int64_t depth,
                      int64_t columns, int64_t max_tiles, ops::Activation activation) {
  using XS = typename WeightStorage<X>::type;
  using WS = typename WeightStorage<W>::type;
  constexpr int kWeightRows = kGated ? 2 * kTileCols : kTileCols;
  __shared__ float xs[kTileRows][kTileDepth + 1];
  __shared__ float ws[kWeightRows][kTileDepth + 1];
  __shared__ int64_t input_row[kTileRows];
  __shared__ int32_t out_row[kTileRows];
  const int col = threadIdx.x % kTileCols;                 // this thread's output column in the tile
  const int row0 = threadIdx.x / kTileCols;                // and rows row0, row0 + kThreads / kTileCols
  constexpr int kRowStep = kThreads / kTileCols;           // 8
  constexpr int kRowsPerThread = kTileRows / kRowStep;     // 2
  const int64_t column_base = static_cast<int64_t>(blockIdx.x) * kTileCols;
  const int32_t total_tiles = tile_offsets[experts];
  for (int64_t tile = blockIdx.y; tile < max_tiles && tile < total_tiles; tile += gridDim.y) {
    // The tile's expert: the last e with tile_offsets[e] <= tile.
    int32_t lo = 0, hi = experts - 1;
    while (lo < hi) {
      const int32_t mid = (lo + hi + 1) / 2;
      if (tile_offsets[mid] <= tile) lo = mid;
      else hi = mid - 1;
    }
    const int32_t e = lo;
    const int32_t first = offsets[e] + (static_cast<int32_t>(tile) - tile_offsets[e]) * kTileRows;
    const int32_t rows = min(kTileRows, offsets[e + 1] - first);
    __syncthreads();  // the previous tile's readers are done with the row tables
    if (threadIdx.x < kTileRows) {
      const int32_t p = first + static_cast<int32_t>(threadIdx.x);
      const bool live = static_cast<int32_t>(threadIdx.x) < rows;
      out_row[threadIdx.x] = live ? p : -1;
      input_row[threadIdx.x] = !live ? -1 : kGated ? sorted[p] / slots : p;
    }
    const WS* w = static_cast<const WS*>(weight) + static_cast<int64_t>(e) * (kGated ? 2 : 1) * columns * depth;
    float acc[kRowsPerThread][2] = {};
    for (int64_t k0 = 0; k0 < depth; k0 += kTileDepth) {
      __syncthreads();
      for (int i = threadIdx.x; i < kTileRows * kTileDepth; i += kThreads) {
        const int r = i / kTileDepth, d = i % kTileDepth;
        const int64_t source = input_row[r];
        xs[r][d] = source >= 0 && k0 + d < depth ? widen<X>(static_cast<const XS*>(input)[source * depth + k0 + d]) : 0.0f;
      }
      for (int i = threadIdx.x; i < kWeightRows * kTileDepth; i += kThreads) {
        const int r = i / kTileDepth, d = i % kTileDepth;
        // Gated: tile rows [0, kTileCols) are gate columns, [kTileCols, 2 kTileCols) the up ones.
        const int64_t n = column_base + (kGated ? r % kTileCols : r);
        const int64_t weight_row = kGated && r >= kTileCols ? columns + n : n;
        ws[r][d] = n < columns && k0 + d < depth ? widen<W>(w[weight_row * depth + k0 + d]) : 0.0f;
      }
      __syncthreads();
#pragma unroll 8
      for (int d = 0; d < kTileDepth; ++d) {
        const float gate_w = ws[col][d];
        const float up_w = kGated ? ws[kTileCols + col][d] : 0.0f;
#pragma unroll
        for (int i = 0; i < kRowsPerThread; ++i) {
          const float xv = xs[row0 + i * kRowStep][d];
          acc[i][0] += xv * gate_w;
          if constexpr (kGated) acc[i][1] += xv * up_w;
        }
      }
    }
    const int64_t n = column_base + col;
    if (n < columns) {
#pragma unroll
      for (int i = 0; i < kRowsPerThread; ++i) {
        const int32_t p = out_row[row0 + i * kRowStep];
        if (p < 0) continue;
        if constexpr (kGated) {
          static_cast<typename WeightStorage<O>::type*>(out)[static_cast<int64_t>(p) * columns + n] =
              narrow<O>(activate(activation, acc[i][0]) * acc[i][1]);
        } else {
          static_cast<float*>(out)[static_cast<int64_t>(p) * columns + n] = acc[i][0];
        }
      }
    }
  }
}

// out[t] = sum over t's slots, in increasing expert id, of weight * rows[position].
__global__ void moe_combine_kernel(const float* __restrict__ rows, const int32_t* __restrict__ ids,
                                   const float* __restrict__ weights, const int32_t* __restrict__ position,
                                   int64_t tokens, int32_t slots, int64_t hidden, float* __restrict__ out) {
  __shared__ int32_t order[kMaxSlots];
  for (int64_t t = blockIdx.x; t < tokens; t += gridDim.x) {
    __syncthreads();
    if (threadIdx.x == 0) {  // insertion sort of the slots by expert id
      for (int32_t j = 0; j < slots; ++j) {
        int32_t i = j;
        while (i > 0 && ids[t * slots + order[i - 1]] > ids[t * slots + j]) {
          order[i] = order[i - 1];
          --i;
        }
        order[i] = j;
      }
    }
    __syncthreads();
    for (int64_t h = threadIdx.x; h < hidden; h += blockDim.x) {
      float acc = 0.0f;
      for (int32_t j = 0; j < slots; ++j) {
        const int64_t a = t * slots + order[j];
        const int32_t p = position[a];
        if (p >= 0) acc += rows[static_cast<int64_t>(p) * hidden + h] * weights[a];
      }
      out[t * hidden + h] = acc;
    }
  }
}

__global__ void moe_add_gated_kernel(float* __restrict__ out, const float* __restrict__ shared,
                                     const float* __restrict__ gate_logits, int64_t tokens, int64_t hidden) {
  const int64_t n = tokens * hidden;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float gate = 1.0f / (1.0f + expf(-gate_logits[i / hidden]));
    out[i] += gate * shared[i];
  }
}

template <WType X, WType W, WType O, bool kGated>
void launch_matmul(const Tensor& input, const Tensor& weight, Tensor& out, const Tensor& sorted, const Tensor& offsets,
                   const Tensor& tile_offsets, int32_t experts, int32_t slots, int64_t depth, int64_t columns,
                   int64_t max_tiles, ops::Activation activation) {
  const dim3 grid(static_cast<unsigned>((columns + kTileCols - 1) / kTileCols),
                  static_cast<unsigned>(std::min<int64_t>(std::max<int64_t>(max_tiles, 1), 65535)));
  moe_matmul_kernel<X, W, O, kGated><<<grid, kThreads, 0, stream()>>>(
      input.raw_data(), weight.raw_data(), out.raw_data(), sorted.data<int32_t>(), offsets.data<int32_t>(),
      tile_offsets.data<int32_t>(), experts, slots, depth, columns, max_tiles, activation);
  check_launch(kGated ? "moe_matmul_kernel (gate_up)" : "moe_matmul_kernel (down)");
}

}  // namespace

void moe_topk(const Tensor& router_logits, const Tensor& correction_bias, const ops::MoERouting& routing,
              Tensor& topk_ids, Tensor& topk_weights) {
  set_device(router_logits.device());
  const int64_t tokens = router_logits.size(0);
  if (tokens == 0) return;
  moe_topk_kernel<<<grid_for(tokens, 128), 128, 0, stream()>>>(
      router_logits.data<float>(), correction_bias.defined() ? correction_bias.data<float>() : nullptr,
      static_cast<int32_t>(router_logits.size(1)), tokens, routing, topk_ids.data<int32_t>(),
      topk_weights.data<float>());
  check_launch("moe_topk_kernel");
}

void moe_experts(const Tensor& x, const Tensor& topk_ids, const Tensor& topk_weights, const Tensor& w_gate_up,
                 const Tensor& w_down, ops::Activation activation, Tensor& out, DType product_dtype) {
  const Device device = x.device();
  set_device(device);
  const int64_t tokens = x.size(0), hidden = x.size(1);
  const int32_t slots = static_cast<int32_t>(topk_ids.size(1));
  const int32_t experts = static_cast<int32_t>(w_gate_up.size(0));
  const int64_t inter = w_down.size(2), assignments = tokens * slots;
  VLLM_CHECK(slots <= kMaxSlots, Unsupported, "moe_experts: top_k ", slots, " is above the CUDA kernel's ", kMaxSlots);
  if (tokens == 0) return;
  Tensor counts = Tensor::empty({experts}, DType::I32, device);           // [E]
  Tensor offsets = Tensor::empty({experts + 1}, DType::I32, device);      // [E + 1]
  Tensor tile_offsets = Tensor::empty({experts + 1}, DType::I32, device); // [E + 1]
  Tensor cursor = Tensor::empty({experts}, DType::I32, device);           // [E]
  Tensor sorted = Tensor::empty({assignments}, DType::I32, device);       // [A]
  Tensor position = Tensor::empty({assignments}, DType::I32, device);     // [A]
  Tensor product = Tensor::empty({assignments, inter}, product_dtype, device);  // [A, I], expert order
  Tensor rows = Tensor::empty({assignments, hidden}, DType::F32, device);       // [A, H], expert order
  check(cudaMemsetAsync(counts.raw_data(), 0, counts.nbytes(), stream()), "cudaMemsetAsync");
  const int32_t* ids = topk_ids.data<int32_t>();
  moe_count_kernel<<<grid_for(assignments, kThreads), kThreads, 0, stream()>>>(ids, assignments, experts,
                                                                                counts.data<int32_t>());
  check_launch("moe_count_kernel");
  moe_scan_kernel<<<1, 32, 0, stream()>>>(counts.data<int32_t>(), experts, offsets.data<int32_t>(),
                                          tile_offsets.data<int32_t>(), cursor.data<int32_t>());
  check_launch("moe_scan_kernel");
  moe_scatter_kernel<<<grid_for(assignments, kThreads), kThreads, 0, stream()>>>(
      ids, assignments, experts, cursor.data<int32_t>(), sorted.data<int32_t>(), position.data<int32_t>());
  check_launch("moe_scatter_kernel");
  // At most ceil(count_e / kTileRows) tiles per expert: fewer than A / kTileRows + E in all.
  const int64_t max_tiles = (assignments + kTileRows - 1) / kTileRows + experts;
  const WType w = weight_type(w_gate_up);
  const WType xt = weight_type(x), pt = product_dtype == DType::F32 ? WType::F32 : w;
  dispatch_type(w, [&](auto wc) {
    constexpr WType kW = decltype(wc)::value;
    auto gate_up = [&](auto xc, auto pc) {
      launch_matmul<decltype(xc)::value, kW, decltype(pc)::value, true>(x, w_gate_up, product, sorted, offsets,
                                                                        tile_offsets, experts, slots, hidden, inter,
                                                                        max_tiles, activation);
    };
    auto down = [&](auto pc) {
      launch_matmul<decltype(pc)::value, kW, WType::F32, false>(product, w_down, rows, sorted, offsets, tile_offsets,
                                                                experts, slots, inter, hidden, max_tiles, activation);
    };
    using F32 = std::integral_constant<WType, WType::F32>;
    using Half = std::integral_constant<WType, kW>;  // x or the product in the weights' type
    if (xt == WType::F32 && pt == WType::F32) gate_up(F32{}, F32{});
    else if (xt == WType::F32) gate_up(F32{}, Half{});
    else if (pt == WType::F32) gate_up(Half{}, F32{});
    else gate_up(Half{}, Half{});
    if (pt == WType::F32) down(F32{});
    else down(Half{});
  });
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(tokens, 65535));
  moe_combine_kernel<<<blocks, kThreads, 0, stream()>>>(rows.data<float>(), ids, topk_weights.data<float>(),
                                                        position.data<int32_t>(), tokens, slots, hidden,
                                                        out.data<float>());
  check_launch("moe_combine_kernel");
}

void moe_add_gated(Tensor& out, const Tensor& shared, const Tensor& gate_logits) {
  set_device(out.device());
  const int64_t n = out.numel();
  if (n == 0) return;
  moe_add_gated_kernel<<<grid_for(n, kThreads), kThreads, 0, stream()>>>(
      out.data<float>(), shared.data<float>(), gate_logits.data<float>(), out.size(0), out.size(1));
  check_launch("moe_add_gated_kernel");
}

}  // namespace vllm::cuda
