// Pooler: a pooling model's last stage (vLLM's Pooler). It turns the hidden states of each
// sequence's prompt into one vector (last token, first/CLS token or the mean over tokens), or
// keeps one per token (ALL), then optionally L2-normalises or softmaxes it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace vllm {

enum class PoolingType { Last, First, Mean, All };

// vLLM's names: LAST, CLS, MEAN, ALL (case-insensitive); InvalidArgument naming the known ones.
PoolingType parse_pooling_type(const std::string& name);

struct PoolerSpec {
  PoolingType type = PoolingType::Last;
  bool normalize = false;  // L2 norm of each pooled vector (embeddings)
  bool softmax = false;    // softmax of each pooled vector (classification probabilities)
};

class Pooler {
 public:
  explicit Pooler(PoolerSpec spec) : spec_(spec) {}
  const PoolerSpec& spec() const { return spec_; }

  // hidden [T, H] f32 (any device) of whole prompts; query_start [B + 1] (host) delimits them.
  // Returns, on the host, [B, H] f32 (Last, First, Mean) or [T, H] (All).
  Tensor pool(const Tensor& hidden, const std::vector<int64_t>& query_start) const;

 private:
  PoolerSpec spec_;
};

}  // namespace vllm
