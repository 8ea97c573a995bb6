// CPU parallelism: OpenMP underneath; kernels call parallel_for instead of writing pragmas
// everywhere so the thread count is set in one place (--cpu-threads / OMP_NUM_THREADS).
#pragma once

#include <cstdint>
#include <functional>

namespace vllm {

int cpu_threads();
void set_cpu_threads(int threads);

// Runs body(begin, end) over [0, count) split into contiguous chunks of at least `grain` items.
void parallel_for(int64_t count, int64_t grain, const std::function<void(int64_t, int64_t)>& body);

}  // namespace vllm
