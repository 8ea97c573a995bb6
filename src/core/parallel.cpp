#include "core/parallel.h"

#include <omp.h>

#include <algorithm>

namespace vllm {

int cpu_threads() { return omp_get_max_threads(); }

void set_cpu_threads(int threads) {
  if (threads > 0) omp_set_num_threads(threads);
}

void parallel_for(int64_t count, int64_t grain, const std::function<void(int64_t, int64_t)>& body) {
  if (count <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  int64_t max_chunks = (count + grain - 1) / grain;
  int threads = static_cast<int>(std::min<int64_t>(cpu_threads(), max_chunks));
  if (threads <= 1 || omp_in_parallel()) {
    body(0, count);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    int64_t thread = omp_get_thread_num();
    int64_t chunk = (count + threads - 1) / threads;
    int64_t begin = thread * chunk;
    int64_t end = std::min(count, begin + chunk);
    if (begin < end) body(begin, end);
  }
}

}  // namespace vllm
