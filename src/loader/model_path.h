// Where a `--model` argument lives on disk: a local folder, or a Hub id ("org/name") found in the
// local Hugging Face cache or downloaded into it (loader/hub_download.h; ModelScope's when
// VLLM_USE_MODELSCOPE is set).
#pragma once

#include <filesystem>
#include <string>

#include "loader/hub_download.h"

namespace vllm {

// The Hugging Face hub cache folder: $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE, else
// $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub
// (huggingface_hub's constants.py).
std::filesystem::path hf_hub_cache_dir();

// A Hub repository id: "name" or "org/name", made of the characters the Hub allows.
bool looks_like_hub_id(const std::string& model);

// `model` as an existing local folder; else a Hub id: the cached snapshot of the revision when it
// holds config.json and its weights (no request), else downloaded (HF_HUB_OFFLINE=1: the cache
// only). Throws NotFound for a path that does not exist, or the download's one-line errors.
std::filesystem::path resolve_model_path(const std::string& model, const hub::HubOptions& options = {});

}  // namespace vllm
