#include "loader/weight_loader.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/parallel.h"
#include "ops/elementwise.h"

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

// Replaces the dotted component `component` of `name` (the last one included: DBRX's bare
// experts.w1 parameters) with `replacement`; "" when absent.
std::string replace_component(const std::string& name, const std::string& component,
                              const std::string& replacement) {
  std::string needle = "." + component + ".";
  std::string padded = "." + name + ".";
  size_t at = padded.find(needle);
  if (at == std::string::npos) return "";
  padded.replace(at + 1, component.size(), replacement);
  return padded.substr(1, padded.size() - 2);
}
}  // namespace

namespace {
// dst (on a GPU) = host `src` converted to dst's dtype. A conversion uploads the stored dtype
// and casts on the device, a block of rows at a time so the upload buffer stays small.
void upload_converted(const Tensor& src, Tensor& dst) {
  if (src.dtype() == dst.dtype()) {
    dst.copy_from(src);
    return;
  }
  constexpr size_t kBlockBytes = size_t{64} << 20;
  const int64_t rows = src.dim() == 0 ? 1 : src.size(0);
  const size_t row_bytes = rows > 0 ? src.nbytes() / static_cast<size_t>(rows) : 0;
  const int64_t block = std::max<int64_t>(1, static_cast<int64_t>(kBlockBytes / std::max<size_t>(row_bytes, 1)));
  for (int64_t begin = 0; begin < rows; begin += block) {
    const int64_t end = std::min(rows, begin + block);
    const bool whole = begin == 0 && end == rows;
    Tensor stored = (whole ? src : src.slice(0, begin, end)).to(dst.device());
    Tensor out = whole ? dst : dst.slice(0, begin, end);
    ops::cast(stored, out);
  }
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
  if (by_name_.count(name) || packed_sources(name).has_value()) return true;
  for (const auto& [suffix, parts] : map_.stacked) {  // expert 0's first part present
    if (!ends_with(name, suffix) || parts.empty()) continue;
    std::string part = parts.front();
    if (const size_t at = part.find('$'); at != std::string::npos) part.replace(at, 1, "0");
    if (by_name_.count(name.substr(0, name.size() - suffix.size()) + part)) return true;
  }
  return false;
}

DType WeightLoader::parameter_dtype(DType stored, ParamStorage storage) const {
  if (storage == ParamStorage::Float32 || !is_floating(stored)) return DType::F32;
  return weight_dtype_.value_or(stored);
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

std::optional<std::vector<std::string>> WeightLoader::stacked_sources(const std::string& name,
                                                                  const Shape& shape) const {
  if (shape.size() != 3) return std::nullopt;
  auto expert_name = [](const std::string& prefix, const std::string& pattern, int64_t expert) {
    std::string part = pattern;
    const size_t at = part.find('$');
    if (at != std::string::npos) part.replace(at, 1, std::to_string(expert));
    return prefix + part;
  };
  for (const auto& [suffix, parts] : map_.stacked) {
    if (!ends_with(name, suffix) || parts.empty()) continue;
    const std::string prefix = name.substr(0, name.size() - suffix.size());
    if (!by_name_.count(expert_name(prefix, parts.front(), 0))) continue;
    std::vector<std::string> sources;
    for (int64_t expert = 0; expert < shape[0]; ++expert) {
      for (const std::string& part : parts) {
        std::string source = expert_name(prefix, part, expert);
        VLLM_CHECK(by_name_.count(source), InvalidArgument, checkpoint_->directory().string(), ": expert tensor '",
                   source, "' (expert ", expert, " of ", shape[0], " in '", name, "' of ", architecture_,
                   ") is not in the checkpoint (a missing shard, or a config.json with more experts than the weights?)");
        sources.push_back(source);
      }
    }
    return sources;
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

Tensor WeightLoader::take(const std::string& name, const Shape& shape, ParamStorage storage, Device device) {
  Tensor tensor = take_optional(name, shape, storage, device);
  if (tensor.defined()) return tensor;
  fail(ErrorKind::InvalidArgument, checkpoint_->directory().string(), ": parameter '", name,
       "' of ", architecture_, " ", shape_to_string(shape),
       " is not in the checkpoint (wrong architecture in config.json, or a missing shard?)");
}

Tensor WeightLoader::take_optional(const std::string& name, const Shape& shape, ParamStorage storage,
                                   Device device) {
  if (!checkpoint_) return dummy(shape, storage).to(device);
  std::vector<std::string> sources;  // checkpoint tensors, concatenated along dim 0 when several
  bool stacked = false;              // per-expert sources: the concatenation viewed as `shape`
  if (auto it = by_name_.find(name); it != by_name_.end()) {
    sources.push_back(it->second);
  } else if (auto packed = packed_sources(name)) {
    for (const std::string& source : *packed) sources.push_back(by_name_.at(source));
  } else if (auto experts = stacked_sources(name, shape)) {
    for (const std::string& source : *experts) sources.push_back(by_name_.at(source));
    stacked = true;
  } else {
    return Tensor();
  }
  std::vector<Tensor> parts;  // views of the mapping
  for (const std::string& source : sources) {
    parts.push_back(checkpoint_->get(source));
    consumed_.insert(source);
  }
  const Tensor& first = parts.front();
  Shape stored_shape = first.shape();
  if (parts.size() > 1) {
    int64_t rows = 0;
    for (size_t i = 0; i < parts.size(); ++i) {
      const Tensor& part = parts[i];
      VLLM_CHECK(part.dim() >= 1 && part.dim() == first.dim() && part.dtype() == first.dtype() &&
                     std::equal(part.shape().begin() + 1, part.shape().end(), first.shape().begin() + 1),
                 InvalidArgument, "checkpoint tensor '", sources[i], "' (", dtype_name(part.dtype()), " ",
                 shape_to_string(part.shape()), ") cannot be fused into '", name, "' with '", sources[0], "' (",
                 dtype_name(first.dtype()), " ", shape_to_string(first.shape()), ")");
      rows += part.size(0);
    }
    stored_shape[0] = rows;
  }
  // The [E * rows, cols] concatenation of per-expert tensors as [E, rows, cols].
  const Shape flat_shape = stored_shape;
  if (stacked && stored_shape.size() == 2 && stored_shape[0] % shape[0] == 0)
    stored_shape = {shape[0], stored_shape[0] / shape[0], stored_shape[1]};
  const DType stored = first.dtype();
  const DType dtype = parameter_dtype(stored, storage);
  bool transformed = false;
  for (const auto& [suffix, fix] : map_.transforms) transformed = transformed || ends_with(name, suffix);
  auto check_shape = [&](const Shape& loaded) {
    VLLM_CHECK(loaded == shape, InvalidArgument, checkpoint_->directory().string(), ": tensor '", name,
               "' has shape ", shape_to_string(loaded), " but ", architecture_,
               " with this config.json expects ", shape_to_string(shape));
  };
  // Straight onto the GPU; the transforms rewrite host tensors, and integer tensors are not
  // converted there (the host conversion names the dtype it cannot convert).
  if (device.is_cuda() && !transformed && is_floating(stored)) {
    check_shape(stored_shape);
    Tensor tensor = Tensor::empty(stored_shape, dtype, device);
    Tensor flat = tensor.view(flat_shape);
    if (parts.size() == 1) {
      upload_converted(first, flat);
    } else {
      int64_t row = 0;
      for (const Tensor& part : parts) {
        Tensor rows = flat.slice(0, row, row + part.size(0));
        upload_converted(part, rows);
        row += part.size(0);
      }
    }
    return tensor;
  }
  Tensor tensor;
  if (parts.size() == 1) {
    tensor = first.to(dtype);  // the mapping itself when kept as stored
  } else {
    tensor = Tensor::empty(flat_shape, dtype);
    int64_t row = 0;
    for (const Tensor& part : parts) {
      Tensor rows = tensor.slice(0, row, row + part.size(0));
      if (part.dtype() == dtype)
        rows.copy_from(part);
      else
        ops::cast(part.contiguous(), rows);
      row += part.size(0);
    }
  }
  if (stored_shape != flat_shape) tensor = tensor.contiguous().view(stored_shape);
  for (const auto& [suffix, fix] : map_.transforms)
    if (ends_with(name, suffix)) tensor = fix(tensor);
  check_shape(tensor.shape());
  return tensor.to(device);
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
