#include "ops/sampling.h"

#include <cmath>

#include "backend/cpu/cpu_ops.h"
#ifdef VLLM_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif
#include "ops/op_checks.h"

namespace vllm::ops {

using namespace detail;

void sample_tokens(const Tensor& logits, const SamplingTensors& params, Tensor& out) {
  const char* op = "sample_tokens";
  check_dim(op, "logits", logits, 2);
  check_dtype(op, "logits", logits, DType::F32);
  check_last_dim_contiguous(op, "logits", logits);
  check_dim(op, "out", out, 1);
  check_dtype(op, "out", out, DType::I32);
  check_contiguous(op, "out", out);
  const int64_t rows = logits.size(0);
  VLLM_CHECK(logits.size(1) > 0, InvalidArgument, op, ": empty vocabulary");
  VLLM_CHECK(out.size(0) == rows, InvalidArgument, op, ": out ", describe(out), " must have ", rows, " rows");
  auto check_row_param = [&](const char* name, const Tensor& t, DType dtype, bool required) {
    if (!required && !t.defined()) return;
    check_dim(op, name, t, 1);
    check_dtype(op, name, t, dtype);
    check_contiguous(op, name, t);
    VLLM_CHECK(t.size(0) == rows, InvalidArgument, op, ": ", name, " ", describe(t), " must have ", rows,
               " rows, as logits ", describe(logits));
  };
  check_row_param("temperatures", params.temperatures, DType::F32, true);
  check_row_param("seeds", params.seeds, DType::I64, true);
  check_row_param("top_k", params.top_k, DType::I32, false);
  check_row_param("top_p", params.top_p, DType::F32, false);
  check_row_param("min_p", params.min_p, DType::F32, false);
  Device device = common_device(op, {&logits, &params.temperatures, &params.seeds, &params.top_k, &params.top_p,
                                     &params.min_p, &out});
  if (device.is_cpu()) return cpu::sample_tokens(logits, params, out);
#ifdef VLLM_HAVE_CUDA
  if (device.is_cuda()) return cuda::sample_tokens(logits, params, out);
#endif
  no_kernel(op, device);
}

}  // namespace vllm::ops
