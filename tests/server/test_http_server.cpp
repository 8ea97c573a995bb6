// The HTTP server in-process against the FakeEngine on an ephemeral port: routes, auth, error
// statuses and bodies, SSE framing, disconnect aborts, overload, concurrency, graceful shutdown.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "fake_engine.h"
#include "server/http_client.h"
#include "server/http_server.h"
#include "server_test_util.h"

namespace vllm::server {
namespace {

using namespace std::chrono_literals;
using testing::FakeEngine;

struct Sse {
  int status = 0;
  std::vector<std::string> events;  // "data:" payloads, "[DONE]" included
  std::string content_type;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void start(FakeEngine::Options engine_options = {}, ServerOptions options = {},
             bool trust_request_chat_template = false) {
    engine_ = std::make_unique<FakeEngine>(engine_options);
    options.host = "127.0.0.1";
    options.port = 0;
    options.threads = 2;
    auto model = testing::serving_model(*engine_);
    model.trust_request_chat_template = trust_request_chat_template;
    server_ = std::make_unique<HttpServer>(*engine_, std::move(model), options);
    port_ = std::to_string(server_->start());
  }
  void TearDown() override {
    if (server_) server_->shutdown();
    if (engine_) engine_->shutdown();
  }

  HttpResponse fetch(const std::string& method, const std::string& target, const std::string& body = "",
                     std::vector<std::pair<std::string, std::string>> headers = {}) {
    HttpRequest request;
    request.method = method;
    request.target = target;
    request.body = body;
    request.headers = std::move(headers);
    request.timeout_s = 20;
    return http_fetch("127.0.0.1", port_, request);
  }
  HttpResponse post(const std::string& target, const Json& body) { return fetch("POST", target, body.dump()); }

  // Streams a request; stops reading after `max_events` events (0: all).
  Sse stream(const std::string& target, const Json& body, size_t max_events = 0) {
    HttpRequest request;
    request.method = "POST";
    request.target = target;
    request.body = body.dump();
    request.timeout_s = 20;
    Sse result;
    SseReader reader;
    auto response = http_fetch_streaming("127.0.0.1", port_, request, [&](std::string_view bytes) {
      return reader.feed(bytes, [&](std::string_view event) {
        result.events.emplace_back(event);
        return max_events == 0 || result.events.size() < max_events;
      });
    });
    result.status = response.status;
    result.content_type = response.headers["content-type"];
    return result;
  }

  static Json error_of(const HttpResponse& response) { return Json::parse(response.body)["error"]; }

  template <typename Predicate>
  static bool eventually(Predicate predicate, std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (predicate()) return true;
      std::this_thread::sleep_for(5ms);
    }
    return predicate();
  }

  std::unique_ptr<FakeEngine> engine_;
  std::unique_ptr<HttpServer> server_;
  std::string port_;
};

TEST_F(HttpServerTest, SimpleRoutes) {
  start();
  EXPECT_EQ(fetch("GET", "/health").status, 200);
  EXPECT_EQ(fetch("GET", "/ping").status, 200);
  EXPECT_EQ(fetch("POST", "/ping").status, 200);
  EXPECT_EQ(Json::parse(fetch("GET", "/version").body)["version"], "0.1.0");
  EXPECT_EQ(Json::parse(fetch("GET", "/load").body)["server_load"], 0);
  auto models = fetch("GET", "/v1/models");
  EXPECT_EQ(models.status, 200);
  EXPECT_EQ(models.headers["content-type"], "application/json");
  EXPECT_EQ(Json::parse(models.body)["data"][0]["id"], "fake-model");
  auto metrics = fetch("GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.headers["content-type"].rfind("text/plain; version=0.0.4", 0), 0u);
  EXPECT_NE(metrics.body.find("vllm:num_requests_running{engine=\"0\",model_name=\"fake-model\"}"), std::string::npos);
  EXPECT_NE(metrics.body.find("vllm:time_to_first_token_seconds_bucket{le=\"0.1\""), std::string::npos);
  auto tokens = post("/tokenize", {{"prompt", "hello world"}});
  EXPECT_EQ(Json::parse(tokens.body)["tokens"], Json({1, 2}));
  EXPECT_EQ(post("/detokenize", {{"tokens", {1}}}).status, 200);
}

TEST_F(HttpServerTest, RoutingErrors) {
  start();
  auto missing = fetch("GET", "/v2/nothing");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(error_of(missing)["code"], 404);
  EXPECT_EQ(error_of(missing)["type"], "NotFoundError");
  auto wrong_method = fetch("GET", "/v1/completions");
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_EQ(wrong_method.headers["allow"], "POST");
  EXPECT_EQ(error_of(wrong_method)["code"], 405);
  EXPECT_EQ(fetch("DELETE", "/health").status, 405);
}

TEST_F(HttpServerTest, RequestErrors) {
  start(FakeEngine::Options{.max_model_len = 32});
  auto malformed = fetch("POST", "/v1/completions", "{\"prompt\": [1, 2");
  EXPECT_EQ(malformed.status, 400);
  EXPECT_EQ(error_of(malformed)["type"], "BadRequestError");
  EXPECT_EQ(error_of(malformed)["code"], 400);
  EXPECT_EQ(fetch("POST", "/v1/completions", "").status, 400);
  EXPECT_EQ(fetch("POST", "/v1/completions", "[1]").status, 400);
  EXPECT_EQ(post("/v1/completions", {{"prompt", {1}}, {"max_tokens", "x"}}).status, 400);
  EXPECT_EQ(post("/v1/completions", {{"prompt", {1}}, {"top_p", 7}}).status, 400);
  auto unknown_model = post("/v1/completions", {{"prompt", {1}}, {"model", "nope"}});
  EXPECT_EQ(unknown_model.status, 404);
  EXPECT_EQ(error_of(unknown_model)["message"], "The model `nope` does not exist.");
  auto too_long = post("/v1/completions", {{"prompt", std::vector<int>(40, 1)}});
  EXPECT_EQ(too_long.status, 400);
  EXPECT_NE(error_of(too_long)["message"].get<std::string>().find("maximum context length is 32 tokens"),
            std::string::npos);
  EXPECT_NE(error_of(too_long)["message"].get<std::string>().find("40 input tokens"), std::string::npos);
  auto chat_error = post("/v1/chat/completions", {{"messages", 5}});
  EXPECT_EQ(chat_error.status, 400);
  // A body nested deeper than anything recursion-safe is refused, not crashed on.
  std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_EQ(fetch("POST", "/v1/completions", deep).status, 400);
  // The server still serves.
  EXPECT_EQ(post("/v1/completions", {{"prompt", {1}}, {"max_tokens", 2}}).status, 200);
}

// Issue 26: request cost. Brackets inside strings do not count as nesting; a chat of 100,000
// messages is parsed and answered (here: too long for the context); while several such bodies
// are being prepared, /health and /metrics still answer before any of them (preparation runs
// off the I/O threads).
TEST_F(HttpServerTest, LargeBodiesDoNotHoldUpLightRoutes) {
  start(FakeEngine::Options{.max_model_len = 32});
  const std::string brackets(300, '[');
  auto in_string = post("/v1/completions", {{"prompt", brackets}, {"max_tokens", 1}});
  EXPECT_EQ(in_string.body.find("nested deeper"), std::string::npos) << in_string.body;
  auto deep = fetch("POST", "/v1/completions", std::string(200, '[') + std::string(200, ']'));
  EXPECT_NE(error_of(deep)["message"].get<std::string>().find("nested deeper than 128"), std::string::npos);

  Json messages = Json::array();
  for (int i = 0; i < 100000; ++i) messages.push_back({{"role", i % 2 ? "assistant" : "user"}, {"content", "hi"}});
  const std::string heavy = Json{{"messages", messages}, {"max_tokens", 1}}.dump();
  std::atomic<int> heavy_done{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i)
    clients.emplace_back([&] {
      try {
        HttpResponse response = fetch("POST", "/v1/chat/completions", heavy);
        EXPECT_EQ(response.status, 400) << response.body;  // longer than the context
      } catch (const Error& error) {
        ADD_FAILURE() << error.what();  // a quadratic parse outlasts the client's 20 s
      }
      heavy_done.fetch_add(1);
    });
  // The bodies are in after a moment (loopback); their preparation takes seconds, and /health
  // must not wait for it: with preparation on the I/O threads it answered only after some of
  // them finished.
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(fetch("GET", "/health").status, 200);
  EXPECT_EQ(fetch("GET", "/metrics").status, 200);
  const int finished_first = heavy_done.load();
  for (auto& client : clients) client.join();
  EXPECT_EQ(finished_first, 0) << "heavy requests finished before /health answered";
  EXPECT_EQ(post("/v1/completions", {{"prompt", {1}}, {"max_tokens", 2}}).status, 200);
}

// Issue 26: a chat template is code; a request's own is refused unless the operator trusts them.
TEST_F(HttpServerTest, RequestChatTemplateNeedsTheTrustFlag) {
  start();
  Json messages = Json::array({{{"role", "user"}, {"content", "hi"}}});
  for (const char* route : {"/v1/chat/completions", "/tokenize"}) {
    auto refused = post(route, {{"messages", messages}, {"chat_template", "{{ 'hello' }}"}});
    EXPECT_EQ(refused.status, 400) << route;
    EXPECT_EQ(error_of(refused)["message"],
              "Chat template is passed with request, but --trust-request-chat-template is not set. "
              "Refused request with untrusted chat template.")
        << route;
  }
  EXPECT_EQ(post("/tokenize", {{"messages", messages}}).status, 200);
}

// Issue 26: 5,000 nested parentheses in a request's template crashed the server (a stack overflow
// in the parser); now a 400 naming the limit, and the server keeps serving.
TEST_F(HttpServerTest, RunawayRequestTemplateIs400AndTheServerKeepsServing) {
  start({}, {}, /*trust_request_chat_template=*/true);
  Json messages = Json::array({{{"role", "user"}, {"content", "hi"}}});
  auto trusted = post("/tokenize", {{"messages", messages}, {"chat_template", "{{ 'hello world' }}"}});
  EXPECT_EQ(Json::parse(trusted.body)["tokens"], Json({1, 2}));
  std::string deep = "{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}";
  auto refused = post("/tokenize", {{"messages", messages}, {"chat_template", deep}});
  EXPECT_EQ(refused.status, 400);
  EXPECT_NE(error_of(refused)["message"].get<std::string>().find("nesting deeper than 512"), std::string::npos);
  EXPECT_EQ(post("/tokenize", {{"prompt", "hello world"}}).status, 200);
  EXPECT_EQ(post("/v1/chat/completions", {{"messages", messages}, {"max_tokens", 2}}).status, 200);
}

// Issue 26: only a JSON media type is parsed as JSON (vLLM's validate_json_request).
TEST_F(HttpServerTest, PostBodiesMustBeJson) {
  start();
  std::string body = Json{{"prompt", {1}}, {"max_tokens", 2}}.dump();
  for (const char* type : {"text/plain", "application/x-www-form-urlencoded", "application/jsonx", ""}) {
    auto refused = fetch("POST", "/v1/completions", body, {{"Content-Type", type}});
    EXPECT_EQ(refused.status, 400) << type;
    EXPECT_EQ(error_of(refused)["message"], "Unsupported Media Type: Only 'application/json' is allowed") << type;
  }
  EXPECT_EQ(fetch("POST", "/tokenize", Json{{"prompt", "hi"}}.dump(), {{"Content-Type", "text/plain"}}).status, 400);
  EXPECT_EQ(fetch("POST", "/v1/completions", body, {{"Content-Type", "application/json; charset=utf-8"}}).status, 200);
  EXPECT_EQ(fetch("POST", "/v1/completions", body, {{"Content-Type", "Application/JSON"}}).status, 200);
  EXPECT_EQ(fetch("POST", "/v1/completions", body).status, 200);
}

TEST_F(HttpServerTest, BodyOverTheLimitIs413) {
  ServerOptions options;
  options.max_request_body_bytes = 1024;
  start({}, options);
  auto response = fetch("POST", "/v1/completions", Json{{"prompt", std::string(5000, 'a')}}.dump());
  EXPECT_EQ(response.status, 413);
  EXPECT_EQ(error_of(response)["code"], 413);
  EXPECT_EQ(fetch("GET", "/health").status, 200);
}

TEST_F(HttpServerTest, MalformedHttpIs400) {
  start();
  int fd = testing::connect_raw(static_cast<uint16_t>(std::stoi(port_)));
  ASSERT_GE(fd, 0);
  testing::send_all(fd, "GARBAGE\x01\x02 / HTTP/9.9\r\n\r\n");
  std::string reply = testing::read_all(fd);
  ::close(fd);
  EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply;
  EXPECT_EQ(fetch("GET", "/health").status, 200);
}

TEST_F(HttpServerTest, ApiKeyIsRequiredOnV1) {
  ServerOptions options;
  options.api_keys = {"secret"};
  start({}, options);
  auto missing = fetch("GET", "/v1/models");
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(error_of(missing)["message"], "Unauthorized");
  EXPECT_EQ(fetch("GET", "/v1/models", "", {{"Authorization", "Bearer wrong"}}).status, 401);
  EXPECT_EQ(fetch("POST", "/v1/completions", "{}", {{"Authorization", "secret"}}).status, 401);
  EXPECT_EQ(fetch("GET", "/v1/models", "", {{"Authorization", "Bearer secret"}}).status, 200);
  EXPECT_EQ(fetch("GET", "/health").status, 200);  // only /v1 needs the key, as in vLLM
  EXPECT_EQ(fetch("GET", "/metrics").status, 200);
}

TEST_F(HttpServerTest, CompletionAndChat) {
  start();
  auto completion = post("/v1/completions", {{"prompt", {1, 2}}, {"max_tokens", 3}, {"n", 2}, {"logprobs", 2}});
  ASSERT_EQ(completion.status, 200) << completion.body;
  Json body = Json::parse(completion.body);
  ASSERT_EQ(body["choices"].size(), 2u);
  EXPECT_EQ(body["choices"][0]["text"], " t3 t10 t17");  // seed 3, +7 per token
  EXPECT_EQ(body["choices"][1]["text"], " t4 t11 t18");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(body["choices"][0]["logprobs"]["tokens"].size(), 3u);
  EXPECT_EQ(body["usage"]["completion_tokens"], 6);

  auto chat = post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "hi"}}}},
                                            {"max_completion_tokens", 2},
                                            {"logprobs", true},
                                            {"top_logprobs", 2}});
  ASSERT_EQ(chat.status, 200) << chat.body;
  Json chat_body = Json::parse(chat.body);
  EXPECT_EQ(chat_body["object"], "chat.completion");
  EXPECT_EQ(chat_body["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(chat_body["choices"][0]["logprobs"]["content"][0]["top_logprobs"].size(), 2u);
  EXPECT_EQ(chat_body["usage"]["prompt_tokens"], 3);
}

TEST_F(HttpServerTest, StreamingCompletionFraming) {
  start();
  Sse sse = stream("/v1/completions", {{"prompt", {{1}, {2}}},
                                       {"max_tokens", 3},
                                       {"stream", true},
                                       {"stream_options", {{"include_usage", true}}}});
  EXPECT_EQ(sse.status, 200);
  EXPECT_EQ(sse.content_type, "text/event-stream; charset=utf-8");
  ASSERT_GE(sse.events.size(), 3u);
  EXPECT_EQ(sse.events.back(), "[DONE]");
  Json usage = Json::parse(sse.events[sse.events.size() - 2]);
  EXPECT_EQ(usage["choices"], Json::array());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 6);
  EXPECT_EQ(usage["usage"]["prompt_tokens"], 2);
  std::string text[2];
  for (size_t i = 0; i + 2 < sse.events.size(); ++i) {
    Json chunk = Json::parse(sse.events[i]);
    EXPECT_EQ(chunk["object"], "text_completion");
    text[chunk["choices"][0]["index"].get<int>()] += chunk["choices"][0]["text"].get<std::string>();
  }
  EXPECT_EQ(text[0], " t1 t8 t15");
  EXPECT_EQ(text[1], " t2 t9 t16");
}

TEST_F(HttpServerTest, StreamingChatFirstChunkHasRole) {
  start();
  Sse sse = stream("/v1/chat/completions",
                   {{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", 2}, {"stream", true}});
  ASSERT_GE(sse.events.size(), 3u);
  Json first = Json::parse(sse.events[0]);
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(sse.events.back(), "[DONE]");
  Json last = Json::parse(sse.events[sse.events.size() - 2]);
  EXPECT_EQ(last["choices"][0]["finish_reason"], "length");  // no usage chunk without include_usage
}

TEST_F(HttpServerTest, StreamingDisconnectAborts) {
  start(FakeEngine::Options{.step_delay = 20ms});
  Sse sse = stream("/v1/completions", {{"prompt", {1}}, {"max_tokens", 200}, {"stream", true}}, 2);
  EXPECT_EQ(sse.events.size(), 2u);
  EXPECT_TRUE(eventually([&] { return engine_->num_aborted() == 1; }));
  EXPECT_TRUE(eventually([&] { return server_->in_flight() == 0 && engine_->num_active() == 0; }));
}

TEST_F(HttpServerTest, NonStreamingDisconnectAborts) {
  start(FakeEngine::Options{.step_delay = 20ms});
  int fd = testing::connect_raw(static_cast<uint16_t>(std::stoi(port_)));
  ASSERT_GE(fd, 0);
  std::string body = Json{{"prompt", {1}}, {"max_tokens", 200}}.dump();
  testing::send_all(fd, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  ASSERT_TRUE(eventually([&] { return engine_->num_active() == 1; }));
  ::close(fd);
  EXPECT_TRUE(eventually([&] { return engine_->num_aborted() == 1; }));
  EXPECT_TRUE(eventually([&] { return server_->in_flight() == 0; }));
}

TEST_F(HttpServerTest, OverloadIs503) {
  ServerOptions options;
  options.max_num_seqs = 1;
  options.max_waiting_requests = 0;
  start(FakeEngine::Options{.step_delay = 20ms}, options);
  std::thread holder([&] { stream("/v1/completions", {{"prompt", {1}}, {"max_tokens", 30}, {"stream", true}}); });
  EXPECT_TRUE(eventually([&] { return server_->in_flight() == 1; }));
  auto rejected = post("/v1/completions", {{"prompt", {1}}, {"max_tokens", 1}});
  EXPECT_EQ(rejected.status, 503);
  EXPECT_EQ(error_of(rejected)["code"], 503);
  holder.join();
  EXPECT_EQ(post("/v1/completions", {{"prompt", {1}}, {"max_tokens", 1}}).status, 200);
  // More sequences than the server can ever hold is the request's fault: 400.
  EXPECT_EQ(post("/v1/completions", {{"prompt", {1}}, {"max_tokens", 1}, {"n", 2}}).status, 400);
  EXPECT_NE(fetch("GET", "/metrics").body.find("vllm_cpp:requests_rejected_total{engine=\"0\",model_name=\"fake-model\"} 1.0"),
            std::string::npos);
}

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  start();
  int fd = testing::connect_raw(static_cast<uint16_t>(std::stoi(port_)));
  ASSERT_GE(fd, 0);
  std::string body = Json{{"prompt", {1}}, {"max_tokens", 1}}.dump();
  std::string request = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body;
  // Two pipelined requests, then a third that closes the connection.
  testing::send_all(fd, request + request + "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::string reply = testing::read_all(fd);
  ::close(fd);
  size_t count = 0;
  for (size_t at = reply.find("HTTP/1.1 200"); at != std::string::npos; at = reply.find("HTTP/1.1 200", at + 1)) ++count;
  EXPECT_EQ(count, 3u) << reply;
}

TEST_F(HttpServerTest, ExpectContinueGetsAnInterimAnswer) {
  start();
  int fd = testing::connect_raw(static_cast<uint16_t>(std::stoi(port_)));
  ASSERT_GE(fd, 0);
  std::string body = Json{{"prompt", {1}}, {"max_tokens", 1}}.dump();
  testing::send_all(fd, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nConnection: close\r\n"
                        "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n");
  char interim[64] = {};
  ssize_t got = ::recv(fd, interim, sizeof(interim) - 1, 0);
  EXPECT_EQ(std::string(interim, got > 0 ? static_cast<size_t>(got) : 0), "HTTP/1.1 100 Continue\r\n\r\n");
  testing::send_all(fd, body);
  std::string reply = testing::read_all(fd);
  ::close(fd);
  EXPECT_EQ(reply.rfind("HTTP/1.1 200", 0), 0u) << reply;
}

TEST_F(HttpServerTest, FiveHundredConcurrentStreams) {
  start(FakeEngine::Options{.step_delay = 1ms});
  constexpr int kClients = 500;
  std::atomic<int> complete{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      try {
        Sse sse = stream("/v1/completions",
                         {{"prompt", {i % 100}}, {"max_tokens", 8}, {"stream", true}, {"ignore_eos", true}});
        std::string text;
        for (size_t e = 0; e + 1 < sse.events.size(); ++e)
          text += Json::parse(sse.events[e])["choices"][0]["text"].get<std::string>();
        std::string expected;
        for (int t = 0; t < 8; ++t) expected += FakeEngine::token_text((i % 100 + 7 * t) % 1000);
        if (sse.status == 200 && !sse.events.empty() && sse.events.back() == "[DONE]" && text == expected) ++complete;
      } catch (const std::exception&) {
      }
    });
  }
  for (auto& client : clients) client.join();
  EXPECT_EQ(complete.load(), kClients);
  EXPECT_EQ(server_->in_flight(), 0);
}

TEST_F(HttpServerTest, ShutdownLetsShortRequestsFinish) {
  ServerOptions options;
  options.shutdown_timeout_s = 5;
  start(FakeEngine::Options{.step_delay = 10ms}, options);
  Sse sse;
  std::thread client([&] { sse = stream("/v1/completions", {{"prompt", {1}}, {"max_tokens", 10}, {"stream", true}}); });
  EXPECT_TRUE(eventually([&] { return server_->in_flight() == 1; }));
  server_->shutdown();
  client.join();
  ASSERT_GE(sse.events.size(), 2u);
  EXPECT_EQ(sse.events.back(), "[DONE]");
  EXPECT_EQ(Json::parse(sse.events[sse.events.size() - 2])["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(engine_->num_aborted(), 0u);
  EXPECT_THROW(fetch("GET", "/health"), Error);  // no longer accepting
}

TEST_F(HttpServerTest, ShutdownAbortsLongRequestsInBoundedTime) {
  ServerOptions options;
  options.shutdown_timeout_s = 0.3;
  start(FakeEngine::Options{.step_delay = 10ms}, options);
  Sse sse;
  std::thread client([&] { sse = stream("/v1/completions", {{"prompt", {1}}, {"max_tokens", 200}, {"stream", true}}); });
  EXPECT_TRUE(eventually([&] { return server_->in_flight() == 1; }));
  auto begin = std::chrono::steady_clock::now();
  server_->shutdown();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 3s);
  client.join();
  ASSERT_GE(sse.events.size(), 2u);
  EXPECT_EQ(sse.events.back(), "[DONE]");
  EXPECT_EQ(Json::parse(sse.events[sse.events.size() - 2])["choices"][0]["finish_reason"], "abort");
  EXPECT_EQ(engine_->num_aborted(), 1u);
}

}  // namespace
}  // namespace vllm::server
