#include "ops/sampling.h"

#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "backend/cpu/sampling_cpu.h"
#include "ops/dispatch.h"

namespace vllm::ops {

using namespace detail;

namespace {

// A per-sample tensor: 1-D, contiguous, `count` entries of `dtype` (undefined allowed unless required).
void check_per_sample(const char* op, const char* name, const Tensor& t, DType dtype, int64_t count,
                      bool required) {
  if (!required && !t.defined()) return;
  check_dim(op, name, t, 1);
  check_dtype(op, name, t, dtype);
  check_contiguous(op, name, t);
  VLLM_CHECK(t.size(0) == count, InvalidArgument, op, ": ", name, " ", describe(t), " must have ", count,
             " entries, one per sample");
}

// logits [R, V] f32 with contiguous rows, and the samples' row ids: S = rows.size(0), or R.
int64_t check_logits_and_rows(const char* op, const Tensor& logits, const Tensor& rows) {
  check_dim(op, "logits", logits, 2);
  check_dtype(op, "logits", logits, DType::F32);
  check_last_dim_contiguous(op, "logits", logits);
  VLLM_CHECK(logits.size(1) > 0, InvalidArgument, op, ": empty vocabulary");
  if (!rows.defined()) return logits.size(0);
  check_dim(op, "rows", rows, 1);
  check_dtype(op, "rows", rows, DType::I32);
  check_contiguous(op, "rows", rows);
  return rows.size(0);
}

// upload_packed on the CPU: a host tensor holding a copy of the bytes.
Tensor upload_packed_cpu(const void* data, size_t bytes, Device) {
  Tensor out = Tensor::empty({static_cast<int64_t>(bytes)}, DType::U8);
  if (bytes > 0) std::memcpy(out.raw_data(), data, bytes);
  return out;
}

// HostCopy on the CPU: the copy is made at once.
void host_copy_cpu(const Tensor& src, size_t bytes, std::shared_ptr<void>& state, std::function<const void*()>& wait) {
  auto copy = std::make_shared<std::vector<std::byte>>(bytes);
  if (bytes > 0) std::memcpy(copy->data(), src.raw_data(), bytes);
  state = copy;
  wait = [copy] { return static_cast<const void*>(copy->data()); };
}

// HostCopy's start on the source's device (CUDA: cuda::host_copy, queued on the stream).
void start_host_copy(const Tensor& src, size_t bytes, std::shared_ptr<void>& state,
                     std::function<const void*()>& wait) {
  VLLM_DISPATCH_WITH_CPU("HostCopy", src.device(), host_copy_cpu, host_copy, src, bytes, state, wait);
}

}  // namespace

int32_t sample_row(std::span<const float> logits, const RowSampling& sampling) {
  return cpu::sample_token(logits, sampling);
}

void sample_tokens(const Tensor& logits, const SamplingTensors& params, Tensor& out) {
  const char* op = "sample_tokens";
  const int64_t samples = check_logits_and_rows(op, logits, params.rows);
  check_dim(op, "out", out, 1);
  check_dtype(op, "out", out, DType::I32);
  check_contiguous(op, "out", out);
  VLLM_CHECK(out.size(0) == samples, InvalidArgument, op, ": out ", describe(out), " must have ", samples,
             " entries, one per sample of logits ", describe(logits));
  check_per_sample(op, "temperatures", params.temperatures, DType::F32, samples, true);
  check_per_sample(op, "seeds", params.seeds, DType::I64, samples, true);
  check_per_sample(op, "top_k", params.top_k, DType::I32, samples, false);
  check_per_sample(op, "top_p", params.top_p, DType::F32, samples, false);
  check_per_sample(op, "min_p", params.min_p, DType::F32, samples, false);
  Device device = common_device(op, {&logits, &params.temperatures, &params.seeds, &params.top_k, &params.top_p,
                                     &params.min_p, &params.rows, &out});
  VLLM_DISPATCH(op, device, sample_tokens, logits, params, out);
}

void apply_penalties(Tensor& logits, const PenaltyTensors& penalties) {
  const char* op = "apply_penalties";
  check_dim(op, "logits", logits, 2);
  check_dtype(op, "logits", logits, DType::F32);
  check_last_dim_contiguous(op, "logits", logits);
  const int64_t samples = logits.size(0);
  check_per_sample(op, "repetition", penalties.repetition, DType::F32, samples, true);
  check_per_sample(op, "frequency", penalties.frequency, DType::F32, samples, true);
  check_per_sample(op, "presence", penalties.presence, DType::F32, samples, true);
  check_per_sample(op, "token_offsets", penalties.token_offsets, DType::I32, samples + 1, true);
  check_dim(op, "token_ids", penalties.token_ids, 1);
  check_dtype(op, "token_ids", penalties.token_ids, DType::I32);
  check_contiguous(op, "token_ids", penalties.token_ids);
  check_per_sample(op, "output_counts", penalties.output_counts, DType::I32, penalties.token_ids.size(0), true);
  Device device = common_device(op, {&logits, &penalties.repetition, &penalties.frequency, &penalties.presence,
                                     &penalties.token_offsets, &penalties.token_ids, &penalties.output_counts});
  VLLM_DISPATCH(op, device, apply_penalties, logits, penalties);
}

void apply_token_bitmask(Tensor& logits, const Tensor& bitmask) {
  const char* op = "apply_token_bitmask";
  check_dim(op, "logits", logits, 2);
  check_dtype(op, "logits", logits, DType::F32);
  check_last_dim_contiguous(op, "logits", logits);
  check_dim(op, "bitmask", bitmask, 2);
  check_dtype(op, "bitmask", bitmask, DType::I32);
  check_contiguous(op, "bitmask", bitmask);
  VLLM_CHECK(bitmask.size(0) == logits.size(0) && bitmask.size(1) == (logits.size(1) + 31) / 32, InvalidArgument,
             op, ": bitmask ", shape_to_string(bitmask.shape()), " does not cover logits ", shape_to_string(logits.shape()), " (one bit a token)");
  Device device = common_device(op, {&logits, &bitmask});
  VLLM_DISPATCH(op, device, apply_token_bitmask, logits, bitmask);
}

void compute_logprobs(const Tensor& logits, const Tensor& rows, const Tensor& token_ids, Tensor& top_ids,
                      Tensor& top_logprobs, Tensor& ranks) {
  const char* op = "compute_logprobs";
  const int64_t samples = check_logits_and_rows(op, logits, rows);
  check_per_sample(op, "token_ids", token_ids, DType::I32, samples, true);
  check_per_sample(op, "ranks", ranks, DType::I32, samples, true);
  check_dim(op, "top_ids", top_ids, 2);
  check_dtype(op, "top_ids", top_ids, DType::I32);
  check_contiguous(op, "top_ids", top_ids);
  check_dim(op, "top_logprobs", top_logprobs, 2);
  check_dtype(op, "top_logprobs", top_logprobs, DType::F32);
  check_contiguous(op, "top_logprobs", top_logprobs);
  check_same_shape(op, "top_ids", top_ids, "top_logprobs", top_logprobs);
  VLLM_CHECK(top_ids.size(0) == samples && top_ids.size(1) >= 1 && top_ids.size(1) <= kMaxTopLogprobs + 1,
             InvalidArgument, op, ": top_ids ", describe(top_ids), " must be [", samples, ", 1 + num_top] with num_top <= ",
             kMaxTopLogprobs, " (more logprobs are computed on the host)");
  Device device = common_device(op, {&logits, &rows, &token_ids, &top_ids, &top_logprobs, &ranks});
  VLLM_DISPATCH(op, device, compute_logprobs, logits, rows, token_ids, top_ids, top_logprobs, ranks);
}

Tensor upload_packed(const void* data, size_t bytes, Device device) {
  VLLM_DISPATCH_WITH_CPU("upload_packed", device, upload_packed_cpu, upload_packed, data, bytes, device);
}

void scatter_tokens(Tensor& dst, const Tensor& dst_index, const Tensor& src, const Tensor& src_index) {
  const char* op = "scatter_tokens";
  for (auto [name, t] : {std::pair<const char*, const Tensor*>{"dst", &dst}, {"dst_index", &dst_index},
                         {"src", &src}, {"src_index", &src_index}}) {
    check_dim(op, name, *t, 1);
    check_dtype(op, name, *t, DType::I32);
    check_contiguous(op, name, *t);
  }
  VLLM_CHECK(dst_index.size(0) == src_index.size(0), InvalidArgument, op, ": dst_index ", describe(dst_index),
             " and src_index ", describe(src_index), " must have the same length");
  Device device = common_device(op, {&dst, &dst_index, &src, &src_index});
  VLLM_DISPATCH(op, device, scatter_tokens, dst, dst_index, src, src_index);
}

HostCopy::HostCopy(const Tensor& src) : bytes_(static_cast<size_t>(src.numel()) * dtype_size(src.dtype())) {
  VLLM_CHECK(src.is_contiguous(), InvalidArgument, "HostCopy: ", describe(src), " must be contiguous");
  VLLM_CHECK(has_backend(src.device()), Unsupported, "HostCopy: no copy from ", src.device().to_string());
  start_host_copy(src, bytes_, state_, wait_);
}

}  // namespace vllm::ops
