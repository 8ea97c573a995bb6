#include "server/cors.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "core/error.h"

namespace vllm::server {

namespace {

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string trim(const std::string& text) {
  size_t begin = text.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find_last_not_of(" \t") - begin + 1);
}

std::string join(const std::vector<std::string>& items) {
  std::string joined;
  for (const std::string& item : items) joined += (joined.empty() ? "" : ", ") + item;
  return joined;
}

bool contains(const std::vector<std::string>& items, const std::string& item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

}  // namespace

CorsPolicy::CorsPolicy(CorsOptions options)
    : origins_(std::move(options.allowed_origins)), allow_credentials_(options.allow_credentials) {
  allow_all_origins_ = contains(origins_, "*");
  if (contains(options.allowed_methods, "*"))
    methods_ = {"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"};
  else
    methods_ = options.allowed_methods;
  allow_all_headers_ = contains(options.allowed_headers, "*");
  // Starlette always allows the CORS-safelisted request headers, and compares in lower case.
  std::set<std::string> headers = {"Accept", "Accept-Language", "Content-Language", "Content-Type"};
  headers.insert(options.allowed_headers.begin(), options.allowed_headers.end());
  std::vector<std::string> sorted(headers.begin(), headers.end());
  for (const std::string& header : sorted) headers_.push_back(lower(header));

  // An explicit origin is echoed when not every origin is allowed, or when credentials are
  // (a browser refuses "*" with credentials).
  bool explicit_origin = !allow_all_origins_ || allow_credentials_;
  preflight_headers_ = explicit_origin ? "vary: Origin\r\n" : "access-control-allow-origin: *\r\n";
  preflight_headers_ += str("access-control-allow-methods: ", join(methods_), "\r\naccess-control-max-age: 600\r\n");
  if (!allow_all_headers_) preflight_headers_ += str("access-control-allow-headers: ", join(sorted), "\r\n");
  if (allow_credentials_) preflight_headers_ += "access-control-allow-credentials: true\r\n";
}

bool CorsPolicy::origin_allowed(const std::string& origin) const {
  return allow_all_origins_ || contains(origins_, origin);
}

CorsPreflight CorsPolicy::preflight(const std::string& origin, const std::string& method,
                                    const std::optional<std::string>& request_headers) const {
  CorsPreflight answer;
  answer.headers = preflight_headers_;
  std::vector<std::string> failures;
  if (!origin_allowed(origin))
    failures.push_back("origin");
  else if (!allow_all_origins_ || allow_credentials_)
    answer.headers += str("access-control-allow-origin: ", origin, "\r\n");
  if (!contains(methods_, method)) failures.push_back("method");
  if (allow_all_headers_ && request_headers) {
    answer.headers += str("access-control-allow-headers: ", *request_headers, "\r\n");
  } else if (request_headers) {
    size_t start = 0;
    while (start <= request_headers->size()) {
      size_t comma = request_headers->find(',', start);
      if (comma == std::string::npos) comma = request_headers->size();
      std::string header = lower(trim(request_headers->substr(start, comma - start)));
      if (!header.empty() && !contains(headers_, header)) {
        failures.push_back("headers");
        break;
      }
      start = comma + 1;
    }
  }
  if (failures.empty()) {
    answer.body = "OK";
  } else {
    answer.status = 400;
    answer.body = "Disallowed CORS " + join(failures);
  }
  return answer;
}

std::string CorsPolicy::response_headers(const std::optional<std::string>& origin, bool has_cookie) const {
  if (!origin) return "";
  std::string headers;
  // With cookies a "*" origin is not enough for the browser: the origin is echoed instead.
  if ((allow_all_origins_ && has_cookie) || (!allow_all_origins_ && origin_allowed(*origin)))
    headers += str("access-control-allow-origin: ", *origin, "\r\nvary: Origin\r\n");
  else if (allow_all_origins_)
    headers += "access-control-allow-origin: *\r\n";
  if (allow_credentials_) headers += "access-control-allow-credentials: true\r\n";
  return headers;
}

}  // namespace vllm::server
