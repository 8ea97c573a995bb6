#include "layers/pooler.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "core/error.h"

namespace vllm {

PoolingType parse_pooling_type(const std::string& name) {
  std::string upper = name;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
  if (upper == "LAST") return PoolingType::Last;
  if (upper == "CLS" || upper == "FIRST") return PoolingType::First;
  if (upper == "MEAN") return PoolingType::Mean;
  if (upper == "ALL") return PoolingType::All;
  fail(ErrorKind::InvalidArgument, "pooling type '", name, "' is not supported (known: LAST, CLS, MEAN, ALL)");
}

Tensor Pooler::pool(const Tensor& hidden, const std::vector<int64_t>& query_start) const {
  VLLM_CHECK(hidden.dim() == 2 && hidden.dtype() == DType::F32, InvalidArgument, "pooler: hidden must be [T, H] f32");
  VLLM_CHECK(!query_start.empty() && query_start.front() == 0 && query_start.back() == hidden.size(0),
             InvalidArgument, "pooler: query_start must run from 0 to the ", hidden.size(0), " hidden rows");
  const Tensor host = hidden.to(Device::cpu()).contiguous();
  const int64_t width = host.size(1), num_seqs = static_cast<int64_t>(query_start.size()) - 1;
  const float* in = host.data<float>();
  const int64_t rows = spec_.type == PoolingType::All ? host.size(0) : num_seqs;
  Tensor out = Tensor::zeros({rows, width}, DType::F32);
  float* result = out.data<float>();
  for (int64_t b = 0; b < num_seqs; ++b) {
    const int64_t begin = query_start[b], end = query_start[b + 1];
    VLLM_CHECK(begin < end, InvalidArgument, "pooler: sequence ", b, " has no tokens");
    if (spec_.type == PoolingType::All) {
      std::copy(in + begin * width, in + end * width, result + begin * width);
      continue;
    }
    float* row = result + b * width;
    if (spec_.type == PoolingType::Mean) {
      for (int64_t t = begin; t < end; ++t)
        for (int64_t h = 0; h < width; ++h) row[h] += in[t * width + h];
      for (int64_t h = 0; h < width; ++h) row[h] /= static_cast<float>(end - begin);
    } else {
      const int64_t t = spec_.type == PoolingType::Last ? end - 1 : begin;
      std::copy(in + t * width, in + (t + 1) * width, row);
    }
  }
  for (int64_t r = 0; r < rows; ++r) {
    float* row = result + r * width;
    if (spec_.normalize) {  // torch.nn.functional.normalize: x / max(||x||, 1e-12)
      double norm = 0.0;
      for (int64_t h = 0; h < width; ++h) norm += static_cast<double>(row[h]) * row[h];
      const float inv = static_cast<float>(1.0 / std::max(std::sqrt(norm), 1e-12));
      for (int64_t h = 0; h < width; ++h) row[h] *= inv;
    }
    if (spec_.softmax) {
      const float top = *std::max_element(row, row + width);
      double sum = 0.0;
      for (int64_t h = 0; h < width; ++h) sum += std::exp(static_cast<double>(row[h] - top));
      for (int64_t h = 0; h < width; ++h) row[h] = static_cast<float>(std::exp(static_cast<double>(row[h] - top)) / sum);
    }
  }
  return out;
}

}  // namespace vllm
