// HTTPS (--ssl-*) and CORS (--allowed-origins ...) of the HTTP server, in-process against the
// FakeEngine. The TLS tests make a self-signed certificate with the openssl CLI at test time and
// skip without it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "fake_engine.h"
#include "server/cors.h"
#include "server/http_client.h"
#include "server/http_server.h"
#include "server_test_util.h"

namespace vllm::server {
namespace {

namespace fs = std::filesystem;
using testing::FakeEngine;

// --- CorsPolicy (Starlette's CORSMiddleware) ----------------------------------------------------

TEST(CorsPolicy, DefaultsAllowEveryOriginWithAStar) {
  CorsPolicy cors{CorsOptions{}};
  EXPECT_EQ(cors.response_headers(std::string("https://a.example"), false), "access-control-allow-origin: *\r\n");
  EXPECT_EQ(cors.response_headers(std::nullopt, false), "");  // not a cross-origin request
  CorsPreflight answer = cors.preflight("https://a.example", "POST", std::string("content-type, x-custom"));
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(answer.body, "OK");
  EXPECT_NE(answer.headers.find("access-control-allow-origin: *\r\n"), std::string::npos);
  EXPECT_NE(answer.headers.find("access-control-allow-methods: DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT\r\n"),
            std::string::npos);
  EXPECT_NE(answer.headers.find("access-control-max-age: 600\r\n"), std::string::npos);
  // Any header is allowed: the requested ones are echoed.
  EXPECT_NE(answer.headers.find("access-control-allow-headers: content-type, x-custom\r\n"), std::string::npos);
}

TEST(CorsPolicy, ListedOriginsAreEchoedOthersGetNoHeader) {
  CorsOptions options;
  options.allowed_origins = {"https://good.example"};
  options.allowed_methods = {"GET", "POST"};
  options.allowed_headers = {"Authorization"};
  CorsPolicy cors(options);
  EXPECT_EQ(cors.response_headers(std::string("https://good.example"), false),
            "access-control-allow-origin: https://good.example\r\nvary: Origin\r\n");
  EXPECT_EQ(cors.response_headers(std::string("https://evil.example"), false), "");

  CorsPreflight good = cors.preflight("https://good.example", "POST", std::string("Authorization, Content-Type"));
  EXPECT_EQ(good.status, 200);
  EXPECT_NE(good.headers.find("access-control-allow-origin: https://good.example\r\n"), std::string::npos);
  EXPECT_NE(good.headers.find("vary: Origin\r\n"), std::string::npos);
  EXPECT_NE(good.headers.find("access-control-allow-methods: GET, POST\r\n"), std::string::npos);
  // The CORS-safelisted headers are always allowed, sorted with the listed ones.
  EXPECT_NE(good.headers.find("access-control-allow-headers: Accept, Accept-Language, Authorization, "
                              "Content-Language, Content-Type\r\n"),
            std::string::npos);

  CorsPreflight bad = cors.preflight("https://evil.example", "DELETE", std::string("x-secret"));
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.body, "Disallowed CORS origin, method, headers");
  EXPECT_EQ(bad.headers.find("access-control-allow-origin"), std::string::npos);
}

TEST(CorsPolicy, CredentialsNeedAnExplicitOrigin) {
  CorsOptions options;
  options.allow_credentials = true;
  CorsPolicy cors(options);
  EXPECT_EQ(cors.response_headers(std::string("https://a.example"), false),
            "access-control-allow-origin: *\r\naccess-control-allow-credentials: true\r\n");
  // With a cookie the origin is echoed ("*" does not cover credentialed requests).
  EXPECT_EQ(cors.response_headers(std::string("https://a.example"), true),
            "access-control-allow-origin: https://a.example\r\nvary: Origin\r\n"
            "access-control-allow-credentials: true\r\n");
  CorsPreflight answer = cors.preflight("https://a.example", "GET", std::nullopt);
  EXPECT_NE(answer.headers.find("access-control-allow-origin: https://a.example\r\n"), std::string::npos);
  EXPECT_NE(answer.headers.find("access-control-allow-credentials: true\r\n"), std::string::npos);
}

// --- The server ---------------------------------------------------------------------------------

class ServerFeatureTest : public ::testing::Test {
 protected:
  void start(ServerOptions options) {
    engine_ = std::make_unique<FakeEngine>();
    options.host = "127.0.0.1";
    options.port = 0;
    options.threads = 2;
    server_ = std::make_unique<HttpServer>(*engine_, testing::serving_model(*engine_), options);
    port_ = std::to_string(server_->start());
  }
  void TearDown() override {
    if (server_) server_->shutdown();
    if (engine_) engine_->shutdown();
  }
  HttpResponse fetch(HttpRequest request) {
    request.timeout_s = 20;
    return http_fetch("127.0.0.1", port_, request);
  }

  std::unique_ptr<FakeEngine> engine_;
  std::unique_ptr<HttpServer> server_;
  std::string port_;
};

HttpRequest request_to(const std::string& method, const std::string& target,
                       std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpRequest request;
  request.method = method;
  request.target = target;
  request.headers = std::move(headers);
  return request;
}

TEST_F(ServerFeatureTest, CorsPreflightAndResponseHeaders) {
  ServerOptions options;
  options.cors.allowed_origins = {"https://app.example"};
  start(options);
  HttpResponse preflight = fetch(request_to("OPTIONS", "/v1/completions",
                                            {{"Origin", "https://app.example"},
                                             {"Access-Control-Request-Method", "POST"},
                                             {"Access-Control-Request-Headers", "content-type"}}));
  EXPECT_EQ(preflight.status, 200);
  EXPECT_EQ(preflight.body, "OK");
  EXPECT_EQ(preflight.headers["access-control-allow-origin"], "https://app.example");
  EXPECT_EQ(preflight.headers["access-control-max-age"], "600");

  HttpResponse denied = fetch(request_to("OPTIONS", "/v1/completions",
                                         {{"Origin", "https://other.example"}, {"Access-Control-Request-Method", "POST"}}));
  EXPECT_EQ(denied.status, 400);
  EXPECT_EQ(denied.body, "Disallowed CORS origin");
  EXPECT_EQ(denied.headers.count("access-control-allow-origin"), 0u);

  HttpResponse allowed = fetch(request_to("GET", "/v1/models", {{"Origin", "https://app.example"}}));
  EXPECT_EQ(allowed.status, 200);
  EXPECT_EQ(allowed.headers["access-control-allow-origin"], "https://app.example");
  HttpResponse other = fetch(request_to("GET", "/v1/models", {{"Origin", "https://other.example"}}));
  EXPECT_EQ(other.status, 200);  // served; the browser withholds it without the header
  EXPECT_EQ(other.headers.count("access-control-allow-origin"), 0u);
  // An OPTIONS that is not a preflight is an ordinary request: no route takes OPTIONS.
  EXPECT_EQ(fetch(request_to("OPTIONS", "/v1/models")).status, 405);
}

TEST_F(ServerFeatureTest, HttpRequestMetricsCountRoutesButNotHealthChecks) {
  start(ServerOptions{});
  EXPECT_EQ(fetch(request_to("GET", "/v1/models")).status, 200);
  EXPECT_EQ(fetch(request_to("GET", "/no/such/route")).status, 404);
  EXPECT_EQ(fetch(request_to("GET", "/health")).status, 200);
  std::string metrics = fetch(request_to("GET", "/metrics")).body;
  EXPECT_NE(metrics.find("http_requests_total{handler=\"/v1/models\",method=\"GET\",status=\"2xx\"} 1.0"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("http_requests_total{handler=\"none\",method=\"GET\",status=\"4xx\"} 1.0"),
            std::string::npos);
  EXPECT_EQ(metrics.find("handler=\"/health\""), std::string::npos);  // excluded, as vLLM does
  EXPECT_NE(metrics.find("http_request_duration_highr_seconds_count 2.0"), std::string::npos);
}

TEST_F(ServerFeatureTest, CorsHeadersOnStreamedResponsesByDefault) {
  start(ServerOptions{});
  HttpRequest request = request_to("POST", "/v1/completions", {{"Origin", "http://localhost:3000"}});
  request.body = R"({"model": "fake-model", "prompt": "hello", "max_tokens": 2, "stream": true})";
  request.timeout_s = 20;
  std::string body;
  HttpResponse response = http_fetch_streaming("127.0.0.1", port_, request, [&](std::string_view bytes) {
    body.append(bytes);
    return true;
  });
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.headers["access-control-allow-origin"], "*");
  EXPECT_NE(body.find("[DONE]"), std::string::npos);
}

// A self-signed certificate for 127.0.0.1 made with the openssl CLI (empty dir: no openssl).
fs::path make_certificate() {
  fs::path dir = fs::temp_directory_path() / ("vllm_tls_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::string command = "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
                        "-addext subjectAltName=IP:127.0.0.1 -keyout '" + (dir / "key.pem").string() + "' -out '" +
                        (dir / "cert.pem").string() + "' > /dev/null 2>&1";
  if (std::system(command.c_str()) != 0) return {};
  return dir;
}

class TlsTest : public ServerFeatureTest {
 protected:
  void SetUp() override {
    dir_ = make_certificate();
    if (dir_.empty()) GTEST_SKIP() << "the openssl CLI is needed to make a test certificate";
  }
  void TearDown() override {
    ServerFeatureTest::TearDown();
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  ServerOptions tls_options() const {
    ServerOptions options;
    options.ssl_keyfile = (dir_ / "key.pem").string();
    options.ssl_certfile = (dir_ / "cert.pem").string();
    return options;
  }
  HttpRequest tls_request(const std::string& method, const std::string& target) const {
    HttpRequest request = request_to(method, target);
    request.tls = true;
    request.tls_ca_file = (dir_ / "cert.pem").string();
    return request;
  }

  fs::path dir_;
};

TEST_F(TlsTest, ServesHttpsWithTheCertificate) {
  start(tls_options());
  EXPECT_EQ(fetch(tls_request("GET", "/health")).status, 200);
  HttpRequest completion = tls_request("POST", "/v1/completions");
  completion.body = R"({"model": "fake-model", "prompt": "hello", "max_tokens": 3})";
  HttpResponse response = fetch(completion);
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(nlohmann::json::parse(response.body)["usage"]["completion_tokens"], 3);
  // Streaming over TLS, then the connection is reused for nothing: a fresh request still works.
  HttpRequest stream = tls_request("POST", "/v1/completions");
  stream.body = R"({"model": "fake-model", "prompt": "hello", "max_tokens": 2, "stream": true})";
  stream.timeout_s = 20;
  std::string body;
  EXPECT_EQ(http_fetch_streaming("127.0.0.1", port_, stream, [&](std::string_view bytes) {
              body.append(bytes);
              return true;
            }).status,
            200);
  EXPECT_NE(body.find("data: [DONE]"), std::string::npos);
  // A plain-HTTP client gets no answer from the TLS port, and the server keeps serving.
  EXPECT_THROW(fetch(request_to("GET", "/health")), Error);
  EXPECT_EQ(fetch(tls_request("GET", "/health")).status, 200);
}

TEST_F(TlsTest, TheClientChecksTheServerCertificate) {
  start(tls_options());
  HttpRequest request = tls_request("GET", "/health");
  request.tls_ca_file.clear();  // the system's CAs do not know a self-signed certificate
  EXPECT_THROW(fetch(request), Error);
  request.tls_verify = false;
  EXPECT_EQ(fetch(request).status, 200);
}

TEST_F(TlsTest, RequiredClientCertificatesRefuseClientsWithout) {
  ServerOptions options = tls_options();
  options.ssl_ca_certs = (dir_ / "cert.pem").string();
  options.ssl_cert_reqs = 2;  // ssl.CERT_REQUIRED
  start(options);
  EXPECT_THROW(fetch(tls_request("GET", "/health")), Error);
}

TEST_F(TlsTest, BadKeyOrCertificateFilesAreClearStartupErrors) {
  engine_ = std::make_unique<FakeEngine>();
  std::ofstream(dir_ / "garbage.pem") << "not a key\n";
  auto start_error = [&](ServerOptions options) -> std::string {
    options.host = "127.0.0.1";
    options.port = 0;
    HttpServer server(*engine_, testing::serving_model(*engine_), options);
    try {
      server.start();
    } catch (const Error& error) {
      return error.what();
    }
    return "";
  };
  ServerOptions bad_key = tls_options();
  bad_key.ssl_keyfile = (dir_ / "garbage.pem").string();
  EXPECT_NE(start_error(bad_key).find("--ssl-keyfile " + bad_key.ssl_keyfile), std::string::npos);
  ServerOptions missing_cert = tls_options();
  missing_cert.ssl_certfile = (dir_ / "missing.pem").string();
  EXPECT_NE(start_error(missing_cert).find("--ssl-certfile " + missing_cert.ssl_certfile), std::string::npos);
  ServerOptions key_only;
  key_only.ssl_keyfile = (dir_ / "key.pem").string();
  EXPECT_NE(start_error(key_only).find("--ssl-keyfile needs --ssl-certfile"), std::string::npos);
}

}  // namespace
}  // namespace vllm::server
