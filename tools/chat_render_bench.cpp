// Benchmark for docs/benchmarks.md "Chat templates": rendering a 20-turn conversation with tools
// against tokenizing the rendered prompt. Build by hand against the libraries of a build folder:
//   g++ -O2 -std=c++20 -Isrc tools/chat_render_bench.cpp build/libvllm_chat.a build/libvllm_tokenizer.a \
//       build/libvllm_core.a $(pkg-config --libs libpcre2-8 libutf8proc sentencepiece) -fopenmp -o chat_render_bench
//   ./chat_render_bench TOKENIZER_DIR [--chat-template FILE]   (env ITERS, ROUNDS)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "text/chat/chat_template.h"
#include "text/tokenizer/tokenizer.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s TOKENIZER_DIR [--chat-template FILE]\n", argv[0]);
    return 2;
  }
  auto chat = vllm::ChatTemplate::from_directory(argv[1], argc > 3 ? argv[3] : "");
  auto tokenizer = vllm::Tokenizer::from_directory(argv[1]);
  vllm::ChatJson messages = vllm::ChatJson::array();
  messages.push_back({{"role", "system"}, {"content", "You are a helpful assistant with access to tools."}});
  for (int turn = 0; turn < 20; ++turn) {
    std::string n = std::to_string(turn);
    messages.push_back({{"role", "user"}, {"content", "Question " + n + ": what is the weather in city number " + n + ", and can you explain why the sky looks the way it does today?"}});
    if (turn % 2 == 0) {
      messages.push_back({{"role", "assistant"}, {"content", nullptr},
                          {"tool_calls", vllm::ChatJson::array({{{"id", "call_" + n}, {"type", "function"},
                                                                 {"function", {{"name", "get_weather"}, {"arguments", "{\"city\": \"City " + n + "\", \"unit\": \"celsius\"}"}}}}})}});
      messages.push_back({{"role", "tool"}, {"tool_call_id", "call_" + n}, {"content", "{\"temperature\": " + n + ", \"condition\": \"sunny\"}"}});
    }
    messages.push_back({{"role", "assistant"}, {"content", "In city " + n + " it is sunny. The sky is blue because of Rayleigh scattering of sunlight by the molecules of the air."}});
  }
  messages.push_back({{"role", "user"}, {"content", "Thanks, summarise."}});
  vllm::ChatTemplateOptions options;
  options.tools = vllm::normalize_tools(vllm::ChatJson::parse(R"([
    {"type": "function", "function": {"name": "get_weather", "description": "Get the current weather in a city",
     "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}},
    {"type": "function", "function": {"name": "search", "description": "Search the web",
     "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}}])"));
  using clock = std::chrono::steady_clock;
  // Render and tokenize interleaved in rounds of ITERS each (the machine is shared, so both see
  // the same load); the medians over ROUNDS rounds, and the median of the per-round ratios.
  const int iterations = std::getenv("ITERS") ? std::atoi(std::getenv("ITERS")) : 20;
  const int rounds = std::getenv("ROUNDS") ? std::atoi(std::getenv("ROUNDS")) : 51;
  std::string prompt = chat.render(messages, options);
  size_t num_tokens = tokenizer->encode(prompt, false).size();
  std::vector<double> render_us, tokenize_us, ratios;
  for (int r = 0; r < rounds; ++r) {
    auto t0 = clock::now();
    for (int k = 0; k < iterations; ++k) prompt = chat.render(messages, options);
    auto t1 = clock::now();
    for (int k = 0; k < iterations; ++k) num_tokens = tokenizer->encode(prompt, false).size();
    auto t2 = clock::now();
    render_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / iterations);
    tokenize_us.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count() / iterations);
    ratios.push_back(render_us.back() / tokenize_us.back());
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::printf("messages=%zu prompt_bytes=%zu prompt_tokens=%zu render_us=%.1f tokenize_us=%.1f ratio=%.2f (medians of %d rounds of %d)\n",
              messages.size(), prompt.size(), num_tokens, median(render_us), median(tokenize_us), median(ratios), rounds,
              iterations);
  return 0;
}
