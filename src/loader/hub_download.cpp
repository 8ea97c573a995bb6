#include "loader/hub_download.h"

#include <fnmatch.h>
#include <openssl/evp.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

#include "core/env.h"
#include "core/error.h"
#include "core/logging.h"
#include "loader/hub_cache.h"
#include "loader/hub_http.h"
#include "loader/hub_progress.h"
#include "loader/model_path.h"

namespace vllm::hub {
namespace fs = std::filesystem;

namespace {

bool env_flag(const char* name) {
  std::optional<std::string> value = env::get(name);
  return value && env::parse_bool(env::variable(name), *value);
}

std::string trimmed(std::string text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  size_t start = 0;
  while (start < text.size() && std::isspace(static_cast<unsigned char>(text[start]))) ++start;
  return text.substr(start);
}

bool matches_any(const std::string& path, const std::vector<std::string>& patterns) {
  for (const std::string& pattern : patterns)
    if (::fnmatch(pattern.c_str(), path.c_str(), 0) == 0) return true;
  return false;
}

bool has_suffix(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// ETag spellings: W/"abc" and "abc" are abc (huggingface_hub's _normalize_etag).
std::string normalize_etag(std::string etag) {
  if (etag.rfind("W/", 0) == 0) etag = etag.substr(2);
  etag.erase(std::remove(etag.begin(), etag.end(), '"'), etag.end());
  return etag;
}

std::string hex_digest(const EVP_MD* algorithm, const fs::path& file, const std::string& prefix) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(context.get(), algorithm, nullptr);
  EVP_DigestUpdate(context.get(), prefix.data(), prefix.size());
  std::ifstream in(file, std::ios::binary);
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    if (in.gcount() > 0) EVP_DigestUpdate(context.get(), buffer.data(), static_cast<size_t>(in.gcount()));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(context.get(), digest, &length);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

bool is_weight(const std::string& file) {
  for (const char* extension : {".safetensors", ".bin", ".pt", ".pth", ".gguf", ".onnx", ".msgpack", ".h5", ".ckpt"})
    if (has_suffix(file, extension)) return true;
  return false;
}

// PyTorch pickles that hold no model weights (vLLM skips them too).
bool is_training_state(const std::string& file) {
  const std::string name = fs::path(file).filename().string();
  return name == "training_args.bin" || name.rfind("optimizer", 0) == 0 || name.rfind("scheduler", 0) == 0 ||
         name.rfind("scaler", 0) == 0 || name.rfind("rng_state", 0) == 0;
}

// A sentence-transformers module folder ("1_Pooling", "2_Dense").
bool in_module_folder(const std::string& file) {
  static const std::regex module("^[0-9]+_[A-Za-z]+/[^/]+$");
  return std::regex_match(file, module);
}

bool top_level(const std::string& file) { return file.find('/') == std::string::npos; }

std::vector<std::string> auth_headers(const std::string& token) {
  std::vector<std::string> headers = {"Accept-Encoding: identity"};
  if (!token.empty()) headers.push_back("Authorization: Bearer " + token);
  return headers;
}

// One line for a failed Hub answer, by its X-Error-Code (huggingface_hub's hf_raise_for_status).
[[noreturn]] void fail_hub_response(const HttpResponse& response, const std::string& repo_id,
                                    const std::string& revision, const std::string& file) {
  const std::string endpoint = hf_endpoint();
  if (response.status == 0)
    fail(ErrorKind::Unavailable, "cannot reach ", endpoint, " to download '", repo_id, "' (",
         response.transport_error, "); check the network or HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use the cache only");
  const std::string code = response.header("x-error-code");
  if (code == "GatedRepo" || ((response.status == 401 || response.status == 403) && code != "RepoNotFound"))
    fail(ErrorKind::InvalidArgument, "model '", repo_id, "' is gated or private (HTTP ", response.status,
         "): accept its licence at ", endpoint, "/", repo_id,
         " and pass a token that has access (--hf-token, HF_TOKEN or `hf auth login`)");
  if (code == "RevisionNotFound")
    fail(ErrorKind::NotFound, "model '", repo_id, "': revision '", revision, "' not found on ", endpoint);
  if (code == "EntryNotFound" || (response.status == 404 && !file.empty() && code != "RepoNotFound"))
    fail(ErrorKind::NotFound, "model '", repo_id, "': file '", file, "' not found at revision '", revision, "'");
  if (code == "RepoNotFound" || response.status == 404)
    fail(ErrorKind::NotFound, "model '", repo_id, "' not found on ", endpoint,
         " (no such repository, or a private one: pass --hf-token or set HF_TOKEN)");
  std::string detail = response.header("x-error-message");
  if (detail.empty()) detail = response.body.substr(0, 200);
  fail(ErrorKind::Unavailable, "model '", repo_id, "': HTTP ", response.status, " from ", response.url,
       detail.empty() ? "" : ": ", trimmed(detail));
}

}  // namespace

// The shard list of a weight index json (model.safetensors.index.json, pytorch_model.bin.index.json).
std::optional<std::vector<std::string>> shards_of_index(const fs::path& index) {
  std::error_code ec;
  if (!fs::is_regular_file(index, ec)) return std::nullopt;
  std::ifstream in(index);
  nlohmann::json json = nlohmann::json::parse(in, nullptr, false);
  if (!json.is_object() || !json.contains("weight_map") || !json["weight_map"].is_object()) return std::nullopt;
  std::set<std::string> shards;
  for (const auto& [name, shard] : json["weight_map"].items())
    if (shard.is_string()) shards.insert(shard.get<std::string>());
  return std::vector<std::string>(shards.begin(), shards.end());
}

bool snapshot_usable(const fs::path& snapshot, const HubOptions& options) {
  std::error_code ec;
  if (!options.need_weights)
    return fs::exists(snapshot / "config.json", ec) || fs::exists(snapshot / "tokenizer_config.json", ec) ||
           fs::exists(snapshot / "tokenizer.json", ec);
  if (!fs::exists(snapshot / "config.json", ec)) return false;
  for (const char* index : {"model.safetensors.index.json", "pytorch_model.bin.index.json"}) {
    if (auto shards = shards_of_index(snapshot / index)) {
      return std::all_of(shards->begin(), shards->end(),
                         [&](const std::string& shard) { return fs::exists(snapshot / shard, ec); });
    }
  }
  std::vector<std::string> present;
  for (const auto& item : fs::directory_iterator(snapshot, ec))
    if (fs::exists(item.path(), ec)) present.push_back(item.path().filename().string());
  return !weight_files(present, options.load_format, {}, [](const std::string&) { return std::nullopt; }).empty();
}

namespace {

// A file of the repository to bring into the cache (or local_dir) at `commit`.
struct Planned {
  std::string file;
  std::string etag;
  FileFetch fetch;
  bool needs_transfer = true;
};

class HubSnapshot {
 public:
  HubSnapshot(std::string repo_id, const HubOptions& options)
      : repo_id_(std::move(repo_id)), options_(options), endpoint_(hf_endpoint()), token_(hf_token(options)),
        cache_(options.cache_dir.empty() ? hf_hub_cache_dir() : options.cache_dir),
        repo_dir_(cache_ / repo_folder_name(repo_id_)),
        revision_(options.revision.empty() ? "main" : options.revision) {}

  fs::path run() {
    const std::optional<fs::path> cached = options_.local_dir.empty() ? cached_snapshot(repo_dir_, revision_) : std::nullopt;
    if (hub_offline()) return offline(cached);
    if (cached && options_.files.empty() && !options_.all_files && !options_.check_for_updates &&
        snapshot_usable(*cached, options_))
      return *cached;

    const std::string url = endpoint_ + "/api/models/" + repo_id_ + "/revision/" + url_escape(revision_, false);
    HttpResponse info = http_get(url, auth_headers(token_));
    if (info.status == 0 && cached) {
      log_warning("cannot reach ", endpoint_, " (", info.transport_error, "); using the cached snapshot ",
                  cached->string());
      return *cached;
    }
    if (info.status != 200) fail_hub_response(info, repo_id_, revision_, "");
    nlohmann::json json = nlohmann::json::parse(info.body, nullptr, false);
    if (!json.is_object() || !json.contains("sha") || !json["sha"].is_string())
      fail(ErrorKind::Unavailable, url, ": answer has no commit \"sha\" (not a Hugging Face Hub API?)");
    commit_ = json["sha"].get<std::string>();
    std::vector<std::string> repo_files;
    if (json.contains("siblings") && json["siblings"].is_array())
      for (const auto& sibling : json["siblings"])
        if (sibling.contains("rfilename") && sibling["rfilename"].is_string())
          repo_files.push_back(sibling["rfilename"].get<std::string>());
    if (options_.local_dir.empty()) {
      fs::create_directories(repo_dir_ / "snapshots" / commit_);
      write_ref(repo_dir_, revision_, commit_);
    }

    if (!options_.files.empty()) {
      for (const std::string& file : options_.files)
        if (std::find(repo_files.begin(), repo_files.end(), file) == repo_files.end())
          fail(ErrorKind::NotFound, "model '", repo_id_, "': file '", file, "' not found at revision '", revision_, "'");
      fetch(options_.files);
    } else if (options_.all_files) {
      std::vector<std::string> kept;
      for (const std::string& file : repo_files)
        if (!matches_any(file, options_.ignore_patterns)) kept.push_back(file);
      fetch(kept);
    } else {
      fetch(metadata_files(repo_files, options_.ignore_patterns));
      if (!options_.need_weights) return folder();
      std::vector<std::string> weights =
          weight_files(repo_files, options_.load_format, options_.ignore_patterns,
                       [&](const std::string& index) { return shards_of_index(folder() / index); });
      if (weights.empty())
        fail(ErrorKind::NotFound, "model '", repo_id_, "' at revision '", revision_, "' has no ",
             options_.load_format == "auto" ? "*.safetensors, *.bin or *.pt" : options_.load_format,
             " weight files to load", options_.ignore_patterns.empty() ? "" : " (after --ignore-patterns)");
      fetch(weights);
    }
    return folder();
  }

 private:
  fs::path folder() const { return options_.local_dir.empty() ? repo_dir_ / "snapshots" / commit_ : options_.local_dir; }

  fs::path offline(const std::optional<fs::path>& cached) const {
    if (!options_.local_dir.empty()) {
      std::error_code ec;
      if (fs::is_directory(options_.local_dir, ec)) return options_.local_dir;
      fail(ErrorKind::NotFound, "HF_HUB_OFFLINE is set and ", options_.local_dir.string(), " does not exist");
    }
    if (!cached)
      fail(ErrorKind::NotFound, "model '", repo_id_, "' revision '", revision_,
           "' is not in the Hugging Face cache ", repo_dir_.string(),
           " and HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) forbids downloading it; unset it or download it first");
    for (const std::string& file : options_.files)
      if (!fs::exists(*cached / file))
        fail(ErrorKind::NotFound, "model '", repo_id_, "': file '", file, "' is not in the cached snapshot ",
             cached->string(), " and HF_HUB_OFFLINE forbids downloading it");
    return *cached;
  }

  // HEAD each file for its blob id and size, then transfer the missing ones side by side.
  void fetch(const std::vector<std::string>& files) {
    std::vector<Planned> planned;
    for (const std::string& file : files)
      if (auto item = plan(file)) planned.push_back(std::move(*item));
    std::vector<FileFetch> transfers;
    uint64_t needed = 0;
    for (const Planned& item : planned)
      if (item.needs_transfer) {
        transfers.push_back(item.fetch);
        std::error_code ec;
        uint64_t partial = fs::exists(item.fetch.incomplete, ec) ? fs::file_size(item.fetch.incomplete, ec) : 0;
        if (item.fetch.size && *item.fetch.size > partial) needed += *item.fetch.size - partial;
      }
    if (!transfers.empty()) {
      const fs::path where = options_.local_dir.empty() ? repo_dir_ : options_.local_dir;
      const uint64_t free = free_disk_bytes(where);
      if (needed > free)
        fail(ErrorKind::Unavailable, "not enough disk space to download '", repo_id_, "': ", format_size(needed),
             "B needed, ", format_size(free), "B free at ", where.string(),
             " (free some space, e.g. `vllm-cpp hf delete-cache`, or pass --download-dir)");
    }
    fetch_files(transfers, options_.max_workers, repo_id_);
    for (const Planned& item : planned) finish(item);
  }

  std::optional<Planned> plan(const std::string& file) {
    std::error_code ec;
    const fs::path local_meta = options_.local_dir / ".cache" / "huggingface" / "download" / (file + ".metadata");
    if (options_.local_dir.empty()) {
      if (fs::exists(repo_dir_ / "snapshots" / commit_ / file, ec)) return std::nullopt;  // a commit's file never changes
    }
    const std::string url = endpoint_ + "/" + repo_id_ + "/resolve/" + commit_ + "/" + url_escape(file, true);
    HttpResponse head = http_head(url, auth_headers(token_));
    if (head.status >= 400 || head.status == 0) fail_hub_response(head, repo_id_, revision_, file);
    Planned item;
    item.file = file;
    const std::string linked = head.header("x-linked-etag");
    item.etag = normalize_etag(linked.empty() ? head.header("etag") : linked);
    if (item.etag.empty() || item.etag.find('/') != std::string::npos || item.etag.find("..") != std::string::npos)
      fail(ErrorKind::Unavailable, url, ": the Hub sent no usable ETag for '", file, "'");
    const std::string size_text = head.header("x-linked-size").empty() ? head.header("content-length")
                                                                       : head.header("x-linked-size");
    if (!size_text.empty()) item.fetch.size = std::stoull(size_text);
    item.fetch.url = url;
    item.fetch.headers = auth_headers(token_);
    item.fetch.name = file;
    if (!linked.empty()) item.fetch.sha256 = item.etag;
    else if (is_commit_hash(item.etag)) item.fetch.git_sha1 = item.etag;
    if (options_.local_dir.empty()) {
      item.fetch.destination = repo_dir_ / "blobs" / item.etag;
      item.fetch.incomplete = repo_dir_ / "blobs" / (item.etag + ".incomplete");
      item.fetch.lock = cache_ / ".locks" / repo_folder_name(repo_id_) / (item.etag + ".lock");
      item.needs_transfer = !fs::exists(item.fetch.destination, ec);
    } else {
      const fs::path meta_dir = local_meta.parent_path();
      item.fetch.destination = options_.local_dir / file;
      item.fetch.incomplete = meta_dir / (fs::path(file).filename().string() + "." + item.etag + ".incomplete");
      item.fetch.lock = meta_dir / (fs::path(file).filename().string() + ".lock");
      // huggingface_hub's local-dir metadata: commit, etag, timestamp, one per line.
      std::ifstream meta(local_meta);
      std::string commit, etag;
      std::getline(meta, commit);
      std::getline(meta, etag);
      item.needs_transfer = !(fs::exists(item.fetch.destination, ec) && etag == item.etag);
      if (item.needs_transfer) fs::remove(item.fetch.destination, ec);
    }
    return item;
  }

  void finish(const Planned& item) const {
    if (options_.local_dir.empty()) {
      link_snapshot_file(repo_dir_, commit_, item.file, item.etag);
      return;
    }
    const fs::path meta = options_.local_dir / ".cache" / "huggingface" / "download" / (item.file + ".metadata");
    fs::create_directories(meta.parent_path());
    std::ofstream out(meta, std::ios::trunc);
    out << commit_ << "\n" << item.etag << "\n" << std::time(nullptr) << "\n";
  }

  const std::string repo_id_;
  const HubOptions& options_;
  const std::string endpoint_, token_;
  const fs::path cache_, repo_dir_;
  const std::string revision_;
  std::string commit_;
};

}  // namespace

std::string hf_endpoint() {
  std::string endpoint = env::get("HF_ENDPOINT").value_or("https://huggingface.co");
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  return endpoint;
}

fs::path hf_home() {
  if (auto home = env::get("HF_HOME")) return *home;
  if (auto xdg = env::get("XDG_CACHE_HOME")) return fs::path(*xdg) / "huggingface";
  return fs::path(env::get("HOME").value_or("")) / ".cache" / "huggingface";
}

std::string hf_token(const HubOptions& options) {
  if (!options.token.empty()) return options.token;
  if (auto token = env::get("HF_TOKEN")) return trimmed(*token);
  const fs::path file = env::get("HF_TOKEN_PATH").value_or((hf_home() / "token").string());
  std::ifstream in(file);
  std::string token;
  std::getline(in, token);
  return trimmed(token);
}

bool hub_offline() { return env_flag("HF_HUB_OFFLINE") || env_flag("TRANSFORMERS_OFFLINE"); }

fs::path hf_snapshot_download(const std::string& repo_id, const HubOptions& options) {
  return HubSnapshot(repo_id, options).run();
}

std::vector<std::string> metadata_files(const std::vector<std::string>& repo_files,
                                        const std::vector<std::string>& ignore_patterns) {
  std::vector<std::string> out;
  for (const std::string& file : repo_files) {
    if (matches_any(file, ignore_patterns) || is_weight(file)) continue;
    bool wanted = false;
    for (const char* extension : {".json", ".txt", ".model", ".tiktoken", ".jinja"})
      wanted = wanted || has_suffix(file, extension);
    if (wanted && (top_level(file) || in_module_folder(file))) out.push_back(file);
  }
  return out;
}

std::vector<std::string> weight_files(
    const std::vector<std::string>& repo_files, const std::string& load_format,
    const std::vector<std::string>& ignore_patterns,
    const std::function<std::optional<std::vector<std::string>>(const std::string&)>& index_shards) {
  auto pick = [&](const std::vector<std::string>& extensions, const std::string& index) {
    std::vector<std::string> found;
    for (const std::string& file : repo_files) {
      if (matches_any(file, ignore_patterns) || is_training_state(file)) continue;
      if (!top_level(file) && !in_module_folder(file)) continue;
      for (const std::string& extension : extensions)
        if (has_suffix(file, extension)) found.push_back(file);
    }
    // With an index, only the shards it names (vLLM's filter_duplicate_safetensors_files), plus
    // the weights of module folders.
    if (std::optional<std::vector<std::string>> shards = index_shards(index)) {
      std::vector<std::string> kept;
      for (const std::string& file : found)
        if (!top_level(file) || std::find(shards->begin(), shards->end(), file) != shards->end()) kept.push_back(file);
      found = kept;
    }
    return found;
  };
  if (load_format == "auto" || load_format == "safetensors") {
    std::vector<std::string> found = pick({".safetensors"}, "model.safetensors.index.json");
    if (!found.empty() || load_format == "safetensors") return found;
  }
  std::vector<std::string> found = pick({".bin"}, "pytorch_model.bin.index.json");
  if (!found.empty()) return found;
  return pick({".pt", ".pth"}, "");
}

uint64_t free_disk_bytes(const fs::path& folder) {
  fs::path probe = folder;
  std::error_code ec;
  while (!probe.empty() && !fs::exists(probe, ec)) probe = probe.parent_path();
  struct statvfs info {};
  if (::statvfs(probe.empty() ? "." : probe.c_str(), &info) != 0) return UINT64_MAX;
  return static_cast<uint64_t>(info.f_bavail) * info.f_frsize;
}

void fetch_file(const FileFetch& fetch, DownloadProgress& progress) {
  FileLock lock(fetch.lock);
  std::error_code ec;
  if (fs::exists(fetch.destination, ec)) {  // another process finished it while we waited
    progress.skip(fetch.name, fetch.size.value_or(0));
    return;
  }
  fs::create_directories(fetch.incomplete.parent_path());
  fs::create_directories(fetch.destination.parent_path());
  uint64_t offset = fs::exists(fetch.incomplete, ec) ? fs::file_size(fetch.incomplete, ec) : 0;
  if (fetch.size && offset > *fetch.size) {
    fs::remove(fetch.incomplete, ec);
    offset = 0;
  }
  progress.start(fetch.name, fetch.size.value_or(0), offset);
  // A transfer cut short resumes from what arrived, a few times, before giving up.
  for (int attempt = 0; !(fetch.size && offset == *fetch.size); ++attempt) {
    DownloadResult result = http_download(fetch.url, fetch.headers, fetch.incomplete, offset,
                                          [&](uint64_t bytes) { progress.add(bytes); });
    if (result.write_errno == ENOSPC || result.write_errno == EDQUOT)
      fail(ErrorKind::Unavailable, "disk full while writing ", fetch.incomplete.string(), " (", std::strerror(result.write_errno),
           "; ", format_size(free_disk_bytes(fetch.incomplete.parent_path())),
           "B free); free some space and run again to resume");
    if (result.write_errno != 0)
      fail(ErrorKind::Unavailable, "cannot write ", fetch.incomplete.string(), " (", std::strerror(result.write_errno), ")");
    const long status = result.response.status;
    if (status == 416) {  // the partial file no longer fits the remote one: start over
      fs::remove(fetch.incomplete, ec);
      offset = 0;
      continue;
    }
    if (status != 200 && status != 206 && status != 0)
      fail(ErrorKind::Unavailable, "'", fetch.name, "': HTTP ", status, " from ", result.response.url, ": ",
           trimmed(result.response.body.substr(0, 200)));
    const uint64_t now = fs::exists(fetch.incomplete, ec) ? fs::file_size(fetch.incomplete, ec) : 0;
    const bool complete = result.response.transport_error.empty() && (!fetch.size || now == *fetch.size);
    if (complete) break;
    if (attempt >= 4 || now <= offset)
      fail(ErrorKind::Unavailable, "download of '", fetch.name, "' stopped at ", now, fetch.size ? " of " : "",
           fetch.size ? std::to_string(*fetch.size) : "", " bytes (",
           result.response.transport_error.empty() ? "short body" : result.response.transport_error,
           "); run again to resume from ", fetch.incomplete.string());
    log_info("'", fetch.name, "': transfer interrupted at ", now, " bytes (", result.response.transport_error,
             "); resuming");
    offset = now;
  }
  const uint64_t got = fs::file_size(fetch.incomplete);
  if (fetch.size && got != *fetch.size)
    fail(ErrorKind::Unavailable, "'", fetch.name, "': downloaded ", got, " bytes, the Hub announced ", *fetch.size);
  if (!fetch.sha256.empty() || !fetch.git_sha1.empty()) {
    const bool lfs = !fetch.sha256.empty();
    const std::string actual = lfs ? hex_digest(EVP_sha256(), fetch.incomplete, "")
                                   : hex_digest(EVP_sha1(), fetch.incomplete, "blob " + std::to_string(got) + '\0');
    const std::string& expected = lfs ? fetch.sha256 : fetch.git_sha1;
    if (actual != expected) {
      fs::remove(fetch.incomplete, ec);
      fail(ErrorKind::Unavailable, "'", fetch.name, "': ", lfs ? "sha256 " : "git blob sha1 ", actual,
           " does not match the Hub's ", expected, " (corrupt transfer; run again)");
    }
  }
  fs::rename(fetch.incomplete, fetch.destination);
  progress.finish(fetch.name);
}

void fetch_files(const std::vector<FileFetch>& fetches, int workers, const std::string& repo_id) {
  if (fetches.empty()) return;
  uint64_t total = 0;
  for (const FileFetch& fetch : fetches) total += fetch.size.value_or(0);
  DownloadProgress progress(repo_id, fetches.size(), total);
  std::atomic<size_t> next{0};
  std::mutex error_mutex;
  std::exception_ptr error;
  auto work = [&] {
    for (size_t i = next++; i < fetches.size(); i = next++) {
      {
        std::lock_guard<std::mutex> guard(error_mutex);
        if (error) return;
      }
      try {
        fetch_file(fetches[i], progress);
      } catch (...) {
        std::lock_guard<std::mutex> guard(error_mutex);
        if (!error) error = std::current_exception();
      }
    }
  };
  std::vector<std::thread> threads;
  const size_t count = std::min<size_t>(std::max(1, workers), fetches.size());
  for (size_t i = 0; i < count; ++i) threads.emplace_back(work);
  for (std::thread& thread : threads) thread.join();
  progress.done(error == nullptr);
  if (error) std::rethrow_exception(error);
}

}  // namespace vllm::hub
