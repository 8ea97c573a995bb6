#include "loader/model_path.h"

#include <cctype>

#include "core/env.h"
#include "core/error.h"
#include "loader/modelscope.h"

namespace vllm {
namespace fs = std::filesystem;

namespace {

// Read at each lookup, not cached (core/env.h).
std::string env_value(const char* name) { return env::get(name).value_or(""); }

}  // namespace

fs::path hf_hub_cache_dir() {
  if (std::string dir = env_value("HF_HUB_CACHE"); !dir.empty()) return dir;
  if (std::string dir = env_value("HUGGINGFACE_HUB_CACHE"); !dir.empty()) return dir;
  return hub::hf_home() / "hub";
}

bool looks_like_hub_id(const std::string& model) {
  if (model.empty() || model.front() == '/' || model.back() == '/' || model.front() == '.') return false;
  int slashes = 0;
  for (char c : model) {
    if (c == '/') ++slashes;
    else if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  }
  return slashes <= 1 && model.find("..") == std::string::npos;
}

fs::path resolve_model_path(const std::string& model, const hub::HubOptions& options) {
  std::error_code ec;
  if (fs::is_directory(model, ec)) return fs::path(model);
  if (fs::exists(model, ec))
    fail(ErrorKind::InvalidArgument, model, ": is a file; --model takes a model folder or a Hub id");
  if (!looks_like_hub_id(model))
    fail(ErrorKind::NotFound, "model '", model, "': folder does not exist (and '", model,
         "' is not a Hub id such as org/name)");
  const std::optional<std::string> modelscope = env::get("VLLM_USE_MODELSCOPE");
  if (modelscope && env::parse_bool(env::variable("VLLM_USE_MODELSCOPE"), *modelscope))
    return hub::modelscope_snapshot_download(model, options);
  return hub::hf_snapshot_download(model, options);
}

}  // namespace vllm
