// The stream every kernel launch and copy of the CUDA backend runs on (one per device, created
// at first use): host code and kernels share it, so work is ordered without device syncs.
#pragma once

#include <cuda_runtime_api.h>

namespace vllm::cuda {

cudaStream_t stream();  // of the current device

}  // namespace vllm::cuda
