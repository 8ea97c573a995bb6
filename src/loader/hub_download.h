// Downloads a model repository from the Hugging Face Hub (or ModelScope) into the shared cache,
// as huggingface_hub's snapshot_download does: the revision resolved to a commit through the API,
// only the files loading needs, several at once, interrupted files resumed, every file checked
// against the size and hash the Hub announces. See docs/loading.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace vllm::hub {

struct HubOptions {
  std::string revision;                     // branch, tag or commit; empty: main (ModelScope: master)
  std::filesystem::path cache_dir;          // --download-dir; empty: HF_HUB_CACHE's rules (MODELSCOPE_CACHE)
  std::string token;                        // --hf-token; empty: HF_TOKEN, then the token file
  std::vector<std::string> ignore_patterns; // --ignore-patterns (fnmatch globs on the repo path)
  std::string load_format = "auto";         // auto, safetensors, pt: which weight files to fetch
  // Exactly these files (`hf download REPO FILES...`); `all_files` fetches the whole repository.
  std::vector<std::string> files;
  bool all_files = false;
  // false: config and tokenizer files only (a --tokenizer repository, which may hold no weights).
  bool need_weights = true;
  std::filesystem::path local_dir;          // `hf download --local-dir`: plain files there, no cache
  int max_workers = 8;                      // files fetched at once
  // Ask the Hub even when the cache already holds a usable snapshot of the revision (`hf download`).
  bool check_for_updates = false;
};

// The endpoint, token and offline switch, resolved from options and the environment.
std::string hf_endpoint();                  // HF_ENDPOINT without a trailing '/'
std::string hf_token(const HubOptions& options);  // --hf-token, HF_TOKEN, $HF_TOKEN_PATH or $HF_HOME/token
bool hub_offline();                         // HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE
std::filesystem::path hf_home();            // $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface

// The snapshot folder of `repo_id` at `options.revision`, downloading what is missing (or the
// local_dir when one is given). Offline: the cache only, NotFound when the revision is not in it.
// Errors are one line: not found, gated (naming the licence page), no network, disk full.
std::filesystem::path hf_snapshot_download(const std::string& repo_id, const HubOptions& options);

// Which of a repository's files loading needs (vLLM's weight-file choice): config, generation
// config, tokenizer and processor files at the top level (*.json, *.txt, *.model, *.tiktoken,
// *.jinja) and in sentence-transformers module folders ("1_Pooling/"); then weights: *.safetensors
// (only the shards `index` names when given), else pytorch_model*.bin / *.bin, else *.pt (never
// optimizer, scheduler or training-args pickles); minus `ignore_patterns`. `load_format`
// "safetensors" or "pt" picks only that kind.
std::vector<std::string> metadata_files(const std::vector<std::string>& repo_files,
                                        const std::vector<std::string>& ignore_patterns);
std::vector<std::string> weight_files(const std::vector<std::string>& repo_files, const std::string& load_format,
                                      const std::vector<std::string>& ignore_patterns,
                                      const std::function<std::optional<std::vector<std::string>>(const std::string&)>& index_shards);

// One file fetched to `destination` through `incomplete` (resumed from its size), under a
// flock of `lock`, then checked: `size` when known, and `sha256` (LFS files) or `git_sha1`
// (a git blob id, small files) when given. Shared by the Hub and ModelScope downloads.
struct FileFetch {
  std::string url;
  std::vector<std::string> headers;
  std::string name;                         // for messages and progress: the repo path
  std::filesystem::path destination, incomplete, lock;
  std::optional<uint64_t> size;
  std::string sha256, git_sha1;
};

class DownloadProgress;
void fetch_file(const FileFetch& fetch, DownloadProgress& progress);

// Runs fetch_file over `fetches` on up to `workers` threads, with one progress display (a bar on
// a terminal, a log line per file otherwise). The first error is rethrown once all have stopped.
void fetch_files(const std::vector<FileFetch>& fetches, int workers, const std::string& repo_id);

// The shard files a weight index json (model.safetensors.index.json, pytorch_model.bin.index.json)
// names in its weight_map; nullopt when the file is absent or not an index.
std::optional<std::vector<std::string>> shards_of_index(const std::filesystem::path& index_json);

// A downloaded model folder good enough to load without asking the Hub: config.json and the
// weights (every shard its index names, or some weight file of options.load_format); without
// options.need_weights, config.json or a tokenizer file.
bool snapshot_usable(const std::filesystem::path& folder, const HubOptions& options);

// The free bytes of the file system holding `folder` (its nearest existing parent).
uint64_t free_disk_bytes(const std::filesystem::path& folder);

}  // namespace vllm::hub
