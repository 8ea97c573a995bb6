// Where a `--model` argument lives on disk: a local folder, or a Hub id found in the local
// Hugging Face cache. This build never downloads.
#pragma once

#include <filesystem>
#include <string>

namespace vllm {

// The Hugging Face hub cache folder: $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE, else
// $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub
// (huggingface_hub's constants.py).
std::filesystem::path hf_hub_cache_dir();

// `model` as an existing local folder; else a Hub id ("org/name" or "name") looked up offline in
// the cache: models--org--name/refs/main -> snapshots/<hash> (or the only snapshot when there is
// no refs/main). Throws NotFound saying the folder does not exist and how to download it.
std::filesystem::path resolve_model_path(const std::string& model);

}  // namespace vllm
