#include "models/model.h"

#include <algorithm>

#include "core/error.h"

namespace vllm {

size_t KVCacheSpec::bytes_per_block(int64_t block_size, DType dtype) const {
  size_t bytes = 0;
  for (const AttentionLayerCache& layer : layers)
    bytes += static_cast<size_t>(block_size * layer.num_kv_heads * (layer.head_dim + layer.value_head_dim)) *
             dtype_size(dtype);
  return bytes;
}

std::vector<int64_t> KVCacheSpec::group_windows() const {
  std::vector<int64_t> windows;
  for (const AttentionLayerCache& layer : layers) windows.push_back(layer.sliding_window);
  std::sort(windows.begin(), windows.end());
  windows.erase(std::unique(windows.begin(), windows.end()), windows.end());
  return windows;
}

std::vector<int64_t> KVCacheSpec::layer_groups() const {
  std::vector<int64_t> windows = group_windows(), groups;
  for (const AttentionLayerCache& layer : layers)
    groups.push_back(std::find(windows.begin(), windows.end(), layer.sliding_window) - windows.begin());
  return groups;
}

KVCache KVCache::allocate(const KVCacheSpec& spec, int64_t num_blocks, int64_t block_size,
                          DType dtype, Device device) {
  KVCache cache;
  cache.num_blocks = num_blocks;
  cache.block_size = block_size;
  for (const AttentionLayerCache& layer : spec.layers) {
    cache.key.push_back(Tensor::zeros({num_blocks, block_size, layer.num_kv_heads, layer.head_dim}, dtype, device));
    cache.value.push_back(
        Tensor::zeros({num_blocks, block_size, layer.num_kv_heads, layer.value_head_dim}, dtype, device));
  }
  return cache;
}

}  // namespace vllm
