// The Hugging Face Hub cache as huggingface_hub lays it out (file_download.py), so a model fetched
// by either side is reused by the other:
//   <cache>/models--org--name/blobs/<etag>                 file contents, named by ETag (git sha1, or
//                                                           the sha256 of an LFS file)
//   <cache>/models--org--name/snapshots/<commit>/<file>    relative symlinks to ../../blobs/<etag>
//   <cache>/models--org--name/refs/<revision>              the commit a branch or tag resolved to
//   <cache>/.locks/models--org--name/<etag>.lock           flock()ed while a blob is written
// plus the scan and delete behind `vllm-cpp hf scan-cache` and `hf delete-cache`.
#pragma once

#include <cstdint>
#include <ctime>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace vllm::hub {

// "org/name" -> "models--org--name" (huggingface_hub's repo_folder_name).
std::string repo_folder_name(const std::string& repo_id);
// A full 40-hex-digit git commit id.
bool is_commit_hash(const std::string& revision);

// The snapshot folder of `revision` in `repo_dir` without any request: refs/<revision> names
// the commit, or `revision` is itself a commit with a snapshot, or (for "main" in a repository
// without any refs, fetched by commit) the only snapshot. nullopt otherwise.
std::optional<std::filesystem::path> cached_snapshot(const std::filesystem::path& repo_dir,
                                                     const std::string& revision);

// An exclusive flock() on `path` (created with its folders), held for the object's lifetime:
// huggingface_hub's filelock takes the same lock, so the two never write one blob at once.
class FileLock {
 public:
  explicit FileLock(const std::filesystem::path& path);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

// refs/<revision> := commit (no newline, as huggingface_hub writes it).
void write_ref(const std::filesystem::path& repo_dir, const std::string& revision, const std::string& commit);
// snapshots/<commit>/<file> -> blobs/<etag> as a relative symlink (replacing an older link).
void link_snapshot_file(const std::filesystem::path& repo_dir, const std::string& commit,
                        const std::string& file, const std::string& etag);

struct CachedRevision {
  std::string commit;
  std::vector<std::string> refs;  // sorted
  std::filesystem::path snapshot;
  uint64_t size_on_disk = 0;      // the blobs its files point to
  int files = 0;
  std::time_t last_modified = 0;
};

struct CachedRepo {
  std::string repo_id;            // "org/name"
  std::string repo_type;          // model, dataset, space
  std::filesystem::path path;
  uint64_t size_on_disk = 0;      // every blob
  int files = 0;                  // blobs
  std::time_t last_accessed = 0, last_modified = 0;
  std::vector<CachedRevision> revisions;  // by commit
  std::vector<std::string> refs() const;  // of every revision, sorted
};

// Every repository of `cache`, sorted by id; folders that are not cache entries are skipped,
// each with a line in `warnings`.
std::vector<CachedRepo> scan_cache(const std::filesystem::path& cache, std::vector<std::string>* warnings = nullptr);

struct DeletePlan {
  int repos = 0, revisions = 0;
  uint64_t freed_bytes = 0;
};
// Deletes `repo_id` (a model id, or "dataset/..."-less model id), or only its `revision` (a
// commit, a prefix of one, or a ref): the snapshot, the refs naming it and the blobs no other
// snapshot uses; the last revision takes the repository with it. NotFound when absent.
DeletePlan delete_cached(const std::filesystem::path& cache, const std::string& repo_id, const std::string& revision);

// huggingface_hub's _format_size: 1000-based, one decimal ("116.3K", "3.4G", "512.0").
std::string format_size(uint64_t bytes);
// huggingface_hub's _format_timesince ("a few seconds ago", "4 days ago").
std::string format_time_since(std::time_t then, std::time_t now);

}  // namespace vllm::hub
