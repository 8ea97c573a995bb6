// PyTorch checkpoints (pytorch_model*.bin, *.pt, *.pth) as written by torch.save since PyTorch
// 1.6: a zip archive (loader/zip_archive.h) holding data.pkl, a pickle of the state dict whose
// tensors point at storages data/<key>, read by the restricted unpickler (loader/pickle.h), so a
// checkpoint can never run code. Tensors are views of the mapped archive where their layout
// allows (contiguous, aligned), copies otherwise.
//
// What the pickle may hold: a state dict (dict or OrderedDict of name -> tensor, nested dicts
// joined with '.'), or a training checkpoint wrapping one under "model", "state_dict",
// "model_state_dict" or "module" (fairseq2's model.pt keeps it under "model"); other entries
// of a wrapper (step counts, configs made of plain values) are ignored.
#pragma once

#include <filesystem>
#include <memory>

#include "loader/safetensors.h"

namespace vllm {

// Opens and indexes `path`. InvalidArgument: not a zip (the pre-1.6 legacy format is named as
// such), a refused global, a storage shorter than its tensors; Unsupported: a dtype core has no
// counterpart for (complex, int8, int16, float8).
std::shared_ptr<TensorFile> open_torch_checkpoint(const std::filesystem::path& path);

}  // namespace vllm
