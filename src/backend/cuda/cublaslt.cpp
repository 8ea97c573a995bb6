#include "backend/cuda/cublaslt.h"

#include <cublasLt.h>
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_stream.h"
#include "core/env.h"
#include "core/error.h"
#include "core/logging.h"

namespace vllm::cuda {

namespace {

// The cuBLASLt entry points we call, resolved from the loaded library.
struct Api {
  decltype(&cublasLtCreate) create = nullptr;
  decltype(&cublasLtMatmulDescCreate) desc_create = nullptr;
  decltype(&cublasLtMatmulDescDestroy) desc_destroy = nullptr;
  decltype(&cublasLtMatmulDescSetAttribute) desc_set = nullptr;
  decltype(&cublasLtMatrixLayoutCreate) layout_create = nullptr;
  decltype(&cublasLtMatrixLayoutDestroy) layout_destroy = nullptr;
  decltype(&cublasLtMatmulPreferenceCreate) pref_create = nullptr;
  decltype(&cublasLtMatmulPreferenceDestroy) pref_destroy = nullptr;
  decltype(&cublasLtMatmulPreferenceSetAttribute) pref_set = nullptr;
  decltype(&cublasLtMatmulAlgoGetHeuristic) heuristic = nullptr;
  decltype(&cublasLtMatmulAlgoCheck) algo_check = nullptr;
  decltype(&cublasLtMatmul) matmul = nullptr;
  bool loaded = false;
};

template <typename F>
bool resolve(void* library, const char* name, F& function) {
  function = reinterpret_cast<F>(dlsym(library, name));
  return function != nullptr;
}

const Api& api() {
  static const Api loaded = [] {
    Api a;
    void* library = nullptr;
    std::string tried;
    const std::string first = env::cublaslt_library().value_or("");
    for (const char* name : {first.c_str(), "libcublasLt.so.13", "libcublasLt.so", "/usr/local/cuda/lib64/libcublasLt.so.13"}) {
      if (!name || !*name) continue;
      library = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (library) break;
      tried += str(tried.empty() ? "" : ", ", name);
    }
    if (!library) {
      log_warning("cuBLASLt not found (tried ", tried,
                  "); CUDA matmuls use the backend's own kernels, which are much slower. Set "
                  "VLLM_CUBLASLT to the path of libcublasLt.so.13.");
      return a;
    }
    a.loaded = resolve(library, "cublasLtCreate", a.create) &&
               resolve(library, "cublasLtMatmulDescCreate", a.desc_create) &&
               resolve(library, "cublasLtMatmulDescDestroy", a.desc_destroy) &&
               resolve(library, "cublasLtMatmulDescSetAttribute", a.desc_set) &&
               resolve(library, "cublasLtMatrixLayoutCreate", a.layout_create) &&
               resolve(library, "cublasLtMatrixLayoutDestroy", a.layout_destroy) &&
               resolve(library, "cublasLtMatmulPreferenceCreate", a.pref_create) &&
               resolve(library, "cublasLtMatmulPreferenceDestroy", a.pref_destroy) &&
               resolve(library, "cublasLtMatmulPreferenceSetAttribute", a.pref_set) &&
               resolve(library, "cublasLtMatmulAlgoGetHeuristic", a.heuristic) &&
               resolve(library, "cublasLtMatmulAlgoCheck", a.algo_check) &&
               resolve(library, "cublasLtMatmul", a.matmul);
    if (!a.loaded) log_warning("cuBLASLt library lacks expected symbols; using the backend's own matmul kernels");
    return a;
  }();
  return loaded;
}

void check_status(cublasStatus_t status, const char* what) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  fail(status == CUBLAS_STATUS_ALLOC_FAILED ? ErrorKind::OutOfMemory : ErrorKind::Internal, "cuBLASLt ", what,
       " failed with status ", static_cast<int>(status));
}

constexpr size_t kWorkspaceBytes = size_t{32} << 20;

// The matmul plan of one problem shape: descriptors and the algorithm it runs.
struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

struct PlanKey {
  int64_t m, n, k, ldb;
  int dtype;  // of x and the weight: 0 bf16, 1 f16
  bool half_out;  // out in that type, else f32
  bool bias;
  bool operator==(const PlanKey&) const = default;
};

struct PlanKeyHash {
  size_t operator()(const PlanKey& key) const {
    size_t h = std::hash<int64_t>()(key.m);
    for (int64_t v : {key.n, key.k, key.ldb, static_cast<int64_t>(key.dtype), static_cast<int64_t>(key.half_out),
                      static_cast<int64_t>(key.bias)})
      h = h * 1000003u ^ std::hash<int64_t>()(v);
    return h;
  }
};

// Per device: the handle, the workspace, the plans made so far and the tuned algorithm of each
// bucket of row counts (a PlanKey whose m is the bucket's upper bound, see row_bucket).
struct Context {
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
  std::unordered_map<PlanKey, Plan, PlanKeyHash> plans;
  std::unordered_map<PlanKey, cublasLtMatmulAlgo_t, PlanKeyHash> tuned;
};

std::atomic<int64_t> tunings{0};

Context& context(int device) {
  static std::mutex mutex;
  static std::unordered_map<int, Context> contexts;
  std::lock_guard<std::mutex> lock(mutex);
  Context& c = contexts[device];
  if (!c.handle) {
    check_status(api().create(&c.handle), "handle creation");
    check(cudaMalloc(&c.workspace, kWorkspaceBytes), "cudaMalloc (cuBLASLt workspace)");
  }
  return c;
}

// Row counts share a tuned algorithm within buckets that grow with m (a step's batch size changes
// every step; the best tile shape changes with it only slowly): up to 64 rows by 16, up to 256
// by 32, up to 1024 by 64, up to 4096 by 256, then by 1024.
int64_t row_bucket(int64_t m) {
  const int64_t step = m <= 64 ? 16 : m <= 256 ? 32 : m <= 1024 ? 64 : m <= 4096 ? 256 : 1024;
  return (m + step - 1) / step * step;
}

// VLLM_CUBLASLT_TUNE=0 keeps the heuristic's first algorithm for every shape.
bool tuning_enabled() { return env::cublaslt_tune(); }

struct Operands {
  const void* weight;
  const void* x;
  void* out;
};

// The heuristic's candidates for p's shape, timed on the call's own operands (out is overwritten
// by the call itself afterwards): the fastest. Each candidate runs once per round, in a rotated
// order over three rounds, and keeps its best time, so that the GPU's clock and power state at the
// start weigh on no candidate in particular. Runs on the current stream, which must not be
// capturing a graph; the host waits for the timings (once per bucket and shape).
cublasLtMatmulAlgo_t fastest(Context& c, const Plan& p, const PlanKey& key,
                             const cublasLtMatmulHeuristicResult_t* candidates, int count, const Operands& ops) {
  const Api& f = api();
  constexpr int kRounds = 3;
  std::vector<cudaEvent_t> events(static_cast<size_t>(2 * count * kRounds));
  for (cudaEvent_t& event : events) check(cudaEventCreate(&event), "cudaEventCreate");
  const float alpha = 1.0f, beta = 0.0f;
  auto run = [&](int i) {
    return f.matmul(c.handle, p.desc, &alpha, ops.weight, p.a, ops.x, p.b, &beta, ops.out, p.d, ops.out, p.d,
                    &candidates[i].algo, c.workspace, kWorkspaceBytes, stream());
  };
  std::vector<bool> usable(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) usable[i] = run(i) == CUBLAS_STATUS_SUCCESS;  // warm-up; failures are skipped
  for (int round = 0; round < kRounds; ++round)
    for (int j = 0; j < count; ++j) {
      const int i = (j + round * count / kRounds) % count;
      if (!usable[i]) continue;
      cudaEvent_t* pair = &events[2 * (round * count + i)];
      check(cudaEventRecord(pair[0], stream()), "cudaEventRecord");
      run(i);
      check(cudaEventRecord(pair[1], stream()), "cudaEventRecord");
    }
  check(cudaStreamSynchronize(stream()), "cudaStreamSynchronize");
  std::vector<float> best_ms(static_cast<size_t>(count), INFINITY);
  for (int round = 0; round < kRounds; ++round)
    for (int i = 0; i < count; ++i) {
      if (!usable[i]) continue;
      float ms = 0.0f;
      check(cudaEventElapsedTime(&ms, events[2 * (round * count + i)], events[2 * (round * count + i) + 1]),
            "cudaEventElapsedTime");
      best_ms[i] = std::min(best_ms[i], ms);
    }
  for (cudaEvent_t event : events) cudaEventDestroy(event);
  // None usable: the first, whose own call reports the error.
  const int best = static_cast<int>(std::min_element(best_ms.begin(), best_ms.end()) - best_ms.begin());
  ++tunings;
  log_debug("cuBLASLt: ", key.m, "x", key.n, "x", key.k, " (rows up to ", row_bucket(key.m), "): candidate ", best,
            " of ", count, ", ", best_ms[best] * 1000.0f, " us against ", best_ms[0] * 1000.0f, " us for the first");
  return candidates[best].algo;
}

const Plan& plan_for(Context& c, const PlanKey& key, const void* bias, const Operands& ops) {
  auto found = c.plans.find(key);
  if (found != c.plans.end()) return found->second;
  const Api& f = api();
  const cudaDataType_t type = key.dtype == 1 ? CUDA_R_16F : CUDA_R_16BF;
  Plan p;
  check_status(f.desc_create(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), "descriptor creation");
  const cublasOperation_t transpose = CUBLAS_OP_T, none = CUBLAS_OP_N;
  f.desc_set(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &transpose, sizeof(transpose));
  f.desc_set(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &none, sizeof(none));
  if (key.bias) {
    const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    f.desc_set(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue));
    const cudaDataType_t bias_type = CUDA_R_32F;
    f.desc_set(p.desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof(bias_type));
    f.desc_set(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias));
  }
  // Column-major view: D[N, M] = W[K, N]^T x X[K, M] (W and X are row-major [N, K] / [M, K]).
  check_status(f.layout_create(&p.a, type, static_cast<uint64_t>(key.k), static_cast<uint64_t>(key.n), key.k), "layout");
  check_status(f.layout_create(&p.b, type, static_cast<uint64_t>(key.k), static_cast<uint64_t>(key.m), key.ldb), "layout");
  check_status(f.layout_create(&p.d, key.half_out ? type : CUDA_R_32F, static_cast<uint64_t>(key.n),
                              static_cast<uint64_t>(key.m), key.n),
               "layout");

  // A bucket tuned before: its algorithm, if it supports this shape.
  PlanKey bucket = key;
  bucket.m = row_bucket(key.m);
  if (auto tuned = c.tuned.find(bucket); tuned != c.tuned.end()) {
    cublasLtMatmulHeuristicResult_t check_result{};
    if (f.algo_check(c.handle, p.desc, p.a, p.b, p.d, p.d, &tuned->second, &check_result) == CUBLAS_STATUS_SUCCESS &&
        check_result.workspaceSize <= kWorkspaceBytes) {
      p.algo = tuned->second;
      return c.plans.emplace(key, p).first->second;
    }
  }

  cublasLtMatmulPreference_t preference = nullptr;
  check_status(f.pref_create(&preference), "preference creation");
  const uint64_t workspace = kWorkspaceBytes;
  f.pref_set(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, sizeof(workspace));
  if (key.half_out) {
    // Split-K partial sums reduced in f32 (in the workspace), never in the half output type, whose
    // rounding at every partial sum made f16 products several ulps off the f32 one (H200).
    const uint32_t schemes = CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
    f.pref_set(preference, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &schemes, sizeof(schemes));
  }
  // The heuristic's first choice is often not the fastest (on an H200, Llama-8B shapes: up to 15%
  // slower at 16,384 rows, 8% for gate_up at 520; bench/matmul_algos.cu): its top candidates are
  // timed once per bucket, outside graph captures (a capture keeps the first, untuned).
  constexpr int kCandidates = 8;
  cublasLtMatmulHeuristicResult_t results[kCandidates]{};
  int found_count = 0;
  cublasStatus_t status =
      f.heuristic(c.handle, p.desc, p.a, p.b, p.d, p.d, preference, kCandidates, results, &found_count);
  f.pref_destroy(preference);
  VLLM_CHECK(status == CUBLAS_STATUS_SUCCESS && found_count > 0, Internal, "cuBLASLt has no algorithm for a ",
             key.m, "x", key.n, "x", key.k, " matmul (status ", static_cast<int>(status), ")");
  p.algo = results[0].algo;
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  check(cudaStreamIsCapturing(stream(), &capture), "cudaStreamIsCapturing");
  if (tuning_enabled() && found_count > 1 && capture == cudaStreamCaptureStatusNone) {
    p.algo = fastest(c, p, key, results, found_count, ops);
    c.tuned[bucket] = p.algo;
  }
  return c.plans.emplace(key, p).first->second;
}

}  // namespace

bool cublaslt_available() { return api().loaded; }

int64_t cublaslt_tunings() { return tunings.load(); }

void cublaslt_linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& out) {
  const int64_t m = x.size(0), k = x.size(1), n = weight.size(0);
  const int device = x.device().index;
  Context& c = context(device);
  const PlanKey key{m, n, k, x.stride(0), weight.dtype() == DType::F16 ? 1 : 0, out.dtype() != DType::F32,
                    bias.defined()};
  const void* bias_pointer = bias.defined() ? bias.raw_data() : nullptr;
  const Plan& p = plan_for(c, key, bias_pointer, {weight.raw_data(), x.raw_data(), out.raw_data()});
  const Api& f = api();
  if (bias.defined())  // the plan is shared by every layer of this shape: point it at this bias
    f.desc_set(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias_pointer, sizeof(bias_pointer));
  const float alpha = 1.0f, beta = 0.0f;
  check_status(f.matmul(c.handle, p.desc, &alpha, weight.raw_data(), p.a, x.raw_data(), p.b, &beta, out.raw_data(),
                        p.d, out.raw_data(), p.d, &p.algo, c.workspace, kWorkspaceBytes, stream()),
               "matmul");
}

}  // namespace vllm::cuda
