// The CUDA runtime glue: device discovery, the one stream every kernel and copy runs on, the
// caching device allocator core's Tensor allocates through, and CUDA graph capture/replay.
//
// The allocator keeps freed blocks in per-size free lists instead of returning them to the
// driver (cudaFree synchronises the device), so a decode step allocates nothing from CUDA once
// warm. All work runs on one stream per device, so a block freed on the host while kernels that
// use it are still queued is safe to hand out again: its next user's kernels run after them.
// Blocks allocated while a graph is being captured belong to a private pool that only later
// captures reuse, so eager work between replays never writes into a graph's buffers.
//
// Large host-to-device copies (weights read from the mmapped checkpoint) go through page-locked
// staging buffers of our own, chunk by chunk, so the DMA of one chunk overlaps the host's read of
// the next; a copy from pageable memory would otherwise go through the driver's small staging.
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_stream.h"
#include "core/error.h"
#include "core/logging.h"
#include "core/parallel.h"

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
  int current = -1;
  if (cudaGetDevice(&current) == cudaSuccess && current == device.index) return;
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

constexpr int kMaxDevices = 16;

int current_device() {
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  return device;
}

// Requests round up to 512 bytes (2 MiB past 1 MiB); a cached block serves a request it exceeds
// by at most a quarter (best fit), so steps whose token counts vary reuse each other's blocks.
size_t round_size(size_t bytes) {
  constexpr size_t kSmall = size_t{1} << 20, kLargeStep = size_t{2} << 20;
  if (bytes <= kSmall) return (bytes + 511) / 512 * 512;
  return (bytes + kLargeStep - 1) / kLargeStep * kLargeStep;
}

struct Block {
  size_t bytes = 0;
  bool graph = false;  // from the graph pool
};

class CachingAllocator {
 public:
  void* allocate(size_t bytes, int device) {
    size_t rounded = round_size(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    const bool graph = capturing_;
    auto& pool = graph ? graph_free_ : free_;
    auto it = pool.lower_bound(rounded);
    void* pointer = nullptr;
    if (it != pool.end() && it->first <= rounded + rounded / 4) {
      rounded = it->first;
      pointer = it->second;
      pool.erase(it);
    } else {
      pointer = fresh(rounded, device);
    }
    live_[pointer] = {rounded, graph};
    allocated_ += rounded;
    if (allocated_ > peak_) peak_ = allocated_;
    return pointer;
  }

  void release(void* pointer) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = live_.find(pointer);
    if (it == live_.end()) return;
    const Block block = it->second;
    live_.erase(it);
    allocated_ -= block.bytes;
    (block.graph ? graph_free_ : free_).emplace(block.bytes, pointer);
  }

  // Returns every cached (free) block of the general pool to the driver.
  void empty_cache() {
    std::lock_guard<std::mutex> lock(mutex_);
    release_cached();
  }

  void set_capturing(bool capturing) {
    std::lock_guard<std::mutex> lock(mutex_);
    capturing_ = capturing;
  }

  device::MemoryStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return {reserved_, allocated_, peak_, driver_allocations_, cache_flushes_};
  }

  void reset_peak() {
    std::lock_guard<std::mutex> lock(mutex_);
    peak_ = allocated_;
  }

 private:
  void* fresh(size_t bytes, int device) {
    check(cudaSetDevice(device), "cudaSetDevice");
    void* pointer = nullptr;
    cudaError_t status = cudaMalloc(&pointer, bytes);
    if (status == cudaErrorMemoryAllocation && !capturing_) {
      cudaGetLastError();
      release_cached();  // fragmentation: give the cache back and try once more
      status = cudaMalloc(&pointer, bytes);
    }
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      size_t free_bytes = 0, total = 0;
      cudaMemGetInfo(&free_bytes, &total);
      fail(ErrorKind::OutOfMemory, "CUDA out of memory allocating ", bytes >> 20, " MiB on cuda:", device,
           " (", free_bytes >> 20, " MiB free of ", total >> 20, " MiB; ", allocated_ >> 20,
           " MiB in use by vllm-cpp): lower --gpu-memory-utilization, --max-num-batched-tokens or "
           "--max-num-seqs");
    }
    check(status, "cudaMalloc");
    reserved_ += bytes;
    ++driver_allocations_;
    return pointer;
  }

  void release_cached() {
    if (free_.empty()) return;
    ++cache_flushes_;
    cudaDeviceSynchronize();
    for (auto& [bytes, pointer] : free_) {
      cudaFree(pointer);
      reserved_ -= bytes;
    }
    free_.clear();
  }

  std::mutex mutex_;
  uint64_t driver_allocations_ = 0, cache_flushes_ = 0;
  std::multimap<size_t, void*> free_, graph_free_;  // cached blocks by size
  std::unordered_map<void*, Block> live_;
  size_t reserved_ = 0, allocated_ = 0, peak_ = 0;
  bool capturing_ = false;
};

CachingAllocator& allocator(int device) {
  static std::array<CachingAllocator, kMaxDevices> allocators;
  VLLM_CHECK(device >= 0 && device < kMaxDevices, InvalidArgument, "cuda: device index ", device,
             " out of range");
  return allocators[static_cast<size_t>(device)];
}

void* allocate(size_t bytes, int device) { return allocator(device).allocate(bytes, device); }

void release(void* pointer, int device) { allocator(device).release(pointer); }

// kUploadStagingBuffers page-locked buffers of kUploadStagingChunk bytes per device, allocated
// at the first large upload. Buffer i % n takes chunk i; its event, recorded after the chunk's
// DMA, must have completed before the host writes the buffer again.
class UploadStaging {
 public:
  // Copies host `src` to device `dst` on stream `s` (the device is current). False, having
  // copied nothing, when no page-locked memory could be had: the caller copies directly.
  bool upload(void* dst, const void* src, size_t bytes, cudaStream_t s) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!allocate()) return false;
    auto* out = static_cast<char*>(dst);
    const auto* in = static_cast<const char*>(src);
    for (size_t offset = 0, chunk = 0; offset < bytes; offset += kUploadStagingChunk, ++chunk) {
      const size_t n = std::min(kUploadStagingChunk, bytes - offset);
      const size_t slot = chunk % kUploadStagingBuffers;
      check(cudaEventSynchronize(copied_[slot]), "cudaEventSynchronize");
      parallel_copy(host_[slot], in + offset, n);
      check(cudaMemcpyAsync(out + offset, host_[slot], n, cudaMemcpyHostToDevice, s), "cudaMemcpyAsync");
      check(cudaEventRecord(copied_[slot], s), "cudaEventRecord");
    }
    return true;
  }

  bool active() {
    std::lock_guard<std::mutex> lock(mutex_);
    return allocated_;
  }

 private:
  // The buffers and their events, made once; after a failure, never tried again.
  bool allocate() {
    if (allocated_ || failed_) return allocated_;
    for (size_t i = 0; i < kUploadStagingBuffers; ++i) {
      if (cudaHostAlloc(&host_[i], kUploadStagingChunk, cudaHostAllocDefault) != cudaSuccess) {
        cudaGetLastError();
        for (size_t j = 0; j < i; ++j) cudaFreeHost(host_[j]);
        failed_ = true;
        log_warning("cuda: no page-locked memory for upload staging (", kUploadStagingBuffers, " x ",
                    kUploadStagingChunk >> 20, " MiB); host-to-device copies go through the driver's staging");
        return false;
      }
    }
    for (cudaEvent_t& event : copied_) check(cudaEventCreateWithFlags(&event, cudaEventDisableTiming), "cudaEventCreate");
    allocated_ = true;
    return true;
  }

  // memcpy split over the CPU threads: reading a cold mmapped checkpoint is bound by page
  // faults, which several threads take in parallel.
  static void parallel_copy(void* dst, const char* src, size_t bytes) {
    constexpr int64_t kGrain = int64_t{4} << 20;
    parallel_for(static_cast<int64_t>(bytes), kGrain, [&](int64_t begin, int64_t end) {
      std::memcpy(static_cast<char*>(dst) + begin, src + begin, static_cast<size_t>(end - begin));
    });
  }

  std::mutex mutex_;
  std::array<void*, kUploadStagingBuffers> host_{};
  std::array<cudaEvent_t, kUploadStagingBuffers> copied_{};
  bool allocated_ = false, failed_ = false;
};

UploadStaging& upload_staging(int device) {
  static std::array<UploadStaging, kMaxDevices> staging;
  VLLM_CHECK(device >= 0 && device < kMaxDevices, InvalidArgument, "cuda: device index ", device,
             " out of range");
  return staging[static_cast<size_t>(device)];
}

bool capturing(cudaStream_t s) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  check(cudaStreamIsCapturing(s, &status), "cudaStreamIsCapturing");
  return status != cudaStreamCaptureStatusNone;
}

// kSmallCopySlots page-locked buffers per device for copies under kUploadStagingThreshold (each
// step's batch arrays, sampling parameters and read-backs), used round-robin and grown as needed.
// A slot's event, recorded after its copy, must have completed before the slot is written again:
// with eight slots that is the copy of several steps ago, so the host never waits for the step
// just queued (a pageable copy may wait for the whole stream, which would stop the engine from
// queueing the next step while the device still runs this one).
class SmallCopyRing {
 public:
  struct Slot {
    void* host = nullptr;
    size_t capacity = 0;
    cudaEvent_t done = nullptr;
  };

  // A slot holding at least `bytes`, its last copy finished (the device is current). Null when
  // no page-locked memory could be had.
  Slot* acquire(size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (failed_) return nullptr;
    Slot& slot = slots_[next_++ % kSmallCopySlots];
    if (slot.done == nullptr) check(cudaEventCreateWithFlags(&slot.done, cudaEventDisableTiming), "cudaEventCreate");
    check(cudaEventSynchronize(slot.done), "cudaEventSynchronize");
    if (bytes > slot.capacity) {
      if (slot.host != nullptr) check(cudaFreeHost(slot.host), "cudaFreeHost");
      slot.host = nullptr;
      slot.capacity = 0;
      const size_t capacity = std::max<size_t>(bytes, size_t{1} << 16);
      if (cudaHostAlloc(&slot.host, capacity, cudaHostAllocDefault) != cudaSuccess) {
        cudaGetLastError();
        failed_ = true;
        log_warning("cuda: no page-locked memory for small copies; they go through the driver's staging");
        return nullptr;
      }
      slot.capacity = capacity;
    }
    return &slot;
  }

 private:
  std::mutex mutex_;
  std::array<Slot, kSmallCopySlots> slots_{};
  size_t next_ = 0;
  bool failed_ = false;
};

SmallCopyRing& small_copy_ring(int device) {
  static std::array<SmallCopyRing, kMaxDevices> rings;
  VLLM_CHECK(device >= 0 && device < kMaxDevices, InvalidArgument, "cuda: device index ", device,
             " out of range");
  return rings[static_cast<size_t>(device)];
}

// Copies host `src` to device `dst` through a ring slot; false, having copied nothing, without
// page-locked memory.
bool upload_through_ring(void* dst, const void* src, size_t bytes, int device, cudaStream_t s) {
  SmallCopyRing::Slot* slot = small_copy_ring(device).acquire(bytes);
  if (slot == nullptr) return false;
  std::memcpy(slot->host, src, bytes);
  check(cudaMemcpyAsync(dst, slot->host, bytes, cudaMemcpyHostToDevice, s), "cudaMemcpyAsync");
  check(cudaEventRecord(slot->done, s), "cudaEventRecord");
  return true;
}

// When it returns, `src` may be reused: a host-to-device copy has read all of it (into staging,
// or into the driver's staging for a pageable copy), and a device-to-host copy has landed.
void copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  const int device = dst_device.is_cuda() ? dst_device.index : src_device.index;
  check(cudaSetDevice(device), "cudaSetDevice");
  cudaStream_t s = stream();
  if (dst_device.is_cuda() && src_device.is_cuda()) {
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s), "cudaMemcpyAsync");
  } else if (dst_device.is_cuda()) {
    // A graph must not capture a copy out of staging (replays would read whatever it then holds).
    if (!capturing(s)) {
      if (bytes >= kUploadStagingThreshold ? upload_staging(device).upload(dst, src, bytes, s)
                                           : upload_through_ring(dst, src, bytes, device, s))
        return;
    }
    // From pageable host memory the call returns once the bytes are staged: the source may be
    // reused at once.
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s), "cudaMemcpyAsync");
  } else {
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s), "cudaMemcpyAsync");
    check(cudaStreamSynchronize(s), "cudaStreamSynchronize");
  }
}

void fill_zero(void* dst, int device, size_t bytes) {
  check(cudaSetDevice(device), "cudaSetDevice");
  check(cudaMemsetAsync(dst, 0, bytes, stream()), "cudaMemsetAsync");
}

// Installs the device allocator into core when the backend is linked (whole-archive).
struct Registration {
  Registration() { set_cuda_allocator({allocate, release, copy, fill_zero, copy_strided}); }
} registration;

}  // namespace

cudaStream_t stream() {
  static std::array<cudaStream_t, kMaxDevices> streams{};
  static std::mutex mutex;
  const int device = current_device();
  std::lock_guard<std::mutex> lock(mutex);
  cudaStream_t& s = streams[static_cast<size_t>(device)];
  if (!s) check(cudaStreamCreate(&s), "cudaStreamCreate");
  return s;
}

void synchronize(Device device) {
  set_device(device);
  check(cudaStreamSynchronize(stream()), "cudaStreamSynchronize");
}

void upload_async(void* dst, const void* src, size_t bytes, Device device) {
  if (bytes == 0) return;
  set_device(device);
  cudaStream_t s = stream();
  if (capturing(s) || !upload_through_ring(dst, src, bytes, device.index, s))
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s), "cudaMemcpyAsync");
}

StreamMarker::StreamMarker() = default;  // the event is made at the first record(): no driver needed before

StreamMarker::~StreamMarker() {
  if (event_ != nullptr) cudaEventDestroy(static_cast<cudaEvent_t>(event_));
}

void StreamMarker::record(Device device) {
  set_device(device);
  if (event_ == nullptr) {
    cudaEvent_t event = nullptr;
    check(cudaEventCreate(&event), "cudaEventCreate");
    event_ = event;
  }
  check(cudaEventRecord(static_cast<cudaEvent_t>(event_), stream()), "cudaEventRecord");
}

float StreamMarker::elapsed_ms(const StreamMarker& later) const {
  check(cudaEventSynchronize(static_cast<cudaEvent_t>(later.event_)), "cudaEventSynchronize");
  float ms = 0;
  check(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(event_), static_cast<cudaEvent_t>(later.event_)),
        "cudaEventElapsedTime");
  return ms;
}

// Page-locked buffers for downloads, kept per device and reused by size.
struct Download::State {
  Device device;
  void* host = nullptr;
  size_t capacity = 0;
  cudaEvent_t done = nullptr;
  bool pageable = false;  // no page-locked memory: `host` is malloc'ed and the copy already landed
};

namespace {

struct DownloadPool {
  std::mutex mutex;
  std::vector<std::unique_ptr<Download::State>> free;
};

DownloadPool& download_pool(int device) {
  static std::array<DownloadPool, kMaxDevices> pools;
  return pools[static_cast<size_t>(device)];
}

}  // namespace

Download::Download(const void* src, size_t bytes, Device device) {
  set_device(device);
  DownloadPool& pool = download_pool(device.index);
  {
    std::lock_guard<std::mutex> lock(pool.mutex);
    for (auto it = pool.free.begin(); it != pool.free.end(); ++it) {
      if ((*it)->capacity >= bytes) {
        state_ = std::move(*it);
        pool.free.erase(it);
        break;
      }
    }
  }
  if (!state_) {
    state_ = std::make_unique<State>();
    state_->device = device;
    const size_t capacity = std::max<size_t>(bytes, 4096);
    if (cudaHostAlloc(&state_->host, capacity, cudaHostAllocDefault) == cudaSuccess) {
      state_->capacity = capacity;
      check(cudaEventCreateWithFlags(&state_->done, cudaEventDisableTiming), "cudaEventCreate");
    } else {
      cudaGetLastError();
      state_->host = std::malloc(capacity);
      VLLM_CHECK(state_->host != nullptr, OutOfMemory, "cuda: no host memory for a ", bytes, "-byte download");
      state_->capacity = capacity;
      state_->pageable = true;
    }
  }
  if (bytes == 0) return;
  check(cudaMemcpyAsync(state_->host, src, bytes, cudaMemcpyDeviceToHost, stream()), "cudaMemcpyAsync");
  if (state_->pageable)
    check(cudaStreamSynchronize(stream()), "cudaStreamSynchronize");
  else
    check(cudaEventRecord(state_->done, stream()), "cudaEventRecord");
}

Download::~Download() {
  if (!state_) return;
  if (state_->done != nullptr) cudaEventSynchronize(state_->done);  // the buffer is reused only once written
  DownloadPool& pool = download_pool(state_->device.index);
  std::lock_guard<std::mutex> lock(pool.mutex);
  pool.free.push_back(std::move(state_));
}

const void* Download::wait() {
  if (state_->done != nullptr) check(cudaEventSynchronize(state_->done), "cudaEventSynchronize");
  return state_->host;
}

void host_copy(const Tensor& src, size_t bytes, std::shared_ptr<void>& state, std::function<const void*()>& wait) {
  auto download = std::make_shared<Download>(src.raw_data(), bytes, src.device());
  state = download;
  wait = [download] { return download->wait(); };
}

bool upload_staging_active(Device device) { return upload_staging(device.index).active(); }

device::MemoryStats memory_stats(Device device) { return allocator(device.index).stats(); }
void reset_peak_memory(Device device) { allocator(device.index).reset_peak(); }
void empty_cache(Device device) { allocator(device.index).empty_cache(); }

device::MemoryInfo memory_info(Device device) {
  set_device(device);
  size_t free_bytes = 0, total = 0;
  check(cudaMemGetInfo(&free_bytes, &total), "cudaMemGetInfo");
  return {free_bytes, total};
}

struct Graph::State {
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  Device device;
};

Graph::Graph() : state_(std::make_unique<State>()) {}

Graph::~Graph() {
  if (state_->exec) cudaGraphExecDestroy(state_->exec);
  if (state_->graph) cudaGraphDestroy(state_->graph);
}

void Graph::begin_capture(Device device) {
  VLLM_CHECK(!state_->exec, Internal, "cuda: graph captured twice");
  set_device(device);
  state_->device = device;
  synchronize(device);
  allocator(device.index).set_capturing(true);
  check(cudaStreamBeginCapture(stream(), cudaStreamCaptureModeRelaxed), "cudaStreamBeginCapture");
}

void Graph::end_capture() {
  set_device(state_->device);
  cudaError_t status = cudaStreamEndCapture(stream(), &state_->graph);
  allocator(state_->device.index).set_capturing(false);
  check(status, "cudaStreamEndCapture");
  check(cudaGraphInstantiate(&state_->exec, state_->graph, 0), "cudaGraphInstantiate");
}

void Graph::abort_capture() {
  cudaGraph_t graph = nullptr;
  cudaStreamEndCapture(stream(), &graph);
  cudaGetLastError();
  if (graph) cudaGraphDestroy(graph);
  allocator(state_->device.index).set_capturing(false);
}

void Graph::replay() {
  VLLM_CHECK(state_->exec, Internal, "cuda: replay of a graph never captured");
  set_device(state_->device);
  check(cudaGraphLaunch(state_->exec, stream()), "cudaGraphLaunch");
}

}  // namespace vllm::cuda
