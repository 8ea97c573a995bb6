#include "engine/engine_client.h"

#include <algorithm>

namespace vllm {

void Histogram::observe(double value) {
  if (counts.size() != bounds.size()) counts.assign(bounds.size(), 0);
  auto it = std::lower_bound(bounds.begin(), bounds.end(), value);
  if (it != bounds.end()) ++counts[it - bounds.begin()];
  ++count;
  sum += value;
}

}  // namespace vllm
