#include "multimodal/media.h"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <mutex>

#include <curl/curl.h>

#include "core/error.h"

namespace vllm::mm {

namespace {

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;  // '-' and '_': the URL-safe alphabet, which Python's b64decode refuses
  if (c == '/' || c == '_') return 63;
  return -1;
}

std::vector<uint8_t> load_data_url(std::string_view url) {
  // data:<media type>[;base64],<data>; vLLM accepts base64 only.
  const size_t comma = url.find(',');
  VLLM_CHECK(comma != std::string_view::npos, InvalidArgument, "Invalid data URL: no ',' after the media type");
  std::string_view header = url.substr(5, comma - 5);
  VLLM_CHECK(header.size() >= 7 && header.substr(header.size() - 7) == ";base64", InvalidArgument,
             "Only base64 data URLs are supported for now.");
  return base64_decode(url.substr(comma + 1));
}

size_t write_capped(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<std::pair<std::vector<uint8_t>*, size_t>*>(user);
  const size_t n = size * count;
  if (sink->first->size() + n > sink->second) return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
  sink->first->insert(sink->first->end(), data, data + n);
  return n;
}

std::vector<uint8_t> fetch_http(const std::string& url, const MediaOptions& options) {
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CURL* curl = curl_easy_init();
  VLLM_CHECK(curl, Internal, "libcurl: curl_easy_init failed");
  std::vector<uint8_t> body;
  std::pair<std::vector<uint8_t>*, size_t> sink{&body, options.max_bytes};
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, options.max_redirects);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, static_cast<long>(options.fetch_timeout_seconds));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_capped);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "vllm-cpp");
  const CURLcode code = curl_easy_perform(curl);
  curl_easy_cleanup(curl);
  if (code == CURLE_WRITE_ERROR && body.size() <= options.max_bytes)
    fail(ErrorKind::InvalidArgument, "Failed to fetch ", url, ": the response is larger than ", options.max_bytes,
         " bytes");
  VLLM_CHECK(code == CURLE_OK, InvalidArgument, "Failed to fetch ", url, ": ",
             error[0] ? std::string(error) : std::string(curl_easy_strerror(code)),
             code == CURLE_OPERATION_TIMEDOUT ? " (VLLM_IMAGE_FETCH_TIMEOUT sets the limit in seconds)" : "");
  return body;
}

std::vector<uint8_t> load_file(std::string_view url, const MediaOptions& options) {
  namespace fs = std::filesystem;
  VLLM_CHECK(!options.allowed_local_media_path.empty(), InvalidArgument,
             "Cannot load local files without `--allowed-local-media-path`.");
  std::string_view path_text = url.substr(7);  // file://
  if (path_text.starts_with("localhost/")) path_text.remove_prefix(9);
  std::error_code ec;
  const fs::path allowed = fs::weakly_canonical(options.allowed_local_media_path, ec);
  const fs::path path = fs::weakly_canonical(fs::path(path_text), ec);
  auto [end, unused] = std::mismatch(allowed.begin(), allowed.end(), path.begin(), path.end());
  VLLM_CHECK(end == allowed.end() && path != allowed, InvalidArgument, "The file path ", path.string(),
             " must be a subpath of `--allowed-local-media-path ", options.allowed_local_media_path.string(), "`.");
  std::ifstream file(path, std::ios::binary);
  VLLM_CHECK(file, InvalidArgument, "Cannot read the local file ", path.string());
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  VLLM_CHECK(bytes.size() <= options.max_bytes, InvalidArgument, "The local file ", path.string(), " is larger than ",
             options.max_bytes, " bytes");
  return bytes;
}

}  // namespace

std::vector<uint8_t> base64_decode(std::string_view text) {
  std::vector<uint8_t> out;
  out.reserve(text.size() / 4 * 3);
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=' || c == '\n' || c == '\r' || c == ' ' || c == '\t') continue;
    const int value = base64_value(c);
    VLLM_CHECK(value >= 0, InvalidArgument, "Invalid base64 data: unexpected character '", std::string(1, c), "'");
    buffer = (buffer << 6) | static_cast<uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>((buffer >> bits) & 0xff));
    }
  }
  return out;
}

std::vector<uint8_t> load_media_bytes(const std::string& url, const MediaOptions& options) {
  if (url.starts_with("data:")) return load_data_url(url);
  if (url.starts_with("http://") || url.starts_with("https://")) return fetch_http(url, options);
  if (url.starts_with("file://")) return load_file(url, options);
  fail(ErrorKind::InvalidArgument, "The URL must be either a HTTP, data or file URL.");
}

}  // namespace vllm::mm
