// Structured outputs benchmark (issue 19): compile time of a 50-property nested JSON Schema and
// token-mask time per token at batch 1 over a real vocabulary (llama-3's 128k by default).
//
//   grammar_bench [tokenizer_dir]   (default: llama-3 from $VLLM_SHARED_DATA or ../shared/data,
//                                    run from the checkout)
//
// Masks are timed along the tokens of a valid instance, twice: with a fresh compiled grammar
// (cold: each grammar position's token sets are computed on first use) and again with a new
// matcher over the same compiled grammar (warm). Results belong in docs/benchmarks.md.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "structured/grammar.h"
#include "text/tokenizer/tokenizer.h"

using namespace vllm;
using namespace vllm::structured;
using Clock = std::chrono::steady_clock;

namespace {

double us_since(Clock::time_point t) { return std::chrono::duration<double, std::micro>(Clock::now() - t).count(); }

// 50 properties: 10 scalars at the top and 8 nested objects of 5 properties each.
std::string schema_text() {
  std::string props, required;
  const char* scalar_types[] = {"string", "integer", "number", "boolean"};
  for (int i = 0; i < 10; ++i) {
    props += "\"field_" + std::to_string(i) + "\":{\"type\":\"" + scalar_types[i % 4] + "\"},";
    required += "\"field_" + std::to_string(i) + "\",";
  }
  for (int o = 0; o < 8; ++o) {
    std::string inner, inner_req;
    for (int i = 0; i < 5; ++i) {
      std::string name = "sub_" + std::to_string(i);
      std::string type = i == 4 ? "{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"maxItems\":4}"
                         : i == 3 ? "{\"enum\":[\"low\",\"medium\",\"high\"]}"
                                  : std::string("{\"type\":\"") + scalar_types[i % 3] + "\"}";
      inner += "\"" + name + "\":" + type + ",";
      inner_req += "\"" + name + "\",";
    }
    inner.pop_back();
    inner_req.pop_back();
    props += "\"group_" + std::to_string(o) + "\":{\"type\":\"object\",\"properties\":{" + inner +
             "},\"required\":[" + inner_req + "]},";
    required += "\"group_" + std::to_string(o) + "\",";
  }
  props.pop_back();
  required.pop_back();
  return "{\"type\":\"object\",\"properties\":{" + props + "},\"required\":[" + required + "]}";
}

std::string instance_text() {
  std::string s = "{";
  const char* scalars[] = {"\"hello world, this is a value\"", "12345", "-3.25e2", "true"};
  for (int i = 0; i < 10; ++i) s += "\"field_" + std::to_string(i) + "\": " + scalars[i % 4] + ", ";
  for (int o = 0; o < 8; ++o) {
    s += "\"group_" + std::to_string(o) + "\": {\"sub_0\": \"text number " + std::to_string(o) +
         "\", \"sub_1\": " + std::to_string(o * 97) + ", \"sub_2\": 0.5, \"sub_3\": \"medium\", \"sub_4\": [\"a\", \"bc\"]}";
    s += o == 7 ? "}" : ", ";
  }
  return s;
}

struct Timing {
  double mean = 0, p50 = 0, p99 = 0, max = 0;
};

Timing summarize(std::vector<double> v) {
  Timing t;
  std::sort(v.begin(), v.end());
  for (double x : v) t.mean += x;
  t.mean /= static_cast<double>(v.size());
  t.p50 = v[v.size() / 2];
  t.p99 = v[std::min(v.size() - 1, v.size() * 99 / 100)];
  t.max = v.back();
  return t;
}

Timing run_masks(const std::shared_ptr<const CompiledGrammar>& g, const std::vector<int32_t>& ids, int64_t vocab_size,
                 int32_t eos) {
  GrammarMatcher m(g);
  std::vector<uint32_t> mask(GrammarMatcher::bitmask_words(vocab_size));
  std::vector<double> times;
  for (size_t i = 0; i <= ids.size(); ++i) {
    auto t = Clock::now();
    m.fill_next_token_bitmask(mask.data());
    times.push_back(us_since(t));
    int32_t next = i < ids.size() ? ids[i] : eos;
    if (!((mask[next >> 5] >> (next & 31)) & 1)) {
      std::fprintf(stderr, "token %zu (id %d) not in the mask\n", i, next);
      std::exit(1);
    }
    if (!m.accept_token(next)) {
      std::fprintf(stderr, "token %zu (id %d) refused\n", i, next);
      std::exit(1);
    }
  }
  return summarize(times);
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path dir;
  if (argc > 1) {
    dir = argv[1];
  } else {
    auto tmp = std::filesystem::temp_directory_path() / "grammar_bench_tokenizers";
    std::filesystem::create_directories(tmp);
    const char* env = std::getenv("VLLM_SHARED_DATA");  // as the tests read it; run from the checkout
    std::string data = env ? env : "../shared/data";
    std::string cmd = "tar xJf " + data + "/tokenizers.tar.xz -C " + tmp.string() + " tokenizers/llama-3";
    if (std::system(cmd.c_str()) != 0) {
      std::fprintf(stderr, "cannot extract llama-3 from ../shared/data/tokenizers.tar.xz; pass a tokenizer folder\n");
      return 1;
    }
    dir = tmp / "tokenizers" / "llama-3";
  }
  auto tok = Tokenizer::from_directory(dir);
  int32_t eos = *tok->eos_token_id();
  auto t0 = Clock::now();
  auto vocab = TokenVocabulary::from_tokenizer(*tok, {eos}, static_cast<int64_t>(tok->vocab_size()));
  std::printf("vocabulary: %lld tokens, built in %.1f ms\n", static_cast<long long>(vocab->size()), us_since(t0) / 1000);

  std::string schema = schema_text();
  const int compiles = 20;
  std::vector<double> compile_us;
  std::shared_ptr<const CompiledGrammar> grammar;
  for (int i = 0; i < compiles; ++i) {
    GrammarCompiler compiler(vocab);  // a fresh cache each time
    auto t = Clock::now();
    grammar = compiler.compile(StructuredOutputSpec::json_schema(schema));
    compile_us.push_back(us_since(t));
  }
  Timing c = summarize(compile_us);
  std::printf("compile (50-property nested schema, %d runs): mean %.2f ms, p50 %.2f ms, max %.2f ms\n", compiles,
              c.mean / 1000, c.p50 / 1000, c.max / 1000);

  auto ids = tok->encode(instance_text(), false);
  Timing cold = run_masks(grammar, ids, vocab->size(), eos);
  Timing warm = run_masks(grammar, ids, vocab->size(), eos);
  std::printf("mask per token, %zu tokens + eos, cold grammar: mean %.1f us, p50 %.1f us, p99 %.1f us, max %.1f us\n",
              ids.size(), cold.mean, cold.p50, cold.p99, cold.max);
  std::printf("mask per token, %zu tokens + eos, warm grammar: mean %.1f us, p50 %.1f us, p99 %.1f us, max %.1f us\n",
              ids.size(), warm.mean, warm.p50, warm.p99, warm.max);
  auto obj = GrammarCompiler(vocab).compile(StructuredOutputSpec::json_object());
  auto obj_ids = tok->encode(instance_text(), false);
  run_masks(obj, obj_ids, vocab->size(), eos);
  Timing o = run_masks(obj, obj_ids, vocab->size(), eos);
  std::printf("mask per token, json_object, warm: mean %.1f us, p50 %.1f us, p99 %.1f us, max %.1f us\n", o.mean, o.p50,
              o.p99, o.max);
  return 0;
}
