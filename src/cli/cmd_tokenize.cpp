// `vllm-cpp tokenize` and `vllm-cpp detokenize`: text <-> ids with a model's tokenizer, one
// document on stdin or one JSON object per line (--jsonl). `tokenize --benchmark FILE` times
// encoding (docs/benchmarks.md, section Tokenizer).
#include <omp.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/command.h"
#include "core/error.h"
#include "text/tokenizer/tokenizer.h"

namespace vllm::cli {
namespace {

using json = nlohmann::json;

std::string read_all(std::istream& in) {
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_line(const json& j) {
  std::string out = j.dump(-1, ' ', false, json::error_handler_t::replace);
  out.push_back('\n');
  std::fwrite(out.data(), 1, out.size(), stdout);
}

json parse_line(const std::string& line, size_t number) {
  try {
    return json::parse(line);
  } catch (const json::parse_error& e) {
    fail(ErrorKind::InvalidArgument, "stdin line ", number, ": invalid JSON (", e.what(), ")");
  }
}

// Ids outside [0, vocab_size) are refused as the server's /detokenize refuses them (a negative or
// huge id used to wrap through get<int32_t>() and decode as some other token).
std::vector<int32_t> parse_ids(const json& j, const std::string& where, size_t vocab_size) {
  if (!j.is_array()) fail(ErrorKind::InvalidArgument, where, ": expected a list of token ids");
  std::vector<int32_t> ids;
  for (const json& v : j) {
    if (!v.is_number_integer()) fail(ErrorKind::InvalidArgument, where, ": token id ", v.dump(), " is not an integer");
    if (v.is_number_unsigned() ? v.get<uint64_t>() >= vocab_size : (v.get<int64_t>() < 0 || static_cast<uint64_t>(v.get<int64_t>()) >= vocab_size))
      fail(ErrorKind::InvalidArgument, where, ": Token id ", v.dump(), " is out of vocabulary");
    ids.push_back(v.get<int32_t>());
  }
  return ids;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Best of `repeats` runs of `fn`, in seconds.
template <typename Fn>
double best_time(int repeats, Fn&& fn) {
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    auto start = std::chrono::steady_clock::now();
    fn();
    best = std::min(best, seconds_since(start));
  }
  return best;
}

int run_benchmark(const Tokenizer& tok, const std::string& path, const std::string& dump_ids) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::NotFound, path, ": cannot open the benchmark text");
  std::string text = read_all(in);
  std::vector<std::string> lines;
  for (size_t pos = 0;;) {
    size_t nl = text.find('\n', pos);
    lines.push_back(text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  auto cold_start = std::chrono::steady_clock::now();
  std::vector<int32_t> ids = tok.encode(text, false);
  double cold = seconds_since(cold_start);  // includes filling the word cache
  double whole = best_time(3, [&] { ids = tok.encode(text, false); });
  int cores = omp_get_max_threads();
  size_t batch_ids = 0;
  omp_set_num_threads(1);
  double batch_one = best_time(3, [&] {
    auto out = tok.encode_batch(lines, false);
    batch_ids = 0;
    for (const auto& o : out) batch_ids += o.size();
  });
  omp_set_num_threads(cores);
  double batch_all = best_time(3, [&] { tok.encode_batch(lines, false); });
  double mb = static_cast<double>(text.size()) / 1e6;
  json report = {{"bytes", text.size()},
                 {"num_ids", ids.size()},
                 {"batch_num_ids", batch_ids},
                 {"encode_first_s", cold},
                 {"encode_s", whole},
                 {"encode_MB_per_s", mb / whole},
                 {"batch_lines_1_thread_s", batch_one},
                 {"batch_lines_all_cores_s", batch_all},
                 {"cores", cores}};
  write_line(report);
  if (!dump_ids.empty()) {
    std::ofstream out(dump_ids);
    out << json(ids).dump();
  }
  return 0;
}

int run_tokenize(int argc, char** argv) {
  CLI::App app{"Encode text from stdin to token ids (JSON)", argv[0]};
  std::string dir, benchmark, dump_ids;
  bool no_special = false, jsonl = false;
  app.add_option("--tokenizer", dir, "tokenizer folder (tokenizer.json or its fallbacks)")->required();
  app.add_flag("--no-special-tokens", no_special, "do not add the special tokens of the post-processor (BOS, ...)");
  app.add_flag("--jsonl", jsonl, "one {\"text\": ..., \"add_special_tokens\": true} per line -> one {\"ids\": [...]} per line");
  app.add_option("--benchmark", benchmark, "time encoding FILE (single thread, and batched by lines) instead");
  app.add_option("--dump-ids", dump_ids, "with --benchmark: write the ids of FILE as a JSON list here");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto tok = Tokenizer::from_directory(dir);
  if (!benchmark.empty()) return run_benchmark(*tok, benchmark, dump_ids);
  if (!jsonl) {
    write_line(tok->encode(read_all(std::cin), !no_special));
    return 0;
  }
  std::string line;
  for (size_t number = 1; std::getline(std::cin, line); ++number) {
    if (line.empty()) continue;
    json req = parse_line(line, number);
    if (!req.is_object() || !req.contains("text") || !req.at("text").is_string())
      fail(ErrorKind::InvalidArgument, "stdin line ", number, ": expected {\"text\": \"...\"}");
    bool special = req.value("add_special_tokens", !no_special);
    write_line({{"ids", tok->encode(req.at("text").get<std::string>(), special)}});
  }
  return 0;
}

int run_detokenize(int argc, char** argv) {
  CLI::App app{"Decode token ids (a JSON list on stdin) to text", argv[0]};
  std::string dir;
  bool skip = false, jsonl = false;
  app.add_option("--tokenizer", dir, "tokenizer folder (tokenizer.json or its fallbacks)")->required();
  app.add_flag("--skip-special-tokens", skip, "leave out special tokens");
  app.add_flag("--jsonl", jsonl, "one {\"ids\": [...], \"skip_special_tokens\": false} per line -> one {\"text\": ...} per line");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto tok = Tokenizer::from_directory(dir);
  if (!jsonl) {
    std::string input = read_all(std::cin);
    json ids;
    try {
      ids = json::parse(input);
    } catch (const json::parse_error& e) {
      fail(ErrorKind::InvalidArgument, "stdin: expected a JSON list of token ids (", e.what(), ")");
    }
    std::string text = tok->decode(parse_ids(ids, "stdin", tok->vocab_size()), skip);
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }
  std::string line;
  for (size_t number = 1; std::getline(std::cin, line); ++number) {
    if (line.empty()) continue;
    json req = parse_line(line, number);
    std::string where = str("stdin line ", number);
    if (!req.is_object() || !req.contains("ids")) fail(ErrorKind::InvalidArgument, where, ": expected {\"ids\": [...]}");
    write_line({{"text", tok->decode(parse_ids(req.at("ids"), where, tok->vocab_size()), req.value("skip_special_tokens", skip))}});
  }
  return 0;
}

CommandRegistrar tokenize_registrar({"tokenize", "encode text from stdin to token ids", run_tokenize});
CommandRegistrar detokenize_registrar({"detokenize", "decode token ids from stdin to text", run_detokenize});

}  // namespace
}  // namespace vllm::cli
