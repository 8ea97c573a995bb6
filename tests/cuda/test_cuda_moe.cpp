// The mixture-of-experts ops (src/ops/moe.h) on CUDA tensors against the CPU kernels on the same
// random inputs, every routing rule and weight dtype, batch sizes from one token to a prefill; a
// whole MoE model on the GPU against the CPU; and CUDA-graph replay of MoE decode steps (routing
// stays on the device, so a captured graph serves any routing). Skipped where no GPU is present.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "backend/cuda/cuda_backend.h"
#include "cuda/cuda_test_util.h"
#include "engine/input_batch.h"
#include "engine/model_runner.h"
#include "models/registry.h"
#include "moe_test_checkpoint.h"
#include "ops/ops.h"

namespace fs = std::filesystem;
using namespace vllm;
using namespace vllm::cuda_test;

namespace {

ops::MoERouting routing(ops::MoEScoring scoring, int32_t k) {
  ops::MoERouting r;
  r.scoring = scoring;
  r.top_k = k;
  return r;
}

// moe_topk on both devices: the same experts, weights within float rounding.
void compare_topk(const ops::MoERouting& r, int64_t tokens, int64_t experts, bool bias, const std::string& what) {
  Tensor logits = random_tensor({tokens, experts}, DType::F32, 2.0f);
  Tensor correction = bias ? random_tensor({experts}, DType::F32, 0.1f) : Tensor();
  Tensor ids = Tensor::empty({tokens, r.top_k}, DType::I32), weights = Tensor::empty({tokens, r.top_k}, DType::F32);
  ops::moe_topk(logits, correction, r, ids, weights);
  Tensor gpu_ids = Tensor::empty({tokens, r.top_k}, DType::I32, Device::cuda());
  Tensor gpu_weights = filled({tokens, r.top_k}, kPoison, Device::cuda());
  ops::moe_topk(gpu(logits), bias ? gpu(correction) : Tensor(), r, gpu_ids, gpu_weights);
  Tensor back = gpu_ids.to(Device::cpu());
  int mismatched = 0;
  for (int64_t i = 0; i < ids.numel(); ++i) mismatched += back.data<int32_t>()[i] != ids.data<int32_t>()[i];
  EXPECT_EQ(mismatched, 0) << what << ": expert ids differ";
  expect_close(gpu_weights, weights, 1e-5f, 1e-6f, what + " weights");
}

TEST(CudaMoE, TopKMatchesCpuForEveryRoutingRule) {
  SKIP_WITHOUT_GPU();
  for (int64_t tokens : {1, 7, 300}) {
    const std::string t = " T=" + std::to_string(tokens);
    compare_topk(routing(ops::MoEScoring::Softmax, 2), tokens, 8, false, "softmax" + t);
    ops::MoERouting renorm = routing(ops::MoEScoring::Softmax, 8);
    renorm.renormalize = true;
    compare_topk(renorm, tokens, 128, false, "softmax renormalised" + t);
    ops::MoERouting ernie = routing(ops::MoEScoring::Softmax, 6);
    ernie.renormalize = true;
    ernie.renormalize_min = 1e-12f;
    compare_topk(ernie, tokens, 64, true, "softmax with bias" + t);
    compare_topk(routing(ops::MoEScoring::TopKSoftmax, 2), tokens, 40, false, "topk softmax" + t);
    ops::MoERouting v3 = routing(ops::MoEScoring::Sigmoid, 8);
    v3.renormalize = true;
    v3.num_groups = 8;
    v3.topk_groups = 4;
    v3.scaling = 2.5f;
    compare_topk(v3, tokens, 256, true, "sigmoid grouped" + t);
    ops::MoERouting mixer = routing(ops::MoEScoring::SparseMixer, 2);
    mixer.jitter_eps = 0.2f;
    compare_topk(mixer, tokens, 16, false, "sparsemixer" + t);
  }
}

// moe_experts on both devices from the same routing; x and the product in f32 or the weights'
// half type.
void compare_experts(int64_t tokens, int64_t experts, int32_t k, int64_t hidden, int64_t inter, DType weight_dtype,
                     DType x_dtype, DType product_dtype, ops::Activation kind) {
  const std::string what = "T=" + std::to_string(tokens) + " E=" + std::to_string(experts) + " k=" + std::to_string(k) +
                           " H=" + std::to_string(hidden) + " I=" + std::to_string(inter) + " w=" +
                           dtype_name(weight_dtype) + " x=" + dtype_name(x_dtype) + " p=" + dtype_name(product_dtype);
  Tensor x = random_tensor({tokens, hidden}, DType::F32);
  if (x_dtype != DType::F32) x = x.to(x_dtype).to(DType::F32);  // the values the GPU sees
  Tensor w_gate_up = random_tensor({experts, 2 * inter, hidden}, weight_dtype, 0.2f);
  Tensor w_down = random_tensor({experts, hidden, inter}, weight_dtype, 0.2f);
  Tensor logits = random_tensor({tokens, experts});
  Tensor ids = Tensor::empty({tokens, k}, DType::I32), weights = Tensor::empty({tokens, k}, DType::F32);
  ops::moe_topk(logits, Tensor(), routing(ops::MoEScoring::Softmax, k), ids, weights);
  Tensor out = Tensor::empty({tokens, hidden}, DType::F32);
  ops::moe_experts(x, ids, weights, w_gate_up, w_down, kind, out);
  Tensor gpu_out = filled({tokens, hidden}, kPoison, Device::cuda());
  ops::moe_experts(gpu(x_dtype == DType::F32 ? x : x.to(x_dtype)), gpu(ids), gpu(weights), gpu(w_gate_up), gpu(w_down),
                   kind, gpu_out, product_dtype);
  const bool half_product = product_dtype != DType::F32;
  expect_close(gpu_out, out, half_product ? 2e-2f : 1e-4f, half_product ? 2e-2f : 1e-4f, what);
}

TEST(CudaMoE, ExpertsMatchCpu) {
  SKIP_WITHOUT_GPU();
  for (DType w : {DType::F32, DType::BF16, DType::F16}) {
    compare_experts(1, 8, 2, 64, 32, w, DType::F32, DType::F32, ops::Activation::Silu);   // decode
    compare_experts(5, 64, 8, 96, 48, w, DType::F32, DType::F32, ops::Activation::Silu);  // more experts than tokens
    compare_experts(300, 16, 4, 80, 40, w, DType::F32, DType::F32, ops::Activation::GeluTanh);  // a prefill
    compare_experts(33, 8, 2, 50, 17, w, DType::F32, DType::F32, ops::Activation::Silu);  // ragged tiles
  }
  for (DType half : {DType::BF16, DType::F16}) {
    compare_experts(17, 8, 2, 64, 32, half, half, DType::F32, ops::Activation::Silu);
    compare_experts(17, 8, 2, 64, 32, half, half, half, ops::Activation::Silu);
    compare_experts(17, 8, 2, 64, 32, half, DType::F32, half, ops::Activation::Silu);
  }
}

TEST(CudaMoE, ExpertIdsOutsideTheRangeContributeNothing) {
  SKIP_WITHOUT_GPU();
  const int64_t hidden = 32, inter = 16, experts = 4;
  Tensor x = random_tensor({2, hidden});
  Tensor w_gate_up = random_tensor({experts, 2 * inter, hidden}, DType::F32, 0.2f);
  Tensor w_down = random_tensor({experts, hidden, inter}, DType::F32, 0.2f);
  Tensor weights = Tensor::from_floats({0.5f, 0.5f, 1.0f, 0.0f}, {2, 2});
  Tensor valid_ids = Tensor::from_ints({1, 3, 2, 0}, {2, 2});
  Tensor out = Tensor::empty({2, hidden}, DType::F32);
  // Token 0 reads experts 1 and 3 on the CPU; on the GPU its second id is 9 (dropped) and
  // token 1's weight-0 slot is -1 (dropped): the results match the CPU with expert 3's term gone.
  Tensor only_first = Tensor::from_floats({0.5f, 0.0f, 1.0f, 0.0f}, {2, 2});
  ops::moe_experts(x, valid_ids, only_first, w_gate_up, w_down, ops::Activation::Silu, out);
  Tensor gpu_out = filled({2, hidden}, kPoison, Device::cuda());
  ops::moe_experts(gpu(x), gpu(Tensor::from_ints({1, 9, 2, -1}, {2, 2})), gpu(weights), gpu(w_gate_up), gpu(w_down),
                   ops::Activation::Silu, gpu_out);
  expect_close(gpu_out, out, 1e-5f, 1e-6f, "dropped ids");
}

TEST(CudaMoE, AddGatedMatchesCpu) {
  SKIP_WITHOUT_GPU();
  Tensor out = random_tensor({9, 130}), shared = random_tensor({9, 130}), gate = random_tensor({9, 1});
  Tensor gpu_out = gpu(out);
  ops::moe_add_gated(out, shared, gate);
  ops::moe_add_gated(gpu_out, gpu(shared), gpu(gate));
  expect_close(gpu_out, out, 1e-6f, 1e-6f, "moe_add_gated");
}

// The ops captured once replay with new router logits in the same buffers: the routing is read
// on the device at replay, so new experts are chosen and the result is the eager one.
TEST(CudaMoE, GraphReplayFollowsNewRouting) {
  SKIP_WITHOUT_GPU();
  const int64_t tokens = 4, hidden = 64, inter = 32, experts = 16;
  const int32_t k = 2;
  Tensor x = gpu(random_tensor({tokens, hidden}));
  Tensor w_gate_up = gpu(random_tensor({experts, 2 * inter, hidden}, DType::BF16, 0.2f));
  Tensor w_down = gpu(random_tensor({experts, hidden, inter}, DType::BF16, 0.2f));
  Tensor logits = gpu(random_tensor({tokens, experts}));
  Tensor ids = Tensor::empty({tokens, k}, DType::I32, Device::cuda());
  Tensor weights = Tensor::empty({tokens, k}, DType::F32, Device::cuda());
  Tensor out = Tensor::empty({tokens, hidden}, DType::F32, Device::cuda());
  auto step = [&] {
    ops::moe_topk(logits, Tensor(), routing(ops::MoEScoring::Softmax, k), ids, weights);
    ops::moe_experts(x, ids, weights, w_gate_up, w_down, ops::Activation::Silu, out);
  };
  step();  // warm-up outside the capture
  cuda::Graph graph;
  graph.begin_capture(Device::cuda());
  step();
  graph.end_capture();
  for (int round = 0; round < 3; ++round) {
    Tensor fresh = random_tensor({tokens, experts}, DType::F32, 3.0f);
    logits.copy_from(fresh);
    graph.replay();
    Tensor replayed = out.to(Device::cpu()).clone();
    Tensor replayed_ids = ids.to(Device::cpu()).clone();
    step();
    expect_close(out, replayed, 0.0f, 0.0f, "replay round " + std::to_string(round));
    Tensor eager_ids = ids.to(Device::cpu());
    for (int64_t i = 0; i < eager_ids.numel(); ++i)
      EXPECT_EQ(replayed_ids.data<int32_t>()[i], eager_ids.data<int32_t>()[i]) << "round " << round;
  }
}

fs::path tiny_moe_dir() {
  const fs::path dir = fs::temp_directory_path() / ("vllm_cuda_moe_" + std::to_string(::getpid()));
  if (!fs::exists(dir / "model.safetensors")) {
    vllm::testing::TinyMoE shape;
    shape.hidden = 64;
    shape.heads = 4;
    shape.kv_heads = 2;
    shape.experts = 8;
    shape.inter = 32;
    vllm::testing::write_tiny_moe(dir, vllm::testing::ExpertLayout::PerExpert, 3, shape);
  }
  return dir;
}

// The tiny MoE model (f32 checkpoint: f16 weights on the GPU, as vLLM's --dtype auto) gives the
// CPU's logits within half-precision rounding.
TEST(CudaMoE, ModelLogitsMatchCpu) {
  SKIP_WITHOUT_GPU();
  ModelLoadOptions cpu_options;
  cpu_options.model_dir = tiny_moe_dir();
  ModelLoadOptions gpu_options = cpu_options;
  gpu_options.device = Device::cuda(0);
  std::unique_ptr<Model> on_cpu = load_model(cpu_options), on_gpu = load_model(gpu_options);
  SequenceChunk chunk;
  chunk.token_ids = {3, 17, 5, 29, 11, 2, 8, 31, 14, 9, 21};
  chunk.all_logits = true;
  chunk.block_ids = {1};
  FlatBatch batch = build_flat_batch({chunk}, 16);
  KVCache cpu_cache = KVCache::allocate(on_cpu->kv_cache_spec(), 4, 16, DType::F32, Device::cpu());
  KVCache gpu_cache = KVCache::allocate(on_gpu->kv_cache_spec(), 4, 16, DType::F16, Device::cuda(0));
  Tensor expected = forward_logits(*on_cpu, batch.token_ids, batch.metadata, cpu_cache);
  FlatBatch device_batch = upload_batch(batch, Device::cuda(0));
  Tensor got = forward_logits(*on_gpu, device_batch.token_ids, device_batch.metadata, gpu_cache);
  expect_close(got, expected, 5e-2f, 5e-2f, "tiny MoE logits");
}

// Decode steps of the tiny MoE model replayed from CUDA graphs give the eager steps' logits.
TEST(CudaMoE, GraphReplayMatchesEagerDecode) {
  SKIP_WITHOUT_GPU();
  ModelLoadOptions options;
  options.model_dir = tiny_moe_dir();
  options.device = Device::cuda(0);
  std::unique_ptr<Model> model = load_model(options);
  VllmConfig config;
  config.device.device = Device::cuda(0);
  config.cache.block_size = 16;
  config.model.max_model_len = 64;
  config.compilation.cuda_graph_sizes = {1, 2, 4};
  ModelRunner graphs(*model, config);
  graphs.set_kv_cache(KVCache::allocate(model->kv_cache_spec(), 32, 16, DType::BF16, Device::cuda(0)));
  graphs.capture_graphs();
  config.compilation.enforce_eager = true;
  ModelRunner eager(*model, config);
  eager.set_kv_cache(KVCache::allocate(model->kv_cache_spec(), 32, 16, DType::BF16, Device::cuda(0)));
  std::vector<SequenceChunk> prefill;
  int32_t next_block = 1;
  for (int64_t length : {3, 11, 20}) {
    SequenceChunk chunk;
    for (int64_t i = 0; i < length; ++i) chunk.token_ids.push_back(static_cast<int32_t>((i * 7 + length) % 29 + 2));
    for (int64_t b = 0; b * 16 < length + 8; ++b) chunk.block_ids.push_back(next_block++);
    prefill.push_back(chunk);
  }
  graphs.execute(prefill);
  eager.execute(prefill);
  for (int step = 0; step < 3; ++step) {
    std::vector<SequenceChunk> decode;
    for (const SequenceChunk& p : prefill) {
      SequenceChunk d;
      d.num_computed_tokens = static_cast<int64_t>(p.token_ids.size()) + step;
      d.token_ids = {static_cast<int32_t>(5 + step * 3)};
      d.block_ids = p.block_ids;
      decode.push_back(d);
    }
    Tensor replayed = graphs.execute(decode).to(Device::cpu()), direct = eager.execute(decode).to(Device::cpu());
    ASSERT_EQ(replayed.shape(), direct.shape());
    std::vector<float> a = replayed.to_float_vector(), b = direct.to_float_vector();
    for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-4) << "step " << step << " value " << i;
  }
}

}  // namespace
