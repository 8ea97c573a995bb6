#include "ops/sampling.h"

#include <cmath>

#include "backend/cpu/cpu_ops.h"
#ifdef VLLM_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif
#include "ops/op_checks.h"

namespace vllm::ops {

using namespace detail;

void sample_tokens(const Tensor& logits, const Tensor& temperatures, const Tensor& seeds, Tensor& out) {
  const char* op = "sample_tokens";
  check_dim(op, "logits", logits, 2);
  check_dtype(op, "logits", logits, DType::F32);
  check_last_dim_contiguous(op, "logits", logits);
  check_dim(op, "temperatures", temperatures, 1);
  check_dtype(op, "temperatures", temperatures, DType::F32);
  check_contiguous(op, "temperatures", temperatures);
  check_dim(op, "seeds", seeds, 1);
  check_dtype(op, "seeds", seeds, DType::I64);
  check_contiguous(op, "seeds", seeds);
  check_dim(op, "out", out, 1);
  check_dtype(op, "out", out, DType::I32);
  check_contiguous(op, "out", out);
  const int64_t rows = logits.size(0);
  VLLM_CHECK(temperatures.size(0) == rows && seeds.size(0) == rows && out.size(0) == rows, InvalidArgument, op,
             ": logits ", describe(logits), ", temperatures ", describe(temperatures), ", seeds ", describe(seeds),
             " and out ", describe(out), " must agree on the number of rows");
  VLLM_CHECK(logits.size(1) > 0, InvalidArgument, op, ": empty vocabulary");
  Device device = common_device(op, {&logits, &temperatures, &seeds, &out});
  if (device.is_cpu()) return cpu::sample_tokens(logits, temperatures, seeds, out);
#ifdef VLLM_HAVE_CUDA
  if (device.is_cuda()) return cuda::sample_tokens(logits, temperatures, seeds, out);
#endif
  no_kernel(op, device);
}

}  // namespace vllm::ops
