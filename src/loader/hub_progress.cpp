#include "loader/hub_progress.h"

#include <unistd.h>

#include <cstdio>

#include "core/env.h"
#include "core/logging.h"
#include "loader/hub_cache.h"

namespace vllm::hub {

namespace {

bool progress_bars_wanted() {
  std::optional<std::string> disabled = env::get("HF_HUB_DISABLE_PROGRESS_BARS");
  if (disabled && env::parse_bool(env::variable("HF_HUB_DISABLE_PROGRESS_BARS"), *disabled)) return false;
  return ::isatty(STDERR_FILENO) == 1;
}

}  // namespace

DownloadProgress::DownloadProgress(std::string repo_id, size_t files, uint64_t total_bytes)
    : repo_id_(std::move(repo_id)), files_(files), total_(total_bytes), bar_(progress_bars_wanted()) {
  if (!bar_) log_info("Fetching ", files_, " file(s) of ", repo_id_, " (", format_size(total_), "B)");
}

void DownloadProgress::start(const std::string& file, uint64_t size, uint64_t already) {
  std::lock_guard<std::mutex> guard(mutex_);
  done_bytes_ += already;
  if (!bar_)
    log_info("Downloading ", file, " (", format_size(size), "B", already ? ", resuming at " + format_size(already) + "B" : "",
             ")");
  draw();
}

void DownloadProgress::add(uint64_t bytes) {
  std::lock_guard<std::mutex> guard(mutex_);
  done_bytes_ += bytes;
  draw();
}

void DownloadProgress::finish(const std::string& file) {
  std::lock_guard<std::mutex> guard(mutex_);
  ++finished_;
  if (!bar_) log_info("Downloaded ", file, " (", finished_, "/", files_, ")");
  draw();
}

void DownloadProgress::skip(const std::string& file, uint64_t size) {
  std::lock_guard<std::mutex> guard(mutex_);
  ++finished_;
  done_bytes_ += size;
  if (!bar_) log_info(file, ": already downloaded by another process (", finished_, "/", files_, ")");
  draw();
}

void DownloadProgress::done(bool ok) {
  std::lock_guard<std::mutex> guard(mutex_);
  if (bar_) std::fprintf(stderr, "\n");
  else if (ok) log_info("Fetched ", files_, " file(s) of ", repo_id_);
}

void DownloadProgress::draw() {
  if (!bar_) return;
  const int permille = total_ ? static_cast<int>(done_bytes_ * 1000 / total_) : 1000;
  if (permille == drawn_permille_) return;
  drawn_permille_ = permille;
  constexpr int kWidth = 30;
  std::string bar(static_cast<size_t>(kWidth * permille / 1000), '#');
  bar.resize(kWidth, ' ');
  std::fprintf(stderr, "\rFetching %zu files of %s: %3d%%|%s| %sB/%sB [%zu/%zu]", files_, repo_id_.c_str(),
               permille / 10, bar.c_str(), format_size(done_bytes_).c_str(), format_size(total_).c_str(),
               finished_, files_);
  std::fflush(stderr);
}

}  // namespace vllm::hub
