#include "loader/hub_http.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <memory>
#include <mutex>

#include "core/error.h"
#include "core/version.h"

namespace vllm::hub {

namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlDeleter {
  void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};
struct ListDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using CurlHandle = std::unique_ptr<CURL, CurlDeleter>;
using HeaderList = std::unique_ptr<curl_slist, ListDeleter>;

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// Header lines of every response curl sees; a new status line (a redirect's next hop) starts over.
size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* response = static_cast<HttpResponse*>(user);
  std::string line(data, size * count);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  if (line.rfind("HTTP/", 0) == 0) {
    response->headers.clear();
  } else if (size_t colon = line.find(':'); colon != std::string::npos) {
    size_t start = line.find_first_not_of(' ', colon + 1);
    response->headers[lower(line.substr(0, colon))] = start == std::string::npos ? "" : line.substr(start);
  }
  return size * count;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

struct Request {
  CurlHandle handle;
  HeaderList headers;
  HttpResponse response;
  char error[CURL_ERROR_SIZE] = {0};
};

std::unique_ptr<Request> make_request(const std::string& url, const std::vector<std::string>& headers) {
  global_init();
  auto request = std::make_unique<Request>();
  request->handle.reset(curl_easy_init());
  VLLM_CHECK(request->handle, Internal, "curl_easy_init failed");
  CURL* curl = request->handle.get();
  curl_slist* list = nullptr;
  for (const std::string& header : headers) list = curl_slist_append(list, header.c_str());
  request->headers.reset(list);
  static const std::string agent = std::string("vllm-cpp/") + kVersion + "; hf_hub-compatible";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, agent.c_str());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, request->error);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &request->response);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
  // A stalled transfer (under 1 byte/s for 30 s) fails rather than hanging; a resume picks it up.
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 30L);
  return request;
}

void perform(Request& request) {
  CURL* curl = request.handle.get();
  CURLcode code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &request.response.status);
  char* effective = nullptr;
  curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &effective);
  if (effective) request.response.url = effective;
  if (code != CURLE_OK && code != CURLE_WRITE_ERROR) {
    request.response.transport_error = request.error[0] ? request.error : curl_easy_strerror(code);
    if (code != CURLE_PARTIAL_FILE && code != CURLE_OPERATION_TIMEDOUT && code != CURLE_RECV_ERROR)
      request.response.status = 0;
  }
}

}  // namespace

std::string HttpResponse::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

HttpResponse http_get(const std::string& url, const std::vector<std::string>& headers) {
  auto request = make_request(url, headers);
  curl_easy_setopt(request->handle.get(), CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(request->handle.get(), CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(request->handle.get(), CURLOPT_WRITEDATA, &request->response.body);
  perform(*request);
  return std::move(request->response);
}

HttpResponse http_head(const std::string& url, const std::vector<std::string>& headers) {
  std::string current = url;
  for (int hop = 0; hop < 10; ++hop) {
    auto request = make_request(current, headers);
    curl_easy_setopt(request->handle.get(), CURLOPT_NOBODY, 1L);
    perform(*request);
    HttpResponse response = std::move(request->response);
    const std::string location = response.header("location");
    const bool relative = !location.empty() && location.front() == '/';
    if (response.status < 300 || response.status >= 400 || !relative) return response;
    // A relative redirect (a renamed repository) stays on the same host.
    size_t scheme = current.find("://");
    size_t path = current.find('/', scheme == std::string::npos ? 0 : scheme + 3);
    current = current.substr(0, path) + location;
  }
  HttpResponse loop;
  loop.transport_error = "too many redirects from " + url;
  return loop;
}

DownloadResult http_download(const std::string& url, const std::vector<std::string>& headers,
                             const std::filesystem::path& file, uint64_t offset,
                             const std::function<void(uint64_t)>& on_bytes) {
  DownloadResult result;
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    result.write_errno = errno;
    return result;
  }
  auto request = make_request(url, headers);
  CURL* curl = request->handle.get();
  struct Sink {
    int fd;
    uint64_t offset;
    bool started = false;
    bool to_file = false;
    CURL* curl;
    HttpResponse* response;
    const std::function<void(uint64_t)>* on_bytes;
    int write_errno = 0;
  } sink{fd, offset, false, false, curl, &request->response, &on_bytes};
  auto on_data = +[](char* data, size_t size, size_t count, void* user) -> size_t {
    auto* sink = static_cast<Sink*>(user);
    const size_t bytes = size * count;
    if (!sink->started) {  // the final response's status is known once its body starts
      sink->started = true;
      long status = 0;
      curl_easy_getinfo(sink->curl, CURLINFO_RESPONSE_CODE, &status);
      sink->to_file = status == 200 || status == 206;
      const uint64_t start = status == 206 ? sink->offset : 0;
      if (sink->to_file && (::ftruncate(sink->fd, static_cast<off_t>(start)) != 0 ||
                            ::lseek(sink->fd, static_cast<off_t>(start), SEEK_SET) < 0)) {
        sink->write_errno = errno;
        return 0;
      }
    }
    if (!sink->to_file) {  // an error body, kept for the message
      sink->response->body.append(data, bytes);
      return bytes;
    }
    size_t written = 0;
    while (written < bytes) {
      ssize_t n = ::write(sink->fd, data + written, bytes - written);
      if (n < 0) {
        if (errno == EINTR) continue;
        sink->write_errno = errno;
        return 0;
      }
      written += static_cast<size_t>(n);
    }
    if (*sink->on_bytes) (*sink->on_bytes)(bytes);
    return bytes;
  };
  std::string range;
  if (offset > 0) {
    range = std::to_string(offset) + "-";
    curl_easy_setopt(curl, CURLOPT_RANGE, range.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  perform(*request);
  if (::close(fd) != 0 && sink.write_errno == 0) sink.write_errno = errno;
  result.response = std::move(request->response);
  result.write_errno = sink.write_errno;
  return result;
}

std::string url_escape(const std::string& text, bool keep_slash) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace vllm::hub
