#include "parsers/harmony.h"

#include "parsers/text_util.h"

namespace vllm::parsers {

namespace {

constexpr std::string_view kStart = "<|start|>", kChannel = "<|channel|>", kMessage = "<|message|>",
                           kConstrain = "<|constrain|>", kEnd = "<|end|>", kCall = "<|call|>",
                           kReturn = "<|return|>";

void read_header(std::string_view header, HarmonyMessage& message) {
  // "<|start|>assistant<|channel|>commentary to=functions.x <|constrain|>json" (any order after the role)
  size_t channel = header.find(kChannel);
  std::string_view rest = channel == std::string_view::npos ? header : header.substr(channel + kChannel.size());
  auto take_word = [](std::string_view text) {
    size_t end = 0;
    while (end < text.size() && text[end] != ' ' && text[end] != '<' && text[end] != '\n') ++end;
    return text.substr(0, end);
  };
  if (channel != std::string_view::npos) message.channel = std::string(take_word(rest));
  // "to=" may sit in the role part too: "<|start|>assistant to=functions.x<|channel|>commentary".
  size_t to = header.find("to=");
  if (to != std::string_view::npos) message.recipient = std::string(take_word(header.substr(to + 3)));
  size_t constrain = header.find(kConstrain);
  if (constrain != std::string_view::npos)
    message.content_type = std::string(trim(take_word(header.substr(constrain + kConstrain.size()))));
  else if (size_t json = header.find(" json"); json != std::string_view::npos)
    message.content_type = "json";
}

}  // namespace

std::vector<HarmonyMessage> parse_harmony(std::string_view text, bool final) {
  std::vector<HarmonyMessage> messages;
  size_t pos = 0;
  while (pos < text.size()) {
    // Skip to the next header: a message starts at <|start|> or <|channel|>.
    size_t start = text.find(kStart, pos), channel = text.find(kChannel, pos);
    size_t header_begin = std::min(start, channel);
    if (header_begin == std::string_view::npos) break;
    size_t message_marker = text.find(kMessage, header_begin);
    HarmonyMessage message;
    if (message_marker == std::string_view::npos) {
      if (final) read_header(text.substr(header_begin), message);
      messages.push_back(std::move(message));  // a header still being written
      break;
    }
    read_header(text.substr(header_begin, message_marker - header_begin), message);
    message.header_complete = true;
    size_t body_begin = message_marker + kMessage.size();
    size_t body_end = std::string_view::npos, next = text.size();
    for (std::string_view stop : {kEnd, kCall, kReturn, kStart}) {
      size_t at = text.find(stop, body_begin);
      if (at < body_end) {
        body_end = at;
        next = at + (stop == kStart ? 0 : stop.size());
        message.complete = stop != kStart;
      }
    }
    // A new <|channel|> without <|end|> also ends the body (models that skip <|end|>).
    size_t channel_in_body = text.find(kChannel, body_begin);
    if (channel_in_body < body_end) {
      body_end = channel_in_body;
      next = channel_in_body;
      message.complete = true;
    }
    if (body_end == std::string_view::npos) {
      std::string_view body = text.substr(body_begin);
      if (!final) body.remove_suffix(partial_marker_suffix(body, {kEnd, kCall, kReturn, kStart, kChannel}));
      message.body = std::string(body);
      messages.push_back(std::move(message));
      break;
    }
    message.body = std::string(text.substr(body_begin, body_end - body_begin));
    messages.push_back(std::move(message));
    pos = next;
  }
  return messages;
}

}  // namespace vllm::parsers
