// The device layer the engine talks to: which device to run on, its memory, waiting for it, CUDA
// graphs and stream markers. The one place outside src/backend/ that knows whether this build has
// the CUDA backend: in a CPU-only build the queries answer "no GPU", waiting is a no-op, and what
// only a GPU can do (graph capture) throws Unsupported with a message that says so.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "backend/backend_types.h"
#include "core/tensor.h"

namespace vllm::device {

// True when this build has the CUDA backend and a CUDA GPU is visible (never throws).
bool cuda_available();

// --device auto|cpu|cuda: auto is CUDA when cuda_available(). `cuda` without the backend is
// Unsupported, without a visible GPU Unavailable, each with the flag to use instead.
Device resolve(const std::string& name);

// MemoryInfo and MemoryStats: backend/backend_types.h.
MemoryInfo memory_info(Device device);

MemoryStats memory_stats(Device device);
void reset_peak_memory(Device device);
void empty_cache(Device device);  // returns cached free blocks to the driver; no-op on the CPU

// Waits for everything queued on the device (a no-op on the CPU).
void synchronize(Device device);

// A graph of the work queued on a GPU's stream between begin_capture and end_capture, queued
// again by replay(). begin_capture throws Unsupported on the CPU or in a CPU-only build.
class Graph {
 public:
  Graph();
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  void begin_capture(Device device);
  void end_capture();
  void abort_capture();  // after an error thrown inside the captured region
  void replay();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// A point on the device's stream (VLLM_STEP_TIMING). record() queues it (a no-op on the CPU);
// elapsed_ms(later) waits for `later` and gives the device time between the two (0 when either
// was not recorded on a GPU).
class StreamMarker {
 public:
  StreamMarker();
  ~StreamMarker();
  StreamMarker(const StreamMarker&) = delete;
  StreamMarker& operator=(const StreamMarker&) = delete;
  void record(Device device);
  float elapsed_ms(const StreamMarker& later) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace vllm::device
