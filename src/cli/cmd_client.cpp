// `vllm-cpp chat` and `vllm-cpp complete`: interactive clients of a running server, as vLLM's
// `vllm chat` / `vllm complete` (streamed answers; -q/--quick for one message and exit).
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/env.h"
#include "core/error.h"
#include "server/http_client.h"

namespace vllm::cli {
namespace {

using nlohmann::json;

struct ClientFlags {
  std::string url = "http://localhost:8000/v1";
  std::string model_name;
  std::string api_key;

  void add(CLI::App& app) {
    app.add_option("--url", url, "The server's API base")->capture_default_str();
    app.add_option("--model-name", model_name, "Model to ask (default: the first of GET /models)");
    app.add_option("--api-key", api_key, "API key (default: $VLLM_API_KEY, else $OPENAI_API_KEY)");
  }
};

class ApiClient {
 public:
  explicit ApiClient(const ClientFlags& flags) : url_(server::parse_http_url(flags.url)), key_(flags.api_key) {
    if (key_.empty()) key_ = env::api_key().value_or(env::openai_api_key().value_or(""));
    model_ = flags.model_name.empty() ? first_model() : flags.model_name;
  }

  const std::string& model() const { return model_; }

  // POSTs a streaming request and calls on_chunk for every chunk until [DONE].
  void stream(const std::string& path, json body, const std::function<void(const json&)>& on_chunk) {
    body["model"] = model_;
    body["stream"] = true;
    server::HttpRequest request = make_request("POST", path);
    request.body = body.dump();
    server::SseReader reader;
    std::string raw;
    auto response = server::http_fetch_streaming(url_.host, url_.port, request, [&](std::string_view bytes) {
      if (raw.size() < 65536) raw.append(bytes);
      return reader.feed(bytes, [&](std::string_view event) {
        if (event == "[DONE]") return false;
        json chunk = json::parse(event, nullptr, false);
        if (chunk.is_object() && chunk.contains("error")) fail(ErrorKind::InvalidArgument, error_message(chunk));
        if (chunk.is_object()) on_chunk(chunk);
        return true;
      });
    });
    if (response.status != 200) fail(ErrorKind::InvalidArgument, "HTTP ", response.status, ": ", error_message(json::parse(raw, nullptr, false)));
  }

 private:
  server::HttpRequest make_request(const std::string& method, const std::string& path) const {
    server::HttpRequest request;
    request.method = method;
    request.target = url_.base_path + path;
    request.tls = url_.tls;  // https://: the system's CAs check the server
    request.timeout_s = 600;  // an idle limit: a long prompt on a CPU may take a while to start
    if (!key_.empty()) request.headers.emplace_back("Authorization", "Bearer " + key_);
    return request;
  }

  static std::string error_message(const json& body) {
    if (body.is_object() && body.contains("error")) {
      const json& error = body["error"];
      if (error.is_object() && error.contains("message")) return error["message"].get<std::string>();
      return error.dump();
    }
    return body.is_discarded() ? "no JSON in the answer" : body.dump();
  }

  std::string first_model() {
    auto response = server::http_fetch(url_.host, url_.port, make_request("GET", "/models"));
    json body = json::parse(response.body, nullptr, false);
    VLLM_CHECK(response.status == 200, InvalidArgument, "GET ", url_.base_path, "/models: HTTP ", response.status,
               ": ", error_message(body));
    VLLM_CHECK(body.is_object() && body.contains("data") && body["data"].is_array() && !body["data"].empty(),
               InvalidArgument, "GET ", url_.base_path, "/models lists no model");
    return body["data"][0]["id"].get<std::string>();
  }

  server::HttpUrl url_;
  std::string key_;
  std::string model_;
};

// Reads one line after a "> " prompt; nullopt at end of input.
std::optional<std::string> read_line() {
  std::cout << "> " << std::flush;
  std::string line;
  if (!std::getline(std::cin, line)) return std::nullopt;
  return line;
}

int run_chat(int argc, char** argv) {
  CLI::App app("Chat with a running vllm-cpp server (vLLM's `vllm chat`)", argv[0]);
  ClientFlags flags;
  flags.add(app);
  std::string system_prompt;
  std::optional<std::string> quick;
  app.add_option("--system-prompt", system_prompt, "A system message to start the conversation with");
  app.add_option("-q,--quick", quick, "Send this one message, print the answer and exit");
  CLI11_PARSE(app, argc, argv);

  ApiClient client(flags);
  json messages = json::array();
  if (!system_prompt.empty()) messages.push_back({{"role", "system"}, {"content", system_prompt}});
  auto ask = [&](const std::string& text) {
    messages.push_back({{"role", "user"}, {"content", text}});
    std::string answer;
    client.stream("/chat/completions", {{"messages", messages}}, [&](const json& chunk) {
      for (const json& choice : chunk.value("choices", json::array())) {
        const json& delta = choice.value("delta", json::object());
        if (delta.contains("content") && delta["content"].is_string()) {
          std::string piece = delta["content"].get<std::string>();
          answer += piece;
          std::cout << piece << std::flush;
        }
      }
    });
    std::cout << "\n";
    messages.push_back({{"role", "assistant"}, {"content", answer}});
  };
  if (quick) {
    ask(*quick);
    return 0;
  }
  std::cout << "Using model: " << client.model() << "\nPlease enter a message for the chat model:\n";
  while (auto line = read_line()) {
    try {
      ask(*line);
    } catch (const Error& error) {
      messages.erase(messages.size() - 1);  // the question that got no answer
      std::cerr << "error: " << error.what() << "\n";
    }
  }
  return 0;
}

int run_complete(int argc, char** argv) {
  CLI::App app("Complete prompts with a running vllm-cpp server (vLLM's `vllm complete`)", argv[0]);
  ClientFlags flags;
  flags.add(app);
  std::optional<int> max_tokens;
  std::optional<std::string> quick;
  app.add_option("--max-tokens", max_tokens, "Most tokens per completion (the server's default: 16)");
  app.add_option("-q,--quick", quick, "Complete this one prompt, print the completion and exit");
  CLI11_PARSE(app, argc, argv);

  ApiClient client(flags);
  auto complete = [&](const std::string& prompt) {
    json body = {{"prompt", prompt}};
    if (max_tokens) body["max_tokens"] = *max_tokens;
    client.stream("/completions", body, [&](const json& chunk) {
      for (const json& choice : chunk.value("choices", json::array()))
        if (choice.contains("text") && choice["text"].is_string()) std::cout << choice["text"].get<std::string>() << std::flush;
    });
    std::cout << "\n";
  };
  if (quick) {
    complete(*quick);
    return 0;
  }
  std::cout << "Using model: " << client.model() << "\nPlease enter prompt to complete:\n";
  while (auto line = read_line()) {
    try {
      complete(*line);
    } catch (const Error& error) {
      std::cerr << "error: " << error.what() << "\n";
    }
  }
  return 0;
}

CommandRegistrar chat_registrar({"chat", "Chat with a running server (streamed answers)", run_chat});
CommandRegistrar complete_registrar({"complete", "Complete prompts with a running server", run_complete});

}  // namespace
}  // namespace vllm::cli
