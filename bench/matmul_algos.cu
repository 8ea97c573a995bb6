// cuBLASLt's algorithm choices for the Llama-3.1-8B projections at a given batch size: for each
// shape, the time of the heuristic's first algorithm (what the engine used before autotuning)
// against the fastest of the heuristic's top candidates, with f32 and bf16 outputs.
//   nvcc -O2 -std=c++17 -arch=sm_90 bench/matmul_algos.cu -lcublasLt -o matmul_algos
//   ./matmul_algos 520 640 16384
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define CHECK(x)                                                              \
  do {                                                                        \
    auto status_ = (x);                                                       \
    if (static_cast<int>(status_) != 0) {                                     \
      std::fprintf(stderr, "%s failed (%d) at line %d\n", #x, static_cast<int>(status_), __LINE__); \
      std::exit(1);                                                           \
    }                                                                         \
  } while (0)

struct Shape {
  const char* name;
  int n, k;
};

int main(int argc, char** argv) {
  std::vector<int> ms;
  for (int i = 1; i < argc; ++i) ms.push_back(std::atoi(argv[i]));
  if (ms.empty()) ms = {520, 640, 16384};
  const Shape shapes[] = {{"qkv", 6144, 4096}, {"o", 4096, 4096}, {"gate_up", 28672, 4096},
                          {"down", 4096, 14336}, {"lm_head", 128256, 4096}};
  cublasLtHandle_t handle;
  CHECK(cublasLtCreate(&handle));
  const size_t workspace_bytes = size_t{32} << 20;
  void* workspace;
  CHECK(cudaMalloc(&workspace, workspace_bytes));
  const int max_m = *std::max_element(ms.begin(), ms.end());
  void *x, *w, *out;
  CHECK(cudaMalloc(&x, size_t{2} * max_m * 14336));
  CHECK(cudaMalloc(&w, size_t{2} << 30));  // rotating copies: weights do not stay in L2
  CHECK(cudaMalloc(&out, size_t{4} * max_m * 128256));
  CHECK(cudaMemset(x, 0x3c, size_t{2} * max_m * 14336));
  CHECK(cudaMemset(w, 0x3c, size_t{2} << 30));
  cudaStream_t stream;
  CHECK(cudaStreamCreate(&stream));
  cudaEvent_t start, stop;
  CHECK(cudaEventCreate(&start));
  CHECK(cudaEventCreate(&stop));
  std::printf("%6s %-8s %4s %10s %10s %5s %8s %8s\n", "M", "shape", "out", "first_us", "best_us", "index",
              "first_TF", "best_TF");
  for (int m : ms) {
    for (const Shape& s : shapes) {
      if (m > 4096 && s.n == 128256) continue;  // the engine runs the head on sampled rows only
      for (cudaDataType_t out_type : {CUDA_R_32F, CUDA_R_16BF}) {
        cublasLtMatmulDesc_t desc;
        CHECK(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
        const cublasOperation_t t = CUBLAS_OP_T, n = CUBLAS_OP_N;
        CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof(t)));
        CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &n, sizeof(n)));
        cublasLtMatrixLayout_t a, b, d;
        CHECK(cublasLtMatrixLayoutCreate(&a, CUDA_R_16BF, s.k, s.n, s.k));
        CHECK(cublasLtMatrixLayoutCreate(&b, CUDA_R_16BF, s.k, m, s.k));
        CHECK(cublasLtMatrixLayoutCreate(&d, out_type, s.n, m, s.n));
        cublasLtMatmulPreference_t preference;
        CHECK(cublasLtMatmulPreferenceCreate(&preference));
        const uint64_t ws = workspace_bytes;
        CHECK(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                                   sizeof(ws)));
        cublasLtMatmulHeuristicResult_t results[32];
        int found = 0;
        CHECK(cublasLtMatmulAlgoGetHeuristic(handle, desc, a, b, d, d, preference, 32, results, &found));
        const float alpha = 1.0f, beta = 0.0f;
        double first_us = 0, best_us = 1e30;
        int best = -1;
        for (int i = 0; i < found; ++i) {
          const size_t weight_bytes = size_t{2} * s.n * s.k;
          const int copies = static_cast<int>(std::min<size_t>(8, (size_t{2} << 30) / weight_bytes));
          int turn = 0;
          auto run = [&] {
            const char* weights = static_cast<const char*>(w) + (turn++ % copies) * weight_bytes;
            return cublasLtMatmul(handle, desc, &alpha, weights, a, x, b, &beta, out, d, out, d, &results[i].algo,
                                  workspace, workspace_bytes, stream);
          };
          if (run() != CUBLAS_STATUS_SUCCESS) continue;
          for (int warm = 0; warm < 3; ++warm) run();
          const int iters = m > 4096 ? 10 : 50;
          CHECK(cudaEventRecord(start, stream));
          for (int it = 0; it < iters; ++it) run();
          CHECK(cudaEventRecord(stop, stream));
          CHECK(cudaEventSynchronize(stop));
          float ms_total = 0;
          CHECK(cudaEventElapsedTime(&ms_total, start, stop));
          const double us = 1000.0 * ms_total / iters;
          if (i == 0) first_us = us;
          if (us < best_us) best_us = us, best = i;
        }
        const double flop = 2.0 * m * s.n * s.k;
        std::printf("%6d %-8s %4s %10.1f %10.1f %2d/%2d %8.0f %8.0f\n", m, s.name,
                    out_type == CUDA_R_32F ? "f32" : "bf16", first_us, best_us, best, found,
                    flop / first_us * 1e-6, flop / best_us * 1e-6);
        cublasLtMatmulPreferenceDestroy(preference);
        cublasLtMatrixLayoutDestroy(a);
        cublasLtMatrixLayoutDestroy(b);
        cublasLtMatrixLayoutDestroy(d);
        cublasLtMatmulDescDestroy(desc);
      }
    }
  }
  return 0;
}
