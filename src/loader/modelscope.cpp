#include "loader/modelscope.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "core/env.h"
#include "core/error.h"
#include "core/logging.h"
#include "loader/hub_http.h"

namespace vllm::hub {
namespace fs = std::filesystem;

namespace {

struct RemoteFile {
  uint64_t size = 0;
  std::string sha256;
};

[[noreturn]] void fail_modelscope(const HttpResponse& response, const std::string& model_id, const std::string& what) {
  if (response.status == 0)
    fail(ErrorKind::Unavailable, "cannot reach ", modelscope_endpoint(), " to download '", model_id, "' (",
         response.transport_error, "); check the network or MODELSCOPE_DOMAIN, or set HF_HUB_OFFLINE=1");
  std::string message;
  nlohmann::json body = nlohmann::json::parse(response.body, nullptr, false);
  if (body.is_object() && body.contains("Message") && body["Message"].is_string()) message = body["Message"];
  if (response.status == 404 || (body.is_object() && body.value("Code", 0) == 10010205))
    fail(ErrorKind::NotFound, "model '", model_id, "' ", what, " not found on ", modelscope_endpoint(),
         message.empty() ? "" : " (" + message + ")");
  if (response.status == 401 || response.status == 403)
    fail(ErrorKind::InvalidArgument, "model '", model_id, "' on ModelScope needs access (HTTP ", response.status,
         "): accept its licence at ", modelscope_endpoint(), "/models/", model_id);
  fail(ErrorKind::Unavailable, "model '", model_id, "': HTTP ", response.status, " from ", response.url,
       message.empty() ? "" : ": " + message);
}

}  // namespace

std::string modelscope_endpoint() {
  std::string domain = env::get("MODELSCOPE_DOMAIN").value_or("www.modelscope.cn");
  while (!domain.empty() && domain.back() == '/') domain.pop_back();
  return domain.rfind("http://", 0) == 0 || domain.rfind("https://", 0) == 0 ? domain : "https://" + domain;
}

fs::path modelscope_cache() {
  if (auto cache = env::get("MODELSCOPE_CACHE")) return *cache;
  return fs::path(env::get("HOME").value_or("")) / ".cache" / "modelscope" / "hub";
}

fs::path modelscope_model_dir(const std::string& model_id, const HubOptions& options) {
  std::string folder = model_id;
  for (size_t at = folder.find('.'); at != std::string::npos; at = folder.find('.', at + 3)) folder.replace(at, 1, "___");
  return (options.cache_dir.empty() ? modelscope_cache() : options.cache_dir) / "models" / folder;
}

fs::path modelscope_snapshot_download(const std::string& model_id, const HubOptions& options) {
  const fs::path model_dir = options.local_dir.empty() ? modelscope_model_dir(model_id, options) : options.local_dir;
  const std::string revision = options.revision.empty() ? "master" : options.revision;
  std::error_code ec;
  if (hub_offline()) {
    if (fs::is_directory(model_dir, ec)) return model_dir;
    fail(ErrorKind::NotFound, "model '", model_id, "' is not in the ModelScope cache ", model_dir.string(),
         " and HF_HUB_OFFLINE forbids downloading it");
  }
  if (options.files.empty() && !options.all_files && !options.check_for_updates &&
      snapshot_usable(model_dir, options))
    return model_dir;

  const std::string endpoint = modelscope_endpoint();
  const std::string list_url = endpoint + "/api/v1/models/" + model_id + "/repo/files?Revision=" +
                               url_escape(revision, false) + "&Recursive=True";
  HttpResponse list = http_get(list_url, {});
  if (list.status == 0 && snapshot_usable(model_dir, options)) {
    log_warning("cannot reach ", endpoint, " (", list.transport_error, "); using ", model_dir.string());
    return model_dir;
  }
  nlohmann::json json = nlohmann::json::parse(list.body, nullptr, false);
  if (list.status != 200 || !json.is_object() || json.value("Code", 200) != 200)
    fail_modelscope(list, model_id, "(revision '" + revision + "')");
  std::map<std::string, RemoteFile> remote;
  std::vector<std::string> names;
  const nlohmann::json* files = json.contains("Data") && json["Data"].is_object() ? &json["Data"]["Files"] : nullptr;
  if (!files || !files->is_array()) fail(ErrorKind::Unavailable, list_url, ": answer has no Data.Files list");
  for (const auto& file : *files) {
    if (!file.is_object() || file.value("Type", "blob") != "blob" || !file.contains("Path")) continue;
    const std::string path = file["Path"].get<std::string>();
    remote[path] = RemoteFile{file.value("Size", uint64_t{0}), file.value("Sha256", std::string())};
    names.push_back(path);
  }

  const std::string lock_folder = [&] {
    std::string name = model_id;
    std::replace(name.begin(), name.end(), '/', '_');
    return name;
  }();
  auto fetches_of = [&](const std::vector<std::string>& wanted) {
    std::vector<FileFetch> fetches;
    for (const std::string& name : wanted) {
      auto it = remote.find(name);
      if (it == remote.end())
        fail(ErrorKind::NotFound, "model '", model_id, "': file '", name, "' not found at revision '", revision, "'");
      const fs::path destination = model_dir / name;
      if (fs::is_regular_file(destination, ec) && fs::file_size(destination, ec) == it->second.size) continue;
      fs::remove(destination, ec);
      std::string flat = name;
      std::replace(flat.begin(), flat.end(), '/', '_');
      FileFetch fetch;
      fetch.url = endpoint + "/api/v1/models/" + model_id + "/repo?Revision=" + url_escape(revision, false) +
                  "&FilePath=" + url_escape(name, false);
      fetch.name = name;
      fetch.destination = destination;
      fetch.incomplete = model_dir / "._____temp" / (flat + ".incomplete");
      fetch.lock = (options.cache_dir.empty() ? modelscope_cache() : options.cache_dir) / ".lock" / lock_folder / (flat + ".lock");
      fetch.size = it->second.size;
      fetch.sha256 = it->second.sha256;
      fetches.push_back(std::move(fetch));
    }
    return fetches;
  };
  auto fetch = [&](const std::vector<std::string>& wanted) {
    fetch_files(fetches_of(wanted), options.max_workers, model_id);
  };
  if (!options.files.empty()) {
    fetch(options.files);
  } else if (options.all_files) {
    fetch(names);
  } else {
    fetch(metadata_files(names, options.ignore_patterns));
    if (!options.need_weights) return model_dir;
    std::vector<std::string> weights =
        weight_files(names, options.load_format, options.ignore_patterns,
                     [&](const std::string& index) { return shards_of_index(model_dir / index); });
    if (weights.empty())
      fail(ErrorKind::NotFound, "model '", model_id, "' at revision '", revision, "' has no weight files to load");
    fetch(weights);
  }
  fs::remove(model_dir / "._____temp", ec);  // when empty: another process may be using it
  return model_dir;
}

}  // namespace vllm::hub
