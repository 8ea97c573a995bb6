// Beast/Asio HTTP server. Every connection is a Session on its own strand; engine callbacks (on
// the engine thread) coalesce the latest cumulative output per request and post one handler to
// the strand, so a slow client never slows the engine and never queues unbounded updates.
#include "server/http_server.h"

#include <utility>  // before Asio: its headers use std::exchange

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "core/error.h"
#include "core/logging.h"
#include "core/version.h"
#include "server/anthropic_api.h"
#include "server/metrics.h"
#include "server/responses_api.h"

namespace vllm::server {

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

namespace {

// A connection's byte stream: TCP, or TLS over it (--ssl-certfile). Beast's HTTP algorithms see
// one AsyncStream either way; timeouts live on the TCP layer.
class ServerStream {
 public:
  using executor_type = beast::tcp_stream::executor_type;

  ServerStream(tcp::socket socket, ssl::context* tls) : tcp_(std::move(socket)) {
    if (tls) tls_.emplace(tcp_, *tls);
  }

  executor_type get_executor() { return tcp_.get_executor(); }
  tcp::socket& socket() { return tcp_.socket(); }
  template <typename Duration>
  void expires_after(Duration duration) { tcp_.expires_after(duration); }
  void expires_never() { tcp_.expires_never(); }
  bool is_tls() const { return tls_.has_value(); }
  ssl::stream<beast::tcp_stream&>& tls() { return *tls_; }

  template <typename Buffers, typename Handler>
  void async_read_some(const Buffers& buffers, Handler&& handler) {
    if (tls_) tls_->async_read_some(buffers, std::forward<Handler>(handler));
    else tcp_.async_read_some(buffers, std::forward<Handler>(handler));
  }
  template <typename Buffers, typename Handler>
  void async_write_some(const Buffers& buffers, Handler&& handler) {
    if (tls_) tls_->async_write_some(buffers, std::forward<Handler>(handler));
    else tcp_.async_write_some(buffers, std::forward<Handler>(handler));
  }

 private:
  beast::tcp_stream tcp_;
  std::optional<ssl::stream<beast::tcp_stream&>> tls_;
};

// The server's TLS context from uvicorn's options (vLLM's --ssl-*); throws vllm::Error naming the
// file that cannot be used.
ssl::context make_tls_context(const ServerOptions& options) {
  for (const auto& [flag, path] : {std::pair{"--ssl-certfile", &options.ssl_certfile},
                                   std::pair{"--ssl-keyfile", &options.ssl_keyfile},
                                   std::pair{"--ssl-ca-certs", &options.ssl_ca_certs}})
    VLLM_CHECK(path->empty() || std::ifstream(*path).good(), NotFound, flag, " ", *path, ": no such readable file");
  ssl::context context(ssl::context::tls_server);
  context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                      ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  beast::error_code ec;
  context.use_certificate_chain_file(options.ssl_certfile, ec);
  VLLM_CHECK(!ec, InvalidArgument, "--ssl-certfile ", options.ssl_certfile,
             ": cannot load a PEM certificate chain: ", ec.message());
  const std::string& keyfile = options.ssl_keyfile.empty() ? options.ssl_certfile : options.ssl_keyfile;
  context.use_private_key_file(keyfile, ssl::context::pem, ec);
  VLLM_CHECK(!ec, InvalidArgument, options.ssl_keyfile.empty() ? "--ssl-certfile " : "--ssl-keyfile ", keyfile,
             ": cannot load a PEM private key matching the certificate: ", ec.message());
  VLLM_CHECK(options.ssl_cert_reqs >= 0 && options.ssl_cert_reqs <= 2, InvalidArgument, "--ssl-cert-reqs ",
             options.ssl_cert_reqs, " is not one of 0 (CERT_NONE), 1 (CERT_OPTIONAL), 2 (CERT_REQUIRED)");
  if (!options.ssl_ca_certs.empty()) {
    context.load_verify_file(options.ssl_ca_certs, ec);
    VLLM_CHECK(!ec, InvalidArgument, "--ssl-ca-certs ", options.ssl_ca_certs, ": cannot load CA certificates: ",
               ec.message());
  }
  if (options.ssl_cert_reqs == 1) context.set_verify_mode(ssl::verify_peer, ec);
  if (options.ssl_cert_reqs == 2) context.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert, ec);
  if (!options.ssl_ciphers.empty())
    VLLM_CHECK(SSL_CTX_set_cipher_list(context.native_handle(), options.ssl_ciphers.c_str()) == 1, InvalidArgument,
               "--ssl-ciphers ", options.ssl_ciphers, ": OpenSSL knows none of these ciphers");
  return context;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return status >= 500 ? "Internal Server Error" : "Error";
  }
}

std::string response_head(int status, std::string_view content_type, std::optional<size_t> content_length,
                          bool keep_alive, std::string_view extra_headers = "") {
  std::string head = str("HTTP/1.1 ", status, " ", reason_phrase(status), "\r\nserver: vllm-cpp\r\n");
  if (!content_type.empty()) head += str("content-type: ", content_type, "\r\n");
  if (content_length) head += str("content-length: ", *content_length, "\r\n");
  else head += "transfer-encoding: chunked\r\n";
  head += keep_alive ? "connection: keep-alive\r\n" : "connection: close\r\n";
  head += extra_headers;
  head += "\r\n";
  return head;
}

constexpr int kMaxJsonDepth = 128;  // deeper bodies are refused before anything recurses on them

// Whether `text` nests arrays and objects deeper than `limit` (strings skipped): one linear scan
// before parsing. nlohmann's callback parser could check depth while parsing, but it scans the
// parent container on every closing brace (quadratic: a chat of 200,000 messages took 40 s).
bool nests_deeper_than(std::string_view text, int limit) {
  int depth = 0;
  bool in_string = false, escape = false;
  for (char c : text) {
    if (in_string) {
      if (escape) escape = false;
      else if (c == '\\') escape = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}
constexpr auto kWriteTimeout = 120s;  // a client that reads nothing for this long is dropped

// State shared with engine callbacks, which may outlive the server's objects.
struct SharedCounters {
  std::atomic<int64_t> in_flight{0};
  std::atomic<uint64_t> rejected{0};
};

class Session;

struct Registry {
  std::mutex mutex;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;
  std::atomic<int64_t> open_connections{0};
};

// One client request's engine requests and what has come back for them.
struct Generation {
  PreparedRequest request;
  std::unique_ptr<EventStream> converter;      // streaming only
  std::vector<RequestOutput> finals;           // non-streaming: final output per engine request
  std::vector<bool> done;                      // strand side
  size_t unfinished = 0;
  // Engine thread <-> strand hand-off.
  std::mutex mutex;
  std::vector<std::optional<RequestOutput>> latest;
  std::vector<bool> finished_seen;
  bool scheduled = false;
};

}  // namespace

struct HttpServer::Impl {
  Impl(EngineClient& engine_, ServingModel model_, ServerOptions options_)
      : engine(engine_), model(std::move(model_)), options(std::move(options_)), cors(options.cors) {}

  EngineClient& engine;
  ServingModel model;
  ServerOptions options;
  CorsPolicy cors;
  std::optional<ssl::context> tls;  // set when serving HTTPS
  HttpRequestMetrics http_metrics;
  std::shared_ptr<SharedCounters> counters = std::make_shared<SharedCounters>();
  std::shared_ptr<Registry> registry = std::make_shared<Registry>();
  std::atomic<bool> stopping{false};

  net::io_context ioc{1};
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  // Request preparation (JSON parsing, chat templates, tokenization) runs here, off the I/O
  // threads, so /health, /metrics and the other light routes answer while large requests are
  // prepared.
  std::optional<net::thread_pool> prepare_pool;
  std::optional<tcp::acceptor> acceptor;
  std::optional<net::steady_timer> accept_retry;
  std::vector<std::thread> threads;
  uint16_t bound_port = 0;

  std::mutex state_mutex;
  bool running = false;

  int64_t request_limit() const {
    return options.max_waiting_requests < 0 ? -1 : options.max_num_seqs + options.max_waiting_requests;
  }
  void accept();
  std::vector<std::shared_ptr<Session>> live_sessions();
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(HttpServer::Impl& server, tcp::socket socket)
      : server_(server),
        registry_(server.registry),
        counters_(server.counters),
        stream_(std::move(socket), server.tls ? &*server.tls : nullptr) {}

  ~Session() {
    if (!closed_) registry_->open_connections.fetch_sub(1);
    std::lock_guard lock(registry_->mutex);
    registry_->sessions.erase(this);
  }

  void start() {
    {
      std::lock_guard lock(registry_->mutex);
      registry_->sessions[this] = weak_from_this();
    }
    registry_->open_connections.fetch_add(1);
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if (!self->stream_.is_tls()) return self->read_request();
      self->stream_.expires_after(30s);
      self->stream_.tls().async_handshake(ssl::stream_base::server, [self](beast::error_code ec) {
        if (ec) return self->close_socket();  // not TLS, a refused client certificate, or a timeout
        self->read_request();
      });
    });
  }

  auto executor() { return stream_.get_executor(); }

  // Posted by shutdown(): idle connections close now, busy ones after their response.
  void on_server_stopping() {
    keep_alive_ = false;
    if (phase_ == Phase::Reading) close_socket();
  }

  // Posted by shutdown() after the drain time: the responses end with finish_reason "abort".
  void abort_generation() {
    if (generation_) abort_unfinished(*generation_);
  }

 private:
  enum class Phase { Reading, Responding, Closed };
  enum class Next { None, Read, Close };

  // --- Reading a request ------------------------------------------------------------------------

  void read_request() {
    phase_ = Phase::Reading;
    anthropic_errors_ = false;
    if (server_.stopping || closed_) {
      close_socket();
      return;
    }
    parser_.emplace();
    parser_->body_limit(server_.options.max_request_body_bytes);
    parser_->header_limit(64 * 1024);
    stream_.expires_after(std::chrono::milliseconds(static_cast<int64_t>(server_.options.idle_timeout_s * 1000)));
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::on_header, shared_from_this()));
  }

  // curl sends `Expect: 100-continue` with larger bodies and waits a second for the interim
  // answer; a body over the limit was already refused by the header read (413).
  void on_header(beast::error_code ec, size_t bytes) {
    if (ec) return on_read(ec, bytes);
    auto expect = parser_->get().find(http::field::expect);
    if (expect != parser_->get().end() && beast::iequals(expect->value(), "100-continue")) {
      static const std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
      net::async_write(stream_, net::buffer(interim), [self = shared_from_this()](beast::error_code write_ec, size_t) {
        if (write_ec) return self->close_socket();
        self->read_body();
      });
      return;
    }
    read_body();
  }

  void read_body() {
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, size_t) {
    if (ec == http::error::body_limit) {
      keep_alive_ = false;
      phase_ = Phase::Responding;
      return respond_error(ApiError(413, str("The request body is larger than the limit of ",
                                             server_.options.max_request_body_bytes,
                                             " bytes (--max-request-body-bytes)")));
    }
    if (ec == http::error::header_limit) {
      keep_alive_ = false;
      phase_ = Phase::Responding;
      return respond_error(ApiError(431, "The request's headers are larger than 64 KiB"));
    }
    if (ec && ec.category() == beast::http::make_error_code(http::error::bad_method).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      keep_alive_ = false;
      phase_ = Phase::Responding;
      return respond_error(ApiError(400, str("Malformed HTTP request: ", ec.message())));
    }
    if (ec) return close_socket();  // the client went away, timed out or the server stopped
    request_ = parser_->release();
    request_start_ = std::chrono::steady_clock::now();
    handler_ = "none";
    count_request_ = true;
    cors_ = server_.cors.response_headers(header_value(http::field::origin),
                                          request_.find(http::field::cookie) != request_.end());
    keep_alive_ = request_.keep_alive() && !server_.stopping;
    chunked_ = request_.version() >= 11;
    if (!chunked_) keep_alive_ = false;
    stream_.expires_never();
    phase_ = Phase::Responding;
    try {
      route();
    } catch (const std::exception& error) {
      respond_error(to_api_error(error));
    }
  }

  // --- Routing ----------------------------------------------------------------------------------

  void route() {
    std::string target(request_.target());
    std::string path = target.substr(0, target.find('?'));
    http::verb method = request_.method();
    // A CORS preflight (Starlette's CORSMiddleware answers it before any route).
    auto origin = header_value(http::field::origin);
    auto preflight_method = header_value(http::field::access_control_request_method);
    if (method == http::verb::options && origin && preflight_method) {
      CorsPreflight answer = server_.cors.preflight(*origin, *preflight_method,
                                                    header_value(http::field::access_control_request_headers));
      cors_.clear();
      return respond(answer.status, "text/plain; charset=utf-8", answer.body, answer.headers);
    }
    struct Route {
      const char* path;
      bool get, post;
      void (Session::*handler)();
    };
    static const Route routes[] = {
        {"/health", true, false, &Session::handle_health},
        {"/ping", true, true, &Session::handle_health},
        {"/version", true, false, &Session::handle_version},
        {"/load", true, false, &Session::handle_load},
        {"/metrics", true, false, &Session::handle_metrics},
        {"/v1/models", true, false, &Session::handle_models},
        {"/v1/completions", false, true, &Session::handle_completions},
        {"/v1/chat/completions", false, true, &Session::handle_chat},
        {"/tokenize", false, true, &Session::handle_tokenize},
        {"/detokenize", false, true, &Session::handle_detokenize},
        {"/v1/embeddings", false, true, &Session::handle_embeddings},
        {"/pooling", false, true, &Session::handle_pooling},
        {"/classify", false, true, &Session::handle_classify},
        {"/score", false, true, &Session::handle_score},
        {"/v1/score", false, true, &Session::handle_score},
        {"/rerank", false, true, &Session::handle_rerank},
        {"/v1/rerank", false, true, &Session::handle_rerank},
        {"/v2/rerank", false, true, &Session::handle_rerank},
        {"/v1/responses", false, true, &Session::handle_responses},
        {"/v1/messages", false, true, &Session::handle_messages},
        {"/v1/messages/count_tokens", false, true, &Session::handle_count_tokens},
        // /v1/responses/{id} (GET) and /v1/responses/{id}/cancel (POST): matched by prefix below.
        {"/v1/responses/", true, true, &Session::handle_response_item},
    };
    const Route* found = nullptr;
    for (const Route& candidate : routes)
      if (path == candidate.path) found = &candidate;
    static const std::string item_prefix = "/v1/responses/";
    if (!found && path.size() > item_prefix.size() && path.rfind(item_prefix, 0) == 0) found = &routes[std::size(routes) - 1];
    // Anthropic's clients read Anthropic's error shape.
    anthropic_errors_ = path.rfind("/v1/messages", 0) == 0;
    if (!found) throw ApiError(404, str("Not Found: no route ", path));
    handler_ = found->path;
    bool allowed = (method == http::verb::get && found->get) || (method == http::verb::head && found->get) ||
                   (method == http::verb::post && found->post);
    if (!allowed) {
      std::string allow = found->get && found->post ? "GET, POST" : found->get ? "GET" : "POST";
      std::string message = str("Method Not Allowed: ", path, " takes ", allow);
      return respond_json(405, anthropic_errors_ ? anthropic_error_body(ApiError(405, message)) : error_body(message, 405),
                          str("allow: ", allow, "\r\n"));
    }
    if (path.rfind("/v1/", 0) == 0 && !authorized()) return respond_error(ApiError(401, "Unauthorized"));
    (this->*found->handler)();
  }

  std::optional<std::string> header_value(http::field field) const {
    auto found = request_.find(field);
    if (found == request_.end()) return std::nullopt;
    return std::string(found->value().data(), found->value().size());
  }

  // vLLM: `Authorization: Bearer <key>` on /v1 routes when --api-key (or VLLM_API_KEY) is set.
  // Anthropic's clients send the key as `x-api-key`, which is taken too.
  bool authorized() const {
    const auto& keys = server_.options.api_keys;
    if (keys.empty()) return true;
    auto matches = [&keys](std::string_view value) {
      return std::find(keys.begin(), keys.end(), value) != keys.end();
    };
    auto header = request_.find(http::field::authorization);
    if (header != request_.end()) {
      std::string_view value(header->value().data(), header->value().size());
      if (value.substr(0, 7) == "Bearer " && matches(value.substr(7))) return true;
    }
    auto api_key = request_.find("x-api-key");
    return api_key != request_.end() && matches(std::string_view(api_key->value().data(), api_key->value().size()));
  }

  Json parse_body() {
    // Only JSON is JSON: vLLM's validate_json_request on its OpenAI routes refuses any other media
    // type (parameters such as "; charset=utf-8" allowed) with this message, as a 400.
    auto content_type = request_.find(http::field::content_type);
    std::string media_type =
        content_type == request_.end() ? "" : std::string(content_type->value().data(), content_type->value().size());
    media_type = media_type.substr(0, media_type.find(';'));
    while (!media_type.empty() && (media_type.back() == ' ' || media_type.back() == '\t')) media_type.pop_back();
    for (char& c : media_type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (media_type != "application/json")
      throw ApiError(400, "Unsupported Media Type: Only 'application/json' is allowed");
    const std::string& body = request_.body();
    if (nests_deeper_than(body, kMaxJsonDepth))
      throw ApiError(400, str("The JSON body is nested deeper than ", kMaxJsonDepth, " levels"));
    try {
      return Json::parse(body);
    } catch (const Json::parse_error& error) {
      throw ApiError(400, str("The request body is not valid JSON: ", error.what()));
    }
  }

  // --- Simple routes ----------------------------------------------------------------------------

  void handle_health() { respond(200, "", ""); }
  void handle_version() { respond_json(200, Json{{"version", kVersion}}); }
  void handle_load() { respond_json(200, Json{{"server_load", counters_->in_flight.load()}}); }
  void handle_metrics() {
    ServerMetrics server{counters_->in_flight.load(), counters_->rejected.load()};
    respond(200, "text/plain; version=0.0.4; charset=utf-8",
            render_metrics(server_.engine.stats(), server, server_.model.name()) + server_.http_metrics.render());
  }
  void handle_models() { respond_json(200, models_response(server_.model)); }
  void handle_tokenize() {
    answer_from_pool([this] { return tokenize_response(parse_body(), server_.model); });
  }
  void handle_detokenize() {
    answer_from_pool([this] { return detokenize_response(parse_body(), server_.model); });
  }
  void handle_completions() { start_generation(Endpoint::Completion); }
  void handle_chat() { start_generation(Endpoint::Chat); }
  void handle_embeddings() { start_generation(Endpoint::Embedding); }
  void handle_pooling() { start_generation(Endpoint::Pooling); }
  void handle_classify() { start_generation(Endpoint::Classify); }
  void handle_score() { start_generation(Endpoint::Score); }
  void handle_rerank() { start_generation(Endpoint::Rerank); }
  void handle_responses() { start_generation(Endpoint::Responses); }
  void handle_messages() { start_generation(Endpoint::Messages); }
  void handle_count_tokens() {
    answer_from_pool([this] { return count_tokens_response(parse_body(), server_.model); });
  }

  // `compute` on the preparation pool (the body parsed, a template rendered, text tokenized),
  // then `finish` with its result on the strand; an exception from either is the answer. The
  // strand is idle meanwhile (no read is pending while a request is answered), so `compute` may
  // read request_.
  template <typename Result>
  void off_strand(std::function<Result()> compute, std::function<void(Result&)> finish) {
    net::post(*server_.prepare_pool, [self = shared_from_this(), compute = std::move(compute), finish = std::move(finish)] {
      std::optional<Result> result;
      std::exception_ptr error;
      try {
        result = compute();
      } catch (...) {
        error = std::current_exception();
      }
      net::post(self->stream_.get_executor(), [self, finish, result = std::move(result), error]() mutable {
        try {
          if (error) std::rethrow_exception(error);
          finish(*result);
        } catch (const std::exception& failure) {
          self->respond_error(to_api_error(failure));
        }
      });
    });
  }
  void answer_from_pool(std::function<Json()> compute) {
    off_strand<Json>(std::move(compute), [this](Json& answer) { respond_json(200, answer); });
  }

  // GET /v1/responses/{id}; POST /v1/responses/{id}/cancel.
  void handle_response_item() {
    std::string path(request_.target().substr(0, request_.target().find('?')));
    std::string id = path.substr(std::string_view("/v1/responses/").size());
    bool cancel = id.size() > 7 && id.ends_with("/cancel");
    if (cancel) id.resize(id.size() - 7);
    bool post = request_.method() == http::verb::post;
    if (post != cancel || id.find('/') != std::string::npos) {
      std::string allow = cancel ? "POST" : "GET";
      if (id.find('/') != std::string::npos) throw ApiError(404, str("Not Found: no route ", path));
      return respond_json(405, error_body(str("Method Not Allowed: ", path, " takes ", allow), 405),
                          str("allow: ", allow, "\r\n"));
    }
    respond_json(200, cancel ? cancel_response(id, server_.model) : retrieve_response(id, server_.model));
  }


  // --- Generation and pooling (one client request -> engine requests -> one response) -----------

  void start_generation(Endpoint endpoint) {
    if (server_.stopping) throw ApiError(503, "The server is shutting down");
    off_strand<std::shared_ptr<Generation>>(
        [this, endpoint] {
          auto generation = std::make_shared<Generation>();
          generation->request = prepare_request(endpoint, parse_body(), server_.model);
          return generation;
        },
        [this](std::shared_ptr<Generation>& generation) { admit_generation(generation); });
  }

  // A prepared request enters the engine (on the strand).
  void admit_generation(const std::shared_ptr<Generation>& generation) {
    if (server_.stopping) throw ApiError(503, "The server is shutting down");
    // In flight counts sequences: a request with k prompts and n choices holds k * n.
    size_t count = generation->request.engine_requests.size();
    int64_t n = generation->request.n;
    int64_t weight = static_cast<int64_t>(count) * n;
    int64_t limit = server_.request_limit();
    if (limit >= 0 && weight > limit)
      throw ApiError(400, str("The request asks for ", weight, " sequences (prompts x n) and the server holds at most ",
                              limit, " (--max-num-seqs + --max-waiting-requests)"), "n");
    int64_t before = counters_->in_flight.fetch_add(weight);
    if (limit >= 0 && before + weight > limit) {
      counters_->in_flight.fetch_sub(weight);
      counters_->rejected.fetch_add(1);
      throw ApiError(503, str("The server is overloaded: ", before, " sequences in flight and the limit is ", limit,
                              " (--max-num-seqs + --max-waiting-requests); retry later"));
    }
    generation->finals.resize(count);
    generation->done.assign(count, false);
    generation->latest.resize(count);
    generation->finished_seen.assign(count, false);
    generation->unfinished = count;
    if (generation->request.stream)
      generation->converter = make_event_stream(generation->request, server_.model);

    for (size_t k = 0; k < count; ++k) {
      try {
        server_.engine.add_request(generation->request.engine_requests[k], make_callback(generation, k, n));
      } catch (...) {
        counters_->in_flight.fetch_sub(static_cast<int64_t>(count - k) * n);
        {
          std::lock_guard lock(generation->mutex);
          for (size_t j = k; j < count; ++j) generation->finished_seen[j] = true;
        }
        for (size_t j = 0; j < k; ++j) server_.engine.abort(generation->request.engine_requests[j].request_id);
        throw;
      }
    }
    generation_ = std::move(generation);
    start_watch();
    if (generation_->request.stream) {
      response_status_ = 200;
      response_bytes_ = 0;  // no Content-Length
      send(response_head(200, "text/event-stream; charset=utf-8", std::nullopt, keep_alive_,
                         "cache-control: no-cache\r\nx-accel-buffering: no\r\n" + cors_));
      flush();
    }
  }

  OutputCallback make_callback(const std::shared_ptr<Generation>& generation, size_t k, int64_t weight) {
    return [weak = weak_from_this(), generation, k, weight, counters = counters_](const RequestOutput& output) {
      try {
        bool post = false;
        {
          std::lock_guard lock(generation->mutex);
          if (generation->finished_seen[k]) return;
          if (output.finished) {
            generation->finished_seen[k] = true;
            counters->in_flight.fetch_sub(weight);
          }
          generation->latest[k] = output;
          post = !generation->scheduled;
          generation->scheduled = true;
        }
        if (!post) return;
        if (auto self = weak.lock())
          net::post(self->executor(), [self, generation] { self->on_outputs(generation); });
      } catch (...) {  // the engine thread must never see an exception
      }
    };
  }

  void on_outputs(const std::shared_ptr<Generation>& generation) {
    std::vector<std::optional<RequestOutput>> batch(generation->latest.size());
    {
      std::lock_guard lock(generation->mutex);
      batch.swap(generation->latest);
      generation->scheduled = false;
    }
    if (generation != generation_) return;  // a request whose response already ended
    Generation& g = *generation;
    try {
      for (size_t k = 0; k < batch.size(); ++k) {
        if (!batch[k] || g.done[k]) continue;
        RequestOutput& output = *batch[k];
        if (g.converter && !client_gone_)
          send_event(g.converter->on_output(k, output));
        if (output.finished) {
          g.done[k] = true;
          --g.unfinished;
          if (!g.converter) g.finals[k] = std::move(output);
        }
      }
      if (g.unfinished == 0) return finish_generation();
    } catch (const std::exception& error) {  // a bug in response building: end this response only
      log_error("server: response for ", g.request.id, " failed: ", error.what());
      abort_unfinished(g);
      if (!g.converter) {
        generation_.reset();
        return respond_error(to_api_error(error));
      }
    }
    flush();
  }

  void finish_generation() {
    auto generation = std::move(generation_);
    if (client_gone_) return;
    if (generation->converter) {
      send_event(generation->converter->finish());
      if (chunked_) send("0\r\n\r\n");
      count_http_request();
      response_complete_ = true;
      flush();
    } else {
      respond_json(200, final_response(generation->request, generation->finals, server_.model));
    }
  }

  void abort_unfinished(Generation& generation) {
    for (size_t k = 0; k < generation.done.size(); ++k)
      if (!generation.done[k]) server_.engine.abort(generation.request.engine_requests[k].request_id);
  }

  // The client closed the connection: abort its requests (freeing their KV blocks) and close.
  void client_gone() {
    if (client_gone_) return;
    client_gone_ = true;
    if (generation_) abort_unfinished(*generation_);
    close_socket();
  }

  // While a request runs, a read on the socket notices the client closing it. Bytes that arrive
  // (a pipelined next request) are kept for the next parse.
  void start_watch() {
    if (watching_ || closed_) return;
    watching_ = true;
    stream_.async_read_some(net::buffer(watch_buffer_),
                            beast::bind_front_handler(&Session::on_watch, shared_from_this()));
  }

  void on_watch(beast::error_code ec, size_t bytes) {
    watching_ = false;
    if (bytes > 0) {
      net::buffer_copy(buffer_.prepare(bytes), net::buffer(watch_buffer_.data(), bytes));
      buffer_.commit(bytes);
    }
    if (next_ != Next::None) {
      Next next = std::exchange(next_, Next::None);
      if (next == Next::Read && (!ec || ec == net::error::operation_aborted)) return read_request();
      return close_socket();
    }
    if (!generation_) return;
    if (ec || buffer_.size() > (1u << 20)) return client_gone();
    start_watch();
  }

  // --- Writing ----------------------------------------------------------------------------------

  void send(std::string_view data) { pending_.append(data); }

  void send_event(const std::string& event) {
    if (event.empty()) return;  // an empty chunk would end the chunked body
    if (chunked_) {
      char size[32];
      int length = std::snprintf(size, sizeof(size), "%zx\r\n", event.size());
      pending_.append(size, static_cast<size_t>(length));
      pending_ += event;
      pending_ += "\r\n";
    } else {
      pending_ += event;
    }
  }

  void respond(int status, std::string_view content_type, std::string body, std::string_view extra_headers = "") {
    bool head_only = request_.method() == http::verb::head;
    response_status_ = status;
    response_bytes_ = head_only ? 0 : body.size();
    count_http_request();  // before the client can see the answer (and scrape /metrics)
    send(response_head(status, content_type, body.size(), keep_alive_, str(extra_headers, cors_)));
    if (!head_only) send(body);
    response_complete_ = true;
    flush();
  }

  void respond_json(int status, const Json& body, std::string_view extra_headers = "") {
    respond(status, "application/json", dump_json(body), extra_headers);
  }

  void respond_error(const ApiError& error) {
    if (error.status() >= 500 && error.status() != 503) log_error("server: ", error.what());
    respond_json(error.status(), anthropic_errors_ ? anthropic_error_body(error) : error.body());
  }

  void flush() {
    if (writing_ || closed_) return;
    if (pending_.empty()) {
      if (response_complete_) after_response();
      return;
    }
    writing_ = true;
    writing_buffer_.swap(pending_);
    pending_.clear();
    stream_.expires_after(kWriteTimeout);
    net::async_write(stream_, net::buffer(writing_buffer_),
                     beast::bind_front_handler(&Session::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, size_t) {
    writing_ = false;
    writing_buffer_.clear();
    if (ec) return client_gone();
    stream_.expires_never();
    flush();
  }

  void after_response() {
    response_complete_ = false;
    Next next = keep_alive_ && !server_.stopping ? Next::Read : Next::Close;
    if (watching_) {  // the watch read must end before the next parse (or the close) starts
      next_ = next;
      beast::error_code ignored;
      stream_.socket().cancel(ignored);
      return;
    }
    if (next == Next::Read) return read_request();
    linger_close();
  }

  // prometheus-fastapi-instrumentator's view of the request, without the routes vLLM excludes.
  void count_http_request() {
    if (!count_request_) return;
    count_request_ = false;
    for (const char* excluded : {"/metrics", "/health", "/load", "/ping", "/version", "/server_info"})
      if (handler_ == excluded) return;
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - request_start_).count();
    bool has_length = request_.find(http::field::content_length) != request_.end();
    server_.http_metrics.observe(handler_, std::string(http::to_string(request_.method())), response_status_, seconds,
                                 has_length ? request_.body().size() : 0, response_bytes_);
  }

  // Half-close and drain what the client still sends, so it reads our response before the
  // connection resets (a 413 answered before the body arrived).
  void linger_close() {
    if (closed_) return;
    if (stream_.is_tls()) {  // TLS: close_notify, then the socket
      stream_.expires_after(2s);
      stream_.tls().async_shutdown([self = shared_from_this()](beast::error_code) { self->close_socket(); });
      return;
    }
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(2s);
    drain();
  }

  void drain() {
    stream_.async_read_some(net::buffer(watch_buffer_), [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->close_socket();
      self->drain();
    });
  }

  void close_socket() {
    phase_ = Phase::Closed;
    if (closed_) return;
    closed_ = true;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
    registry_->open_connections.fetch_sub(1);
  }

  HttpServer::Impl& server_;
  std::shared_ptr<Registry> registry_;
  std::shared_ptr<SharedCounters> counters_;
  ServerStream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::request<http::string_body> request_;
  Phase phase_ = Phase::Reading;
  bool keep_alive_ = true;
  bool chunked_ = true;
  bool closed_ = false;
  bool client_gone_ = false;
  bool watching_ = false;
  Next next_ = Next::None;
  std::array<char, 4096> watch_buffer_{};
  std::shared_ptr<Generation> generation_;
  std::string cors_;  // Access-Control-* headers for this request's response
  // For the HTTP request metrics.
  std::chrono::steady_clock::time_point request_start_;
  std::string handler_ = "none";
  int response_status_ = 0;
  size_t response_bytes_ = 0;
  bool count_request_ = false;
  std::string pending_, writing_buffer_;
  bool writing_ = false;
  bool response_complete_ = false;
  bool anthropic_errors_ = false;  // this request is an Anthropic route: errors in Anthropic's shape
};

}  // namespace

std::vector<std::shared_ptr<Session>> HttpServer::Impl::live_sessions() {
  std::vector<std::shared_ptr<Session>> live;
  std::lock_guard lock(registry->mutex);
  for (auto& [raw, weak] : registry->sessions)
    if (auto session = weak.lock()) live.push_back(std::move(session));
  return live;
}

void HttpServer::Impl::accept() {
  acceptor->async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || stopping) return;
    if (ec) {  // e.g. out of file descriptors: retry shortly instead of spinning
      log_warning("server: accept failed: ", ec.message());
      accept_retry->expires_after(50ms);
      accept_retry->async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec && !stopping) accept();
      });
      return;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    std::make_shared<Session>(*this, std::move(socket))->start();
    accept();
  });
}

HttpServer::HttpServer(EngineClient& engine, ServingModel model, ServerOptions options)
    : impl_(std::make_unique<Impl>(engine, std::move(model), std::move(options))) {}

HttpServer::~HttpServer() {
  shutdown();
  impl_->acceptor.reset();
  impl_->accept_retry.reset();
}

uint16_t HttpServer::start() {
  Impl& s = *impl_;
  std::lock_guard lock(s.state_mutex);
  VLLM_CHECK(!s.running, InvalidArgument, "the server is already running");
  if (!s.options.ssl_certfile.empty() || !s.options.ssl_keyfile.empty()) {
    VLLM_CHECK(!s.options.ssl_certfile.empty(), InvalidArgument, "--ssl-keyfile needs --ssl-certfile");
    s.tls.emplace(make_tls_context(s.options));
  }
  beast::error_code ec;
  auto address = net::ip::make_address(s.options.host == "localhost" ? "127.0.0.1" : s.options.host, ec);
  VLLM_CHECK(!ec, InvalidArgument, "--host ", s.options.host, " is not an IP address: ", ec.message());
  tcp::endpoint endpoint(address, s.options.port);
  auto strand = net::make_strand(s.ioc);
  s.acceptor.emplace(strand);
  s.accept_retry.emplace(strand);
  s.acceptor->open(endpoint.protocol(), ec);
  if (!ec) s.acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor->bind(endpoint, ec);
  if (!ec) s.acceptor->listen(net::socket_base::max_listen_connections, ec);
  VLLM_CHECK(!ec, InvalidArgument, "cannot listen on ", s.options.host, ":", s.options.port, ": ", ec.message());
  s.bound_port = s.acceptor->local_endpoint().port();
  s.work.emplace(s.ioc.get_executor());
  net::post(strand, [&s] { s.accept(); });
  int threads = std::max(1, s.options.threads);
  s.prepare_pool.emplace(static_cast<size_t>(threads));
  for (int i = 0; i < threads; ++i)
    s.threads.emplace_back([&s] {
      while (true) {  // a handler's exception ends that handler, never the server
        try {
          s.ioc.run();
          return;
        } catch (const std::exception& error) {
          log_error("server: unexpected error in a connection handler: ", error.what());
        }
      }
    });
  s.running = true;
  return s.bound_port;
}

uint16_t HttpServer::port() const { return impl_->bound_port; }

int64_t HttpServer::in_flight() const { return impl_->counters->in_flight.load(); }

void HttpServer::shutdown() {
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.state_mutex);
    if (!s.running) return;
    s.running = false;
  }
  s.stopping = true;
  net::post(s.acceptor->get_executor(), [&s] {
    beast::error_code ignored;
    s.acceptor->close(ignored);
    s.accept_retry->cancel();
  });
  for (auto& session : s.live_sessions())
    net::post(session->executor(), [session] { session->on_server_stopping(); });

  auto busy = [&s] { return s.counters->in_flight.load() > 0 || s.registry->open_connections.load() > 0; };
  auto drain_deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(s.options.shutdown_timeout_s * 1000));
  while (busy() && std::chrono::steady_clock::now() < drain_deadline) std::this_thread::sleep_for(10ms);
  if (busy()) {
    log_warning("server: aborting ", s.counters->in_flight.load(), " requests still running after ",
                s.options.shutdown_timeout_s, " s (--shutdown-timeout)");
    for (auto& session : s.live_sessions()) {
      net::post(session->executor(), [session] {
        session->abort_generation();
        session->on_server_stopping();
      });
    }
    auto hard_deadline = std::chrono::steady_clock::now() + 3s;
    while (busy() && std::chrono::steady_clock::now() < hard_deadline) std::this_thread::sleep_for(10ms);
  }
  s.prepare_pool->join();  // preparations in progress finish; their answers find the sockets closed
  s.prepare_pool.reset();
  s.work.reset();
  s.ioc.stop();
  for (auto& thread : s.threads) thread.join();
  s.threads.clear();
}

}  // namespace vllm::server
