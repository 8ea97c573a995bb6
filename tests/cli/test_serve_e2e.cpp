// `vllm-cpp serve` end to end: the real binary on a free port with a tiny checkpoint (token-id
// prompts, --skip-tokenizer-init) and with the built-in default model; requests over HTTP, the
// `complete`/`chat` clients, then SIGTERM and exit status 0.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "server/http_client.h"
#include "ssm_test_checkpoint.h"
#include "test_util.h"

namespace {

using nlohmann::json;
using namespace std::chrono_literals;

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

// A `vllm-cpp serve` child process; its output goes to a log file printed on failure.
class ServeProcess {
 public:
  explicit ServeProcess(std::vector<std::string> args) : port_(free_port()) {
    log_ = std::filesystem::temp_directory_path() / ("vllm_serve_e2e_" + std::to_string(::getpid()) + "_" +
                                                     std::to_string(port_) + ".log");
    args.insert(args.begin(), {VLLM_BINARY, "serve"});
    for (const char* extra : {"--host", "127.0.0.1", "--port"}) args.push_back(extra);
    args.push_back(std::to_string(port_));
    pid_ = ::fork();
    if (pid_ == 0) {
      int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::vector<char*> argv;
      for (auto& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  ~ServeProcess() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    std::filesystem::remove(log_);
  }

  std::string port() const { return std::to_string(port_); }
  std::string log() const {
    std::ifstream in(log_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  // Polls GET /health until 200 (false when the process died or the time ran out).
  bool wait_healthy(std::chrono::seconds timeout = 180s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return false;
      }
      try {
        if (fetch("GET", "/health").status == 200) return true;
      } catch (const std::exception&) {
      }
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }

  vllm::server::HttpResponse fetch(const std::string& method, const std::string& target, const json& body = nullptr,
                                   std::vector<std::pair<std::string, std::string>> headers = {}) {
    vllm::server::HttpRequest request;
    request.method = method;
    request.target = target;
    if (!body.is_null()) request.body = body.dump();
    request.headers = std::move(headers);
    request.timeout_s = 120;
    return vllm::server::http_fetch("127.0.0.1", port(), request);
  }

  // SIGTERM, then the exit status (-1 when it did not exit within `timeout`).
  int terminate(std::chrono::seconds timeout = 30s) {
    ::kill(pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(20ms);
    }
    return -1;
  }

 private:
  uint16_t port_;
  pid_t pid_ = -1;
  bool exited_ = false;
  std::filesystem::path log_;
};

std::string run_command(const std::string& command) {
  std::string out;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  std::array<char, 4096> buffer;
  for (size_t n; (n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0;) out.append(buffer.data(), n);
  pclose(pipe);
  return out;
}

TEST(ServeE2E, TinyCheckpointWithTokenIds) {
  std::string model = (vllm::testing::source_dir() / "tests/data/models/llama_gqa_5x").string();
  ServeProcess serve({model, "--skip-tokenizer-init", "--served-model-name", "tiny", "--api-key", "k",
                      "--kv-cache-memory", "8000000", "--shutdown-timeout", "2"});
  ASSERT_TRUE(serve.wait_healthy()) << serve.log();
  std::vector<std::pair<std::string, std::string>> auth = {{"Authorization", "Bearer k"}};

  EXPECT_EQ(serve.fetch("GET", "/v1/models").status, 401);
  auto models = serve.fetch("GET", "/v1/models", nullptr, auth);
  ASSERT_EQ(models.status, 200) << models.body;
  EXPECT_EQ(json::parse(models.body)["data"][0]["id"], "tiny");

  auto completion = serve.fetch("POST", "/v1/completions",
                                {{"model", "tiny"}, {"prompt", {1, 2, 3, 4}}, {"max_tokens", 5}, {"temperature", 0},
                                 {"return_token_ids", true}, {"logprobs", 2}},
                                auth);
  ASSERT_EQ(completion.status, 200) << completion.body << serve.log();
  json body = json::parse(completion.body);
  EXPECT_EQ(body["choices"][0]["token_ids"].size(), 5u);
  EXPECT_EQ(body["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(body["choices"][0]["logprobs"]["token_logprobs"].size(), 5u);
  EXPECT_EQ(body["usage"]["prompt_tokens"], 4);

  // The same greedy request streamed gives the same tokens.
  vllm::server::HttpRequest request;
  request.method = "POST";
  request.target = "/v1/completions";
  request.headers = auth;
  request.body = json{{"prompt", {1, 2, 3, 4}}, {"max_tokens", 5}, {"temperature", 0}, {"stream", true},
                      {"return_token_ids", true}, {"stream_options", {{"include_usage", true}}}}
                     .dump();
  std::vector<int> streamed;
  std::vector<std::string> events;
  vllm::server::SseReader reader;
  vllm::server::http_fetch_streaming("127.0.0.1", serve.port(), request, [&](std::string_view bytes) {
    return reader.feed(bytes, [&](std::string_view event) {
      events.emplace_back(event);
      if (event == "[DONE]") return true;
      json chunk = json::parse(event);
      for (const json& choice : chunk["choices"])
        for (const json& id : choice.value("token_ids", json::array())) streamed.push_back(id.get<int>());
      return true;
    });
  });
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "[DONE]");
  EXPECT_EQ(json::parse(events[events.size() - 2])["usage"]["completion_tokens"], 5);
  EXPECT_EQ(json(streamed), body["choices"][0]["token_ids"]);

  // Errors: prompt longer than the context (256), unknown model, text prompt without tokenizer.
  auto too_long = serve.fetch("POST", "/v1/completions", {{"prompt", std::vector<int>(300, 1)}}, auth);
  EXPECT_EQ(too_long.status, 400);
  EXPECT_NE(too_long.body.find("256"), std::string::npos) << too_long.body;
  EXPECT_EQ(serve.fetch("POST", "/v1/completions", {{"prompt", {1}}, {"model", "x"}}, auth).status, 404);
  EXPECT_EQ(serve.fetch("POST", "/v1/completions", {{"prompt", "text"}}, auth).status, 400);

  auto metrics = serve.fetch("GET", "/metrics");
  EXPECT_NE(metrics.body.find("vllm:prompt_tokens_total{engine=\"0\",model_name=\"tiny\"}"), std::string::npos);
  EXPECT_EQ(serve.terminate(), 0) << serve.log();
}

// Streams one completion; returns its token ids (from return_token_ids) and the finish reason.
std::pair<std::vector<int>, std::string> stream_completion(ServeProcess& serve, const json& body) {
  vllm::server::HttpRequest request;
  request.method = "POST";
  request.target = "/v1/completions";
  json streaming = body;
  streaming["stream"] = true;
  streaming["return_token_ids"] = true;
  request.body = streaming.dump();
  std::vector<int> tokens;
  std::string finish_reason;
  vllm::server::SseReader reader;
  vllm::server::http_fetch_streaming("127.0.0.1", serve.port(), request, [&](std::string_view bytes) {
    return reader.feed(bytes, [&](std::string_view event) {
      if (event == "[DONE]") return true;
      json chunk = json::parse(event);
      for (const json& choice : chunk["choices"]) {
        for (const json& id : choice.value("token_ids", json::array())) tokens.push_back(id.get<int>());
        if (choice.contains("finish_reason") && choice["finish_reason"].is_string())
          finish_reason = choice["finish_reason"].get<std::string>();
      }
      return true;
    });
  });
  return {tokens, finish_reason};
}

// The server under --async-scheduling (on the CPU, which runs the same asynchronous path as
// CUDA): concurrent streams, stops and lengths give what a synchronous server gives.
TEST(ServeE2E, AsyncSchedulingStreamsWhatTheSynchronousServerDoes) {
  std::string model = (vllm::testing::source_dir() / "tests/data/models/llama_gqa_5x").string();
  std::vector<json> bodies;
  for (int i = 0; i < 6; ++i)
    bodies.push_back({{"prompt", {1 + i, 2, 3 + 2 * i, 4}}, {"max_tokens", 4 + 3 * i}, {"temperature", 0},
                      {"ignore_eos", true}});
  std::vector<std::pair<std::vector<int>, std::string>> expected;
  {
    ServeProcess sync({model, "--skip-tokenizer-init", "--device", "cpu", "--kv-cache-memory", "8000000"});
    ASSERT_TRUE(sync.wait_healthy()) << sync.log();
    for (const json& body : bodies) expected.push_back(stream_completion(sync, body));
    EXPECT_EQ(sync.terminate(), 0) << sync.log();
  }
  // A stop token from the middle of one output ends that request early.
  ASSERT_GE(expected[5].first.size(), 4u);
  bodies[5]["stop_token_ids"] = {expected[5].first[2]};
  auto first = std::find(expected[5].first.begin(), expected[5].first.end(), expected[5].first[2]);
  expected[5] = {std::vector<int>(expected[5].first.begin(), first + 1), "stop"};

  ServeProcess async({model, "--skip-tokenizer-init", "--device", "cpu", "--kv-cache-memory", "8000000",
                      "--async-scheduling"});
  ASSERT_TRUE(async.wait_healthy()) << async.log();
  EXPECT_NE(async.log().find(", async scheduling"), std::string::npos) << async.log();
  std::vector<std::pair<std::vector<int>, std::string>> got(bodies.size());
  std::vector<std::thread> clients;
  for (size_t i = 0; i < bodies.size(); ++i)
    clients.emplace_back([&, i] { got[i] = stream_completion(async, bodies[i]); });
  for (std::thread& client : clients) client.join();
  for (size_t i = 0; i < bodies.size(); ++i) {
    EXPECT_EQ(got[i].first, expected[i].first) << "request " << i;
    EXPECT_EQ(got[i].second, i == 5 ? "stop" : "length") << "request " << i;
  }
  EXPECT_EQ(async.terminate(), 0) << async.log();
}

TEST(ServeE2E, DefaultModelServesTextAndChat) {
  std::filesystem::path model = vllm::testing::source_dir() / "models/default";
  ASSERT_TRUE(std::filesystem::exists(model / "config.json")) << model << " is part of the repository";
  ServeProcess serve({"--kv-cache-memory", "32000000", "--shutdown-timeout", "2"});  // no MODEL: the default
  ASSERT_TRUE(serve.wait_healthy()) << serve.log();

  auto completion = serve.fetch("POST", "/v1/completions",
                                {{"prompt", "Once upon a time"}, {"max_tokens", 8}, {"temperature", 0}, {"echo", true}});
  ASSERT_EQ(completion.status, 200) << completion.body << serve.log();
  EXPECT_EQ(json::parse(completion.body)["model"], "default");  // the built-in model's served name
  std::string text = json::parse(completion.body)["choices"][0]["text"];
  EXPECT_EQ(text.rfind("Once upon a time", 0), 0u) << text;
  EXPECT_GT(text.size(), std::string("Once upon a time").size());

  auto chat = serve.fetch("POST", "/v1/chat/completions",
                          {{"messages", {{{"role", "user"}, {"content", "Tell me a story about Tom."}}}},
                           {"max_completion_tokens", 8}, {"temperature", 0}});
  ASSERT_EQ(chat.status, 200) << chat.body;
  json chat_body = json::parse(chat.body);
  EXPECT_EQ(chat_body["choices"][0]["message"]["role"], "assistant");
  EXPECT_FALSE(chat_body["choices"][0]["message"]["content"].get<std::string>().empty());

  auto tokens = serve.fetch("POST", "/tokenize", {{"prompt", "Once upon a time"}});
  ASSERT_EQ(tokens.status, 200);
  auto detokenized = serve.fetch("POST", "/detokenize", {{"tokens", json::parse(tokens.body)["tokens"]}});
  EXPECT_NE(json::parse(detokenized.body)["prompt"].get<std::string>().find("Once upon a time"), std::string::npos);

  // The client subcommands against the running server.
  std::string url = "http://127.0.0.1:" + serve.port() + "/v1";
  std::string bin = VLLM_BINARY;
  std::string completed = run_command(bin + " complete --url " + url + " --max-tokens 4 -q 'Once upon a time'");
  EXPECT_FALSE(completed.empty());
  EXPECT_EQ(completed.find("error"), std::string::npos) << completed;
  std::string chatted = run_command(bin + " chat --url " + url + " --system-prompt 'Be brief.' -q 'Hello'");
  EXPECT_EQ(chatted.find("error"), std::string::npos) << chatted;
  EXPECT_EQ(serve.terminate(), 0) << serve.log();
}

// Structured outputs and tool_choice required / named over HTTP with the default model (a tiny
// Llama that knows no JSON) sampling at temperature 1: the constraint alone makes the outputs valid.
TEST(ServeE2E, StructuredOutputsAndForcedToolCalls) {
  ServeProcess serve({"--kv-cache-memory", "32000000", "--shutdown-timeout", "2"});
  ASSERT_TRUE(serve.wait_healthy()) << serve.log();
  const json messages = {{{"role", "user"}, {"content", "Plan a trip."}}};
  const json schema = json::parse(R"({"type": "object", "properties": {
      "city": {"type": "string", "maxLength": 10}, "days": {"type": "integer", "minimum": 1, "maximum": 7}},
      "required": ["city", "days"]})");
  for (int seed = 0; seed < 3; ++seed) {
    auto chat = serve.fetch("POST", "/v1/chat/completions",
                            {{"messages", messages}, {"temperature", 1}, {"seed", seed}, {"max_completion_tokens", 300},
                             {"response_format", {{"type", "json_schema"},
                                                  {"json_schema", {{"name", "trip"}, {"schema", schema}}}}}});
    ASSERT_EQ(chat.status, 200) << chat.body;
    json answer = json::parse(json::parse(chat.body)["choices"][0]["message"]["content"].get<std::string>());
    ASSERT_TRUE(answer["city"].is_string()) << answer;
    EXPECT_LE(answer["city"].get<std::string>().size(), 10u);
    ASSERT_TRUE(answer["days"].is_number_integer()) << answer;
    EXPECT_GE(answer["days"].get<int>(), 1);
    EXPECT_LE(answer["days"].get<int>(), 7);
  }

  auto regex = serve.fetch("POST", "/v1/completions",
                           {{"prompt", "Once upon a time"}, {"temperature", 1}, {"seed", 1}, {"max_tokens", 20},
                            {"structured_outputs", {{"regex", "[0-9]{3}-[a-z]{2}"}}}});
  ASSERT_EQ(regex.status, 200) << regex.body;
  std::string text = json::parse(regex.body)["choices"][0]["text"];
  EXPECT_TRUE(text.size() == 6 && std::isdigit(text[0]) && std::isdigit(text[2]) && text[3] == '-' &&
              std::islower(text[5]))
      << text;
  auto choice = serve.fetch("POST", "/v1/completions",
                            {{"prompt", "Once upon a time"}, {"temperature", 1}, {"seed", 2}, {"max_tokens", 20},
                             {"guided_choice", {"left", "right"}}});
  ASSERT_EQ(choice.status, 200) << choice.body;
  std::string picked = json::parse(choice.body)["choices"][0]["text"];
  EXPECT_TRUE(picked == "left" || picked == "right") << picked;
  auto bad = serve.fetch("POST", "/v1/completions",
                         {{"prompt", "Once"}, {"structured_outputs", {{"regex", "(unclosed"}}}});
  EXPECT_EQ(bad.status, 400) << bad.body;

  const json tools = json::parse(R"([
      {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
        "properties": {"city": {"type": "string", "maxLength": 12}}, "required": ["city"]}}},
      {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object",
        "properties": {"zone": {"enum": ["UTC", "CET"]}}, "required": ["zone"]}}}])");
  for (const json& tool_choice : {json("required"), json::parse(R"({"type": "function", "function": {"name": "get_time"}})")}) {
    SCOPED_TRACE(tool_choice.dump());
    auto call = serve.fetch("POST", "/v1/chat/completions",
                            {{"messages", messages}, {"tools", tools}, {"tool_choice", tool_choice},
                             {"temperature", 1}, {"seed", 3}});  // max tokens: the rest of the context
    ASSERT_EQ(call.status, 200) << call.body;
    json choice0 = json::parse(call.body)["choices"][0];
    ASSERT_FALSE(choice0["message"]["tool_calls"].empty()) << choice0;
    for (const json& tool_call : choice0["message"]["tool_calls"]) {
      std::string name = tool_call["function"]["name"];
      json arguments = json::parse(tool_call["function"]["arguments"].get<std::string>());
      if (tool_choice.is_object()) EXPECT_EQ(name, "get_time");
      if (name == "get_weather") EXPECT_TRUE(arguments["city"].is_string()) << arguments;
      else if (name == "get_time") EXPECT_TRUE(arguments["zone"] == "UTC" || arguments["zone"] == "CET") << arguments;
      else ADD_FAILURE() << "unknown tool " << name;
    }
    EXPECT_EQ(choice0["finish_reason"], tool_choice.is_string() ? "tool_calls" : "stop");
  }
  EXPECT_EQ(serve.terminate(), 0) << serve.log();
}

// The named events of a streamed POST: (event name, data) in order.
std::vector<std::pair<std::string, json>> stream_events(ServeProcess& serve, const std::string& target, json body,
                                                        std::vector<std::pair<std::string, std::string>> headers) {
  body["stream"] = true;
  auto response = serve.fetch("POST", target, body, std::move(headers));
  EXPECT_EQ(response.status, 200) << response.body;
  std::vector<std::pair<std::string, json>> events;
  vllm::server::SseReader reader;
  reader.feed(response.body, [&](std::string_view data) {
    events.emplace_back(reader.event_name(), json::parse(data));
    return true;
  });
  return events;
}

// /v1/responses and /v1/messages with the default model: plain and streamed answers agree,
// previous_response_id carries the conversation, forced tool calls come back as function_call /
// tool_use items, count_tokens matches /tokenize, bad bodies get each API's error shape.
TEST(ServeE2E, ResponsesAndMessagesApis) {
  ServeProcess serve({"--kv-cache-memory", "32000000", "--shutdown-timeout", "2", "--api-key", "k"});
  ASSERT_TRUE(serve.wait_healthy()) << serve.log();
  const std::vector<std::pair<std::string, std::string>> bearer = {{"Authorization", "Bearer k"}};
  const std::vector<std::pair<std::string, std::string>> anthropic = {{"x-api-key", "k"},
                                                                      {"anthropic-version", "2023-06-01"}};

  // Responses: plain, then the same greedy request streamed.
  const json ask = {{"input", "Tell me a story about Tom."}, {"max_output_tokens", 8}, {"temperature", 0}};
  auto plain = serve.fetch("POST", "/v1/responses", ask, bearer);
  ASSERT_EQ(plain.status, 200) << plain.body << serve.log();
  json response = json::parse(plain.body);
  EXPECT_EQ(response["object"], "response");
  EXPECT_EQ(response["model"], "default");
  ASSERT_EQ(response["output"].size(), 1u) << response;
  std::string text = response["output"][0]["content"][0]["text"];
  EXPECT_FALSE(text.empty());
  EXPECT_LE(response["usage"]["output_tokens"].get<int>(), 8);
  EXPECT_EQ(response["usage"]["total_tokens"],
            response["usage"]["input_tokens"].get<int>() + response["usage"]["output_tokens"].get<int>());

  auto events = stream_events(serve, "/v1/responses", ask, bearer);
  std::vector<std::string> names;
  std::string joined;
  for (size_t i = 0; i < events.size(); ++i) {
    const auto& [name, data] = events[i];
    names.push_back(name);
    EXPECT_EQ(data["type"], name);
    EXPECT_EQ(data["sequence_number"], static_cast<int>(i));
    if (name == "response.output_text.delta") joined += data["delta"].get<std::string>();
  }
  ASSERT_GE(names.size(), 9u);
  EXPECT_EQ(std::vector<std::string>(names.begin(), names.begin() + 4),
            (std::vector<std::string>{"response.created", "response.in_progress", "response.output_item.added",
                                      "response.content_part.added"}));
  EXPECT_EQ(std::vector<std::string>(names.end() - 4, names.end()),
            (std::vector<std::string>{"response.output_text.done", "response.content_part.done",
                                      "response.output_item.done", "response.completed"}));
  for (size_t i = 4; i + 4 < names.size(); ++i) EXPECT_EQ(names[i], "response.output_text.delta");
  EXPECT_EQ(joined, text);
  EXPECT_EQ(events.back().second["response"]["output"][0]["content"][0]["text"], text);

  // previous_response_id: the earlier turn and answer come before the new input.
  auto stored = serve.fetch("GET", "/v1/responses/" + response["id"].get<std::string>(), nullptr, bearer);
  ASSERT_EQ(stored.status, 200);
  EXPECT_EQ(json::parse(stored.body), response);
  auto next = serve.fetch("POST", "/v1/responses",
                          {{"input", "And then?"}, {"previous_response_id", response["id"]}, {"max_output_tokens", 4}},
                          bearer);
  ASSERT_EQ(next.status, 200) << next.body;
  json continued = json::parse(next.body);
  EXPECT_EQ(continued["previous_response_id"], response["id"]);
  EXPECT_GT(continued["usage"]["input_tokens"].get<int>(),
            response["usage"]["input_tokens"].get<int>() + response["usage"]["output_tokens"].get<int>());

  // A forced tool call, whole and streamed (function_call_arguments deltas join to the arguments).
  const json tools = json::parse(R"([{"type": "function", "name": "get_time", "parameters": {"type": "object",
      "properties": {"zone": {"enum": ["UTC", "CET"]}}, "required": ["zone"]}}])");
  const json forced = {{"input", "What time is it?"}, {"tools", tools}, {"temperature", 1}, {"seed", 3},
                       {"tool_choice", {{"type", "function"}, {"name", "get_time"}}}};
  auto called = serve.fetch("POST", "/v1/responses", forced, bearer);
  ASSERT_EQ(called.status, 200) << called.body;
  json call = json::parse(called.body)["output"].back();
  EXPECT_EQ(call["type"], "function_call");
  EXPECT_EQ(call["name"], "get_time");
  json zone = json::parse(call["arguments"].get<std::string>())["zone"];
  EXPECT_TRUE(zone == "UTC" || zone == "CET") << call;
  std::string arguments;
  auto call_events = stream_events(serve, "/v1/responses", forced, bearer);
  for (const auto& [name, data] : call_events)
    if (name == "response.function_call_arguments.delta") arguments += data["delta"].get<std::string>();
  ASSERT_FALSE(call_events.empty());
  EXPECT_EQ(call_events.back().second["response"]["output"].back()["arguments"], arguments);
  EXPECT_TRUE(json::parse(arguments)["zone"].is_string()) << arguments;

  // Messages: plain and streamed agree; a forced tool is a tool_use block.
  const json messages = {{"role", "user"}, {"content", "Tell me a story about Tom."}};
  const json message_body = {{"system", "Be brief."}, {"messages", json::array({messages})}, {"max_tokens", 8},
                             {"temperature", 0}};
  auto answered = serve.fetch("POST", "/v1/messages", message_body, anthropic);
  ASSERT_EQ(answered.status, 200) << answered.body;
  json message = json::parse(answered.body);
  EXPECT_EQ(message["type"], "message");
  EXPECT_EQ(message["role"], "assistant");
  EXPECT_EQ(message["id"].get<std::string>().rfind("msg_", 0), 0u);
  ASSERT_EQ(message["content"][0]["type"], "text");
  EXPECT_TRUE(message["stop_reason"] == "max_tokens" || message["stop_reason"] == "end_turn") << message;
  auto message_events = stream_events(serve, "/v1/messages", message_body, anthropic);
  ASSERT_GE(message_events.size(), 6u);
  EXPECT_EQ(message_events.front().first, "message_start");
  EXPECT_EQ(message_events[1].first, "content_block_start");
  EXPECT_EQ(message_events[message_events.size() - 3].first, "content_block_stop");
  EXPECT_EQ(message_events[message_events.size() - 2].first, "message_delta");
  EXPECT_EQ(message_events.back().first, "message_stop");
  std::string message_text;
  for (size_t i = 2; i + 3 < message_events.size(); ++i) {
    EXPECT_EQ(message_events[i].first, "content_block_delta");
    message_text += message_events[i].second["delta"]["text"].get<std::string>();
  }
  EXPECT_EQ(message_text, message["content"][0]["text"]);
  EXPECT_EQ(message_events[message_events.size() - 2].second["delta"]["stop_reason"], message["stop_reason"]);
  EXPECT_EQ(message_events[message_events.size() - 2].second["usage"]["output_tokens"],
            message["usage"]["output_tokens"]);

  json tool_body = message_body;
  tool_body["tools"] = json::parse(R"([{"name": "get_time", "input_schema": {"type": "object",
      "properties": {"zone": {"enum": ["UTC", "CET"]}}, "required": ["zone"]}}])");
  tool_body["tool_choice"] = {{"type", "tool"}, {"name", "get_time"}};
  tool_body["max_tokens"] = 64;
  auto used = serve.fetch("POST", "/v1/messages", tool_body, anthropic);
  ASSERT_EQ(used.status, 200) << used.body;
  json tool_message = json::parse(used.body);
  EXPECT_EQ(tool_message["stop_reason"], "tool_use");
  EXPECT_EQ(tool_message["content"].back()["type"], "tool_use");
  EXPECT_TRUE(tool_message["content"].back()["input"]["zone"].is_string()) << tool_message;

  // count_tokens renders what /tokenize renders for the same conversation.
  auto counted = serve.fetch("POST", "/v1/messages/count_tokens",
                             {{"system", "Be brief."}, {"messages", json::array({messages})}}, anthropic);
  ASSERT_EQ(counted.status, 200) << counted.body;
  auto tokenized = serve.fetch("POST", "/tokenize",
                               {{"messages", json::array({{{"role", "system"}, {"content", "Be brief."}}, messages})}});
  EXPECT_EQ(json::parse(counted.body)["input_tokens"], json::parse(tokenized.body)["count"]);

  // Bad bodies: each API's error shape; the server keeps serving.
  auto bad_input = serve.fetch("POST", "/v1/responses", {{"input", 5}}, bearer);
  EXPECT_EQ(bad_input.status, 400);
  EXPECT_EQ(json::parse(bad_input.body)["error"]["type"], "BadRequestError");
  auto no_max = serve.fetch("POST", "/v1/messages", {{"messages", json::array({messages})}}, anthropic);
  EXPECT_EQ(no_max.status, 400);
  EXPECT_EQ(json::parse(no_max.body)["type"], "error");
  EXPECT_EQ(json::parse(no_max.body)["error"]["type"], "invalid_request_error");
  auto wrong_key = serve.fetch("POST", "/v1/messages", message_body, {{"x-api-key", "nope"}});
  EXPECT_EQ(wrong_key.status, 401);
  EXPECT_EQ(json::parse(wrong_key.body)["error"]["type"], "authentication_error");
  EXPECT_EQ(serve.fetch("GET", "/health").status, 200);
  EXPECT_EQ(serve.terminate(), 0) << serve.log();
}

// The official `openai` and `@anthropic-ai/sdk` npm clients (tests/cli/sdk) against the server,
// streamed and not. Skipped without node or without the packages: `make sdk-clients` installs them
// under the build folder (or VLLM_SDK_NODE_MODULES names a node_modules folder that has them).
TEST(ServeE2E, OfficialSdkClients) {
  std::filesystem::path modules = std::filesystem::path(VLLM_BINARY).parent_path() / "sdk-clients/node_modules";
  if (const char* env = std::getenv("VLLM_SDK_NODE_MODULES")) modules = env;
  if (!std::filesystem::exists(modules / "openai") || !std::filesystem::exists(modules / "@anthropic-ai/sdk"))
    GTEST_SKIP() << "no openai / @anthropic-ai/sdk packages in " << modules << " (make sdk-clients)";
  if (run_command("node --version").rfind("v", 0) != 0) GTEST_SKIP() << "node is not installed";
  ServeProcess serve({"--kv-cache-memory", "32000000", "--shutdown-timeout", "2", "--api-key", "k"});
  ASSERT_TRUE(serve.wait_healthy()) << serve.log();
  std::string script = (vllm::testing::source_dir() / "tests/cli/sdk/openai_anthropic_clients.cjs").string();
  std::string out = run_command("NODE_PATH='" + modules.string() + "' node '" + script + "' http://127.0.0.1:" +
                                serve.port() + " k");
  EXPECT_NE(out.find("sdk clients: ok"), std::string::npos) << out;
  EXPECT_EQ(serve.terminate(), 0) << serve.log();
}

// `vllm-cpp bench serve` against the default model: the saved JSON has vLLM's keys and counts
// that match --num-prompts; then /metrics shows the requests in vLLM's counters and histograms.
TEST(ServeE2E, BenchServeAndMetricsWithTheDefaultModel) {
  ServeProcess serve({"--kv-cache-memory", "32000000", "--shutdown-timeout", "2"});
  ASSERT_TRUE(serve.wait_healthy()) << serve.log();
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("vllm_bench_serve_" + serve.port());
  std::string bin = VLLM_BINARY;
  std::string output = run_command(bin + " bench serve --port " + serve.port() +
                                   " --dataset-name random --random-input-len 12 --random-output-len 6"
                                   " --random-range-ratio 0.25 --random-prefix-len 4 --num-prompts 5"
                                   " --max-concurrency 2 --request-rate 50 --seed 1 --ignore-eos --disable-tqdm"
                                   " --percentile-metrics ttft,tpot,itl,e2el --metric-percentiles 50,90"
                                   " --save-result --save-detailed --result-dir " + dir.string() +
                                   " --result-filename result.json");
  ASSERT_NE(output.find("============ Serving Benchmark Result ============"), std::string::npos) << output;
  EXPECT_NE(output.find("Successful requests:                     5"), std::string::npos) << output;
  EXPECT_NE(output.find("Mean TTFT (ms):"), std::string::npos) << output;
  EXPECT_NE(output.find("P90 ITL (ms):"), std::string::npos) << output;
  std::ifstream in(dir / "result.json");
  ASSERT_TRUE(in.good()) << output;
  json result = json::parse(in);
  std::filesystem::remove_all(dir);
  for (const char* key : {"date", "backend", "model_id", "tokenizer_id", "num_prompts", "request_rate", "burstiness",
                          "max_concurrency", "duration", "completed", "failed", "total_input_tokens",
                          "total_output_tokens", "request_throughput", "output_throughput", "total_token_throughput",
                          "input_lens", "output_lens", "ttfts", "itls", "generated_texts", "errors", "mean_ttft_ms",
                          "median_ttft_ms", "std_ttft_ms", "p50_ttft_ms", "p90_ttft_ms", "mean_tpot_ms", "p90_tpot_ms",
                          "mean_itl_ms", "p90_itl_ms", "mean_e2el_ms", "p90_e2el_ms"})
    EXPECT_TRUE(result.contains(key)) << key;
  EXPECT_EQ(result["num_prompts"], 5);
  EXPECT_EQ(result["completed"], 5);
  EXPECT_EQ(result["failed"], 0);
  EXPECT_EQ(result["max_concurrency"], 2);
  EXPECT_EQ(result["model_id"], "default");
  EXPECT_EQ(result["ttfts"].size(), 5u);
  // --ignore-eos: every request generates its full length, 6 +- 25% tokens.
  int64_t total_output = 0;
  for (const json& length : result["output_lens"]) {
    EXPECT_GE(length.get<int64_t>(), 4);
    EXPECT_LE(length.get<int64_t>(), 8);
    total_output += length.get<int64_t>();
  }
  EXPECT_EQ(result["total_output_tokens"], total_output);
  for (const json& length : result["input_lens"]) EXPECT_GE(length.get<int64_t>(), 4 + 9);  // prefix + 12 - 25%
  EXPECT_GT(result["mean_ttft_ms"].get<double>(), 0);

  // The server's side of the same requests (5 + the initial test request).
  std::string metrics = serve.fetch("GET", "/metrics").body;
  const std::string labels = "engine=\"0\",model_name=\"default\"";
  EXPECT_NE(metrics.find("vllm:request_success_total{finished_reason=\"length\"," + labels + "} 6.0"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("vllm:e2e_request_latency_seconds_count{" + labels + "} 6.0"), std::string::npos);
  EXPECT_NE(metrics.find("vllm:request_queue_time_seconds_count{" + labels + "} 6.0"), std::string::npos);
  EXPECT_NE(metrics.find("vllm:request_prefill_time_seconds_count{" + labels + "} 6.0"), std::string::npos);
  EXPECT_NE(metrics.find("vllm:request_decode_time_seconds_count{" + labels + "} 6.0"), std::string::npos);
  EXPECT_NE(metrics.find("vllm:request_generation_tokens_sum{" + labels + "} " +
                         std::to_string(total_output + result["output_lens"][0].get<int64_t>()) + ".0"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("vllm:generation_tokens_total{" + labels + "} " +
                         std::to_string(total_output + result["output_lens"][0].get<int64_t>()) + ".0"),
            std::string::npos);
  EXPECT_NE(metrics.find("vllm:request_params_n_bucket{le=\"1.0\"," + labels + "} 6.0"), std::string::npos);
  EXPECT_EQ(metrics.find("vllm:iteration_tokens_total_count{" + labels + "} 0.0"), std::string::npos);
  EXPECT_NE(metrics.find("vllm:cache_config_info{block_size=\""), std::string::npos);

  // ShareGPT conversations through the chat route: the first turn is the prompt; too short ones
  // (under 4 tokens) are skipped.
  std::filesystem::create_directories(dir);
  json conversations = json::array();
  for (const char* prompt : {"Tell me a story about a cat who lived in a big old house.", "Hi",
                             "Write a poem about the sea and the wind and the sky."})
    conversations.push_back({{"conversations", {{{"from", "human"}, {"value", prompt}},
                                                {{"from", "gpt"}, {"value", "Once upon a time there was a story."}}}}});
  std::ofstream(dir / "sharegpt.json") << conversations.dump();
  output = run_command(bin + " bench serve --port " + serve.port() + " --backend openai-chat --endpoint"
                       " /v1/chat/completions --dataset-name sharegpt --dataset-path " + (dir / "sharegpt.json").string() +
                       " --num-prompts 3 --sharegpt-output-len 3 --ignore-eos --disable-tqdm --save-result"
                       " --save-detailed --result-dir " + dir.string() + " --result-filename chat.json");
  std::ifstream chat_in(dir / "chat.json");
  ASSERT_TRUE(chat_in.good()) << output;
  json chat = json::parse(chat_in);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(chat["completed"], 2) << output;  // "Hi" is too short
  EXPECT_EQ(chat["output_lens"], json::array({3, 3}));
  EXPECT_EQ(chat["backend"], "openai-chat");
  EXPECT_EQ(serve.terminate(), 0) << serve.log();
}

// A tiny random Mamba-2 checkpoint (tests/ssm_test_checkpoint.h, the default model's tokenizer)
// served: a text completion, the same tokens streamed, concurrent requests each as alone.
TEST(ServeE2E, MambaCheckpointServesCompletions) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("vllm_serve_mamba_" + std::to_string(::getpid()));
  vllm::testing::write_tiny_ssm_with_tokenizer(dir, vllm::testing::source_dir() / "models/default",
                                               vllm::testing::SsmKind::Mamba2);
  ServeProcess serve({dir.string(), "--served-model-name", "mamba", "--max-num-seqs", "4",
                      "--max-num-batched-tokens", "8", "--shutdown-timeout", "2"});
  ASSERT_TRUE(serve.wait_healthy()) << serve.log();
  const json request = {{"prompt", "Once upon a time"}, {"max_tokens", 6}, {"temperature", 0}, {"return_token_ids", true}};
  auto completion = serve.fetch("POST", "/v1/completions", request);
  ASSERT_EQ(completion.status, 200) << completion.body << serve.log();
  const json body = json::parse(completion.body);
  const json tokens = body["choices"][0]["token_ids"];
  EXPECT_EQ(tokens.size(), 6u);
  EXPECT_EQ(body["choices"][0]["finish_reason"], "length");
  auto [streamed, finish] = stream_completion(serve, request);
  EXPECT_EQ(json(streamed), tokens);
  // Six concurrent requests through four state slots.
  std::vector<std::thread> clients;
  std::vector<json> results(6);
  for (size_t i = 0; i < results.size(); ++i)
    clients.emplace_back([&, i] { results[i] = json::parse(serve.fetch("POST", "/v1/completions", request).body); });
  for (std::thread& client : clients) client.join();
  for (const json& result : results) EXPECT_EQ(result["choices"][0]["token_ids"], tokens) << result.dump();
  EXPECT_EQ(serve.terminate(), 0) << serve.log();
  std::filesystem::remove_all(dir);
}

}  // namespace
