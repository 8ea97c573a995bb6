// Embedding (token ids -> rows of a table) and the LM head (hidden rows -> logits), tied to the
// embedding's table or with its own weight.
#pragma once

#include "core/tensor.h"
#include "loader/weight_loader.h"

namespace vllm {

struct Embedding {
  Tensor weight;  // [num_embeddings, dim], the checkpoint's dtype

  static Embedding load(WeightLoader& loader, const std::string& name, int64_t num_embeddings, int64_t dim,
                        Device device);
  int64_t dim() const { return weight.size(1); }
  // ids [T] int32 -> [T, dim] f32.
  Tensor forward(const Tensor& ids) const;
};

struct LMHead {
  Tensor weight;          // [vocab, hidden]: the embedding's own table when tied
  Tensor bias;            // [vocab] f32 or undefined (GPT-J, Phi)
  float scale = 1.0f;     // multiplies the logits (Granite's 1 / logits_scaling)
  float softcap = 0.0f;   // 0: none, else cap * tanh(logits / cap) (Gemma 2 final_logit_softcapping)

  // Tied: the embedding's table (a checkpoint's stored copy of `name`.weight is read and dropped).
  static LMHead load(WeightLoader& loader, const std::string& name, const Embedding* tied_to, int64_t vocab,
                     int64_t hidden, bool bias, Device device);
  // rows [R, hidden] f32 -> logits [R, vocab] f32.
  Tensor forward(const Tensor& rows) const;
};

}  // namespace vllm
