// The OpenAI-compatible HTTP server: Boost.Beast over Asio on a few threads, one strand per
// connection. Routes, auth, body limits, SSE streaming, client-disconnect aborts, overload 503s
// and graceful shutdown live here; the protocol itself is in openai_protocol.h.
// See docs/server.md.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine_client.h"
#include "server/cors.h"
#include "server/openai_protocol.h"

namespace vllm::server {

struct ServerOptions {
  std::string host = "0.0.0.0";
  uint16_t port = 8000;                  // 0: any free port (tests); port() tells which
  std::vector<std::string> api_keys;     // --api-key / VLLM_API_KEY; empty: no auth
  size_t max_request_body_bytes = 32u << 20;  // --max-request-body-bytes: larger bodies get 413
  int threads = 4;                       // --http-threads: Asio threads serving every connection
  // Overload: a new generation request gets 503 once the sequences the server holds (running and
  // queued in the engine; prompts x n per request) would pass max_num_seqs + max_waiting_requests.
  int64_t max_num_seqs = 256;            // the engine's --max-num-seqs
  int64_t max_waiting_requests = 1024;   // --max-waiting-requests; < 0: no limit
  double shutdown_timeout_s = 10.0;      // --shutdown-timeout: drain time before in-flight requests abort
  double idle_timeout_s = 60.0;          // keep-alive connections with no request are closed after this
  CorsOptions cors;                      // --allowed-origins, --allowed-methods, --allowed-headers, --allow-credentials
  // HTTPS when ssl_certfile is set (OpenSSL through Asio), as uvicorn's options of the same names.
  std::string ssl_keyfile;               // PEM private key (may be inside ssl_certfile)
  std::string ssl_certfile;              // PEM certificate chain
  std::string ssl_ca_certs;              // PEM CA bundle that client certificates are checked against
  int ssl_cert_reqs = 0;                 // Python's ssl.CERT_NONE (0), CERT_OPTIONAL (1), CERT_REQUIRED (2)
  std::string ssl_ciphers;               // OpenSSL cipher list (TLS 1.2 and below); "": OpenSSL's default
};

class HttpServer {
 public:
  HttpServer(EngineClient& engine, ServingModel model, ServerOptions options);
  ~HttpServer();  // shutdown() when still running
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts the threads; returns the port (throws vllm::Error when the address
  // cannot be bound).
  uint16_t start();
  uint16_t port() const;

  // Graceful stop: no new connections, idle connections closed, in-flight requests get
  // shutdown_timeout_s to finish and are aborted after that (their responses end with
  // finish_reason "abort"); returns when every connection is closed, at most a few seconds after
  // the timeout. Idempotent. Does not shut the engine down.
  void shutdown();

  // Sequences (engine requests x n) the server holds now.
  int64_t in_flight() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace vllm::server
