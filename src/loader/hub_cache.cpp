#include "loader/hub_cache.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "core/error.h"

namespace vllm::hub {
namespace fs = std::filesystem;

namespace {

std::string read_first_line(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
  return line;
}

// refs/<name> -> commit, names relative to refs/ ("main", "pr/1").
// A temporary name beside `path` no other thread or process uses at the same time.
fs::path temporary_beside(const fs::path& path) {
  return path.string() + ".tmp" + std::to_string(::getpid()) + "." +
         std::to_string(std::hash<std::thread::id>()(std::this_thread::get_id()));
}

std::map<std::string, std::string> read_refs(const fs::path& repo_dir) {
  std::map<std::string, std::string> refs;
  std::error_code ec;
  if (!fs::is_directory(repo_dir / "refs", ec)) return refs;
  for (const auto& item : fs::recursive_directory_iterator(repo_dir / "refs", ec))
    if (item.is_regular_file()) refs[fs::relative(item.path(), repo_dir / "refs").string()] = read_first_line(item.path());
  return refs;
}

}  // namespace

std::string repo_folder_name(const std::string& repo_id) {
  std::string name = "models--" + repo_id;
  for (size_t at = name.find('/'); at != std::string::npos; at = name.find('/', at + 2)) name.replace(at, 1, "--");
  return name;
}

bool is_commit_hash(const std::string& revision) {
  return revision.size() == 40 && std::all_of(revision.begin(), revision.end(), [](char c) {
           return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
         });
}

std::optional<fs::path> cached_snapshot(const fs::path& repo_dir, const std::string& revision) {
  std::error_code ec;
  std::string commit = revision;
  if (fs::is_regular_file(repo_dir / "refs" / revision, ec)) commit = read_first_line(repo_dir / "refs" / revision);
  const fs::path snapshot = repo_dir / "snapshots" / commit;
  if (!commit.empty() && fs::is_directory(snapshot, ec)) return snapshot;
  // No refs/main (a model fetched at a commit by another tool): the only snapshot there is.
  if (revision != "main" || fs::exists(repo_dir / "refs", ec) || !fs::is_directory(repo_dir / "snapshots", ec))
    return std::nullopt;
  std::vector<fs::path> snapshots;
  for (const auto& item : fs::directory_iterator(repo_dir / "snapshots"))
    if (item.is_directory()) snapshots.push_back(item.path());
  if (snapshots.size() == 1) return snapshots.front();
  return std::nullopt;
}

FileLock::FileLock(const fs::path& path) {
  fs::create_directories(path.parent_path());
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail(ErrorKind::InvalidArgument, path.string(), ": cannot create lock file (", std::strerror(errno), ")");
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    int err = errno;
    ::close(fd_);
    fail(ErrorKind::InvalidArgument, path.string(), ": cannot lock (", std::strerror(err), ")");
  }
}

FileLock::~FileLock() {
  if (fd_ >= 0) {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
}

void write_ref(const fs::path& repo_dir, const std::string& revision, const std::string& commit) {
  if (revision == commit) return;
  const fs::path ref = repo_dir / "refs" / revision;
  std::error_code ec;
  if (fs::is_regular_file(ref, ec) && read_first_line(ref) == commit) return;
  fs::create_directories(ref.parent_path());
  const fs::path temporary = temporary_beside(ref);
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << commit;
    if (!out) fail(ErrorKind::InvalidArgument, ref.string(), ": cannot write (", std::strerror(errno), ")");
  }
  fs::rename(temporary, ref);
}

void link_snapshot_file(const fs::path& repo_dir, const std::string& commit, const std::string& file,
                        const std::string& etag) {
  const fs::path pointer = repo_dir / "snapshots" / commit / file;
  fs::create_directories(pointer.parent_path());
  const fs::path target = fs::relative(repo_dir / "blobs" / etag, pointer.parent_path());
  std::error_code ec;
  if (fs::is_symlink(pointer, ec) && fs::read_symlink(pointer, ec) == target) return;
  // A link made under a temporary name and renamed over the old one: a reader never sees none.
  const fs::path temporary = temporary_beside(pointer);
  fs::remove(temporary, ec);
  fs::create_symlink(target, temporary);
  fs::rename(temporary, pointer);
}

std::vector<std::string> CachedRepo::refs() const {
  std::vector<std::string> all;
  for (const CachedRevision& revision : revisions) all.insert(all.end(), revision.refs.begin(), revision.refs.end());
  std::sort(all.begin(), all.end());
  return all;
}

std::vector<CachedRepo> scan_cache(const fs::path& cache, std::vector<std::string>* warnings) {
  std::vector<CachedRepo> repos;
  std::error_code ec;
  if (!fs::is_directory(cache, ec))
    fail(ErrorKind::NotFound, "cache folder ", cache.string(), " does not exist (set HF_HUB_CACHE or HF_HOME)");
  auto warn = [&](const std::string& text) {
    if (warnings) warnings->push_back(text);
  };
  for (const auto& item : fs::directory_iterator(cache)) {
    const std::string folder = item.path().filename().string();
    if (folder == ".locks" || folder == "CACHEDIR.TAG" || folder.rfind(".", 0) == 0) continue;
    if (!item.is_directory()) {
      warn("Scan cache expects only folders, found " + item.path().string());
      continue;
    }
    size_t separator = folder.find("--");
    static const std::map<std::string, std::string> types = {{"models", "model"}, {"datasets", "dataset"},
                                                              {"spaces", "space"}};
    if (separator == std::string::npos || !types.count(folder.substr(0, separator))) {
      warn("Repo path is not a valid HuggingFace cache directory: " + item.path().string());
      continue;
    }
    CachedRepo repo;
    repo.repo_type = types.at(folder.substr(0, separator));
    repo.repo_id = folder.substr(separator + 2);
    for (size_t at = repo.repo_id.find("--"); at != std::string::npos; at = repo.repo_id.find("--", at + 1))
      repo.repo_id.replace(at, 2, "/");
    repo.path = item.path();
    // Blobs: sizes and times, each counted once however many snapshots point to it.
    std::map<fs::path, struct stat> blobs;
    if (fs::is_directory(repo.path / "blobs", ec))
      for (const auto& blob : fs::directory_iterator(repo.path / "blobs")) {
        struct stat st {};
        if (::stat(blob.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (blob.path().extension() == ".incomplete") continue;
        blobs[fs::weakly_canonical(blob.path())] = st;
        repo.size_on_disk += static_cast<uint64_t>(st.st_size);
        repo.last_accessed = std::max(repo.last_accessed, st.st_atime);
        repo.last_modified = std::max(repo.last_modified, st.st_mtime);
        ++repo.files;
      }
    const auto refs = read_refs(repo.path);
    if (fs::is_directory(repo.path / "snapshots", ec))
      for (const auto& snapshot : fs::directory_iterator(repo.path / "snapshots")) {
        if (!snapshot.is_directory()) continue;
        CachedRevision revision;
        revision.commit = snapshot.path().filename().string();
        revision.snapshot = snapshot.path();
        std::set<fs::path> seen;
        for (const auto& file : fs::recursive_directory_iterator(snapshot.path())) {
          if (file.is_directory()) continue;
          ++revision.files;
          const fs::path blob = fs::weakly_canonical(file.path(), ec);
          auto it = blobs.find(blob);
          if (it == blobs.end() || !seen.insert(blob).second) continue;
          revision.size_on_disk += static_cast<uint64_t>(it->second.st_size);
          revision.last_modified = std::max(revision.last_modified, it->second.st_mtime);
        }
        for (const auto& [name, commit] : refs)
          if (commit == revision.commit) revision.refs.push_back(name);
        repo.revisions.push_back(std::move(revision));
      }
    std::sort(repo.revisions.begin(), repo.revisions.end(),
              [](const CachedRevision& a, const CachedRevision& b) { return a.commit < b.commit; });
    repos.push_back(std::move(repo));
  }
  std::sort(repos.begin(), repos.end(), [](const CachedRepo& a, const CachedRepo& b) {
    return a.repo_type != b.repo_type ? a.repo_type < b.repo_type : a.repo_id < b.repo_id;
  });
  return repos;
}

DeletePlan delete_cached(const fs::path& cache, const std::string& repo_id, const std::string& revision) {
  DeletePlan plan;
  std::vector<CachedRepo> repos = scan_cache(cache);
  auto repo = std::find_if(repos.begin(), repos.end(),
                           [&](const CachedRepo& r) { return r.repo_type == "model" && r.repo_id == repo_id; });
  if (repo == repos.end()) fail(ErrorKind::NotFound, "'", repo_id, "' is not in the cache ", cache.string());
  std::error_code ec;
  if (revision.empty()) {
    plan.repos = 1;
    plan.freed_bytes = repo->size_on_disk;
    fs::remove_all(repo->path, ec);
    fs::remove_all(cache / ".locks" / repo->path.filename(), ec);
    return plan;
  }
  std::vector<const CachedRevision*> matches;
  for (const CachedRevision& candidate : repo->revisions) {
    const auto& refs = candidate.refs;
    if (candidate.commit.rfind(revision, 0) == 0 || std::find(refs.begin(), refs.end(), revision) != refs.end())
      matches.push_back(&candidate);
  }
  if (matches.empty()) fail(ErrorKind::NotFound, "'", repo_id, "' has no cached revision '", revision, "'");
  if (matches.size() > 1)
    fail(ErrorKind::InvalidArgument, "'", revision, "' matches ", matches.size(), " revisions of '", repo_id,
         "'; give more of the commit hash");
  const CachedRevision& doomed = *matches.front();
  if (repo->revisions.size() == 1) return delete_cached(cache, repo_id, "");
  // Blobs another snapshot still points to stay.
  std::set<fs::path> kept;
  for (const CachedRevision& other : repo->revisions) {
    if (other.commit == doomed.commit) continue;
    for (const auto& file : fs::recursive_directory_iterator(other.snapshot))
      if (!file.is_directory()) kept.insert(fs::weakly_canonical(file.path(), ec));
  }
  for (const auto& file : fs::recursive_directory_iterator(doomed.snapshot)) {
    if (file.is_directory()) continue;
    const fs::path blob = fs::weakly_canonical(file.path(), ec);
    if (kept.count(blob) || blob.parent_path().filename() != "blobs") continue;
    uint64_t size = fs::file_size(blob, ec);
    if (!ec && fs::remove(blob, ec)) plan.freed_bytes += size;
  }
  fs::remove_all(doomed.snapshot, ec);
  for (const std::string& ref : doomed.refs) fs::remove(repo->path / "refs" / ref, ec);
  plan.revisions = 1;
  return plan;
}

std::string format_size(uint64_t bytes) {
  double value = static_cast<double>(bytes);
  char text[32];
  for (const char* unit : {"", "K", "M", "G", "T", "P", "E", "Z"}) {
    if (std::fabs(value) < 1000.0) {
      std::snprintf(text, sizeof text, "%3.1f%s", value, unit);
      return text;
    }
    value /= 1000.0;
  }
  std::snprintf(text, sizeof text, "%.1fY", value);
  return text;
}

std::string format_time_since(std::time_t then, std::time_t now) {
  const double delta = std::difftime(now, then);
  if (delta < 20) return "a few seconds ago";
  struct Chunk {
    const char* label;
    double divider;
    long max_value;  // -1: none
  };
  static const Chunk chunks[] = {{"second", 1, 60},          {"minute", 60, 60},       {"hour", 3600, 24},
                                 {"day", 86400, 6},          {"week", 604800, 6},      {"month", 2592000, 11},
                                 {"year", 31536000, -1}};
  long value = 0;
  const char* label = "year";
  for (const Chunk& chunk : chunks) {
    value = std::lround(delta / chunk.divider);
    label = chunk.label;
    if (chunk.max_value >= 0 && value <= chunk.max_value) break;
  }
  return std::to_string(value) + " " + label + (value > 1 ? "s" : "") + " ago";
}

}  // namespace vllm::hub
