// The engine's step profile (VLLM_STEP_TIMING=1), kept apart from the engine's logic.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>

#include "core/logging.h"
#include "core/tensor.h"
#include "ops/device.h"

namespace vllm {

// VLLM_STEP_TIMING=1: where the steps' wall time goes, logged every 500 steps and at the end, for
// decode-only steps and for steps with prompt tokens apart: scheduling, building and launching the
// forward, waiting for the device (for the previous step's tokens under asynchronous scheduling),
// sampling, and the output updates; on CUDA also the device's busy time per step and its idle
// time between steps, from markers on the stream.
class StepTiming {
 public:
  explicit StepTiming(vllm::Device device) : device_(device) {}
  enum Phase { Schedule, Launch, Device, Sample, Update, kPhases };
  static constexpr const char* kNames[kPhases] = {"schedule", "launch", "device", "sample", "update"};

  // Markers on the device's stream around each step's queued work: the device's busy time per
  // step, and its idle time between the end of one step and the start of the next (what the
  // host's share of the step costs the device; asynchronous scheduling should bring it near 0).
  void device_step_begins() {
    if (!device_.is_cuda()) return;
    Markers& m = markers_[next_marker_ % 2];
    m.begin.record(device_);
  }
  void device_step_ends() {
    if (!device_.is_cuda()) return;
    Markers& m = markers_[next_marker_ % 2];
    m.end.record(device_);
    m.recorded = true;
    ++next_marker_;
  }
  // Reads the markers of the step before the last one queued (done by now) against its successor.
  void read_device_markers(bool decode_only) {
    if (!device_.is_cuda() || next_marker_ < 2) return;
    const Markers& earlier = markers_[next_marker_ % 2];
    const Markers& later = markers_[(next_marker_ + 1) % 2];
    if (!earlier.recorded || !later.recorded) return;
    Totals& totals = decode_only ? decode_ : mixed_;
    totals.device_busy_ms += earlier.begin.elapsed_ms(earlier.end);
    totals.device_idle_ms += std::max(0.0f, earlier.end.elapsed_ms(later.begin));
    ++totals.device_samples;
  }

  void start() {
    last_ = Clock::now();
    for (double& phase : current_) phase = 0;
  }
  void mark(Phase phase) {
    Clock::time_point now = Clock::now();
    current_[phase] += std::chrono::duration<double, std::micro>(now - last_).count();
    last_ = now;
  }
  void end_step(bool decode_only) {
    Totals& totals = decode_only ? decode_ : mixed_;
    for (int p = 0; p < kPhases; ++p) totals.phases[p] += current_[p];
    ++totals.steps;
    if ((decode_.steps + mixed_.steps) % 500 == 0) report();
  }
  void report() const {
    report("decode-only", decode_);
    report("with prompt tokens", mixed_);
    if (device_.is_cuda()) {
      const device::MemoryStats memory = device::memory_stats(device_);
      log_info("device memory: ", memory.driver_allocations, " driver allocations, ", memory.cache_flushes,
               " cache flushes, ", memory.reserved >> 20, " MiB reserved");
    }
  }
  ~StepTiming() { report(); }

 private:
  using Clock = std::chrono::steady_clock;
  struct Totals {
    double phases[kPhases] = {};
    int64_t steps = 0;
    double device_busy_ms = 0, device_idle_ms = 0;
    int64_t device_samples = 0;
  };
  struct Markers {
    device::StreamMarker begin, end;
    bool recorded = false;
  };
  Markers markers_[2];
  int64_t next_marker_ = 0;
  static void report(const char* kind, const Totals& totals) {
    if (totals.steps == 0) return;
    std::string line;
    double total = 0;
    for (int p = 0; p < kPhases; ++p) {
      line += " " + std::string(kNames[p]) + " " + std::to_string(static_cast<int64_t>(totals.phases[p] / totals.steps));
      total += totals.phases[p];
    }
    if (totals.device_samples > 0)
      line += " | device busy " + std::to_string(static_cast<int64_t>(1000 * totals.device_busy_ms / totals.device_samples)) +
              " idle between steps " + std::to_string(static_cast<int64_t>(1000 * totals.device_idle_ms / totals.device_samples));
    log_info("step timing, ", kind, ", ", totals.steps, " steps (us per step):", line, " total ",
             static_cast<int64_t>(total / totals.steps));
  }

  vllm::Device device_;
  Clock::time_point last_;
  double current_[kPhases] = {};
  Totals decode_, mixed_;
};

}  // namespace vllm
