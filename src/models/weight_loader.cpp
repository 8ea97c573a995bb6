#include "models/weight_loader.h"

#include <cstring>

#include "core/error.h"
#include "core/parallel.h"

namespace vllm {

namespace {
bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string apply_renames(std::string name, const WeightMap& map) {
  for (const auto& [from, to] : map.renames) {
    if (!from.empty() && from[0] == '^') {
      if (name.compare(0, from.size() - 1, from, 1) == 0) name.replace(0, from.size() - 1, to);
      continue;
    }
    for (size_t at = name.find(from); at != std::string::npos; at = name.find(from, at + to.size()))
      name.replace(at, from.size(), to);
  }
  return name;
}

// Replaces the dotted component `component` of `name` with `replacement`; "" when absent.
std::string replace_component(const std::string& name, const std::string& component,
                              const std::string& replacement) {
  std::string needle = "." + component + ".";
  std::string padded = "." + name;
  size_t at = padded.find(needle);
  if (at == std::string::npos) return "";
  padded.replace(at + 1, component.size(), replacement);
  return padded.substr(1);
}
}  // namespace

Tensor deinterleave_qkv(const Tensor& tensor, int64_t kv_heads, int64_t q_per_kv, int64_t head_dim) {
  Tensor source = tensor.contiguous();
  int64_t groups = q_per_kv + 2;
  VLLM_CHECK(source.dim() >= 1 && source.size(0) == kv_heads * groups * head_dim, InvalidArgument,
             "fused qkv tensor of shape ", shape_to_string(source.shape()), " is not [", kv_heads, " x ",
             groups, " x ", head_dim, ", ...]");
  size_t row_bytes = source.nbytes() / static_cast<size_t>(source.size(0));
  size_t block = row_bytes * static_cast<size_t>(head_dim);
  Tensor out = Tensor::empty(source.shape(), source.dtype());
  const char* in = static_cast<const char*>(source.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  auto copy = [&](int64_t g, int64_t slot) {
    std::memcpy(dst, in + static_cast<size_t>(g * groups + slot) * block, block);
    dst += block;
  };
  for (int64_t g = 0; g < kv_heads; ++g)
    for (int64_t j = 0; j < q_per_kv; ++j) copy(g, j);
  for (int64_t g = 0; g < kv_heads; ++g) copy(g, q_per_kv);
  for (int64_t g = 0; g < kv_heads; ++g) copy(g, q_per_kv + 1);
  return out;
}

Tensor transpose_2d(const Tensor& tensor) {
  VLLM_CHECK(tensor.dim() == 2, InvalidArgument, "expected a 2-D tensor to transpose, got ",
             shape_to_string(tensor.shape()));
  return tensor.transpose(0, 1).contiguous();
}

WeightLoader::WeightLoader(const Checkpoint& checkpoint, WeightMap map, std::string architecture)
    : checkpoint_(&checkpoint), map_(std::move(map)), architecture_(std::move(architecture)) {
  for (const std::string& name : checkpoint.names()) {
    std::string renamed = apply_renames(name, map_);
    auto [it, inserted] = by_name_.emplace(renamed, name);
    VLLM_CHECK(inserted, InvalidArgument, checkpoint.directory().string(), ": tensors '", it->second,
               "' and '", name, "' both map to parameter '", renamed, "'");
  }
}

WeightLoader::WeightLoader(uint64_t seed, DType dtype, std::string architecture)
    : architecture_(std::move(architecture)), random_(seed), dummy_dtype_(dtype) {}

bool WeightLoader::has(const std::string& name) const {
  if (!checkpoint_) return true;
  return by_name_.count(name) || packed_sources(name).has_value();
}

Tensor WeightLoader::load(const std::string& checkpoint_name, ParamStorage storage) const {
  Tensor tensor = checkpoint_->get(checkpoint_name);
  if (storage == ParamStorage::Float32 || !is_floating(tensor.dtype())) return tensor.to(DType::F32);
  if (weight_dtype_ && tensor.dtype() != *weight_dtype_) return tensor.to(*weight_dtype_);
  return tensor;
}

void WeightLoader::set_weight_dtype(std::optional<DType> dtype) {
  weight_dtype_ = dtype;
  if (dtype) dummy_dtype_ = *dtype;
}

std::optional<std::vector<std::string>> WeightLoader::packed_sources(const std::string& name) const {
  for (const auto& [fused, parts] : map_.packed) {
    std::vector<std::string> sources;
    for (const std::string& part : parts) {
      std::string source = replace_component(name, fused, part);
      if (source.empty() || !by_name_.count(source)) break;
      sources.push_back(source);
    }
    if (!sources.empty() && sources.size() == parts.size()) return sources;
  }
  return std::nullopt;
}

Tensor WeightLoader::dummy(const Shape& shape, ParamStorage storage) {
  DType dtype = storage == ParamStorage::Float32 ? DType::F32 : dummy_dtype_;
  // Counter-based (splitmix64 of the tensor's seed and the element index), so billions of
  // values fill in parallel and the same seed gives the same weights.
  const uint64_t tensor_seed = random_();
  Tensor tensor = Tensor::empty(shape, dtype);
  void* data = tensor.raw_data();
  parallel_for(tensor.numel(), 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      uint64_t z = tensor_seed + 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(i + 1);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      z ^= z >> 31;
      const float unit = static_cast<float>(z >> 40) * (1.0f / 16777216.0f);  // [0, 1)
      const float value = (unit * 2.0f - 1.0f) * 1e-3f;
      switch (dtype) {
        case DType::BF16: static_cast<uint16_t*>(data)[i] = float_to_bf16(value); break;
        case DType::F16: static_cast<uint16_t*>(data)[i] = float_to_f16(value); break;
        default: static_cast<float*>(data)[i] = value; break;
      }
    }
  });
  return tensor;
}

Tensor WeightLoader::take(const std::string& name, const Shape& shape, ParamStorage storage) {
  Tensor tensor = take_optional(name, shape, storage);
  if (tensor.defined()) return tensor;
  fail(ErrorKind::InvalidArgument, checkpoint_->directory().string(), ": parameter '", name,
       "' of ", architecture_, " ", shape_to_string(shape),
       " is not in the checkpoint (wrong architecture in config.json, or a missing shard?)");
}

Tensor WeightLoader::take_optional(const std::string& name, const Shape& shape, ParamStorage storage) {
  if (!checkpoint_) return dummy(shape, storage);
  Tensor tensor;
  auto it = by_name_.find(name);
  if (it != by_name_.end()) {
    tensor = load(it->second, storage);
    consumed_.insert(it->second);
  } else if (auto sources = packed_sources(name)) {
    std::vector<Tensor> parts;
    int64_t rows = 0;
    for (const std::string& source : *sources) {
      parts.push_back(load(by_name_.at(source), storage));
      consumed_.insert(by_name_.at(source));
      VLLM_CHECK(parts.back().dim() >= 1 && parts.back().dtype() == parts.front().dtype(),
                 InvalidArgument, "checkpoint tensor '", by_name_.at(source), "' cannot be fused into '",
                 name, "'");
      rows += parts.back().size(0);
    }
    Shape fused_shape = parts.front().shape();
    fused_shape[0] = rows;
    tensor = Tensor::empty(fused_shape, parts.front().dtype());
    char* out = static_cast<char*>(tensor.raw_data());
    for (const Tensor& part : parts) {
      Tensor packed = part.contiguous();
      std::memcpy(out, packed.raw_data(), packed.nbytes());
      out += packed.nbytes();
    }
  } else {
    return Tensor();
  }
  for (const auto& [suffix, fix] : map_.transforms)
    if (ends_with(name, suffix)) tensor = fix(tensor);
  VLLM_CHECK(tensor.shape() == shape, InvalidArgument, checkpoint_->directory().string(), ": tensor '",
             name, "' has shape ", shape_to_string(tensor.shape()), " but ", architecture_,
             " with this config.json expects ", shape_to_string(shape));
  return tensor;
}

void WeightLoader::skip(const std::string& name) {
  if (!checkpoint_) return;
  auto it = by_name_.find(name);
  if (it != by_name_.end()) consumed_.insert(it->second);
}

void WeightLoader::finish() const {
  if (!checkpoint_) return;
  std::vector<std::string> unused;
  for (const std::string& name : checkpoint_->names()) {
    if (consumed_.count(name)) continue;
    bool ignored = false;
    for (const std::string& suffix : map_.ignored_suffixes) ignored = ignored || ends_with(name, suffix);
    for (const std::string& prefix : map_.ignored_prefixes) ignored = ignored || name.rfind(prefix, 0) == 0;
    if (!ignored) unused.push_back(name);
  }
  if (unused.empty()) return;
  std::string listed;
  for (size_t i = 0; i < unused.size() && i < 5; ++i) listed += (i ? ", '" : "'") + unused[i] + "'";
  if (unused.size() > 5) listed += str(" and ", unused.size() - 5, " more");
  fail(ErrorKind::InvalidArgument, checkpoint_->directory().string(), ": checkpoint tensor ", listed,
       " is not used by ", architecture_,
       " (unexpected weight: wrong architecture in config.json, or a config that does not match the weights?)");
}

}  // namespace vllm
