// Softmax, log-softmax, embedding lookup, adds, scaling, soft-capping and row gathers.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "backend/cpu/cpu_ops.h"
#include "backend/cpu/cpu_rows.h"
#include "core/parallel.h"

namespace vllm::cpu {
namespace {

constexpr int64_t kElementGrain = 1 << 15;

int64_t row_grain(int64_t width) { return std::max<int64_t>(1, kElementGrain / std::max<int64_t>(1, width)); }

float row_max(const float* x, int64_t n) {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

}  // namespace

void softmax(Tensor& x) {
  const int64_t n = x.size(-1), rows = n == 0 ? 0 : x.numel() / n;
  float* base = x.data<float>();
  parallel_for(rows, row_grain(n), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float* row = base + r * n;
      const float m = row_max(row, n);
      double sum = 0.0;
      for (int64_t i = 0; i < n; ++i) {
        row[i] = std::exp(row[i] - m);
        sum += row[i];
      }
      const float inv = static_cast<float>(1.0 / sum);
      for (int64_t i = 0; i < n; ++i) row[i] *= inv;
    }
  });
}

void log_softmax(const Tensor& x, Tensor& out) {
  const int64_t n = x.size(-1), rows = n == 0 ? 0 : x.numel() / n;
  const float* in = x.data<float>();
  float* o = out.data<float>();
  parallel_for(rows, row_grain(n), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* row = in + r * n;
      const float m = row_max(row, n);
      double sum = 0.0;
      for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(row[i] - m));
      const float log_sum = static_cast<float>(std::log(sum));
      for (int64_t i = 0; i < n; ++i) o[r * n + i] = row[i] - m - log_sum;
    }
  });
}

void embedding(const Tensor& ids, const Tensor& table, Tensor& out) {
  const int64_t tokens = ids.size(0), vocab = table.size(0), hidden = table.size(1);
  const int32_t* id = ids.data<int32_t>();
  for (int64_t t = 0; t < tokens; ++t)
    VLLM_CHECK(id[t] >= 0 && id[t] < vocab, InvalidArgument, "embedding: token id ", id[t],
               " at position ", t, " is outside the vocabulary [0, ", vocab, ")");
  const char* rows = static_cast<const char*>(table.raw_data());
  const size_t row_bytes = static_cast<size_t>(table.stride(0)) * table.element_size();
  float* o = out.data<float>();
  parallel_for(tokens, row_grain(hidden), [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t)
      convert_floats(rows + id[t] * row_bytes, table.dtype(), o + t * hidden, DType::F32,
                     static_cast<size_t>(hidden));
  });
}

void add(const Tensor& a, const Tensor& b, Tensor& out) {
  const float* x = a.data<float>();
  const float* y = b.data<float>();
  float* o = out.data<float>();
  parallel_for(a.numel(), kElementGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) o[i] = x[i] + y[i];
  });
}

void clamp(Tensor& x, float lo, float hi) {
  float* p = x.data<float>();
  parallel_for(x.numel(), kElementGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) p[i] = std::min(std::max(p[i], lo), hi);
  });
}

void scale(Tensor& x, float factor) {
  float* p = x.data<float>();
  parallel_for(x.numel(), kElementGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) p[i] *= factor;
  });
}

void softcap(Tensor& x, float cap) {
  float* p = x.data<float>();
  const float inv = 1.0f / cap;
  parallel_for(x.numel(), kElementGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) p[i] = cap * std::tanh(p[i] * inv);
  });
}

void gather_rows(const Tensor& x, const Tensor& rows, Tensor& out) {
  const int64_t count = rows.size(0), available = x.size(0), width = x.size(1);
  const int32_t* r = rows.data<int32_t>();
  for (int64_t i = 0; i < count; ++i)
    VLLM_CHECK(r[i] >= 0 && r[i] < available, InvalidArgument, "gather_rows: row ", r[i],
               " at index ", i, " is outside x's ", available, " rows");
  const float* in = x.data<float>();
  float* o = out.data<float>();
  for (int64_t i = 0; i < count; ++i)
    std::memcpy(o + i * width, in + r[i] * x.stride(0), static_cast<size_t>(width) * sizeof(float));
}

}  // namespace vllm::cpu
