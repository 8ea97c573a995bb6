// Hub and ModelScope downloads against a local mock of their APIs (mock_hub.h): cache layout,
// offline reuse, revisions, resume, errors, concurrent downloads.
#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "loader/hub_cache.h"
#include "loader/hub_download.h"
#include "loader/loader_test_util.h"
#include "loader/mock_hub.h"
#include "loader/model_path.h"
#include "loader/safetensors.h"
#include "test_util.h"

using namespace vllm;
using vllm::testing::expect_error;
using vllm::testing::MockHub;
using vllm::testing::read_file_bytes;
using vllm::testing::ScopedEnv;
using vllm::testing::sha256_hex;
using vllm::testing::git_blob_sha1;
using vllm::testing::TempDir;
using vllm::testing::write_text;
namespace fs = std::filesystem;

namespace {

const std::string kCommit = "0123456789abcdef0123456789abcdef01234567";
const std::string kOldCommit = "fedcba9876543210fedcba9876543210fedcba98";

// models/default's files, as a repository holds them; `full_weights` false swaps its 40 MB
// model.safetensors for a 256 KiB one, so that the tests that download many times stay fast.
const MockHub::Files& default_model_files(bool full_weights = false) {
  static const auto read = [](bool full) {
    MockHub::Files out;
    const fs::path dir = vllm::testing::source_dir() / "models" / "default";
    for (const auto& item : fs::directory_iterator(dir)) {
      if (!full && item.path().filename() == "model.safetensors") continue;
      out[item.path().filename().string()] = read_file_bytes(item.path());
    }
    if (!full) {
      TempDir scratch;
      Tensor weight = Tensor::empty({256, 256}, DType::F32);
      float* data = static_cast<float*>(weight.raw_data());
      for (int i = 0; i < 256 * 256; ++i) data[i] = static_cast<float>(i % 977) * 0.5f;
      save_safetensors(scratch / "model.safetensors", {{"model.embed_tokens.weight", weight}});
      out["model.safetensors"] = read_file_bytes(scratch / "model.safetensors");
    }
    return out;
  };
  static const MockHub::Files small = read(false), full = read(true);
  return full_weights ? full : small;
}

// A mock Hub serving org/tiny (models/default) and the environment pointing at it.
struct HubFixture : ::testing::Test {
  MockHub hub;
  TempDir cache;
  ScopedEnv endpoint{"HF_ENDPOINT", hub.endpoint()};
  ScopedEnv hub_cache{"HF_HUB_CACHE", cache.path().string()};
  ScopedEnv home{"HF_HOME", (cache / "home").string()};
  ScopedEnv no_token{"HF_TOKEN", ""};
  ScopedEnv online{"HF_HUB_OFFLINE", ""};
  ScopedEnv online_too{"TRANSFORMERS_OFFLINE", ""};
  ScopedEnv huggingface{"VLLM_USE_MODELSCOPE", ""};
  HubFixture() { hub.add_commit("org/tiny", kCommit, default_model_files()); }

  fs::path repo() const { return cache / "models--org--tiny"; }
};

size_t count_matching(const std::vector<std::string>& lines, const std::string& fragment) {
  return std::count_if(lines.begin(), lines.end(), [&](const std::string& line) { return line.find(fragment) != std::string::npos; });
}

// `model` resolved by two threads at once (each its own transfers and locks, as two processes):
// both paths, and the first error either met.
struct TwoDownloads {
  fs::path first, second;
  std::string error;
};
TwoDownloads download_twice_at_once(const std::string& model) {
  TwoDownloads result;
  std::mutex mutex;
  auto download = [&](fs::path& into) {
    try {
      into = resolve_model_path(model);
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> guard(mutex);
      result.error = e.what();
    }
  };
  std::thread a(download, std::ref(result.first));
  std::thread b(download, std::ref(result.second));
  a.join();
  b.join();
  return result;
}

}  // namespace

TEST_F(HubFixture, DownloadsIntoHuggingfaceHubsCacheLayout) {
  hub.add_commit("org/tiny", kCommit, default_model_files(true));  // the real 40 MB weights, once
  const fs::path snapshot = resolve_model_path("org/tiny");
  EXPECT_EQ(snapshot, repo() / "snapshots" / kCommit);
  EXPECT_EQ(read_file_bytes(repo() / "refs" / "main"), kCommit);  // no newline, as huggingface_hub writes it

  const std::string& weights = default_model_files(true).at("model.safetensors");
  const std::string& config = default_model_files().at("config.json");
  // LFS files are named by sha256, small files by their git blob sha1; snapshots link to them.
  EXPECT_EQ(fs::read_symlink(snapshot / "model.safetensors"), fs::path("../../blobs") / sha256_hex(weights));
  EXPECT_EQ(fs::read_symlink(snapshot / "config.json"), fs::path("../../blobs") / git_blob_sha1(config));
  EXPECT_EQ(read_file_bytes(snapshot / "model.safetensors"), weights);
  EXPECT_EQ(read_file_bytes(snapshot / "tokenizer.json"), default_model_files().at("tokenizer.json"));
  EXPECT_TRUE(fs::exists(snapshot / "generation_config.json"));
  EXPECT_TRUE(fs::exists(snapshot / "tokenizer_config.json"));
  EXPECT_FALSE(fs::exists(snapshot / "README.md")) << "only what loading needs";
  EXPECT_TRUE(fs::exists(cache / ".locks" / "models--org--tiny" / (sha256_hex(weights) + ".lock")));
  for (const auto& blob : fs::directory_iterator(repo() / "blobs"))
    EXPECT_NE(blob.path().extension(), ".incomplete") << blob.path();
  EXPECT_EQ(Checkpoint::open(snapshot).size(), Checkpoint::open(vllm::testing::source_dir() / "models" / "default").size());
}

TEST_F(HubFixture, CachedModelsAreReusedWithoutARequest) {
  resolve_model_path("org/tiny");
  const size_t after_download = hub.request_count();
  EXPECT_EQ(resolve_model_path("org/tiny"), repo() / "snapshots" / kCommit);
  EXPECT_EQ(hub.request_count(), after_download) << "a complete cached snapshot needs no request";
  {
    ScopedEnv offline("HF_HUB_OFFLINE", "1");
    EXPECT_EQ(resolve_model_path("org/tiny"), repo() / "snapshots" / kCommit);
    // Offline, a model that is not cached is an error, and still no request is sent.
    expect_error([] { resolve_model_path("org/other"); }, ErrorKind::NotFound,
                 {"'org/other'", "not in the Hugging Face cache", "HF_HUB_OFFLINE"});
  }
  {
    ScopedEnv offline("TRANSFORMERS_OFFLINE", "1");
    hub::HubOptions options;
    options.check_for_updates = true;  // would ask the Hub if it were allowed to
    EXPECT_EQ(resolve_model_path("org/tiny", options), repo() / "snapshots" / kCommit);
  }
  EXPECT_EQ(hub.request_count(), after_download);
}

TEST_F(HubFixture, IncompleteCachedSnapshotIsCompleted) {
  write_text(repo() / "refs" / "main", kCommit);
  write_text(repo() / "snapshots" / kCommit / "config.json", default_model_files().at("config.json"));
  const fs::path snapshot = resolve_model_path("org/tiny");
  EXPECT_EQ(read_file_bytes(snapshot / "model.safetensors"), default_model_files().at("model.safetensors"));
  // config.json was already there: no HEAD for it.
  EXPECT_EQ(count_matching(hub.requests(), "/resolve/" + kCommit + "/config.json"), 0u);
}

TEST_F(HubFixture, RevisionsResolveToTheirCommit) {
  MockHub::Files old_files = default_model_files();
  old_files["config.json"] = R"({"architectures": ["Old"]})";
  hub.add_commit("org/tiny", kOldCommit, old_files, {"v1"});

  hub::HubOptions options;
  options.revision = "v1";
  const fs::path v1 = resolve_model_path("org/tiny", options);
  EXPECT_EQ(v1, repo() / "snapshots" / kOldCommit);
  EXPECT_EQ(read_file_bytes(repo() / "refs" / "v1"), kOldCommit);
  EXPECT_EQ(read_file_bytes(v1 / "config.json"), old_files["config.json"]);
  // The weights are the same blob in both commits: stored once.
  const fs::path main = resolve_model_path("org/tiny");
  EXPECT_EQ(fs::canonical(main / "model.safetensors"), fs::canonical(v1 / "model.safetensors"));
  // A commit hash is its own revision: no ref is written for it.
  options.revision = kCommit;
  EXPECT_EQ(resolve_model_path("org/tiny", options), main);
  EXPECT_FALSE(fs::exists(repo() / "refs" / kCommit));
  options.revision = "v9";
  expect_error([&] { resolve_model_path("org/tiny", options); }, ErrorKind::NotFound,
               {"model 'org/tiny': revision 'v9' not found"});
}

TEST_F(HubFixture, InterruptedTransferIsResumedWithARangeRequest) {
  hub.cut_once("model.safetensors");
  const fs::path snapshot = resolve_model_path("org/tiny");
  EXPECT_EQ(read_file_bytes(snapshot / "model.safetensors"), default_model_files().at("model.safetensors"));
  const std::string& weights = default_model_files().at("model.safetensors");
  EXPECT_EQ(count_matching(hub.requests(), "GET /cdn/" + sha256_hex(weights) + " bytes=" + std::to_string(weights.size() / 2) + "-"), 1u);
}

TEST_F(HubFixture, PartialFileLeftByAnEarlierRunIsResumed) {
  const std::string& weights = default_model_files().at("model.safetensors");
  const std::string sha = sha256_hex(weights);
  write_text(repo() / "blobs" / (sha + ".incomplete"), weights.substr(0, 1000));
  const fs::path snapshot = resolve_model_path("org/tiny");
  EXPECT_EQ(read_file_bytes(snapshot / "model.safetensors"), weights);
  EXPECT_EQ(count_matching(hub.requests(), "GET /cdn/" + sha + " bytes=1000-"), 1u);
}

TEST_F(HubFixture, CorruptTransferFailsTheHashCheck) {
  hub.corrupt("model.safetensors");
  expect_error([] { resolve_model_path("org/tiny"); }, ErrorKind::Unavailable,
               {"'model.safetensors': sha256", "does not match the Hub's", sha256_hex(default_model_files().at("model.safetensors"))});
  EXPECT_FALSE(fs::exists(repo() / "snapshots" / kCommit / "model.safetensors"));
}

TEST_F(HubFixture, NotFoundAndGatedErrorsAreOneLine) {
  expect_error([] { resolve_model_path("org/missing"); }, ErrorKind::NotFound,
               {"model 'org/missing' not found on " + hub.endpoint(), "--hf-token"});
  hub.add_commit("org/gated", kCommit, default_model_files());
  hub.gate("org/gated", "hf_secret");
  expect_error([] { resolve_model_path("org/gated"); }, ErrorKind::InvalidArgument,
               {"model 'org/gated' is gated", "accept its licence at " + hub.endpoint() + "/org/gated", "HF_TOKEN"});
  {
    ScopedEnv token("HF_TOKEN", "hf_secret");
    EXPECT_EQ(resolve_model_path("org/gated"), cache / "models--org--gated" / "snapshots" / kCommit);
  }
  // The token file `hf auth login` writes, and --hf-token.
  fs::remove_all(cache / "models--org--gated");
  write_text(cache / "home" / "token", "hf_secret\n");
  EXPECT_EQ(resolve_model_path("org/gated"), cache / "models--org--gated" / "snapshots" / kCommit);
  fs::remove(cache / "home" / "token");
  fs::remove_all(cache / "models--org--gated");
  hub::HubOptions options;
  options.token = "hf_secret";
  EXPECT_EQ(resolve_model_path("org/gated", options), cache / "models--org--gated" / "snapshots" / kCommit);
}

TEST_F(HubFixture, UnreachableHubIsAClearError) {
  ScopedEnv nowhere("HF_ENDPOINT", "http://127.0.0.1:1");
  expect_error([] { resolve_model_path("org/tiny"); }, ErrorKind::Unavailable,
               {"cannot reach http://127.0.0.1:1", "HF_HUB_OFFLINE=1"});
}

TEST_F(HubFixture, TwoConcurrentDownloadsOfOneModelAgree) {
  const TwoDownloads both = download_twice_at_once("org/tiny");
  ASSERT_EQ(both.error, "");
  EXPECT_EQ(both.first, both.second);
  const fs::path first = both.first;
  EXPECT_EQ(read_file_bytes(first / "model.safetensors"), default_model_files().at("model.safetensors"));
  size_t blobs = 0;
  for (const auto& blob : fs::directory_iterator(repo() / "blobs")) {
    EXPECT_NE(blob.path().extension(), ".incomplete");
    ++blobs;
  }
  EXPECT_EQ(blobs, 6u);  // config, generation config, reference, tokenizer, tokenizer config, weights
}

TEST_F(HubFixture, WeightChoiceFollowsLoadFormatAndIgnorePatterns) {
  MockHub::Files files = default_model_files();
  files["pytorch_model.bin"] = "not really a pickle";
  files["training_args.bin"] = "x";
  hub.add_commit("org/both", kCommit, files);
  const fs::path snapshot = resolve_model_path("org/both");
  EXPECT_TRUE(fs::exists(snapshot / "model.safetensors"));
  EXPECT_FALSE(fs::exists(snapshot / "pytorch_model.bin")) << "safetensors first";

  fs::remove_all(cache / "models--org--both");
  hub::HubOptions options;
  options.ignore_patterns = {"*.safetensors"};
  const fs::path bin = resolve_model_path("org/both", options);
  EXPECT_TRUE(fs::exists(bin / "pytorch_model.bin"));
  EXPECT_FALSE(fs::exists(bin / "model.safetensors"));
  EXPECT_FALSE(fs::exists(bin / "training_args.bin"));

  options.ignore_patterns = {"*.safetensors", "*.bin"};
  options.check_for_updates = true;
  expect_error([&] { resolve_model_path("org/both", options); }, ErrorKind::NotFound,
               {"has no *.safetensors, *.bin or *.pt weight files", "--ignore-patterns"});
}

TEST_F(HubFixture, ExplicitFilesAndLocalDir) {
  TempDir target;
  hub::HubOptions options;
  options.files = {"config.json"};
  options.local_dir = target.path();
  EXPECT_EQ(hub::hf_snapshot_download("org/tiny", options), target.path());
  EXPECT_EQ(read_file_bytes(target / "config.json"), default_model_files().at("config.json"));
  EXPECT_FALSE(fs::is_symlink(target / "config.json"));
  EXPECT_FALSE(fs::exists(target / "model.safetensors"));
  const std::string metadata = read_file_bytes(target / ".cache" / "huggingface" / "download" / "config.json.metadata");
  EXPECT_EQ(metadata.substr(0, metadata.find('\n')), kCommit);
  options.files = {"nope.json"};
  expect_error([&] { hub::hf_snapshot_download("org/tiny", options); }, ErrorKind::NotFound,
               {"file 'nope.json' not found"});
}

TEST(HubFiles, WeightFilesFollowVllmsChoice) {
  auto none = [](const std::string&) { return std::optional<std::vector<std::string>>(); };
  const std::vector<std::string> repo = {"config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                                         "consolidated.safetensors", "pytorch_model.bin", "optimizer.pt", "onnx/model.onnx",
                                         "1_Pooling/config.json", "README.md", "tokenizer.model", "merges.txt"};
  auto index = [](const std::string& name) {
    return name == "model.safetensors.index.json"
               ? std::optional<std::vector<std::string>>({"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"})
               : std::nullopt;
  };
  EXPECT_EQ(hub::weight_files(repo, "auto", {}, index),
            (std::vector<std::string>{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}));
  EXPECT_EQ(hub::weight_files(repo, "auto", {}, none).size(), 3u);
  EXPECT_EQ(hub::weight_files(repo, "pt", {}, none), std::vector<std::string>{"pytorch_model.bin"});
  EXPECT_EQ(hub::weight_files({"model.pt", "optimizer.pt"}, "auto", {}, none), std::vector<std::string>{"model.pt"});
  EXPECT_TRUE(hub::weight_files({"pytorch_model.bin"}, "safetensors", {}, none).empty());
  EXPECT_EQ(hub::metadata_files(repo, {"merges.txt"}),
            (std::vector<std::string>{"config.json", "1_Pooling/config.json", "tokenizer.model"}));
}

// ModelScope: the same through its API and cache layout.
struct ModelScopeFixture : ::testing::Test {
  MockHub hub;
  TempDir cache;
  ScopedEnv use{"VLLM_USE_MODELSCOPE", "true"};
  ScopedEnv domain{"MODELSCOPE_DOMAIN", hub.endpoint()};
  ScopedEnv modelscope_cache{"MODELSCOPE_CACHE", cache.path().string()};
  ScopedEnv online{"HF_HUB_OFFLINE", ""};
  ScopedEnv online_too{"TRANSFORMERS_OFFLINE", ""};
  ModelScopeFixture() { hub.add_commit("org/tiny-1.5", kCommit, default_model_files(), {"master"}); }
};

TEST_F(ModelScopeFixture, DownloadsIntoModelScopesCacheLayout) {
  hub.cut_once("model.safetensors");
  const fs::path dir = resolve_model_path("org/tiny-1.5");
  EXPECT_EQ(dir, cache / "models" / "org" / "tiny-1___5");  // '.' spelled "___" as modelscope does
  EXPECT_FALSE(fs::is_symlink(dir / "model.safetensors"));
  EXPECT_EQ(read_file_bytes(dir / "model.safetensors"), default_model_files().at("model.safetensors"));
  EXPECT_EQ(read_file_bytes(dir / "tokenizer.json"), default_model_files().at("tokenizer.json"));
  EXPECT_FALSE(fs::exists(dir / "README.md"));
  EXPECT_FALSE(fs::exists(dir / "._____temp"));
  EXPECT_EQ(count_matching(hub.requests(), "FilePath=model.safetensors bytes="), 1u) << "resumed with a range";
  EXPECT_EQ(count_matching(hub.requests(), "/repo/files?Revision=master&Recursive=True"), 1u);

  const size_t before = hub.request_count();
  EXPECT_EQ(resolve_model_path("org/tiny-1.5"), dir);
  ScopedEnv offline("HF_HUB_OFFLINE", "1");
  EXPECT_EQ(resolve_model_path("org/tiny-1.5"), dir);
  EXPECT_EQ(hub.request_count(), before);
}

TEST_F(ModelScopeFixture, ErrorsAndConcurrentDownloads) {
  expect_error([] { resolve_model_path("org/missing"); }, ErrorKind::NotFound,
               {"model 'org/missing'", "not found on " + hub.endpoint(), "model not found"});
  hub::HubOptions options;
  options.revision = "v2";
  expect_error([&] { resolve_model_path("org/tiny-1.5", options); }, ErrorKind::NotFound, {"revision 'v2'"});
  const TwoDownloads both = download_twice_at_once("org/tiny-1.5");
  ASSERT_EQ(both.error, "");
  EXPECT_EQ(both.first, both.second);
  const fs::path first = both.first;
  EXPECT_EQ(read_file_bytes(first / "model.safetensors"), default_model_files().at("model.safetensors"));
}

TEST_F(HubFixture, TokenizerRepositoriesNeedNoWeights) {
  hub.add_commit("org/tok", kCommit, {{"tokenizer.json", default_model_files().at("tokenizer.json")},
                                      {"tokenizer_config.json", default_model_files().at("tokenizer_config.json")}});
  hub::HubOptions options;
  options.need_weights = false;  // as --tokenizer resolves
  const fs::path snapshot = resolve_model_path("org/tok", options);
  EXPECT_TRUE(fs::exists(snapshot / "tokenizer.json"));
  const size_t before = hub.request_count();
  EXPECT_EQ(resolve_model_path("org/tok", options), snapshot);
  EXPECT_EQ(hub.request_count(), before);
  expect_error([] { resolve_model_path("org/tok"); }, ErrorKind::NotFound, {"has no *.safetensors, *.bin or *.pt weight files"});
}
