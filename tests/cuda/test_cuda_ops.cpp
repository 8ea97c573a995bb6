// Every op of the ops API on CUDA tensors against the CPU op on the same random inputs; skipped
// (with a message) where no GPU is present. Outputs are poisoned before each run, and strided
// views are compared through their whole base buffers, so unwritten and stray writes both show.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <random>

#include "backend/cuda/cublaslt.h"
#include "backend/cuda/cuda_backend.h"
#include "cuda/cuda_test_util.h"
#include "ops/ops.h"

using namespace vllm;
using namespace vllm::cuda_test;

namespace {

std::vector<int32_t> random_ints(int64_t n, int32_t lo, int32_t hi) {
  std::mt19937 random(fresh_seed());
  std::uniform_int_distribution<int32_t> pick(lo, hi);
  std::vector<int32_t> values(static_cast<size_t>(n));
  for (auto& v : values) v = pick(random);
  return values;
}


const DType kWeightTypes[] = {DType::F32, DType::BF16, DType::F16};

TEST(CudaOps, DeviceMemoryRoundTrips) {
  SKIP_WITHOUT_GPU();
  Tensor host = random_tensor({3, 5});
  EXPECT_EQ(gpu(host).to(Device::cpu()).to_float_vector(), host.to_float_vector());
}

TEST(CudaOps, MixedDevicesAreRejected) {
  SKIP_WITHOUT_GPU();
  Tensor a = random_tensor({4, 8}), b = gpu(random_tensor({4, 8}));
  Tensor out = Tensor::empty({4, 8}, DType::F32, Device::cuda());
  EXPECT_THROW(ops::add(a, b, out), Error);
}

// Half-precision weights run through cuBLASLt with x rounded to the weight's type (vLLM computes
// in the model dtype), so the CPU reference gets the same rounded x; f32 weights keep exact f32.
TEST(CudaOps, LinearMatchesCpu) {
  SKIP_WITHOUT_GPU();
  struct Size { int64_t t, k, n; };
  for (DType wtype : kWeightTypes)
    for (Size s : {Size{1, 64, 96}, Size{3, 257, 129}, Size{8, 1000, 77}, Size{9, 33, 65},
                   Size{70, 300, 130}, Size{130, 1024, 257}, Size{64, 16, 64}, Size{5, 1, 3},
                   Size{2, 256, 5000}, Size{1, 136, 9000}, Size{4, 64, 16400}})  // the GEMV's splits 4, 2, 1
      for (bool with_bias : {false, true})
        for (int64_t pad : {int64_t{0}, int64_t{5}}) {
          Tensor x_base = random_tensor({s.t, s.k + pad});
          Tensor x = x_base.slice(1, 0, s.k);
          Tensor weight = random_tensor({s.n, s.k}, wtype);
          Tensor bias = with_bias ? random_tensor({s.n}) : Tensor();
          Tensor cpu_out = Tensor::empty({s.t, s.n}, DType::F32);
          Tensor x_rounded = wtype == DType::F32 ? x : x.to(wtype).to(DType::F32);
          ops::linear(x_rounded, weight, bias, cpu_out);
          Tensor gx = gpu(x_base).slice(1, 0, s.k);
          Tensor gpu_out = filled({s.t, s.n}, kPoison, Device::cuda());
          ops::linear(gx, gpu(weight), with_bias ? gpu(bias) : Tensor(), gpu_out);
          expect_close(gpu_out, cpu_out, 1e-5f, 2e-6f * static_cast<float>(s.k) + 1e-5f,
                       str("linear ", dtype_name(wtype), " T=", s.t, " K=", s.k, " N=", s.n,
                           " bias=", with_bias, " pad=", pad));
        }
}

// cuBLASLt's algorithm is timed among the heuristic's candidates once per bucket of row counts
// (cublaslt.cpp): the first shape of a bucket is tuned, another row count of the same bucket reuses
// its choice, and every choice computes the same product.
TEST(CudaOps, TunedMatmulsShareBucketsAndMatchCpu) {
  SKIP_WITHOUT_GPU();
  if (!cuda::cublaslt_available()) GTEST_SKIP() << "no cuBLASLt";
  const char* env = std::getenv("VLLM_CUBLASLT_TUNE");
  if (env && std::string(env) == "0") GTEST_SKIP() << "VLLM_CUBLASLT_TUNE=0";
  const int64_t k = 320, n = 448;  // a shape no other test uses
  Tensor weight = random_tensor({n, k}, DType::BF16);
  Tensor gweight = gpu(weight);
  auto check = [&](int64_t m, int64_t expected_new_tunings) {
    const int64_t before = cuda::cublaslt_tunings();
    Tensor x = random_tensor({m, k}).to(DType::BF16);
    Tensor cpu_out = Tensor::empty({m, n}, DType::F32);
    ops::linear(x.to(DType::F32), weight, Tensor(), cpu_out);
    Tensor gpu_out = filled({m, n}, kPoison, Device::cuda());
    ops::linear(gpu(x), gweight, Tensor(), gpu_out);
    expect_close(gpu_out, cpu_out, 1e-5f, 2e-6f * static_cast<float>(k) + 1e-5f, str("tuned linear M=", m));
    EXPECT_EQ(cuda::cublaslt_tunings() - before, expected_new_tunings) << "M=" << m;
  };
  check(600, 1);  // bucket 576..640: tuned
  check(590, 0);  // same bucket: reuses the tuned algorithm
  check(600, 0);  // same shape: the plan made above
  check(3000, 1);  // bucket 2816..3072
}

TEST(CudaOps, RmsNormMatchesCpu) {
  SKIP_WITHOUT_GPU();
  for (DType wtype : kWeightTypes)
    for (int64_t hidden : {33, 64, 1000, 4096, 16388})  // 16388: past the register path
      for (int64_t tokens : {1, 7})
        for (float offset : {0.0f, 1.0f}) {
          Tensor x = random_tensor({tokens, hidden}), weight = random_tensor({hidden}, wtype);
          Tensor cpu_out = Tensor::empty(x.shape(), DType::F32);
          ops::rms_norm(x, weight, 1e-6f, offset, cpu_out);
          Tensor gpu_out = filled(x.shape(), kPoison, Device::cuda());
          ops::rms_norm(gpu(x), gpu(weight), 1e-6f, offset, gpu_out);
          expect_close(gpu_out, cpu_out, 1e-5f, 1e-6f,
                       str("rms_norm ", dtype_name(wtype), " ", tokens, "x", hidden));
          // In place.
          Tensor gx = gpu(x);
          ops::rms_norm(gx, gpu(weight), 1e-6f, offset, gx);
          expect_close(gx, cpu_out, 1e-5f, 1e-6f, "rms_norm in place");
        }
  // The direct backend entry point.
  Tensor x = random_tensor({7, 1000}), weight = random_tensor({1000});
  Tensor cpu_out = Tensor::empty(x.shape(), DType::F32);
  ops::rms_norm(x, weight, 1e-6f, 1.0f, cpu_out);
  Tensor gpu_out = filled(x.shape(), kPoison, Device::cuda());
  cuda::rms_norm(gpu(x), gpu(weight), 1e-6f, 1.0f, gpu_out);
  expect_close(gpu_out, cpu_out, 1e-5f, 1e-6f, "cuda::rms_norm");
}

TEST(CudaOps, StridedNormsMatchCpu) {
  SKIP_WITHOUT_GPU();
  // q-norm style: [T, H, D] views of a fused [T, 3, H, D] buffer, in place.
  for (DType wtype : kWeightTypes)
    for (int64_t tokens : {1, 6}) {
      const int64_t heads = 5, dim = 48;
      Tensor base = random_tensor({tokens, 3, heads, dim});
      Tensor weight = random_tensor({dim}, wtype), bias = random_tensor({dim}, wtype);
      Tensor cpu_base = base.clone(), gpu_base = gpu(base);
      Tensor cpu_view = cpu_base.select(1, 1), gpu_view = gpu_base.select(1, 1);
      ops::rms_norm(cpu_view, weight, 1e-5f, 0.0f, cpu_view);
      ops::rms_norm(gpu_view, gpu(weight), 1e-5f, 0.0f, gpu_view);
      expect_close(gpu_base, cpu_base, 1e-5f, 1e-6f, "strided rms_norm");
      Tensor cpu_k = cpu_base.select(1, 2), gpu_k = gpu_base.select(1, 2);
      ops::layer_norm(cpu_k, weight, bias, 1e-5f, cpu_k);
      ops::layer_norm(gpu_k, gpu(weight), gpu(bias), 1e-5f, gpu_k);
      expect_close(gpu_base, cpu_base, 1e-5f, 1e-5f, "strided layer_norm");
      // Strided x into a contiguous out.
      Tensor cpu_out = Tensor::empty({tokens, heads, dim}, DType::F32);
      Tensor gpu_out = filled({tokens, heads, dim}, kPoison, Device::cuda());
      ops::rms_norm(cpu_base.select(1, 0), weight, 1e-6f, 1.0f, cpu_out);
      ops::rms_norm(gpu_base.select(1, 0), gpu(weight), 1e-6f, 1.0f, gpu_out);
      expect_close(gpu_out, cpu_out, 1e-5f, 1e-6f, "strided rms_norm into out");
    }
}

TEST(CudaOps, FusedAddRmsNormMatchesCpu) {
  SKIP_WITHOUT_GPU();
  for (DType wtype : kWeightTypes)
    for (int64_t hidden : {17, 1024, 5120})
      for (int64_t tokens : {1, 9}) {
        Tensor x = random_tensor({tokens, hidden}), residual = random_tensor({tokens, hidden});
        Tensor weight = random_tensor({hidden}, wtype);
        Tensor cx = x.clone(), cr = residual.clone(), gx = gpu(x), gr = gpu(residual);
        ops::fused_add_rms_norm(cx, cr, weight, 1e-6f, 1.0f);
        ops::fused_add_rms_norm(gx, gr, gpu(weight), 1e-6f, 1.0f);
        const std::string what = str("fused_add_rms_norm ", dtype_name(wtype), " ", tokens, "x", hidden);
        expect_close(gr, cr, 1e-6f, 1e-6f, what + " residual");
        expect_close(gx, cx, 1e-5f, 1e-6f, what + " x");
      }
}

// Norms and gated activations may write bf16/f16 for a half-precision matmul, which may take x in
// its weight's type: the same values as the f32 path rounded to nearest (one ulp of slack for
// f32 results that sit on a rounding boundary), on the register path and off it.
TEST(CudaOps, HalfOutputsFeedHalfMatmuls) {
  SKIP_WITHOUT_GPU();
  for (DType half : {DType::BF16, DType::F16}) {
    const float rtol = half == DType::BF16 ? 8e-3f : 1e-3f;
    auto rounded = [&](const Tensor& t) { return t.to(Device::cpu()).to(half).to(DType::F32); };
    auto widened = [&](const Tensor& t) { return t.to(Device::cpu()).to(DType::F32); };
    for (int64_t hidden : {4096, 33})
      for (int64_t tokens : {1, 5}) {
        const std::string what = str(dtype_name(half), " ", tokens, "x", hidden);
        Tensor x = random_tensor({tokens, hidden}), residual = random_tensor({tokens, hidden});
        Tensor weight = random_tensor({hidden});
        Tensor f32_out = Tensor::empty(x.shape(), DType::F32, Device::cuda());
        ops::rms_norm(gpu(x), gpu(weight), 1e-6f, 0.0f, f32_out);
        Tensor half_out = Tensor::empty(x.shape(), half, Device::cuda());
        ops::rms_norm(gpu(x), gpu(weight), 1e-6f, 0.0f, half_out);
        EXPECT_EQ(half_out.dtype(), half);
        expect_close(gpu(widened(half_out)), rounded(f32_out), rtol, 1e-6f, "rms_norm -> " + what);

        Tensor gx = gpu(x), gr = gpu(residual);
        ops::fused_add_rms_norm(gx, gr, gpu(weight), 1e-6f, 1.0f);  // in place: the reference
        Tensor gr2 = gpu(residual), fused_out = Tensor::empty(x.shape(), half, Device::cuda());
        const Tensor input = gpu(x);
        ops::fused_add_rms_norm(input, gr2, gpu(weight), 1e-6f, 1.0f, fused_out);
        EXPECT_EQ(widened(gr2).to_float_vector(), widened(gr).to_float_vector()) << what << " residual";
        expect_close(gpu(widened(fused_out)), rounded(gx), rtol, 1e-6f, "fused_add_rms_norm -> " + what);
        EXPECT_EQ(widened(input).to_float_vector(), x.to_float_vector()) << what << ": x is read only";

        Tensor gate_up = random_tensor({tokens, 2 * hidden}, DType::F32, 3.0f);
        Tensor act_f32 = Tensor::empty({tokens, hidden}, DType::F32, Device::cuda());
        ops::activation_and_mul(ops::Activation::Silu, gpu(gate_up), act_f32);
        Tensor act_half = Tensor::empty({tokens, hidden}, half, Device::cuda());
        ops::activation_and_mul(ops::Activation::Silu, gpu(gate_up), act_half);
        expect_close(gpu(widened(act_half)), rounded(act_f32), rtol, 1e-6f, "silu_and_mul -> " + what);
        // A half gate_up (what a half matmul writes) in: the same as its widened f32 values.
        Tensor half_gate_up = gpu(gate_up.to(half));
        Tensor act_from_half = Tensor::empty({tokens, hidden}, DType::F32, Device::cuda());
        ops::activation_and_mul(ops::Activation::Silu, half_gate_up, act_from_half);
        Tensor act_reference = Tensor::empty({tokens, hidden}, DType::F32, Device::cuda());
        ops::activation_and_mul(ops::Activation::Silu, gpu(widened(half_gate_up)), act_reference);
        EXPECT_EQ(widened(act_from_half).to_float_vector(), widened(act_reference).to_float_vector())
            << "half -> silu_and_mul " << what;
        Tensor half_to_half = Tensor::empty({tokens, hidden}, half, Device::cuda());
        ops::activation_and_mul(ops::Activation::GeluTanh, half_gate_up, half_to_half);
        Tensor gelu_reference = Tensor::empty({tokens, hidden}, half, Device::cuda());
        ops::activation_and_mul(ops::Activation::GeluTanh, gpu(widened(half_gate_up)), gelu_reference);
        EXPECT_EQ(widened(half_to_half).to_float_vector(), widened(gelu_reference).to_float_vector())
            << "half -> gelu_tanh_and_mul -> half " << what;
      }
    // Half x into linear: the GEMV (decode rows, each split) and cuBLASLt (more rows), strided x too.
    struct Size { int64_t t, k, n, pad; };
    for (Size size : {Size{1, 4096, 64, 0}, Size{3, 256, 5000, 8}, Size{8, 512, 20000, 0}, Size{20, 512, 300, 0},
                      Size{6, 40, 70, 3}}) {
      const std::string what = str("linear ", dtype_name(half), " x T=", size.t, " K=", size.k, " N=", size.n,
                                   " pad=", size.pad);
      Tensor x_base = random_tensor({size.t, size.k + size.pad}).to(half);
      Tensor weight = random_tensor({size.n, size.k}, half), bias = random_tensor({size.n});
      Tensor cpu_out = Tensor::empty({size.t, size.n}, DType::F32);
      ops::linear(x_base.slice(1, 0, size.k).to(DType::F32), weight, bias, cpu_out);
      Tensor gpu_out = filled({size.t, size.n}, kPoison, Device::cuda());
      ops::linear(gpu(x_base).slice(1, 0, size.k), gpu(weight), gpu(bias), gpu_out);
      expect_close(gpu_out, cpu_out, 1e-5f, 2e-6f * static_cast<float>(size.k) + 1e-5f, what);
      // The weight's half type out (GEMV, cuBLASLt, and with a bias the f32 product rounded):
      // within one rounding of the f32 product.
      for (bool with_bias : {false, true}) {
        Tensor half_out = gpu(filled({size.t, size.n}, kPoison).to(half));
        Tensor f32_out = filled({size.t, size.n}, kPoison, Device::cuda());
        const Tensor b = with_bias ? gpu(bias) : Tensor();
        ops::linear(gpu(x_base).slice(1, 0, size.k), gpu(weight), b, half_out);
        ops::linear(gpu(x_base).slice(1, 0, size.k), gpu(weight), b, f32_out);
        EXPECT_EQ(half_out.dtype(), half);
        expect_close(gpu(widened(half_out)), widened(f32_out), rtol, 1e-4f, what + " -> half out, bias " +
                                                                                 std::to_string(with_bias));
      }
    }
    // An out in a half type other than the weight's is refused.
    {
      Tensor x = gpu(random_tensor({2, 16}, half)), w = gpu(random_tensor({4, 16}, half));
      Tensor wrong = Tensor::empty({2, 4}, half == DType::BF16 ? DType::F16 : DType::BF16, Device::cuda());
      EXPECT_THROW(ops::linear(x, w, Tensor(), wrong), Error);
    }
    // x in a half type other than the weight's is refused.
    Tensor other = Tensor::empty({2, 16}, half == DType::BF16 ? DType::F16 : DType::BF16, Device::cuda());
    Tensor w = gpu(random_tensor({4, 16}, half)), out = Tensor::empty({2, 4}, DType::F32, Device::cuda());
    EXPECT_THROW(ops::linear(other, w, Tensor(), out), Error);
  }
}

TEST(CudaOps, LayerNormMatchesCpu) {
  SKIP_WITHOUT_GPU();
  for (DType wtype : kWeightTypes)
    for (int64_t hidden : {31, 768, 2560, 5000})  // up to 4096: a warp a row; past it, a block a row
      for (int affine : {0, 1, 2}) {                // none, weight only, weight + bias
        const int64_t tokens = 13;                  // not a multiple of the warp kernel's 8 rows a block
        Tensor x = random_tensor({tokens, hidden}, DType::F32, 3.0f);
        Tensor weight = affine >= 1 ? random_tensor({hidden}, wtype) : Tensor();
        Tensor bias = affine >= 2 ? random_tensor({hidden}, wtype) : Tensor();
        Tensor cpu_out = Tensor::empty(x.shape(), DType::F32);
        ops::layer_norm(x, weight, bias, 1e-5f, cpu_out);
        Tensor gpu_out = filled(x.shape(), kPoison, Device::cuda());
        ops::layer_norm(gpu(x), affine >= 1 ? gpu(weight) : Tensor(),
                        affine >= 2 ? gpu(bias) : Tensor(), 1e-5f, gpu_out);
        expect_close(gpu_out, cpu_out, 1e-5f, 1e-5f,
                     str("layer_norm ", dtype_name(wtype), " H=", hidden, " affine=", affine));
      }
}

TEST(CudaOps, RotaryEmbeddingMatchesCpu) {
  SKIP_WITHOUT_GPU();
  for (bool is_neox : {true, false})
    for (int64_t tokens : {1, 13})
      for (int64_t rotary_dim : {64, 32, 16})
        for (bool with_key : {true, false}) {
          const int64_t head = 64, hq = 6, hk = 2, max_pos = 100;
          Tensor qkv = random_tensor({tokens, hq + 2 * hk, head});
          Tensor cache = random_tensor({max_pos, rotary_dim});
          Tensor positions = Tensor::from_ints(random_ints(tokens, 0, max_pos - 1), {tokens});
          Tensor cpu_qkv = qkv.clone(), gpu_qkv = gpu(qkv);
          Tensor cq = cpu_qkv.slice(1, 0, hq), ck = with_key ? cpu_qkv.slice(1, hq, hq + hk) : Tensor();
          Tensor gq = gpu_qkv.slice(1, 0, hq), gk = with_key ? gpu_qkv.slice(1, hq, hq + hk) : Tensor();
          ops::rotary_embedding(positions, cq, ck, cache, rotary_dim, is_neox);
          ops::rotary_embedding(gpu(positions), gq, gk, gpu(cache), rotary_dim, is_neox);
          expect_close(gpu_qkv, cpu_qkv, 1e-6f, 1e-5f,
                       str("rotary neox=", is_neox, " T=", tokens, " rd=", rotary_dim,
                           " key=", with_key));
        }
}

TEST(CudaOps, ReshapeAndCacheMatchesCpu) {
  SKIP_WITHOUT_GPU();
  for (int64_t tokens : {1, 23}) {
    const int64_t hq = 4, hk = 2, head = 32, value_head = 24, blocks = 8, block_size = 5;
    Tensor kc = random_tensor({blocks, block_size, hk, head});
    Tensor vc = random_tensor({blocks, block_size, hk, value_head});
    std::vector<int32_t> slots(static_cast<size_t>(blocks * block_size));
    std::iota(slots.begin(), slots.end(), 0);
    std::shuffle(slots.begin(), slots.end(), std::mt19937(fresh_seed()));
    slots.resize(static_cast<size_t>(tokens));
    if (tokens > 3) slots[2] = -1;  // padding token
    Tensor slot_mapping = Tensor::from_ints(slots, {tokens});
    // Strided key/value: [T, Hk, D] views of a fused [T, Hq + 2 Hk, D] qkv buffer.
    Tensor fused = random_tensor({tokens, hq + 2 * hk, head});
    Tensor kc_cpu = kc.clone(), kc_gpu = gpu(kc);
    Tensor vc_same = random_tensor({blocks, block_size, hk, head});
    Tensor vc_cpu = vc_same.clone(), vc_gpu = gpu(vc_same);
    Tensor gfused = gpu(fused);
    ops::reshape_and_cache(fused.slice(1, hq, hq + hk), fused.slice(1, hq + hk, hq + 2 * hk),
                           kc_cpu, vc_cpu, slot_mapping);
    ops::reshape_and_cache(gfused.slice(1, hq, hq + hk), gfused.slice(1, hq + hk, hq + 2 * hk),
                           kc_gpu, vc_gpu, gpu(slot_mapping));
    expect_close(kc_gpu, kc_cpu, 0.0f, 0.0f, str("reshape_and_cache strided key T=", tokens));
    expect_close(vc_gpu, vc_cpu, 0.0f, 0.0f, str("reshape_and_cache strided value T=", tokens));
    // Contiguous key/value with Dv != D.
    Tensor k = random_tensor({tokens, hk, head}), v = random_tensor({tokens, hk, value_head});
    Tensor kc2 = kc.clone(), vc2 = vc.clone(), gkc2 = gpu(kc), gvc2 = gpu(vc);
    ops::reshape_and_cache(k, v, kc2, vc2, slot_mapping);
    ops::reshape_and_cache(gpu(k), gpu(v), gkc2, gvc2, gpu(slot_mapping));
    expect_close(gkc2, kc2, 0.0f, 0.0f, "reshape_and_cache key");
    expect_close(gvc2, vc2, 0.0f, 0.0f, "reshape_and_cache value");
  }
}

struct AttentionCase {
  const char* name;
  std::vector<int32_t> seq_lens, q_lens;
  int64_t hq, hk, head, value_head, block_size;
  int64_t sliding_window = 0;
  float softcap = 0.0f;
  bool alibi = false;
  bool strided_query = false;
  int64_t extra_rows = 0;  // rows past query_start[B]: must stay untouched
};

void run_attention(const AttentionCase& c) {
  const int64_t num_seqs = static_cast<int64_t>(c.seq_lens.size());
  int64_t max_blocks = 0, total_blocks = 0, tokens = 0;
  std::vector<int32_t> query_start{0};
  for (int64_t b = 0; b < num_seqs; ++b) {
    const int64_t n = (c.seq_lens[b] + c.block_size - 1) / c.block_size;
    max_blocks = std::max(max_blocks, n);
    total_blocks += n;
    tokens += c.q_lens[b];
    query_start.push_back(static_cast<int32_t>(tokens));
  }
  const int64_t num_blocks = total_blocks + 3;  // a few blocks nobody owns
  std::vector<int32_t> ids(static_cast<size_t>(num_blocks));
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), std::mt19937(fresh_seed()));
  std::vector<int32_t> table(static_cast<size_t>(num_seqs * (max_blocks + 1)), 0);
  size_t next = 0;
  for (int64_t b = 0; b < num_seqs; ++b) {
    const int64_t n = (c.seq_lens[b] + c.block_size - 1) / c.block_size;
    for (int64_t i = 0; i < n; ++i) table[b * (max_blocks + 1) + i] = ids[next++];
  }
  // Block table with a padded row stride (max_blocks + 1 columns, the view uses max_blocks).
  Tensor table_base = Tensor::from_ints(table, {num_seqs, max_blocks + 1});
  Tensor block_table = table_base.slice(1, 0, max_blocks);
  Tensor qs = Tensor::from_ints(query_start, {num_seqs + 1});
  Tensor lens = Tensor::from_ints(c.seq_lens, {num_seqs});
  Tensor kc = random_tensor({num_blocks, c.block_size, c.hk, c.head});
  Tensor vc = random_tensor({num_blocks, c.block_size, c.hk, c.value_head});
  const int64_t rows = tokens + c.extra_rows;
  Tensor q_base = random_tensor({rows, c.strided_query ? c.hq + 2 : c.hq, c.head});
  Tensor query = q_base.slice(1, 0, c.hq);
  ops::AttentionParams params;
  params.scale = 1.0f / std::sqrt(static_cast<float>(c.head));
  params.sliding_window = c.sliding_window;
  params.logit_softcap = c.softcap;
  if (c.alibi) {
    std::vector<float> slopes;
    for (int64_t h = 0; h < c.hq; ++h) slopes.push_back(std::pow(2.0f, -8.0f * (h + 1) / c.hq));
    params.alibi_slopes = Tensor::from_floats(slopes, {c.hq});
  }
  Tensor cpu_out = filled({rows, c.hq, c.value_head}, kPoison);
  ops::paged_attention(query, kc, vc, qs, lens, block_table, params, cpu_out);

  ops::AttentionParams gparams = params;
  if (c.alibi) gparams.alibi_slopes = gpu(params.alibi_slopes);
  Tensor gpu_out = filled({rows, c.hq, c.value_head}, kPoison, Device::cuda());
  Tensor gquery = gpu(q_base).slice(1, 0, c.hq);
  Tensor gtable = gpu(table_base).slice(1, 0, max_blocks);
  ops::paged_attention(gquery, gpu(kc), gpu(vc), gpu(qs), gpu(lens), gtable, gparams, gpu_out);
  expect_close(gpu_out, cpu_out, 1e-5f, 5e-6f, str("paged_attention ", c.name));
}

TEST(CudaOps, PagedAttentionMatchesCpu) {
  SKIP_WITHOUT_GPU();
  const std::vector<AttentionCase> cases = {
      {"decode MHA", {1}, {1}, 4, 4, 64, 64, 16},
      {"decode batch GQA", {37, 5, 130, 16}, {1, 1, 1, 1}, 8, 2, 128, 128, 16},
      {"prefill MQA", {45}, {45}, 6, 1, 64, 64, 16},
      {"chunked prefill + decodes", {70, 33, 9, 200}, {20, 1, 9, 1}, 8, 4, 80, 80, 16,
       0, 0.0f, false, true, 3},
      {"odd block size", {23, 11}, {23, 4}, 4, 2, 32, 32, 5},
      {"sliding window", {90, 40}, {30, 1}, 4, 2, 64, 64, 16, 7},
      {"softcap", {50, 12}, {10, 12}, 4, 4, 256, 256, 16, 0, 30.0f},
      {"alibi", {64, 17}, {64, 1}, 8, 8, 64, 64, 16, 0, 0.0f, true},
      {"all together", {300, 3, 77}, {100, 3, 1}, 12, 3, 96, 96, 16, 33, 20.0f, true, true, 2},
      {"value head differs", {40, 8}, {8, 8}, 4, 2, 64, 32, 8},
      {"long decode", {3000}, {1}, 8, 1, 128, 128, 16},
  };
  for (const AttentionCase& c : cases) run_attention(c);
}

TEST(CudaOps, ActivationsMatchCpu) {
  SKIP_WITHOUT_GPU();
  using ops::Activation;
  for (Activation kind : {Activation::Silu, Activation::Gelu, Activation::GeluTanh,
                          Activation::Relu, Activation::Relu2})
    for (int64_t tokens : {1, 9})
      for (int64_t width : {1, 333, 4096}) {
        const std::string what = str("activation kind ", static_cast<int>(kind), " ", tokens, "x", width);
        Tensor x = random_tensor({tokens, width}, DType::F32, 3.0f);
        Tensor cpu_out = Tensor::empty(x.shape(), DType::F32);
        ops::activation(kind, x, cpu_out);
        Tensor gpu_out = filled(x.shape(), kPoison, Device::cuda());
        ops::activation(kind, gpu(x), gpu_out);
        expect_close(gpu_out, cpu_out, 2e-6f, 1e-6f, what);
        Tensor gx = gpu(x);
        ops::activation(kind, gx, gx);
        expect_close(gx, cpu_out, 2e-6f, 1e-6f, what + " in place");

        // Gated, x a row-strided [T, 2I] view.
        Tensor x2_base = random_tensor({tokens, 2 * width + 8}, DType::F32, 3.0f);  // 4096: the 4-wide path
        Tensor x2 = x2_base.slice(1, 0, 2 * width);
        Tensor cpu_gated = Tensor::empty({tokens, width}, DType::F32);
        ops::activation_and_mul(kind, x2, cpu_gated);
        Tensor gpu_gated = filled({tokens, width}, kPoison, Device::cuda());
        ops::activation_and_mul(kind, gpu(x2_base).slice(1, 0, 2 * width), gpu_gated);
        // Gated: act(gate) carries the absolute error of 1 + erf / 1 + tanh near -1 (one ulp of
        // 1.0 between the CPU's and CUDA's libm), times |up|: an absolute tolerance.
        expect_close(gpu_gated, cpu_gated, 2e-6f, 2e-5f, what + " and_mul");
      }
  Tensor x = random_tensor({9, 2 * 333});
  Tensor cpu_out = Tensor::empty({9, 333}, DType::F32);
  ops::activation_and_mul(Activation::Silu, x, cpu_out);
  Tensor gpu_out = filled({9, 333}, kPoison, Device::cuda());
  cuda::silu_and_mul(gpu(x), gpu_out);
  expect_close(gpu_out, cpu_out, 2e-6f, 1e-6f, "cuda::silu_and_mul");
}

TEST(CudaOps, SoftmaxAndLogSoftmaxMatchCpu) {
  SKIP_WITHOUT_GPU();
  for (int64_t rows : {1, 5})
    for (int64_t n : {1, 7, 1000, 50000}) {
      Tensor x = random_tensor({rows, n}, DType::F32, 4.0f);
      Tensor cpu_soft = x.clone(), gpu_soft = gpu(x);
      ops::softmax(cpu_soft);
      ops::softmax(gpu_soft);
      expect_close(gpu_soft, cpu_soft, 1e-5f, 1e-9f, str("softmax ", rows, "x", n));
      Tensor cpu_log = Tensor::empty(x.shape(), DType::F32);
      ops::log_softmax(x, cpu_log);
      Tensor gpu_log = filled(x.shape(), kPoison, Device::cuda());
      ops::log_softmax(gpu(x), gpu_log);
      expect_close(gpu_log, cpu_log, 1e-6f, 2e-6f, str("log_softmax ", rows, "x", n));
      Tensor gx = gpu(x);
      ops::log_softmax(gx, gx);
      expect_close(gx, cpu_log, 1e-6f, 2e-6f, "log_softmax in place");
    }
  // 3-D softmax over the last dim.
  Tensor x = random_tensor({2, 3, 17});
  Tensor c = x.clone(), g = gpu(x);
  ops::softmax(c);
  ops::softmax(g);
  expect_close(g, c, 1e-5f, 1e-9f, "softmax 3-D");
}

TEST(CudaOps, EmbeddingMatchesCpu) {
  SKIP_WITHOUT_GPU();
  for (DType wtype : kWeightTypes)
    for (int64_t tokens : {1, 37}) {
      const int64_t vocab = 1001, hidden = 96;
      Tensor table_base = random_tensor({vocab, hidden + 8}, wtype);
      Tensor table = table_base.slice(1, 0, hidden);  // row-strided table
      Tensor ids = Tensor::from_ints(random_ints(tokens, 0, vocab - 1), {tokens});
      Tensor cpu_out = Tensor::empty({tokens, hidden}, DType::F32);
      ops::embedding(ids, table, cpu_out);
      Tensor gpu_out = filled({tokens, hidden}, kPoison, Device::cuda());
      ops::embedding(gpu(ids), gpu(table_base).slice(1, 0, hidden), gpu_out);
      expect_close(gpu_out, cpu_out, 0.0f, 0.0f, str("embedding ", dtype_name(wtype), " T=", tokens));
    }
}

TEST(CudaOps, ElementwiseMatchCpu) {
  SKIP_WITHOUT_GPU();
  for (int64_t n : {1, 1000, 300001}) {
    Tensor a = random_tensor({n}, DType::F32, 5.0f), b = random_tensor({n});
    Tensor cpu_sum = Tensor::empty({n}, DType::F32);
    ops::add(a, b, cpu_sum);
    Tensor gpu_sum = filled({n}, kPoison, Device::cuda());
    ops::add(gpu(a), gpu(b), gpu_sum);
    expect_close(gpu_sum, cpu_sum, 0.0f, 0.0f, "add");
    Tensor ga = gpu(a);
    ops::add(ga, gpu(b), ga);
    expect_close(ga, cpu_sum, 0.0f, 0.0f, "add in place");

    Tensor c = a.clone(), g = gpu(a);
    ops::scale(c, 0.37f);
    ops::scale(g, 0.37f);
    expect_close(g, c, 0.0f, 0.0f, "scale");
    ops::clamp(c, -2.5f, 3.0f);
    ops::clamp(g, -2.5f, 3.0f);
    expect_close(g, c, 0.0f, 0.0f, "clamp");
    Tensor s = a.clone(), gs = gpu(a);
    ops::softcap(s, 3.0f);
    ops::softcap(gs, 3.0f);
    expect_close(gs, s, 2e-6f, 1e-7f, "softcap");
  }
}

TEST(CudaOps, GatherRowsMatchesCpu) {
  SKIP_WITHOUT_GPU();
  for (int64_t count : {1, 6}) {
    const int64_t rows = 11, width = 1003;
    Tensor x_base = random_tensor({rows, width + 3});
    Tensor x = x_base.slice(1, 0, width);
    Tensor picks = Tensor::from_ints(random_ints(count, 0, rows - 1), {count});
    Tensor cpu_out = Tensor::empty({count, width}, DType::F32);
    ops::gather_rows(x, picks, cpu_out);
    Tensor gpu_out = filled({count, width}, kPoison, Device::cuda());
    ops::gather_rows(gpu(x_base).slice(1, 0, width), gpu(picks), gpu_out);
    expect_close(gpu_out, cpu_out, 0.0f, 0.0f, str("gather_rows ", count));
  }
}

}  // namespace
