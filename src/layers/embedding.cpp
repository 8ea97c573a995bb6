#include "layers/embedding.h"

#include "ops/ops.h"

namespace vllm {

Embedding Embedding::load(WeightLoader& loader, const std::string& name, int64_t num_embeddings, int64_t dim,
                          Device device) {
  return Embedding{loader.take(name + ".weight", {num_embeddings, dim}, ParamStorage::Keep, device)};
}

Tensor Embedding::forward(const Tensor& ids) const {
  Tensor out = Tensor::empty({ids.size(0), weight.size(1)}, DType::F32, ids.device());
  ops::embedding(ids, weight, out);
  return out;
}

LMHead LMHead::load(WeightLoader& loader, const std::string& name, const Embedding* tied_to, int64_t vocab,
                    int64_t hidden, bool bias, Device device) {
  LMHead head;
  if (tied_to) {
    head.weight = tied_to->weight;
    loader.skip(name + ".weight");  // some checkpoints store the tied copy as well
  } else {
    head.weight = loader.take(name + ".weight", {vocab, hidden}, ParamStorage::Keep, device);
  }
  if (bias) head.bias = loader.take(name + ".bias", {vocab}, ParamStorage::Float32, device);
  return head;
}

Tensor LMHead::forward(const Tensor& rows) const {
  Tensor logits = Tensor::empty({rows.size(0), weight.size(0)}, DType::F32, rows.device());
  ops::linear(rows, weight, bias, logits);
  if (scale != 1.0f) ops::scale(logits, scale);
  if (softcap > 0.0f) ops::softcap(logits, softcap);
  return logits;
}

}  // namespace vllm
