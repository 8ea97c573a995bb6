#include "backend/cuda/cublaslt.h"

#include <cublasLt.h>
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <string>
#include <unordered_map>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_stream.h"
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
    const char* env = std::getenv("VLLM_CUBLASLT");
    for (const char* name : {env, "libcublasLt.so.13", "libcublasLt.so", "/usr/local/cuda/lib64/libcublasLt.so.13"}) {
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

// The matmul plan of one problem shape: descriptors and the heuristic's algorithm.
struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

struct PlanKey {
  int64_t m, n, k, ldb;
  int dtype;
  bool bias;
  bool operator==(const PlanKey&) const = default;
};

struct PlanKeyHash {
  size_t operator()(const PlanKey& key) const {
    size_t h = std::hash<int64_t>()(key.m);
    for (int64_t v : {key.n, key.k, key.ldb, static_cast<int64_t>(key.dtype), static_cast<int64_t>(key.bias)})
      h = h * 1000003u ^ std::hash<int64_t>()(v);
    return h;
  }
};

// Per device: the handle, the workspace and the plans made so far.
struct Context {
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
  std::unordered_map<PlanKey, Plan, PlanKeyHash> plans;
};

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

const Plan& plan_for(Context& c, const PlanKey& key, const void* bias) {
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
  check_status(f.layout_create(&p.d, CUDA_R_32F, static_cast<uint64_t>(key.n), static_cast<uint64_t>(key.m), key.n),
               "layout");
  cublasLtMatmulPreference_t preference = nullptr;
  check_status(f.pref_create(&preference), "preference creation");
  const uint64_t workspace = kWorkspaceBytes;
  f.pref_set(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, sizeof(workspace));
  cublasLtMatmulHeuristicResult_t result{};
  int found_count = 0;
  cublasStatus_t status = f.heuristic(c.handle, p.desc, p.a, p.b, p.d, p.d, preference, 1, &result, &found_count);
  f.pref_destroy(preference);
  VLLM_CHECK(status == CUBLAS_STATUS_SUCCESS && found_count > 0, Internal, "cuBLASLt has no algorithm for a ",
             key.m, "x", key.n, "x", key.k, " matmul (status ", static_cast<int>(status), ")");
  p.algo = result.algo;
  return c.plans.emplace(key, p).first->second;
}

}  // namespace

bool cublaslt_available() { return api().loaded; }

void cublaslt_linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& out) {
  const int64_t m = x.size(0), k = x.size(1), n = weight.size(0);
  const int device = x.device().index;
  Context& c = context(device);
  const PlanKey key{m, n, k, x.stride(0), weight.dtype() == DType::F16 ? 1 : 0, bias.defined()};
  const void* bias_pointer = bias.defined() ? bias.raw_data() : nullptr;
  const Plan& p = plan_for(c, key, bias_pointer);
  const Api& f = api();
  if (bias.defined())  // the plan is shared by every layer of this shape: point it at this bias
    f.desc_set(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias_pointer, sizeof(bias_pointer));
  const float alpha = 1.0f, beta = 0.0f;
  check_status(f.matmul(c.handle, p.desc, &alpha, weight.raw_data(), p.a, x.raw_data(), p.b, &beta, out.raw_data(),
                        p.d, out.raw_data(), p.d, &p.algo, c.workspace, kWorkspaceBytes, stream()),
               "matmul");
}

}  // namespace vllm::cuda
