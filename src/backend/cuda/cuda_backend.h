// The CUDA backend's entry points. Built only when nvcc is found (VLLM_HAVE_CUDA); the same
// binary runs CPU-only where no GPU or driver is present (cudart is linked statically and
// reports "no device").
//
// The kernels mirror the ops API (src/ops/*.h) for tensors on one CUDA device: f32 activations,
// f32/bf16/f16 weights widened in the kernel, f32 KV cache. Arguments are validated by the op
// entry points (shapes, dtypes, strides, devices); the kernels assume valid input. Index data that
// lives on the device (token ids, rows, slots, positions, block tables) is not read back to the
// host: an out-of-range index is skipped (or, for embedding/gather_rows, yields a NaN row) rather
// than raising InvalidArgument as the CPU kernels do. Every launch and copy runs on the device's
// one stream (cuda_common.cuh's stream()), in order.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "core/tensor.h"
#include "backend/backend_types.h"

namespace vllm::cuda {

// Number of usable GPUs; 0 without a driver or device (never throws).
int device_count();
bool available();
std::string device_name(int index);

// Throws vllm::Error naming `what` and CUDA's message when `status` is an error.
void check(int status, const char* what);
// Checks the last launch error (cudaGetLastError) and names the kernel.
void check_launch(const char* kernel);
// Makes `device` current (every entry point calls it for its tensors' device).
void set_device(Device device);
// Waits for everything queued on the device's stream.
void synchronize(Device device);

// The caching allocator's counters (device::MemoryStats, the device layer's type).
device::MemoryStats memory_stats(Device device);
void reset_peak_memory(Device device);
// Returns the allocator's cached free blocks to the driver.
void empty_cache(Device device);
// Host-to-device copies of at least kUploadStagingThreshold bytes (core's DeviceAllocator::copy,
// so every Tensor::to(cuda) of a weight) go through kUploadStagingBuffers page-locked buffers of
// kUploadStagingChunk bytes per device, allocated at the first such copy; smaller copies, copies
// during graph capture, and all copies when no page-locked memory is left, go straight from
// pageable memory. True once the device's staging buffers exist.
constexpr size_t kUploadStagingThreshold = size_t{4} << 20;
constexpr size_t kUploadStagingChunk = size_t{64} << 20;
constexpr size_t kUploadStagingBuffers = 2;
bool upload_staging_active(Device device);
// Smaller host-to-device copies (outside graph capture) go through kSmallCopySlots page-locked
// buffers used in turn: the call returns once the bytes are in one, without waiting for the
// work queued on the stream before the copy.
constexpr size_t kSmallCopySlots = 8;
// `bytes` from host `src` to device `dst` on the device's stream (through the ring above).
void upload_async(void* dst, const void* src, size_t bytes, Device device);

// A point on the device's stream (VLLM_STEP_TIMING): record() queues it; elapsed_ms(later) waits
// for `later` and gives the device time between the two.
class StreamMarker {
 public:
  StreamMarker();
  ~StreamMarker();
  StreamMarker(const StreamMarker&) = delete;
  StreamMarker& operator=(const StreamMarker&) = delete;
  void record(Device device);
  float elapsed_ms(const StreamMarker& later) const;

 private:
  void* event_ = nullptr;  // cudaEvent_t
};

// A device-to-host copy queued on the device's stream into page-locked memory (pooled per
// device): the host goes on queueing work and waits for the bytes later.
class Download {
 public:
  Download(const void* src, size_t bytes, Device device);
  ~Download();
  Download(const Download&) = delete;
  Download& operator=(const Download&) = delete;
  // Blocks until the bytes landed; they stay valid while this object lives.
  const void* wait();
  struct State;

 private:
  std::unique_ptr<State> state_;
};

// ops::HostCopy on CUDA: a Download of `bytes` from `src`, kept in `state`; `wait` blocks until the
// bytes landed and gives them.
void host_copy(const Tensor& src, size_t bytes, std::shared_ptr<void>& state, std::function<const void*()>& wait);

device::MemoryInfo memory_info(Device device);  // cudaMemGetInfo

// A CUDA graph of the work queued on the device's stream between begin_capture and end_capture;
// replay() queues it again. Buffers allocated during capture come from a private pool shared by
// every graph, which eager work never reuses.
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

// dst (contiguous) = src (any strides, up to 4 dims), both on the same device.
void copy_strided(const Tensor& src, Tensor& dst);
// dst = src converted between f32, bf16 and f16, same shape, both contiguous on the device.
void cast(const Tensor& src, Tensor& dst);

// linear_cuda.cu
void linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& out);

// norm_cuda.cu
void rms_norm(const Tensor& x, const Tensor& weight, float eps, float weight_offset, Tensor& out);
// residual += x; out = rms_norm(residual); out may alias x and may be bf16/f16.
void fused_add_rms_norm(const Tensor& x, Tensor& residual, const Tensor& weight, float eps,
                        float weight_offset, Tensor& out);
void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, Tensor& out);

// rotary_cuda.cu
void rotary_embedding(const Tensor& positions, Tensor& query, Tensor& key,
                      const Tensor& cos_sin_cache, int64_t rotary_dim, bool is_neox);
void rotary_embedding_and_cache(const Tensor& positions, Tensor& query, Tensor& key,
                                const Tensor& value, const Tensor& cos_sin_cache, int64_t rotary_dim,
                                bool is_neox, Tensor& key_cache, Tensor& value_cache,
                                const Tensor& slot_mapping);

// attention_cuda.cu (+ attention_flash_cuda.cu): f32, bf16 or f16 KV caches; bf16/f16 caches
// take the tensor-core kernels, chosen from shapes and params.max_query_len / max_seq_len.
void reshape_and_cache(const Tensor& key, const Tensor& value, Tensor& key_cache,
                       Tensor& value_cache, const Tensor& slot_mapping);
void paged_attention(const Tensor& query, const Tensor& key_cache, const Tensor& value_cache,
                     const Tensor& query_start, const Tensor& seq_lens, const Tensor& block_table,
                     const ops::AttentionParams& params, Tensor& out);
// attention_varlen_cuda.cu: f32 keys/values, one kernel for every head size up to 256.
void attention_varlen(const Tensor& query, const Tensor& key, const Tensor& value, const Tensor& query_start,
                      const Tensor& key_start, const ops::AttentionParams& params, Tensor& out);

// activation_cuda.cu
void activation(ops::Activation kind, const Tensor& x, Tensor& out);
void activation_and_mul(ops::Activation kind, const Tensor& x, Tensor& out);
void silu_and_mul(const Tensor& x, Tensor& out);  // activation_and_mul(Silu, ...)

// elementwise_cuda.cu
void softmax(Tensor& x);
void log_softmax(const Tensor& x, Tensor& out);
void embedding(const Tensor& ids, const Tensor& table, Tensor& out);
void add(const Tensor& a, const Tensor& b, Tensor& out);
void scale(Tensor& x, float factor);
void clamp(Tensor& x, float lo, float hi);
void softcap(Tensor& x, float cap);
void gather_rows(const Tensor& x, const Tensor& rows, Tensor& out);

// sampling_cuda.cu
void sample_tokens(const Tensor& logits, const ops::SamplingTensors& params, Tensor& out);
void apply_penalties(Tensor& logits, const ops::PenaltyTensors& penalties);
void apply_token_bitmask(Tensor& logits, const Tensor& bitmask);
void compute_logprobs(const Tensor& logits, const Tensor& rows, const Tensor& token_ids, Tensor& top_ids,
                      Tensor& top_logprobs, Tensor& ranks);
// ops::upload_packed: one asynchronous copy through the page-locked ring (upload_async).
Tensor upload_packed(const void* data, size_t bytes, Device device);
void scatter_tokens(Tensor& dst, const Tensor& dst_index, const Tensor& src, const Tensor& src_index);

}  // namespace vllm::cuda
