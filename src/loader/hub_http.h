// A small blocking HTTP client over libcurl for model downloads (Hugging Face Hub, ModelScope):
// JSON API calls into memory, HEAD requests for file metadata, and file bodies streamed to disk
// with resume by Range request. One call, one curl easy handle, so calls from several threads
// run side by side.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace vllm::hub {

struct HttpResponse {
  long status = 0;                             // 0: no response (transport_error says why)
  std::map<std::string, std::string> headers;  // of the last response, names in lower case
  std::string body;                            // API calls and error bodies
  std::string transport_error;                 // curl's message when the server was not reached
  std::string url;                             // the URL the last response came from

  std::string header(const std::string& lower_name) const;
};

// `headers`: "Name: value" lines sent with the request.
HttpResponse http_get(const std::string& url, const std::vector<std::string>& headers);
// HEAD without following redirects to another host: huggingface_hub reads X-Repo-Commit,
// X-Linked-Etag and X-Linked-Size from the Hub's own answer (a 302 to the CDN for LFS files), and
// follows only relative redirects (a renamed repository).
HttpResponse http_head(const std::string& url, const std::vector<std::string>& headers);

// GET `url` (following redirects) and append the body to `file` from byte `offset`: a Range
// request when offset > 0; a server that answers 200 instead of 206 rewrites the file from the
// start. `on_bytes(n)` is called as bytes arrive. A write error (ENOSPC, EDQUOT) is reported in
// `write_errno` and stops the transfer.
struct DownloadResult {
  HttpResponse response;
  int write_errno = 0;
};
DownloadResult http_download(const std::string& url, const std::vector<std::string>& headers,
                             const std::filesystem::path& file, uint64_t offset,
                             const std::function<void(uint64_t)>& on_bytes);

// Percent-encodes a query value or a path segment ('/' kept when `keep_slash`).
std::string url_escape(const std::string& text, bool keep_slash);

}  // namespace vllm::hub
