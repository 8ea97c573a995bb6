// A small blocking HTTP/1.1 client (Beast) for the `chat` and `complete` subcommands and the
// server's tests: plain requests, and streamed responses handed over piece by piece.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vllm::server {

// "http://host:port/base" -> {host, port, "/base"} (port 80 when absent, 443 for https://).
struct HttpUrl {
  std::string host;
  std::string port;
  std::string base_path;  // "" or "/v1", never ending in '/'
  bool tls = false;       // https://
};
HttpUrl parse_http_url(const std::string& url);

struct HttpRequest {
  std::string method = "GET";
  std::string target = "/";  // path and query
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  double timeout_s = 60;     // connect, and each read/write (an idle limit while streaming)
  // HTTPS: the server's certificate is checked against tls_ca_file (PEM), or the system's CAs
  // when empty, and must name the host; tls_verify = false skips both checks.
  bool tls = false;
  std::string tls_ca_file;
  bool tls_verify = true;
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;                            // empty when on_data took the body
};

// Throws vllm::Error(NotFound) when the server cannot be reached, InvalidArgument on timeouts
// and malformed responses.
HttpResponse http_fetch(const std::string& host, const std::string& port, const HttpRequest& request);

// As http_fetch, with the body handed to on_data as it arrives; on_data returns false to hang up
// (the connection is closed at once).
HttpResponse http_fetch_streaming(const std::string& host, const std::string& port, const HttpRequest& request,
                                  const std::function<bool(std::string_view)>& on_data);

// Splits a text/event-stream into the payloads of its "data:" lines.
class SseReader {
 public:
  // Calls on_event(payload) per complete event; returns false once on_event did.
  bool feed(std::string_view bytes, const std::function<bool(std::string_view)>& on_event);
  // During on_event: the event's "event:" name ("" when it has none; the Responses and Messages
  // APIs name every event).
  const std::string& event_name() const { return event_name_; }

 private:
  std::string buffer_;
  std::string event_name_;
};

}  // namespace vllm::server
