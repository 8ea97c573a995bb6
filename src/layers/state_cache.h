// What a state-space layer (Mamba) reads and writes between steps: its recurrent state, one slot
// per running request, and which slot each sequence of the step owns. The KV-cache manager hands
// out the slots (engine/kv_cache_manager.h); the model runner puts them in the batch.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "layers/batch_metadata.h"

namespace vllm {

struct StateCache {
  Tensor conv_state;   // [num_slots, conv_dim, conv_kernel - 1] f32: the last inputs of the causal conv
  Tensor ssm_state;    // [num_slots, ...] f32: Mamba-1 [intermediate, d_state]; Mamba-2 [heads, head_dim, d_state]
  Tensor state_slots;  // [B] int32: each sequence's slot (-1: keeps no state, a padding row)
};

// A state-space mixer as a layer holds it (MambaMixer, Mamba2Mixer): normed hidden [T, H] f32 ->
// [T, H] f32, each sequence continuing from and leaving its state in its slot.
class StateSpaceMixer {
 public:
  virtual ~StateSpaceMixer() = default;
  virtual Tensor forward(const Tensor& hidden, const BatchMetadata& batch, StateCache& cache) const = 0;
  // One slot's shapes (LayerCacheSpec::conv_state_shape / ssm_state_shape).
  virtual std::vector<int64_t> conv_state_shape() const = 0;
  virtual std::vector<int64_t> ssm_state_shape() const = 0;
};

}  // namespace vllm
