// `vllm-cpp hf download | scan-cache | delete-cache`: the Hugging Face cache commands, with the
// output conventions of huggingface_hub's `hf` / `huggingface-cli` (docs/loading.md).
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "cli/command.h"
#include "core/error.h"
#include "loader/hub_cache.h"
#include "loader/hub_download.h"
#include "loader/model_path.h"
#include "loader/modelscope.h"

namespace vllm::cli {
namespace {

namespace fs = std::filesystem;

// huggingface_hub's tabulate: every column as wide as its widest cell, each cell followed by a
// space; `right` columns (numbers) aligned right.
std::string tabulate(const std::vector<std::vector<std::string>>& rows, const std::vector<std::string>& headers,
                     const std::vector<bool>& right) {
  std::vector<size_t> widths(headers.size());
  for (size_t c = 0; c < headers.size(); ++c) {
    widths[c] = headers[c].size();
    for (const auto& row : rows) widths[c] = std::max(widths[c], row[c].size());
  }
  auto line = [&](const std::vector<std::string>& cells, bool header) {
    std::string out;
    for (size_t c = 0; c < cells.size(); ++c) {
      const std::string pad(widths[c] - cells[c].size(), ' ');
      out += (right[c] && !header ? pad + cells[c] : cells[c] + pad) + " ";
    }
    return out + "\n";
  };
  std::string out = line(headers, true);
  std::vector<std::string> dashes;
  for (size_t width : widths) dashes.push_back(std::string(width, '-'));
  out += line(dashes, true);
  for (const auto& row : rows) out += line(row, false);
  return out;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

fs::path cache_folder(const std::string& dir) { return dir.empty() ? hf_hub_cache_dir() : fs::path(dir); }

int scan_cache(const std::string& dir, bool verbose) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::string> warnings;
  const std::vector<hub::CachedRepo> repos = hub::scan_cache(cache_folder(dir), &warnings);
  const std::time_t now = std::time(nullptr);
  std::vector<std::vector<std::string>> rows;
  uint64_t total = 0;
  for (const hub::CachedRepo& repo : repos) {
    total += repo.size_on_disk;
    if (!verbose) {
      rows.push_back({repo.repo_id, repo.repo_type, hub::format_size(repo.size_on_disk), std::to_string(repo.files),
                      hub::format_time_since(repo.last_accessed, now), hub::format_time_since(repo.last_modified, now),
                      join(repo.refs()), repo.path.string()});
      continue;
    }
    for (const hub::CachedRevision& revision : repo.revisions)
      rows.push_back({repo.repo_id, repo.repo_type, revision.commit, hub::format_size(revision.size_on_disk),
                      std::to_string(revision.files), hub::format_time_since(revision.last_modified, now),
                      join(revision.refs), revision.snapshot.string()});
  }
  std::string table =
      verbose ? tabulate(rows, {"REPO ID", "REPO TYPE", "REVISION", "SIZE ON DISK", "NB FILES", "LAST_MODIFIED", "REFS", "LOCAL PATH"},
                         {false, false, false, true, true, false, false, false})
              : tabulate(rows, {"REPO ID", "REPO TYPE", "SIZE ON DISK", "NB FILES", "LAST_ACCESSED", "LAST_MODIFIED", "REFS", "LOCAL PATH"},
                         {false, false, true, true, false, false, false, false});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s\nDone in %.1fs. Scanned %zu repo(s) for a total of %s.\n", table.c_str(), seconds, repos.size(),
              hub::format_size(total).c_str());
  if (!warnings.empty()) {
    std::printf("Got %zu warning(s) while scanning.\n", warnings.size());
    for (const std::string& warning : warnings) std::printf("  %s\n", warning.c_str());
  }
  return 0;
}

int delete_cache(const std::vector<std::string>& targets, const std::string& dir) {
  hub::DeletePlan total;
  std::printf("Start deletion.\n");
  for (const std::string& target : targets) {
    const size_t at = target.find('@');
    hub::DeletePlan plan = hub::delete_cached(cache_folder(dir), target.substr(0, at),
                                              at == std::string::npos ? "" : target.substr(at + 1));
    total.repos += plan.repos;
    total.revisions += plan.revisions;
    total.freed_bytes += plan.freed_bytes;
  }
  std::printf("Done. Deleted %d repo(s) and %d revision(s) for a total of %s.\n", total.repos, total.revisions,
              hub::format_size(total.freed_bytes).c_str());
  return 0;
}

int run_hf(int argc, char** argv) {
  CLI::App app{"Hugging Face cache commands: download, scan-cache, delete-cache"};
  app.require_subcommand(1);

  hub::HubOptions options;
  std::string repo, local_dir, cache_dir;
  std::vector<std::string> files;
  CLI::App* download = app.add_subcommand("download", "Download a model repository (or some of its files) into the cache");
  download->add_option("repo_id", repo, "Repository id, org/name")->required();
  download->add_option("filenames", files, "Files to download (default: the whole repository)");
  download->add_option("--revision", options.revision, "Branch, tag or commit (default: main)");
  download->add_option("--local-dir", local_dir, "Write plain files to this folder instead of the cache");
  download->add_option("--cache-dir", cache_dir, "Cache folder (default: HF_HUB_CACHE's rules)");
  download->add_option("--token", options.token, "Access token (default: HF_TOKEN, then the token file)");
  download->add_option("--exclude", options.ignore_patterns, "Glob patterns of files to skip");
  download->add_option("--max-workers", options.max_workers, "Files downloaded at once (default 8)")
      ->check(CLI::PositiveNumber);

  std::string scan_dir;
  bool verbose = false;
  CLI::App* scan = app.add_subcommand("scan-cache", "List the cached repositories: revisions, sizes, last use");
  scan->add_option("--dir", scan_dir, "Cache folder (default: HF_HUB_CACHE's rules)");
  scan->add_flag("-v,--verbose", verbose, "One row per revision");

  std::vector<std::string> targets;
  std::string delete_dir;
  CLI::App* remove = app.add_subcommand("delete-cache", "Delete cached repositories or revisions: REPO or REPO@REVISION");
  remove->add_option("targets", targets, "org/name, or org/name@revision (a commit, a commit prefix or a ref)")->required();
  remove->add_option("--dir", delete_dir, "Cache folder (default: HF_HUB_CACHE's rules)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (scan->parsed()) return scan_cache(scan_dir, verbose);
  if (remove->parsed()) return delete_cache(targets, delete_dir);

  VLLM_CHECK(looks_like_hub_id(repo), InvalidArgument, "'", repo, "' is not a repository id (org/name)");
  options.files = files;
  options.all_files = files.empty();
  options.local_dir = local_dir;
  options.cache_dir = cache_dir;
  options.check_for_updates = true;
  const fs::path folder = hub::hf_snapshot_download(repo, options);
  // As `hf download`: the file's path for one file, else the folder's.
  std::printf("%s\n", (files.size() == 1 ? folder / files.front() : folder).string().c_str());
  return 0;
}

CommandRegistrar hf{{"hf", "Hugging Face cache: download a model, scan-cache, delete-cache", run_hf}};

}  // namespace
}  // namespace vllm::cli
