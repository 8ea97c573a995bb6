// A restricted unpickler for PyTorch checkpoints, with the safety torch.load(weights_only=True)
// gives: it rebuilds tensors (torch._utils._rebuild_tensor_v2, _rebuild_parameter, storages by
// dtype) and plain containers (dict, OrderedDict, list, tuple, str, bytes, int, float, bool,
// None) and refuses every other global with an error naming it, so a pickle can never run code.
// Protocols 2 to 5, the opcodes torch.save and pickle.dump emit for those values.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace vllm::pickle {

struct Value;
using ValuePtr = std::shared_ptr<Value>;

struct Value {
  enum class Kind { None, Bool, Int, Float, String, Bytes, List, Tuple, Dict, Global, Storage, Tensor };
  Kind kind = Kind::None;
  int64_t integer = 0;         // Int, Bool
  double number = 0;           // Float
  std::string text;            // String, Bytes, Global ("module.name"), Storage (its dtype name: "FloatStorage")
  std::vector<ValuePtr> items; // List, Tuple; Dict: key, value, key, value, ...
  // Storage: the archive key (data/<key>) and element count.
  std::string storage_key;
  int64_t storage_numel = 0;
  // Tensor: a view of `storage`.
  ValuePtr storage;
  int64_t storage_offset = 0;  // in elements
  std::vector<int64_t> size, stride;
};

// `bytes` unpickled; `where` names the file in errors. Every failure is an InvalidArgument (a
// refused global: which one, and that only tensors and containers load).
ValuePtr unpickle(std::string_view bytes, const std::string& where);

}  // namespace vllm::pickle
