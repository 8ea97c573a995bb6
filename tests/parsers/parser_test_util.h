// Streams an output through a parser in several chunkings (whole, one byte at a time, random
// splits) and adds the deltas up, for comparison with the finished output's result.
#pragma once

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "parsers/reasoning_parser.h"
#include "parsers/tool_parser.h"

namespace vllm::parsers::testing {

// Chunk boundaries of `text`: whole, per byte, and random splits from a few seeds. Splits stay
// on UTF-8 boundaries (the engine's detokenizer sends whole characters).
inline std::vector<std::vector<std::string>> chunkings(const std::string& text) {
  auto boundary = [&](size_t i) { return i == text.size() || (static_cast<unsigned char>(text[i]) & 0xC0) != 0x80; };
  std::vector<std::vector<std::string>> all;
  all.push_back({text});
  std::vector<std::string> bytes;
  for (size_t i = 0; i < text.size();) {
    size_t j = i + 1;
    while (!boundary(j)) ++j;
    bytes.push_back(text.substr(i, j - i));
    i = j;
  }
  all.push_back(bytes);
  for (unsigned seed : {1u, 2u, 3u, 4u}) {
    std::mt19937 rng(seed);
    std::vector<std::string> chunks;
    for (size_t i = 0; i < text.size();) {
      size_t j = std::min(text.size(), i + 1 + rng() % 7);
      while (!boundary(j)) ++j;
      chunks.push_back(text.substr(i, j - i));
      i = j;
    }
    all.push_back(chunks);
  }
  return all;
}

struct StreamedToolCall {
  std::string id, name, arguments;
  int deltas = 0;
};

struct StreamedResult {
  std::string content;
  bool has_content = false;
  std::vector<StreamedToolCall> calls;
};

// Feeds `chunks` to a fresh parser; checks each delta's OpenAI shape on the way.
inline StreamedResult stream_tool_parser(const std::string& name, const std::vector<std::string>& chunks,
                                         const Json& tools = nullptr) {
  auto parser = make_tool_parser(name, tools);
  StreamedResult result;
  std::string current;
  auto take = [&](const std::optional<DeltaMessage>& delta) {
    if (!delta) return;
    EXPECT_FALSE(delta->empty());
    if (delta->content) {
      result.content += *delta->content;
      result.has_content = true;
    }
    for (const DeltaToolCall& call : delta->tool_calls) {
      ASSERT_GE(call.index, 0);
      if (static_cast<size_t>(call.index) == result.calls.size()) {
        // The first delta of a call: id and name.
        EXPECT_TRUE(call.id.has_value());
        EXPECT_TRUE(call.name.has_value());
        result.calls.push_back({call.id.value_or(""), call.name.value_or(""), "", 0});
      } else {
        ASSERT_LT(static_cast<size_t>(call.index), result.calls.size());
        EXPECT_FALSE(call.id.has_value());
        EXPECT_FALSE(call.name.has_value());
      }
      StreamedToolCall& streamed = result.calls[static_cast<size_t>(call.index)];
      streamed.arguments += call.arguments.value_or("");
      ++streamed.deltas;
    }
  };
  for (const std::string& chunk : chunks) {
    std::string previous = current;
    current += chunk;
    take(parser->extract_tool_calls_streaming(previous, current, chunk));
  }
  take(parser->finish_streaming(current));
  return result;
}

struct StreamedReasoning {
  std::string reasoning, content;
  bool has_reasoning = false, has_content = false;
};

inline StreamedReasoning stream_reasoning_parser(const std::string& name, const std::vector<std::string>& chunks) {
  auto parser = make_reasoning_parser(name);
  StreamedReasoning result;
  std::string current;
  auto take = [&](const std::optional<DeltaMessage>& delta) {
    if (!delta) return;
    EXPECT_FALSE(delta->empty());
    if (delta->reasoning_content) result.reasoning += *delta->reasoning_content, result.has_reasoning = true;
    if (delta->content) result.content += *delta->content, result.has_content = true;
  };
  for (const std::string& chunk : chunks) {
    std::string previous = current;
    current += chunk;
    take(parser->extract_reasoning_streaming(previous, current, chunk));
  }
  take(parser->finish_streaming(current));
  return result;
}

}  // namespace vllm::parsers::testing
