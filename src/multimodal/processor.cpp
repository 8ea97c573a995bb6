#include "multimodal/processor.h"

#include <algorithm>
#include <cstdio>

// Header-only xxhash (libxxhash-dev): no library to link.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "core/error.h"

namespace vllm::mm {

namespace {

std::map<std::string, ProcessorBuilder>& registry() {
  static std::map<std::string, ProcessorBuilder> builders;
  return builders;
}

}  // namespace

std::string hash_hex(const void* bytes, size_t size, const std::string& seed_text) {
  XXH3_state_t state;
  XXH3_128bits_reset(&state);
  XXH3_128bits_update(&state, seed_text.data(), seed_text.size());
  XXH3_128bits_update(&state, bytes, size);
  const XXH128_hash_t hash = XXH3_128bits_digest(&state);
  char out[33];
  std::snprintf(out, sizeof(out), "%016llx%016llx", static_cast<unsigned long long>(hash.high64),
                static_cast<unsigned long long>(hash.low64));
  return out;
}

ProcessorRegistrar::ProcessorRegistrar(const std::string& architecture, ProcessorBuilder build) {
  registry()[architecture] = std::move(build);
}

std::unique_ptr<MultiModalProcessor> make_processor(const nlohmann::json& config, const std::filesystem::path& model_dir,
                                                     const nlohmann::json& kwargs) {
  if (!config.contains("architectures") || !config["architectures"].is_array() || config["architectures"].empty())
    return nullptr;
  auto found = registry().find(config["architectures"][0].get<std::string>());
  if (found == registry().end()) return nullptr;
  return found->second(config, model_dir, kwargs.is_object() ? kwargs : nlohmann::json::object());
}

void check_item_limits(const std::map<std::string, int64_t>& counts, const MultiModalProcessor* processor,
                       const std::map<std::string, int64_t>& limits) {
  for (const auto& [modality, count] : counts) {
    const int64_t supported = processor ? processor->max_items(modality) : 0;
    auto configured = limits.find(modality);
    const int64_t limit = configured == limits.end() ? supported : std::min(supported, configured->second);
    if (count <= limit) continue;
    fail(ErrorKind::InvalidArgument, "At most ", limit, " ", modality, "(s) may be provided in one prompt.",
         count <= supported ? " Set `--limit-mm-per-prompt` to increase this limit." : "");
  }
}

std::vector<int64_t> expand_placeholders(std::vector<int32_t>& prompt, int32_t token, const std::vector<int64_t>& lengths,
                                         const std::string& what) {
  const auto found = static_cast<size_t>(std::count(prompt.begin(), prompt.end(), token));
  VLLM_CHECK(found == lengths.size(), InvalidArgument, "Expected there to be ", lengths.size(), " prompt placeholders (",
             what, ") corresponding to ", lengths.size(), " ", what, " items, but instead found ", found,
             " in the prompt. This is likely because the prompt or chat template does not contain one ", what,
             " placeholder per item.");
  std::vector<int32_t> out;
  std::vector<int64_t> offsets;
  out.reserve(prompt.size());
  size_t item = 0;
  for (int32_t id : prompt) {
    if (id != token) {
      out.push_back(id);
      continue;
    }
    offsets.push_back(static_cast<int64_t>(out.size()));
    out.insert(out.end(), static_cast<size_t>(lengths[item++]), token);
  }
  prompt = std::move(out);
  return offsets;
}

}  // namespace vllm::mm
