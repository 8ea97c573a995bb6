// `vllm-cpp hf download | scan-cache | delete-cache` against a mock Hub (tests/loader/mock_hub.h).
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "loader/hub_cache.h"
#include "loader/mock_hub.h"
#include "test_util.h"

namespace fs = std::filesystem;
using vllm::testing::MockHub;

namespace {

const std::string kCommit = "0123456789abcdef0123456789abcdef01234567";

std::string run_hf(const std::string& args, int* status = nullptr) {
  std::string command = std::string(VLLM_BINARY) + " hf " + args + " 2>&1";
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  std::array<char, 4096> buffer;
  for (size_t n; (n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0;) out.append(buffer.data(), n);
  int rc = pclose(pipe);
  if (status) *status = rc;
  return out;
}

struct Scratch {
  fs::path path;
  Scratch() {
    std::string pattern = (fs::temp_directory_path() / "vllm-hf-cli-XXXXXX").string();
    path = mkdtemp(pattern.data());
  }
  ~Scratch() { fs::remove_all(path); }
};

}  // namespace

TEST(HfCli, DownloadScanAndDelete) {
  MockHub hub;
  hub.add_commit("org/tiny", kCommit, {{"config.json", "{}"}, {"model.safetensors", std::string(3000, 'w')}, {"README.md", "hi"}},
                 {"main"});
  Scratch cache;
  vllm::testing::ScopedEnv endpoint("HF_ENDPOINT", hub.endpoint());
  vllm::testing::ScopedEnv hub_cache("HF_HUB_CACHE", cache.path.string());
  vllm::testing::ScopedEnv online("HF_HUB_OFFLINE", "");

  int status = 0;
  // One file: its path is the last line, as `hf download` prints it.
  std::string out = run_hf("download org/tiny config.json", &status);
  ASSERT_EQ(status, 0) << out;
  const fs::path snapshot = cache.path / "models--org--tiny" / "snapshots" / kCommit;
  EXPECT_NE(out.find((snapshot / "config.json").string() + "\n"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(snapshot / "model.safetensors"));
  // The whole repository (README included: `hf download` takes everything).
  out = run_hf("download org/tiny", &status);
  ASSERT_EQ(status, 0) << out;
  EXPECT_TRUE(fs::exists(snapshot / "README.md"));
  EXPECT_EQ(fs::file_size(snapshot / "model.safetensors"), 3000u);

  // Two processes fetching the same model at once: the blob locks keep them from colliding.
  fs::remove_all(cache.path / "models--org--tiny");
  const std::string download = std::string(VLLM_BINARY) + " hf download org/tiny >/dev/null 2>&1";
  status = std::system(("(" + download + " & " + download + "; first=$?; wait $!; exit $((first + $?)))").c_str());
  EXPECT_EQ(status, 0);
  EXPECT_EQ(fs::file_size(snapshot / "model.safetensors"), 3000u);

  out = run_hf("scan-cache", &status);
  ASSERT_EQ(status, 0) << out;
  EXPECT_NE(out.find("REPO ID  REPO TYPE SIZE ON DISK NB FILES LAST_ACCESSED     LAST_MODIFIED     REFS LOCAL PATH"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("org/tiny model             3.0K        3 a few seconds ago a few seconds ago main " +
                     (cache.path / "models--org--tiny").string()),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("Scanned 1 repo(s) for a total of 3.0K."), std::string::npos) << out;

  out = run_hf("delete-cache org/tiny@main", &status);
  ASSERT_EQ(status, 0) << out;
  EXPECT_NE(out.find("Done. Deleted 1 repo(s) and 0 revision(s) for a total of 3.0K."), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(cache.path / "models--org--tiny"));

  out = run_hf("download org/nope", &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(out.find("error: model 'org/nope' not found on " + hub.endpoint()), std::string::npos) << out;
}
