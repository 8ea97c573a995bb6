// What a download shows while it runs: one progress bar on a terminal (stderr), plain log lines
// otherwise (a file, a pipe, HF_HUB_DISABLE_PROGRESS_BARS=1), as huggingface_hub's tqdm bars do.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

namespace vllm::hub {

class DownloadProgress {
 public:
  DownloadProgress(std::string repo_id, size_t files, uint64_t total_bytes);

  void start(const std::string& file, uint64_t size, uint64_t already);  // `already`: resumed bytes
  void add(uint64_t bytes);
  void finish(const std::string& file);
  void skip(const std::string& file, uint64_t size);  // another process fetched it
  void done(bool ok);

 private:
  void draw();  // the bar line, when on a terminal; under mutex_

  std::mutex mutex_;
  const std::string repo_id_;
  const size_t files_;
  const uint64_t total_;
  const bool bar_;
  size_t finished_ = 0;
  uint64_t done_bytes_ = 0;
  int drawn_permille_ = -1;
};

}  // namespace vllm::hub
