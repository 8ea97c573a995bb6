#include "server/http_client.h"

#include <utility>  // before Asio: its headers use std::exchange

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cctype>
#include <exception>
#include <limits>
#include <optional>

#include "core/error.h"

namespace vllm::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

HttpUrl parse_http_url(const std::string& url) {
  std::string rest = url;
  HttpUrl parsed;
  if (rest.rfind("https://", 0) == 0) {
    rest = rest.substr(8);
    parsed.tls = true;
  } else if (rest.rfind("http://", 0) == 0) {
    rest = rest.substr(7);
  }
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  parsed.base_path = slash == std::string::npos ? "" : rest.substr(slash);
  while (!parsed.base_path.empty() && parsed.base_path.back() == '/') parsed.base_path.pop_back();
  size_t colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']') == std::string::npos) {
    parsed.host = authority.substr(0, colon);
    parsed.port = authority.substr(colon + 1);
  } else {
    parsed.host = authority;
    parsed.port = parsed.tls ? "443" : "80";
  }
  VLLM_CHECK(!parsed.host.empty() && !parsed.port.empty(), InvalidArgument, "--url ", url,
             " is not an http(s)://host:port/path address");
  return parsed;
}

namespace {

// One request and its response over a connected stream (TCP or TLS).
template <typename Stream>
net::awaitable<void> exchange(Stream& stream, const std::string& host, const std::string& port,
                              const HttpRequest& request, const std::function<bool(std::string_view)>* on_data,
                              HttpResponse& response) {
  auto timeout = std::chrono::milliseconds(static_cast<int64_t>(request.timeout_s * 1000));
  auto& tcp_stream = beast::get_lowest_layer(stream);
  http::request<http::string_body> message{http::string_to_verb(request.method), request.target, 11};
  message.set(http::field::host, host + ":" + port);
  message.set(http::field::user_agent, "vllm-cpp");
  for (const auto& [name, value] : request.headers) message.set(name, value);
  if (!request.body.empty() || request.method == "POST") {
    if (message.find(http::field::content_type) == message.end()) message.set(http::field::content_type, "application/json");
    message.body() = request.body;
    message.prepare_payload();
  }
  tcp_stream.expires_after(timeout);
  co_await http::async_write(stream, message, net::use_awaitable);

  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  tcp_stream.expires_after(timeout);
  co_await http::async_read_header(stream, buffer, parser, net::use_awaitable);
  response.status = static_cast<int>(parser.get().result_int());
  for (const auto& field : parser.get()) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    response.headers[name] = std::string(field.value());
  }
  char chunk[16384];
  while (!parser.is_done()) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof(chunk);
    beast::error_code ec;
    tcp_stream.expires_after(timeout);
    co_await http::async_read_some(stream, buffer, parser, net::redirect_error(net::use_awaitable, ec));
    if (ec == http::error::need_buffer) ec = {};
    if (ec) throw beast::system_error(ec);
    size_t got = sizeof(chunk) - parser.get().body().size;
    if (got == 0) continue;
    if (on_data) {
      if (!(*on_data)(std::string_view(chunk, got))) break;  // hang up at once
    } else {
      response.body.append(chunk, got);
    }
  }
  beast::error_code ignored;
  tcp_stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  tcp_stream.socket().close(ignored);
}

net::awaitable<void> fetch(const std::string& host, const std::string& port, const HttpRequest& request,
                           const std::function<bool(std::string_view)>* on_data, HttpResponse& response) {
  auto executor = co_await net::this_coro::executor;
  auto timeout = std::chrono::milliseconds(static_cast<int64_t>(request.timeout_s * 1000));
  tcp::resolver resolver(executor);
  auto endpoints = co_await resolver.async_resolve(host, port, net::use_awaitable);
  if (!request.tls) {
    beast::tcp_stream stream(executor);
    stream.expires_after(timeout);
    co_await stream.async_connect(endpoints, net::use_awaitable);
    co_await exchange(stream, host, port, request, on_data, response);
    co_return;
  }
  ssl::context context(ssl::context::tls_client);
  if (request.tls_verify) {
    if (request.tls_ca_file.empty()) context.set_default_verify_paths();
    else context.load_verify_file(request.tls_ca_file);
    context.set_verify_mode(ssl::verify_peer);
    context.set_verify_callback(ssl::host_name_verification(host));
  }
  ssl::stream<beast::tcp_stream> stream(executor, context);
  SSL_set_tlsext_host_name(stream.native_handle(), host.c_str());  // SNI
  beast::get_lowest_layer(stream).expires_after(timeout);
  co_await beast::get_lowest_layer(stream).async_connect(endpoints, net::use_awaitable);
  co_await stream.async_handshake(ssl::stream_base::client, net::use_awaitable);
  co_await exchange(stream, host, port, request, on_data, response);
}

HttpResponse run_fetch(const std::string& host, const std::string& port, const HttpRequest& request,
                       const std::function<bool(std::string_view)>* on_data) {
  HttpResponse response;
  net::io_context ioc{1};
  std::exception_ptr failure;
  net::co_spawn(ioc, fetch(host, port, request, on_data, response), [&](std::exception_ptr error) { failure = error; });
  ioc.run();
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const beast::system_error& error) {
      std::string where = str(request.tls ? "https://" : "http://", host, ":", port, request.target);
      if (error.code() == beast::error::timeout)
        fail(ErrorKind::InvalidArgument, where, ": no answer within ", request.timeout_s, " s");
      if (error.code().category() == net::error::get_ssl_category())
        fail(ErrorKind::InvalidArgument, where, ": TLS failed: ", error.code().message(),
             request.tls_verify ? " (a certificate the system's CAs do not know? OpenSSL reads SSL_CERT_FILE)" : "");
      if (response.status == 0)
        fail(ErrorKind::NotFound, "cannot reach ", where, ": ", error.code().message(),
             " (is `vllm-cpp serve` running there?)");
      fail(ErrorKind::InvalidArgument, where, ": ", error.code().message());
    }
  }
  return response;
}

}  // namespace

HttpResponse http_fetch(const std::string& host, const std::string& port, const HttpRequest& request) {
  return run_fetch(host, port, request, nullptr);
}

HttpResponse http_fetch_streaming(const std::string& host, const std::string& port, const HttpRequest& request,
                                  const std::function<bool(std::string_view)>& on_data) {
  return run_fetch(host, port, request, &on_data);
}

bool SseReader::feed(std::string_view bytes, const std::function<bool(std::string_view)>& on_event) {
  buffer_.append(bytes);
  size_t start = 0;
  while (true) {
    size_t end = buffer_.find("\n\n", start);
    if (end == std::string::npos) break;
    std::string_view event(buffer_.data() + start, end - start);
    start = end + 2;
    // An event may have several lines; its data is the "data:" lines joined by "\n".
    std::string data;
    bool has_data = false;
    event_name_.clear();
    size_t line_start = 0;
    while (line_start <= event.size()) {
      size_t line_end = event.find('\n', line_start);
      if (line_end == std::string_view::npos) line_end = event.size();
      std::string_view line = event.substr(line_start, line_end - line_start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.rfind("data:", 0) == 0) {
        line.remove_prefix(5);
        if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
        if (has_data) data += '\n';
        data += line;
        has_data = true;
      } else if (line.rfind("event:", 0) == 0) {
        line.remove_prefix(6);
        if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
        event_name_ = line;
      }
      line_start = line_end + 1;
    }
    if (has_data && !on_event(data)) {
      buffer_.erase(0, start);
      return false;
    }
  }
  buffer_.erase(0, start);
  return true;
}

}  // namespace vllm::server
