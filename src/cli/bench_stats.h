// Statistics the benchmark subcommands report, computed as vLLM's benchmarks do with numpy.
#pragma once

#include <algorithm>
#include <vector>

namespace vllm::cli {

// numpy.percentile's default (linear interpolation between the closest ranks); 0 for no values,
// as vLLM's `np.percentile(values or 0, p)`.
inline double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  double rank = p / 100.0 * static_cast<double>(values.size() - 1);
  size_t low = static_cast<size_t>(rank);
  size_t high = std::min(low + 1, values.size() - 1);
  return values[low] + (values[high] - values[low]) * (rank - static_cast<double>(low));
}

}  // namespace vllm::cli
