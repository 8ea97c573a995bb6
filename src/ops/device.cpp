#include "ops/device.h"

#include "core/error.h"
#ifdef VLLM_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

namespace vllm::device {

bool cuda_available() {
#ifdef VLLM_HAVE_CUDA
  return cuda::available();
#else
  return false;
#endif
}

Device resolve(const std::string& name) {
  const bool have_gpu = cuda_available();
  if (name == "cpu" || (name == "auto" && !have_gpu)) return Device::cpu();
#ifndef VLLM_HAVE_CUDA
  fail(ErrorKind::Unsupported, "--device cuda: this build has no CUDA backend (nvcc was not found when it was "
       "built); use --device cpu");
#endif
  VLLM_CHECK(have_gpu, Unavailable, "--device cuda: no CUDA GPU is visible (check the driver and "
             "CUDA_VISIBLE_DEVICES), or use --device cpu");
  return Device::cuda(0);
}

MemoryInfo memory_info(Device device) {
#ifdef VLLM_HAVE_CUDA
  if (device.is_cuda()) return cuda::memory_info(device);
#endif
  (void)device;
  return {};
}

MemoryStats memory_stats(Device device) {
#ifdef VLLM_HAVE_CUDA
  if (device.is_cuda()) return cuda::memory_stats(device);
#endif
  (void)device;
  return {};
}

void reset_peak_memory(Device device) {
#ifdef VLLM_HAVE_CUDA
  if (device.is_cuda()) cuda::reset_peak_memory(device);
#endif
  (void)device;
}

void empty_cache(Device device) {
#ifdef VLLM_HAVE_CUDA
  if (device.is_cuda()) cuda::empty_cache(device);
#endif
  (void)device;
}

void synchronize(Device device) {
#ifdef VLLM_HAVE_CUDA
  if (device.is_cuda()) cuda::synchronize(device);
#endif
  (void)device;
}

struct Graph::State {
#ifdef VLLM_HAVE_CUDA
  cuda::Graph graph;
#endif
  bool captured = false;
};

Graph::Graph() : state_(std::make_unique<State>()) {}
Graph::~Graph() = default;

void Graph::begin_capture(Device device) {
  VLLM_CHECK(device.is_cuda(), Unsupported, "graph capture needs a CUDA device, not ", device.to_string());
#ifdef VLLM_HAVE_CUDA
  state_->graph.begin_capture(device);
#else
  fail(ErrorKind::Unsupported, "graph capture: this build has no CUDA backend");
#endif
}

void Graph::end_capture() {
#ifdef VLLM_HAVE_CUDA
  state_->graph.end_capture();
  state_->captured = true;
#endif
}

void Graph::abort_capture() {
#ifdef VLLM_HAVE_CUDA
  state_->graph.abort_capture();
#endif
}

void Graph::replay() {
  VLLM_ASSERT(state_->captured, "replay of a graph that was never captured");
#ifdef VLLM_HAVE_CUDA
  state_->graph.replay();
#endif
}

struct StreamMarker::State {
#ifdef VLLM_HAVE_CUDA
  cuda::StreamMarker marker;
#endif
  bool recorded = false;
};

StreamMarker::StreamMarker() : state_(std::make_unique<State>()) {}
StreamMarker::~StreamMarker() = default;

void StreamMarker::record(Device device) {
#ifdef VLLM_HAVE_CUDA
  if (!device.is_cuda()) return;
  state_->marker.record(device);
  state_->recorded = true;
#else
  (void)device;
#endif
}

float StreamMarker::elapsed_ms(const StreamMarker& later) const {
  if (!state_->recorded || !later.state_->recorded) return 0.0f;
#ifdef VLLM_HAVE_CUDA
  return state_->marker.elapsed_ms(later.state_->marker);
#else
  return 0.0f;
#endif
}

}  // namespace vllm::device
