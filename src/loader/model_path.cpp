#include "loader/model_path.h"

#include <cctype>
#include <fstream>
#include <vector>

#include "core/env.h"
#include "core/error.h"

namespace vllm {
namespace fs = std::filesystem;

namespace {

// Read at each lookup, not cached (core/env.h).
std::string env_value(const char* name) { return env::get(name).value_or(""); }

// A Hub repository id: "name" or "org/name", made of the characters the Hub allows.
bool looks_like_hub_id(const std::string& model) {
  if (model.empty() || model.front() == '/' || model.back() == '/' || model.front() == '.') return false;
  int slashes = 0;
  for (char c : model) {
    if (c == '/') ++slashes;
    else if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  }
  return slashes <= 1 && model.find("..") == std::string::npos;
}

std::string trim(std::string text) {
  size_t end = text.find_last_not_of(" \t\r\n");
  return end == std::string::npos ? "" : text.substr(0, end + 1);
}

}  // namespace

fs::path hf_hub_cache_dir() {
  if (std::string dir = env_value("HF_HUB_CACHE"); !dir.empty()) return dir;
  if (std::string dir = env_value("HUGGINGFACE_HUB_CACHE"); !dir.empty()) return dir;
  if (std::string home = env_value("HF_HOME"); !home.empty()) return fs::path(home) / "hub";
  if (std::string xdg = env_value("XDG_CACHE_HOME"); !xdg.empty()) return fs::path(xdg) / "huggingface" / "hub";
  return fs::path(env_value("HOME")) / ".cache" / "huggingface" / "hub";
}

fs::path resolve_model_path(const std::string& model) {
  std::error_code ec;
  if (fs::is_directory(model, ec)) return fs::path(model);
  if (fs::exists(model, ec))
    fail(ErrorKind::InvalidArgument, model, ": is a file; --model takes a model folder or a Hub id");

  const std::string download_hint =
      "; this build cannot download models: run `huggingface-cli download " + model +
      "` (or `hf download " + model + "`) first, or pass a local folder";
  if (!looks_like_hub_id(model))
    fail(ErrorKind::NotFound, "model '", model, "': folder does not exist", download_hint);

  std::string repo_folder = "models--" + model;
  if (size_t slash = repo_folder.find('/'); slash != std::string::npos) repo_folder.replace(slash, 1, "--");
  const fs::path repo = hf_hub_cache_dir() / repo_folder;
  if (!fs::is_directory(repo / "snapshots", ec))
    fail(ErrorKind::NotFound, "model '", model, "': no such local folder and not in the Hugging Face cache (",
         repo.string(), " does not exist)", download_hint);

  const fs::path ref = repo / "refs" / "main";
  if (fs::is_regular_file(ref, ec)) {
    std::ifstream in(ref);
    std::string commit;
    std::getline(in, commit);
    commit = trim(commit);
    const fs::path snapshot = repo / "snapshots" / commit;
    if (commit.empty() || !fs::is_directory(snapshot, ec))
      fail(ErrorKind::NotFound, "model '", model, "': ", ref.string(), " names snapshot '", commit,
           "', which is not in ", (repo / "snapshots").string(), download_hint);
    return snapshot;
  }
  // No refs/main (downloaded at a revision): use the only snapshot there is.
  std::vector<fs::path> snapshots;
  for (const auto& item : fs::directory_iterator(repo / "snapshots"))
    if (item.is_directory()) snapshots.push_back(item.path());
  if (snapshots.size() != 1)
    fail(ErrorKind::NotFound, "model '", model, "': ", ref.string(), " is missing and ",
         (repo / "snapshots").string(), " holds ", snapshots.size(),
         " snapshots; pass the snapshot folder itself", download_hint);
  return snapshots.front();
}

}  // namespace vllm
