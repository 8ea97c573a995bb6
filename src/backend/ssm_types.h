// The types the state-space ops (ops/ssm.h) share with their kernels, below both (as
// backend_types.h is for the other ops).
#pragma once

#include "core/tensor.h"

namespace vllm::ops {

// The sequences of a state-space op and the recurrent-state slot each owns: int32.
struct StateSequences {
  Tensor query_start;  // [B + 1]
  Tensor positions;    // [T]: a sequence whose first row is past position 0 continues from its slot
  Tensor state_slots;  // [B] (-1: no slot), or undefined: no sequence keeps state
};

}  // namespace vllm::ops
