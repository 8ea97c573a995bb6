// CORS as vLLM's server does it: Starlette's CORSMiddleware with --allowed-origins,
// --allowed-methods, --allowed-headers and --allow-credentials. Preflight requests (OPTIONS with
// Access-Control-Request-Method) are answered here; other requests from an Origin get the
// Access-Control-* headers added to their response. See docs/server.md.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace vllm::server {

struct CorsOptions {
  std::vector<std::string> allowed_origins = {"*"};
  std::vector<std::string> allowed_methods = {"*"};
  std::vector<std::string> allowed_headers = {"*"};
  bool allow_credentials = false;
};

// A preflight's answer: 200 "OK", or 400 "Disallowed CORS origin, method, headers".
struct CorsPreflight {
  int status = 200;
  std::string body;
  std::string headers;  // "name: value\r\n" lines
};

class CorsPolicy {
 public:
  explicit CorsPolicy(CorsOptions options);

  // request_headers: the Access-Control-Request-Headers value, when present.
  CorsPreflight preflight(const std::string& origin, const std::string& method,
                          const std::optional<std::string>& request_headers) const;

  // The headers a non-preflight response gets ("" without an Origin header).
  std::string response_headers(const std::optional<std::string>& origin, bool has_cookie) const;

 private:
  bool origin_allowed(const std::string& origin) const;

  std::vector<std::string> origins_;
  std::vector<std::string> methods_;   // "*" expanded to every method
  std::vector<std::string> headers_;   // lower-case, with the CORS-safelisted ones
  bool allow_all_origins_ = false;
  bool allow_all_headers_ = false;
  bool allow_credentials_ = false;
  std::string preflight_headers_;
};

}  // namespace vllm::server
