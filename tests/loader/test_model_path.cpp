#include <gtest/gtest.h>

#include "loader/loader_test_util.h"
#include "loader/model_path.h"
#include "test_util.h"

using namespace vllm;
using vllm::testing::expect_error;
using vllm::testing::ScopedEnv;
using vllm::testing::TempDir;
using vllm::testing::write_text;

TEST(ResolveModelPath, LocalFolder) {
  TempDir dir;
  EXPECT_EQ(resolve_model_path(dir.path().string()), dir.path());
  write_text(dir / "file.txt", "x");
  expect_error([&] { resolve_model_path((dir / "file.txt").string()); }, ErrorKind::InvalidArgument,
               {"file.txt: is a file"});
}

TEST(ResolveModelPath, HubIdInTheCache) {
  TempDir cache;
  ScopedEnv hub("HF_HUB_CACHE", cache.path().string());
  ScopedEnv offline("HF_HUB_OFFLINE", "1");
  const auto repo = cache / "models--Qwen--Qwen3-0.6B";
  write_text(repo / "refs" / "main", "abc123\n");
  write_text(repo / "snapshots" / "abc123" / "config.json", "{}");
  write_text(repo / "snapshots" / "old999" / "config.json", "{}");
  EXPECT_EQ(resolve_model_path("Qwen/Qwen3-0.6B"), repo / "snapshots" / "abc123");

  // A name without an organisation, and no refs/main: the only snapshot.
  write_text(cache / "models--gpt2" / "snapshots" / "e7da7f" / "config.json", "{}");
  EXPECT_EQ(resolve_model_path("gpt2"), cache / "models--gpt2" / "snapshots" / "e7da7f");

  write_text(repo / "refs" / "main", "gone\n");
  expect_error([&] { resolve_model_path("Qwen/Qwen3-0.6B"); }, ErrorKind::NotFound,
               {"revision 'main' is not in the Hugging Face cache", "HF_HUB_OFFLINE"});
}

TEST(ResolveModelPath, HfHomeFallback) {
  TempDir home;
  ScopedEnv no_hub("HF_HUB_CACHE", "");
  ScopedEnv no_legacy("HUGGINGFACE_HUB_CACHE", "");
  ScopedEnv hf_home("HF_HOME", home.path().string());
  ScopedEnv offline("HF_HUB_OFFLINE", "1");
  EXPECT_EQ(hf_hub_cache_dir(), home / "hub");
  write_text(home / "hub" / "models--org--name" / "refs" / "main", "c0ffee");
  write_text(home / "hub" / "models--org--name" / "snapshots" / "c0ffee" / "config.json", "{}");
  EXPECT_EQ(resolve_model_path("org/name"), home / "hub" / "models--org--name" / "snapshots" / "c0ffee");
}

TEST(ResolveModelPath, NotFoundNamesTheCacheAndTheOfflineSwitch) {
  TempDir cache;
  ScopedEnv hub("HF_HUB_CACHE", cache.path().string());
  ScopedEnv offline("HF_HUB_OFFLINE", "1");
  expect_error([] { resolve_model_path("meta-llama/Llama-3.2-1B"); }, ErrorKind::NotFound,
               {"model 'meta-llama/Llama-3.2-1B' revision 'main' is not in the Hugging Face cache",
                (cache / "models--meta-llama--Llama-3.2-1B").string(), "HF_HUB_OFFLINE"});
  expect_error([] { resolve_model_path("/no/such/folder"); }, ErrorKind::NotFound,
               {"model '/no/such/folder': folder does not exist"});
}
