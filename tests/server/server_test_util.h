// Shared pieces of the server tests: a word-level tokenizer, a chat template, the ServingModel
// over a FakeEngine, and raw-socket helpers for requests no well-behaved client sends.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "server/openai_protocol.h"
#include "text/chat/chat_template.h"
#include "text/tokenizer/tokenizer.h"

namespace vllm::testing {

// Words -> ids 1.. ("<unk>" is 0); WhitespaceSplit, so "hello world" is [1, 2].
inline std::shared_ptr<Tokenizer> word_tokenizer() {
  nlohmann::json vocab = {{"<unk>", 0}, {"hello", 1}, {"world", 2}, {"the", 3},      {"cat", 4},
                          {"sat", 5},   {"user:", 6}, {"assistant:", 7}, {"system:", 8}, {"hi", 9}};
  nlohmann::json tokenizer = {
      {"version", "1.0"},
      {"added_tokens", nlohmann::json::array()},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "WhitespaceSplit"}}},
      {"post_processor", nullptr},
      {"decoder", nullptr},
      {"model", {{"type", "WordLevel"}, {"vocab", vocab}, {"unk_token", "<unk>"}}}};
  return Tokenizer::from_json_string(tokenizer.dump());
}

// "user: hi\nassistant:" style prompts.
inline std::shared_ptr<ChatTemplate> simple_chat_template() {
  return std::make_shared<ChatTemplate>(ChatTemplate::from_string(
      "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
      "{% if add_generation_prompt %}assistant:{% endif %}"));
}

inline server::ServingModel serving_model(const EngineClient& engine, bool with_tokenizer = true) {
  server::ServingModel model;
  model.info = engine.model_info();
  if (with_tokenizer) {
    model.tokenizer = word_tokenizer();
    model.chat_template = simple_chat_template();
  }
  return model;
}

// A connected TCP socket to 127.0.0.1:port (-1 on failure).
inline int connect_raw(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return -1;
  }
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  return fd;
}

inline void send_all(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

// Reads until the peer closes (or the 10 s timeout).
inline std::string read_all(int fd) {
  std::string data;
  char buffer[4096];
  while (true) {
    ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    data.append(buffer, static_cast<size_t>(n));
  }
  return data;
}

}  // namespace vllm::testing
