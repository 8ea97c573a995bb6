// The cache scan and delete behind `vllm-cpp hf scan-cache` / `hf delete-cache`, on caches built
// by hand in huggingface_hub's layout.
#include <gtest/gtest.h>

#include "loader/hub_cache.h"
#include "loader/loader_test_util.h"

using namespace vllm;
using vllm::testing::expect_error;
using vllm::testing::TempDir;
using vllm::testing::write_text;
namespace fs = std::filesystem;

namespace {

// models--org--name with `commit`'s files linked to blobs named by their content.
void add_snapshot(const fs::path& cache, const std::string& repo_id, const std::string& commit,
                  const std::map<std::string, std::string>& files, const std::string& ref = "") {
  const fs::path repo = cache / hub::repo_folder_name(repo_id);
  for (const auto& [name, content] : files) {
    const std::string etag = "etag-" + content;
    if (!fs::exists(repo / "blobs" / etag)) write_text(repo / "blobs" / etag, content);
    hub::link_snapshot_file(repo, commit, name, etag);
  }
  if (!ref.empty()) hub::write_ref(repo, ref, commit);
}

}  // namespace

TEST(HubCache, LayoutHelpers) {
  EXPECT_EQ(hub::repo_folder_name("Qwen/Qwen3-0.6B"), "models--Qwen--Qwen3-0.6B");
  EXPECT_EQ(hub::repo_folder_name("gpt2"), "models--gpt2");
  EXPECT_TRUE(hub::is_commit_hash("0123456789abcdef0123456789abcdef01234567"));
  EXPECT_FALSE(hub::is_commit_hash("main"));
  TempDir cache;
  add_snapshot(cache.path(), "org/m", "c1", {{"sub/file.json", "abc"}}, "main");
  // Relative links, one more ../ per folder level, as huggingface_hub's _create_symlink.
  EXPECT_EQ(fs::read_symlink(cache / "models--org--m" / "snapshots" / "c1" / "sub" / "file.json"),
            fs::path("../../../blobs/etag-abc"));
  EXPECT_EQ(hub::cached_snapshot(cache / "models--org--m", "main"), cache / "models--org--m" / "snapshots" / "c1");
  EXPECT_EQ(hub::cached_snapshot(cache / "models--org--m", "c1"), cache / "models--org--m" / "snapshots" / "c1");
  EXPECT_EQ(hub::cached_snapshot(cache / "models--org--m", "v2"), std::nullopt);
}

TEST(HubCache, ScanCountsBlobsOncePerRepoAndPerRevision) {
  TempDir cache;
  add_snapshot(cache.path(), "org/a", "c1", {{"config.json", "12345"}, {"w.bin", "0123456789"}}, "main");
  add_snapshot(cache.path(), "org/a", "c2", {{"config.json", "123"}, {"w.bin", "0123456789"}}, "v2");
  add_snapshot(cache.path(), "solo", "c9", {{"config.json", "1"}});
  fs::create_directories(cache / "not-a-repo");
  std::vector<std::string> warnings;
  const auto repos = hub::scan_cache(cache.path(), &warnings);
  ASSERT_EQ(repos.size(), 2u);
  EXPECT_EQ(warnings.size(), 1u);
  EXPECT_EQ(repos[0].repo_id, "org/a");
  EXPECT_EQ(repos[0].repo_type, "model");
  EXPECT_EQ(repos[0].size_on_disk, 18u);  // 5 + 3 + 10: the shared blob once
  EXPECT_EQ(repos[0].files, 3);
  ASSERT_EQ(repos[0].revisions.size(), 2u);
  EXPECT_EQ(repos[0].revisions[0].size_on_disk, 15u);
  EXPECT_EQ(repos[0].revisions[1].refs, std::vector<std::string>{"v2"});
  EXPECT_EQ(repos[0].refs(), (std::vector<std::string>{"main", "v2"}));
  EXPECT_EQ(repos[1].repo_id, "solo");
}

TEST(HubCache, DeleteARevisionKeepsSharedBlobs) {
  TempDir cache;
  add_snapshot(cache.path(), "org/a", "c1", {{"config.json", "12345"}, {"w.bin", "0123456789"}}, "main");
  add_snapshot(cache.path(), "org/a", "c2", {{"config.json", "123"}, {"w.bin", "0123456789"}}, "v2");
  const fs::path repo = cache / "models--org--a";
  hub::DeletePlan plan = hub::delete_cached(cache.path(), "org/a", "v2");
  EXPECT_EQ(plan.revisions, 1);
  EXPECT_EQ(plan.freed_bytes, 3u);
  EXPECT_FALSE(fs::exists(repo / "snapshots" / "c2"));
  EXPECT_FALSE(fs::exists(repo / "refs" / "v2"));
  EXPECT_TRUE(fs::exists(repo / "blobs" / "etag-0123456789"));
  EXPECT_TRUE(fs::exists(repo / "snapshots" / "c1" / "w.bin"));
  expect_error([&] { hub::delete_cached(cache.path(), "org/a", "zzz"); }, ErrorKind::NotFound, {"no cached revision 'zzz'"});
  // The last revision (by commit prefix) takes the repository with it.
  plan = hub::delete_cached(cache.path(), "org/a", "c1");
  EXPECT_EQ(plan.repos, 1);
  EXPECT_EQ(plan.freed_bytes, 15u);
  EXPECT_FALSE(fs::exists(repo));
  expect_error([&] { hub::delete_cached(cache.path(), "org/a", ""); }, ErrorKind::NotFound, {"'org/a' is not in the cache"});
}

TEST(HubCache, SizesAndTimesPrintAsHuggingfaceHubDoes) {
  EXPECT_EQ(hub::format_size(0), "0.0");
  EXPECT_EQ(hub::format_size(999), "999.0");
  EXPECT_EQ(hub::format_size(116300), "116.3K");
  EXPECT_EQ(hub::format_size(3400000000ull), "3.4G");
  EXPECT_EQ(hub::format_time_since(1000, 1010), "a few seconds ago");
  EXPECT_EQ(hub::format_time_since(0, 60 * 5), "5 minutes ago");
  EXPECT_EQ(hub::format_time_since(0, 3600), "60 minutes ago");  // minutes up to 60, as in Python
  EXPECT_EQ(hub::format_time_since(0, 7200), "2 hours ago");
  EXPECT_EQ(hub::format_time_since(0, 4 * 86400), "4 days ago");
  EXPECT_EQ(hub::format_time_since(0, 3 * 7 * 86400), "3 weeks ago");
}
