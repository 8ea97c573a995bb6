// ModelScope downloads (VLLM_USE_MODELSCOPE=true), into ModelScope's own cache layout:
//   $MODELSCOPE_CACHE/models/<org>/<name>/<file>   plain files ("." in a name spelled "___", as
//                                                  modelscope >= 1.14 does), no blobs or symlinks
// through its API: GET /api/v1/models/<id>/repo/files?Revision=&Recursive=True for the list
// (with each file's Size and Sha256), GET /api/v1/models/<id>/repo?Revision=&FilePath= for a file.
#pragma once

#include <filesystem>
#include <string>

#include "loader/hub_download.h"

namespace vllm::hub {

std::string modelscope_endpoint();         // MODELSCOPE_DOMAIN as a URL, default https://www.modelscope.cn
std::filesystem::path modelscope_cache();  // MODELSCOPE_CACHE, else ~/.cache/modelscope/hub
// The folder of `model_id` in the cache (or `options.cache_dir`).
std::filesystem::path modelscope_model_dir(const std::string& model_id, const HubOptions& options);

// The model folder of `model_id` at `options.revision` (default master), downloading what is
// missing; the same file choice, resume, hash checks, locks and offline rules as the Hub.
std::filesystem::path modelscope_snapshot_download(const std::string& model_id, const HubOptions& options);

}  // namespace vllm::hub
