// Linear: y = x W^T (+ b). Weights keep the checkpoint dtype; the op widens them in the kernel.
// Two slots for what comes next: how the weight is split over tensor-parallel ranks (vLLM's
// ColumnParallelLinear / RowParallelLinear) and how it is stored (dense floats today; FP8 and
// INT4 formats with their scales plug in at `format`). A model asks for a Linear by its HF name
// and never sees either.
#pragma once

#include "core/tensor.h"
#include "loader/weight_loader.h"

namespace vllm {

// The tensor-parallel split of one Linear. Column: each rank holds a slice of the output rows
// (q/k/v, gate/up); Row: a slice of the input columns, the partial products summed across ranks
// (o, down). With one rank (the only size this build runs) both are the whole weight.
struct TensorParallel {
  enum class Split { None, Column, Row };
  Split split = Split::None;
  int rank = 0;
  int size = 1;
};

// How a Linear's weight is stored. Dense: f32/bf16/f16 as the checkpoint holds it.
enum class WeightFormat { Dense };

struct Linear {
  Tensor weight;  // [out_features, in_features]
  Tensor bias;    // [out_features] f32, or undefined
  WeightFormat format = WeightFormat::Dense;
  TensorParallel parallel;

  // Loaded onto `device` (a GPU: straight from the checkpoint mapping, see WeightLoader::take).
  // Unsupported for a split over more than one rank (not built yet).
  static Linear load(WeightLoader& loader, const std::string& prefix, int64_t in_features,
                     int64_t out_features, bool bias, Device device = Device::cpu(),
                     TensorParallel parallel = {});
  int64_t out_features() const { return weight.size(0); }
  // x [T, in] -> [T, out] in out_dtype: f32, or on CUDA the weight's half type (ops::linear).
  Tensor forward(const Tensor& x, DType out_dtype = DType::F32) const;
  void to(Device device);  // moves the parameters (the model's device)
};

}  // namespace vllm
