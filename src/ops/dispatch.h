// Device dispatch of the op entry points, written once for every op (STYLE.md: dispatch on the
// device once, at the op boundary). An entry point in src/ops/*.cpp validates its arguments and
// ends with
//   VLLM_DISPATCH(op, device, rms_norm, x, weight, eps, weight_offset, out);
// which returns cpu::rms_norm(...) or cuda::rms_norm(...) for the device, and raises the
// Unsupported error of detail::no_kernel for a device this build has no kernels for. This header
// is the only place in src/ops that knows which backends the build has: the CUDA arms exist only
// where VLLM_HAVE_CUDA is defined, so a CPU-only build never sees a cuda:: name.
#pragma once

#include "backend/cpu/cpu_ops.h"
#include "ops/op_checks.h"

#ifdef VLLM_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/mixing_cuda.h"
#include "backend/cuda/moe_cuda.h"
#define VLLM_DISPATCH_CUDA_ARM_(device, call) \
  if ((device).is_cuda()) return call;
#define VLLM_DISPATCH_HAVE_CUDA_ true
#else
#define VLLM_DISPATCH_CUDA_ARM_(device, call) static_cast<void>(device);
#define VLLM_DISPATCH_HAVE_CUDA_ false
#endif

namespace vllm::ops::detail {

// Whether this build has kernels for `device` (the CPU always; CUDA when built with nvcc).
inline bool has_backend(Device device) { return device.is_cpu() || (VLLM_DISPATCH_HAVE_CUDA_ && device.is_cuda()); }

}  // namespace vllm::ops::detail

// Returns cpu::fn(args...) or cuda::fn(args...) for `device`; otherwise no_kernel(op, device).
#define VLLM_DISPATCH(op, device, fn, ...) VLLM_DISPATCH_WITH_CPU(op, device, ::vllm::cpu::fn, fn, __VA_ARGS__)

// As VLLM_DISPATCH, but the CPU runs `cpu_fn` (an adapter in the op's own file, for an op whose
// CPU side is not a cpu:: kernel of the same signature); CUDA still runs cuda::fn(args...).
#define VLLM_DISPATCH_WITH_CPU(op, device, cpu_fn, fn, ...)                             \
  do {                                                                                 \
    const ::vllm::Device vllm_dispatch_device_ = (device);                             \
    if (vllm_dispatch_device_.is_cpu()) return cpu_fn(__VA_ARGS__);                    \
    VLLM_DISPATCH_CUDA_ARM_(vllm_dispatch_device_, ::vllm::cuda::fn(__VA_ARGS__))      \
    ::vllm::ops::detail::no_kernel(op, vllm_dispatch_device_);                         \
  } while (0)

// Returns cpu::fn(args...) on the CPU and no_kernel(op, device) elsewhere: an op whose CUDA
// kernels are not written yet (the state-space ops, ops/ssm.h).
#define VLLM_DISPATCH_CPU_ONLY(op, device, fn, ...)                              \
  do {                                                                          \
    const ::vllm::Device vllm_dispatch_device_ = (device);                      \
    if (vllm_dispatch_device_.is_cpu()) return ::vllm::cpu::fn(__VA_ARGS__);    \
    ::vllm::ops::detail::no_kernel(op, vllm_dispatch_device_);                  \
  } while (0)

// Returns cuda::fn(args...) when `device` is a CUDA device of a CUDA build and falls through
// otherwise: for an op that one backend fuses and the others compose from simpler ops.
#define VLLM_DISPATCH_FUSED_CUDA(device, fn, ...) \
  VLLM_DISPATCH_CUDA_ARM_(device, ::vllm::cuda::fn(__VA_ARGS__))
