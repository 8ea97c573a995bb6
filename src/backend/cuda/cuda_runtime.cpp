#include <cuda_runtime.h>

#include "backend/cuda/cuda_backend.h"
#include "core/error.h"

namespace vllm::cuda {

void check(int status, const char* what) {
  if (status == cudaSuccess) return;
  auto error = static_cast<cudaError_t>(status);
  ErrorKind kind = error == cudaErrorMemoryAllocation ? ErrorKind::OutOfMemory : ErrorKind::Internal;
  fail(kind, "CUDA error in ", what, ": ", cudaGetErrorName(error), " (", cudaGetErrorString(error), ")");
}

void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

void set_device(Device device) {
  VLLM_CHECK(device.is_cuda(), InvalidArgument, "cuda: tensor on ", device.to_string(),
             " passed to a CUDA kernel");
  check(cudaSetDevice(device.index), "cudaSetDevice");
}

int device_count() {
  static const int count = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError();  // clear the sticky "no driver" error
      return 0;
    }
    return n;
  }();
  return count;
}

bool available() { return device_count() > 0; }

std::string device_name(int index) {
  cudaDeviceProp properties{};
  check(cudaGetDeviceProperties(&properties, index), "cudaGetDeviceProperties");
  return properties.name;
}

namespace {

void* allocate(size_t bytes, int device) {
  check(cudaSetDevice(device), "cudaSetDevice");
  void* pointer = nullptr;
  check(cudaMalloc(&pointer, bytes), "cudaMalloc");
  return pointer;
}

void release(void* pointer, int device) {
  cudaSetDevice(device);
  cudaFree(pointer);
}

void copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  cudaMemcpyKind kind = dst_device.is_cuda() ? (src_device.is_cuda() ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                             : cudaMemcpyDeviceToHost;
  check(cudaMemcpy(dst, src, bytes, kind), "cudaMemcpy");
}

// Installs the device allocator into core when the backend is linked (whole-archive).
struct Registration {
  Registration() { set_cuda_allocator({allocate, release, copy}); }
} registration;

}  // namespace
}  // namespace vllm::cuda
