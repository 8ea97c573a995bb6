// `vllm-cpp bench serve`: vLLM's online serving benchmark against a running OpenAI-compatible
// server. Streaming requests from a random or ShareGPT dataset, sent at --request-rate (Poisson or
// gamma arrivals) under --max-concurrency; TTFT, TPOT, ITL and E2EL measured client-side and
// printed in vLLM's layout; --save-result writes vLLM's JSON. See docs/benchmarks.md.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <numeric>
#include <random>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/bench_stats.h"
#include "cli/command.h"
#include "core/error.h"
#include "loader/model_path.h"
#include "server/http_client.h"
#include "text/tokenizer/tokenizer.h"

namespace vllm::cli {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct ServeBenchArgs {
  std::string backend = "openai";
  std::string base_url, host = "127.0.0.1", endpoint = "/v1/completions";
  int port = 8000;
  std::string model, served_model_name, tokenizer, label;
  std::string dataset_name = "random", dataset_path;
  int64_t num_prompts = 1000;
  int64_t random_input_len = 1024, random_output_len = 128, random_prefix_len = 0;
  double random_range_ratio = 0.0;
  std::optional<int64_t> sharegpt_output_len;
  double request_rate = INFINITY, burstiness = 1.0;
  std::optional<int64_t> max_concurrency;
  uint64_t seed = 0;
  bool ignore_eos = false, disable_tqdm = false, save_result = false, save_detailed = false;
  std::optional<double> temperature;
  std::string percentile_metrics = "ttft,tpot,itl", metric_percentiles = "99";
  std::vector<std::string> goodput;
  std::string result_dir, result_filename;
};

// One prompt of the dataset. Completions get token ids (exact lengths); chat gets text.
struct SampleRequest {
  std::vector<int32_t> prompt_ids;
  std::string prompt_text;
  int64_t prompt_len = 0;
  int64_t expected_output_len = 0;
};

// What one request measured (vLLM's RequestFuncOutput); times in seconds.
struct RequestOutcome {
  bool success = false;
  double ttft = 0, latency = 0, start_time = 0;
  std::vector<double> itl;
  int64_t prompt_len = 0, output_tokens = 0;
  std::string generated_text, error;
};

double mean(const std::vector<double>& values) {
  return values.empty() ? 0 : std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
}

double stdev(const std::vector<double>& values) {  // numpy.std: population
  if (values.empty()) return 0;
  double m = mean(values), sum = 0;
  for (double value : values) sum += (value - m) * (value - m);
  return std::sqrt(sum / static_cast<double>(values.size()));
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream stream(text);
  for (std::string item; std::getline(stream, item, ',');)
    if (!item.empty()) items.push_back(item);
  return items;
}

// Python's str(float): "inf", "10.0", "0.5".
std::string python_float(double value) {
  if (std::isinf(value)) return "inf";
  std::ostringstream out;
  out << value;
  std::string text = out.str();
  if (text.find_first_of(".e") == std::string::npos) text += ".0";
  return text;
}

// Python's "{s:{c}^{n}}": centred, the odd fill character on the right.
std::string centered(const std::string& text, char fill, size_t width = 50) {
  if (text.size() >= width) return text;
  size_t pad = width - text.size();
  return std::string(pad / 2, fill) + text + std::string(pad - pad / 2, fill);
}

void print_row(const std::string& name, double value) { std::printf("%-40s %-10.2f\n", name.c_str(), value); }
void print_row(const std::string& name, int64_t value) {
  std::printf("%-40s %-10lld\n", name.c_str(), static_cast<long long>(value));
}

// --- Datasets -----------------------------------------------------------------------------------

std::vector<int32_t> random_ids(std::mt19937_64& random, const std::vector<int32_t>& allowed, int64_t count) {
  std::uniform_int_distribution<size_t> pick(0, allowed.size() - 1);
  std::vector<int32_t> ids(static_cast<size_t>(count));
  for (int32_t& id : ids) id = allowed[pick(random)];
  return ids;
}

// vLLM's RandomDataset: lengths uniform in [len * (1 - r), len * (1 + r)], a shared random
// prefix of --random-prefix-len tokens, random non-special tokens.
std::vector<SampleRequest> random_dataset(const ServeBenchArgs& args, const Tokenizer& tokenizer) {
  VLLM_CHECK(args.random_range_ratio >= 0 && args.random_range_ratio < 1, InvalidArgument,
             "--random-range-ratio must be in [0, 1), got ", args.random_range_ratio);
  std::vector<int32_t> allowed;
  for (size_t id = 0; id < tokenizer.vocab_size(); ++id)
    if (!tokenizer.is_special(static_cast<int32_t>(id))) allowed.push_back(static_cast<int32_t>(id));
  VLLM_CHECK(!allowed.empty(), InvalidArgument, "the tokenizer has no ordinary tokens to make random prompts from");
  std::mt19937_64 random(args.seed);
  auto length = [&](int64_t base) {
    int64_t low = static_cast<int64_t>(std::floor(static_cast<double>(base) * (1 - args.random_range_ratio)));
    int64_t high = static_cast<int64_t>(std::ceil(static_cast<double>(base) * (1 + args.random_range_ratio)));
    return std::uniform_int_distribution<int64_t>(std::max<int64_t>(low, 1), std::max<int64_t>(high, 1))(random);
  };
  std::vector<int32_t> prefix = random_ids(random, allowed, args.random_prefix_len);
  std::vector<SampleRequest> requests;
  for (int64_t i = 0; i < args.num_prompts; ++i) {
    SampleRequest request;
    request.prompt_ids = prefix;
    std::vector<int32_t> body = random_ids(random, allowed, length(args.random_input_len));
    request.prompt_ids.insert(request.prompt_ids.end(), body.begin(), body.end());
    request.prompt_len = static_cast<int64_t>(request.prompt_ids.size());
    request.prompt_text = tokenizer.decode(request.prompt_ids);
    request.expected_output_len = length(args.random_output_len);
    requests.push_back(std::move(request));
  }
  return requests;
}

// vLLM's ShareGPTDataset: the first human turn is the prompt, the first answer's length the
// output length (or --sharegpt-output-len); conversations too short (< 4 tokens; the answer only
// when its length is used) or too long (prompt > 1024, total > 2048) are skipped; shuffled with
// --seed.
std::vector<SampleRequest> sharegpt_dataset(const ServeBenchArgs& args, const Tokenizer& tokenizer) {
  VLLM_CHECK(!args.dataset_path.empty(), InvalidArgument, "--dataset-name sharegpt needs --dataset-path");
  std::ifstream in(args.dataset_path);
  VLLM_CHECK(in.good(), NotFound, "--dataset-path ", args.dataset_path, ": cannot read the file");
  json data = json::parse(in, nullptr, false);
  VLLM_CHECK(data.is_array(), InvalidArgument, "--dataset-path ", args.dataset_path,
             ": not a ShareGPT JSON list of {\"conversations\": [...]}");
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const json& entry : data) {
    if (!entry.is_object() || !entry.contains("conversations")) continue;
    const json& turns = entry["conversations"];
    auto text_of = [&](size_t i) -> const json* {
      if (!turns.is_array() || turns.size() <= i || !turns[i].is_object() || !turns[i].contains("value")) return nullptr;
      return turns[i]["value"].is_string() ? &turns[i]["value"] : nullptr;
    };
    if (!text_of(0) || !text_of(1)) continue;
    pairs.emplace_back(text_of(0)->get<std::string>(), text_of(1)->get<std::string>());
  }
  std::mt19937_64 random(args.seed);
  std::shuffle(pairs.begin(), pairs.end(), random);
  std::vector<SampleRequest> requests;
  for (const auto& [prompt, completion] : pairs) {
    if (static_cast<int64_t>(requests.size()) >= args.num_prompts) break;
    SampleRequest request;
    request.prompt_ids = tokenizer.encode(prompt);
    request.prompt_text = prompt;
    request.prompt_len = static_cast<int64_t>(request.prompt_ids.size());
    request.expected_output_len =
        args.sharegpt_output_len.value_or(static_cast<int64_t>(tokenizer.encode(completion, false).size()));
    bool fixed_output = args.sharegpt_output_len.has_value();
    if (request.prompt_len < 4 || (!fixed_output && request.expected_output_len < 4)) continue;
    if (request.prompt_len > 1024 || request.prompt_len + request.expected_output_len > 2048) continue;
    requests.push_back(std::move(request));
  }
  VLLM_CHECK(!requests.empty(), InvalidArgument, "--dataset-path ", args.dataset_path,
             ": no conversation fits (a prompt and an answer of 4..1024 tokens each)");
  return requests;
}

// --- Requests -----------------------------------------------------------------------------------

struct Target {
  server::HttpUrl url;
  std::string path;        // the endpoint's full path
  std::string model_id;    // sent as "model"
  bool chat = false;
};

json request_body(const ServeBenchArgs& args, const Target& target, const SampleRequest& sample) {
  json body = {{"model", target.model_id}, {"stream", true}, {"stream_options", {{"include_usage", true}}}};
  if (target.chat) {
    body["messages"] = json::array({{{"role", "user"}, {"content", sample.prompt_text}}});
    body["max_completion_tokens"] = sample.expected_output_len;
  } else {
    body["prompt"] = sample.prompt_ids;
    body["max_tokens"] = sample.expected_output_len;
    body["repetition_penalty"] = 1.0;
  }
  if (args.temperature) body["temperature"] = *args.temperature;
  if (args.ignore_eos) body["ignore_eos"] = true;
  return body;
}

// One streamed request, timed as vLLM's async_request_openai_completions: TTFT at the first
// chunk with text, ITL between chunks with text, latency to the last one; the output token count
// from the final usage chunk.
RequestOutcome send_request(const ServeBenchArgs& args, const Target& target, const SampleRequest& sample,
                            Clock::time_point benchmark_start) {
  RequestOutcome outcome;
  outcome.prompt_len = sample.prompt_len;
  server::HttpRequest request;
  request.method = "POST";
  request.target = target.path;
  request.body = request_body(args, target, sample).dump();
  request.timeout_s = 6 * 3600;
  request.tls = target.url.tls;
  Clock::time_point start = Clock::now(), last = start;
  outcome.start_time = std::chrono::duration<double>(start - benchmark_start).count();
  server::SseReader reader;
  std::string raw;
  try {
    server::HttpResponse response = server::http_fetch_streaming(
        target.url.host, target.url.port, request, [&](std::string_view bytes) {
          if (raw.size() < 4096) raw.append(bytes);
          return reader.feed(bytes, [&](std::string_view event) {
            if (event == "[DONE]") return false;
            json chunk = json::parse(event, nullptr, false);
            if (!chunk.is_object()) return true;
            if (chunk.contains("error")) {
              outcome.error = chunk["error"].dump();
              return false;
            }
            if (chunk.contains("usage") && chunk["usage"].is_object())
              outcome.output_tokens = chunk["usage"].value("completion_tokens", int64_t{0});
            const json& choices = chunk.value("choices", json::array());
            if (!choices.is_array() || choices.empty()) return true;
            const json& choice = choices[0];
            std::string text;
            if (target.chat) {
              const json& delta = choice.value("delta", json::object());
              for (const char* field : {"content", "reasoning_content", "reasoning"})
                if (delta.contains(field) && delta[field].is_string()) text += delta[field].get<std::string>();
            } else if (choice.contains("text") && choice["text"].is_string()) {
              text = choice["text"].get<std::string>();
            }
            if (text.empty()) return true;
            Clock::time_point now = Clock::now();
            if (outcome.generated_text.empty())
              outcome.ttft = std::chrono::duration<double>(now - start).count();
            else
              outcome.itl.push_back(std::chrono::duration<double>(now - last).count());
            last = now;
            outcome.generated_text += text;
            return true;
          });
        });
    if (response.status != 200) {
      outcome.error = str("HTTP ", response.status, ": ", raw.substr(0, 500));
    } else if (outcome.error.empty()) {
      outcome.success = outcome.ttft > 0;
      if (!outcome.success) outcome.error = "the stream had no text (is --endpoint a streaming text route?)";
    }
  } catch (const std::exception& error) {
    outcome.error = error.what();
  }
  outcome.latency = std::chrono::duration<double>(last - start).count();
  return outcome;
}

// Send times relative to the start: all at 0 for an infinite rate, else gaps drawn from a gamma
// distribution of shape --burstiness and mean 1 / --request-rate (burstiness 1: Poisson).
std::vector<double> arrival_times(const ServeBenchArgs& args, size_t count) {
  std::vector<double> times(count, 0.0);
  if (std::isinf(args.request_rate)) return times;
  std::mt19937_64 random(args.seed);
  std::gamma_distribution<double> gap(args.burstiness, 1.0 / (args.request_rate * args.burstiness));
  double now = 0;
  for (double& time : times) {
    time = now;
    now += gap(random);
  }
  return times;
}

// --- Reporting ----------------------------------------------------------------------------------

struct Selection {
  std::vector<std::string> metrics;
  std::vector<double> percentiles;
};

void add_metric(json& result, const Selection& selection, const std::string& key, const std::string& name,
                const std::string& header, const std::vector<double>& seconds) {
  if (std::find(selection.metrics.begin(), selection.metrics.end(), key) == selection.metrics.end()) return;
  std::vector<double> ms;
  for (double value : seconds) ms.push_back(value * 1000);
  std::printf("%s\n", centered(header, '-').c_str());
  print_row(str("Mean ", name, " (ms):"), mean(ms));
  print_row(str("Median ", name, " (ms):"), percentile(ms, 50));
  result[str("mean_", key, "_ms")] = mean(ms);
  result[str("median_", key, "_ms")] = percentile(ms, 50);
  result[str("std_", key, "_ms")] = stdev(ms);
  for (double p : selection.percentiles) {
    std::string word = p == std::floor(p) ? std::to_string(static_cast<int64_t>(p)) : python_float(p);
    print_row(str("P", word, " ", name, " (ms):"), percentile(ms, p));
    result[str("p", word, "_", key, "_ms")] = percentile(ms, p);
  }
}

std::map<std::string, double> parse_goodput(const std::vector<std::string>& pairs) {
  std::map<std::string, double> slos;
  for (const std::string& pair : pairs) {
    size_t colon = pair.find(':');
    std::string name = pair.substr(0, colon);
    VLLM_CHECK(colon != std::string::npos && (name == "ttft" || name == "tpot" || name == "e2el"), InvalidArgument,
               "--goodput ", pair, ": expected KEY:VALUE with KEY one of ttft, tpot, e2el and VALUE in ms");
    slos[name] = std::stod(pair.substr(colon + 1));
  }
  return slos;
}

json summarize(const ServeBenchArgs& args, const std::vector<RequestOutcome>& outcomes, double duration) {
  std::vector<double> ttfts, tpots, itls, e2els;
  std::vector<int64_t> output_lens;
  int64_t completed = 0, total_input = 0, total_output = 0, good = 0;
  std::map<std::string, double> slos = parse_goodput(args.goodput);
  for (const RequestOutcome& outcome : outcomes) {
    if (!outcome.success) {
      output_lens.push_back(0);
      continue;
    }
    // Without a usage chunk every text chunk counts as one token.
    int64_t output_len = outcome.output_tokens > 0 ? outcome.output_tokens : static_cast<int64_t>(outcome.itl.size() + 1);
    output_lens.push_back(output_len);
    total_input += outcome.prompt_len;
    total_output += output_len;
    double tpot = output_len > 1 ? (outcome.latency - outcome.ttft) / static_cast<double>(output_len - 1) : 0.0;
    if (output_len > 1) tpots.push_back(tpot);
    itls.insert(itls.end(), outcome.itl.begin(), outcome.itl.end());
    ttfts.push_back(outcome.ttft);
    e2els.push_back(outcome.latency);
    ++completed;
    bool is_good = (!slos.count("ttft") || outcome.ttft * 1000 <= slos["ttft"]) &&
                   (!slos.count("tpot") || tpot * 1000 <= slos["tpot"]) &&
                   (!slos.count("e2el") || outcome.latency * 1000 <= slos["e2el"]);
    if (is_good) ++good;
  }
  int64_t failed = static_cast<int64_t>(outcomes.size()) - completed;
  if (failed > 0) {
    std::printf("Failed requests during benchmark run detected (capping to 10):\n");
    int shown = 0;
    for (const RequestOutcome& outcome : outcomes)
      if (!outcome.success && shown++ < 10) std::printf("Error %d: %s\n", shown - 1, outcome.error.c_str());
  }
  double request_throughput = static_cast<double>(completed) / duration;
  double output_throughput = static_cast<double>(total_output) / duration;
  double total_throughput = static_cast<double>(total_input + total_output) / duration;
  // Peak output tokens in any one second and peak requests in flight (vLLM's sweeps).
  double peak_tokens = 0;
  int64_t peak_concurrency = 0;
  {
    std::map<int64_t, double> per_second;
    std::vector<std::pair<double, int>> events;
    for (const RequestOutcome& outcome : outcomes) {
      if (!outcome.success) continue;
      double time = outcome.start_time + outcome.ttft;
      per_second[static_cast<int64_t>(time)] += 1;
      for (double gap : outcome.itl) per_second[static_cast<int64_t>(time += gap)] += 1;
      events.emplace_back(outcome.start_time, 1);
      events.emplace_back(outcome.start_time + outcome.latency, -1);
    }
    for (const auto& [second, tokens] : per_second) peak_tokens = std::max(peak_tokens, tokens);
    std::sort(events.begin(), events.end());
    int64_t current = 0;
    for (const auto& [time, delta] : events) peak_concurrency = std::max(peak_concurrency, current += delta);
  }

  std::printf("%s\n", centered(" Serving Benchmark Result ", '=').c_str());
  print_row("Successful requests:", completed);
  print_row("Failed requests:", failed);
  if (args.max_concurrency) print_row("Maximum request concurrency:", *args.max_concurrency);
  if (!std::isinf(args.request_rate)) print_row("Request rate configured (RPS):", args.request_rate);
  print_row("Benchmark duration (s):", duration);
  print_row("Total input tokens:", total_input);
  print_row("Total generated tokens:", total_output);
  print_row("Request throughput (req/s):", request_throughput);
  if (!slos.empty()) print_row("Request goodput (req/s):", static_cast<double>(good) / duration);
  print_row("Output token throughput (tok/s):", output_throughput);
  print_row("Peak output token throughput (tok/s):", peak_tokens);
  print_row("Peak concurrent requests:", static_cast<double>(peak_concurrency));
  print_row("Total token throughput (tok/s):", total_throughput);

  json result = {{"duration", duration},
                 {"completed", completed},
                 {"failed", failed},
                 {"total_input_tokens", total_input},
                 {"total_output_tokens", total_output},
                 {"request_throughput", request_throughput},
                 {"request_goodput", slos.empty() ? json(nullptr) : json(static_cast<double>(good) / duration)},
                 {"output_throughput", output_throughput},
                 {"total_token_throughput", total_throughput},
                 {"max_output_tokens_per_s", peak_tokens},
                 {"max_concurrent_requests", peak_concurrency}};
  json input_lens = json::array(), ttft_list = json::array(), itl_list = json::array(), latencies = json::array(),
       start_times = json::array(), texts = json::array(), errors = json::array();
  for (const RequestOutcome& outcome : outcomes) {
    input_lens.push_back(outcome.prompt_len);
    ttft_list.push_back(outcome.ttft);
    itl_list.push_back(outcome.itl);
    latencies.push_back(outcome.latency);
    start_times.push_back(outcome.start_time);
    texts.push_back(outcome.generated_text);
    errors.push_back(outcome.error);
  }
  result["input_lens"] = input_lens;
  result["output_lens"] = output_lens;
  result["ttfts"] = ttft_list;
  result["itls"] = itl_list;
  result["latencies"] = latencies;
  result["start_times"] = start_times;
  result["generated_texts"] = texts;
  result["errors"] = errors;

  Selection selection;
  selection.metrics = split_commas(args.percentile_metrics);
  for (const std::string& metric : selection.metrics)
    VLLM_CHECK(metric == "ttft" || metric == "tpot" || metric == "itl" || metric == "e2el", InvalidArgument,
               "--percentile-metrics: unknown metric '", metric, "' (known: ttft, tpot, itl, e2el)");
  for (const std::string& p : split_commas(args.metric_percentiles)) selection.percentiles.push_back(std::stod(p));
  add_metric(result, selection, "ttft", "TTFT", "Time to First Token", ttfts);
  add_metric(result, selection, "tpot", "TPOT", "Time per Output Token (excl. 1st token)", tpots);
  add_metric(result, selection, "itl", "ITL", "Inter-token Latency", itls);
  add_metric(result, selection, "e2el", "E2EL", "End-to-end Latency", e2els);
  std::printf("%s\n", std::string(50, '=').c_str());
  return result;
}

// --- Setup --------------------------------------------------------------------------------------

Target resolve_target(const ServeBenchArgs& args, json& models) {
  Target target;
  std::string base = args.base_url.empty() ? str("http://", args.host, ":", args.port) : args.base_url;
  target.url = server::parse_http_url(base);
  target.path = target.url.base_path + args.endpoint;
  VLLM_CHECK(args.backend == "openai" || args.backend == "vllm" || args.backend == "openai-chat", InvalidArgument,
             "--backend ", args.backend, " is not supported (known: openai, vllm, openai-chat)");
  target.chat = args.backend == "openai-chat";
  if (target.chat)
    VLLM_CHECK(args.endpoint.size() >= 16 && args.endpoint.substr(args.endpoint.size() - 16) == "chat/completions",
               InvalidArgument, "OpenAI Chat Completions API URL must end with 'chat/completions' (--endpoint ",
               args.endpoint, ")");
  else
    VLLM_CHECK(args.endpoint.size() >= 11 && args.endpoint.substr(args.endpoint.size() - 11) == "completions",
               InvalidArgument, "OpenAI Completions API URL must end with 'completions' (--endpoint ", args.endpoint,
               ")");
  server::HttpRequest request;
  request.target = target.url.base_path + "/v1/models";
  request.tls = target.url.tls;
  request.timeout_s = 30;
  server::HttpResponse response = server::http_fetch(target.url.host, target.url.port, request);
  models = json::parse(response.body, nullptr, false);
  bool listed = response.status == 200 && models.is_object() && models.contains("data") && models["data"].is_array() &&
                !models["data"].empty();
  if (!args.served_model_name.empty()) {
    target.model_id = args.served_model_name;
  } else if (!args.model.empty()) {
    target.model_id = args.model;
  } else {
    VLLM_CHECK(listed, InvalidArgument, "GET ", request.target, " lists no model (HTTP ", response.status,
               "); pass --model");
    target.model_id = models["data"][0]["id"].get<std::string>();
  }
  return target;
}

// --tokenizer, else --model, else the served model's "root" when it is a local directory.
std::shared_ptr<Tokenizer> load_tokenizer(const ServeBenchArgs& args, const json& models, std::string& tokenizer_id) {
  std::vector<std::string> candidates;
  if (!args.tokenizer.empty()) candidates.push_back(args.tokenizer);
  if (!args.model.empty()) candidates.push_back(args.model);
  if (models.is_object() && models.contains("data") && models["data"].is_array())
    for (const json& card : models["data"])
      if (card.contains("root") && card["root"].is_string()) candidates.push_back(card["root"].get<std::string>());
  for (const std::string& candidate : candidates) {
    try {
      fs::path dir = resolve_model_path(candidate);
      auto tokenizer = Tokenizer::from_directory(dir);
      tokenizer_id = candidate;
      return tokenizer;
    } catch (const std::exception&) {
      if (candidate == args.tokenizer) throw;  // asked for by name: say why it cannot be used
    }
  }
  fail(ErrorKind::InvalidArgument, "bench serve needs the model's tokenizer to make prompts: pass --tokenizer <dir>");
}

std::string result_path(const ServeBenchArgs& args, const std::string& model_id, const std::string& date) {
  std::string base_model = model_id.substr(model_id.find_last_of('/') == std::string::npos ? 0 : model_id.find_last_of('/') + 1);
  std::string name = args.result_filename;
  if (name.empty())
    name = str(args.label.empty() ? args.backend : args.label, "-", python_float(args.request_rate), "qps",
               args.max_concurrency ? str("-concurrency", *args.max_concurrency) : "", "-", base_model, "-", date, ".json");
  if (args.result_dir.empty()) return name;
  fs::create_directories(args.result_dir);
  return (fs::path(args.result_dir) / name).string();
}

}  // namespace

int bench_serve(int argc, char** argv) {
  CLI::App app("Online serving benchmark against a running OpenAI-compatible server (vLLM's `bench serve`)", argv[0]);
  ServeBenchArgs args;
  std::string request_rate = "inf";
  app.add_option("--backend", args.backend, "openai or vllm (/v1/completions), openai-chat (/v1/chat/completions)")
      ->capture_default_str();
  app.add_option("--base-url", args.base_url, "Server base URL (instead of --host/--port), e.g. https://host:8443");
  app.add_option("--host", args.host)->capture_default_str();
  app.add_option("--port", args.port)->capture_default_str();
  app.add_option("--endpoint", args.endpoint, "API endpoint")->capture_default_str();
  app.add_option("--model", args.model, "Model name sent with each request (default: the server's first model)");
  app.add_option("--served-model-name", args.served_model_name, "The name sent as \"model\" when it differs from --model");
  app.add_option("--tokenizer", args.tokenizer, "Tokenizer directory or hub id (default: --model, or the server's model root)");
  app.add_option("--label", args.label, "Prefix of the result file name (default: --backend)");
  app.add_option("--dataset-name", args.dataset_name, "random or sharegpt")
      ->check(CLI::IsMember({"random", "sharegpt"}))
      ->capture_default_str();
  app.add_option("--dataset-path", args.dataset_path, "The ShareGPT JSON file (--dataset-name sharegpt)");
  app.add_option("--num-prompts", args.num_prompts)->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--random-input-len", args.random_input_len)->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--random-output-len", args.random_output_len)->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--random-range-ratio", args.random_range_ratio, "Lengths vary uniformly by this fraction")
      ->capture_default_str();
  app.add_option("--random-prefix-len", args.random_prefix_len, "Tokens of one shared prefix before each prompt")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--sharegpt-output-len", args.sharegpt_output_len, "Output length instead of the dataset's answer");
  app.add_option("--request-rate", request_rate, "Requests per second (inf: all at once)")->capture_default_str();
  app.add_option("--burstiness", args.burstiness, "Gamma shape of the arrival gaps (1: Poisson)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--max-concurrency", args.max_concurrency, "Requests in flight at most")->check(CLI::PositiveNumber);
  app.add_option("--seed", args.seed)->capture_default_str();
  app.add_flag("--ignore-eos", args.ignore_eos, "Send ignore_eos so every request generates its full length");
  app.add_option("--temperature", args.temperature, "Sampling temperature (default: the server's)");
  app.add_option("--percentile-metrics", args.percentile_metrics, "Comma-separated: ttft, tpot, itl, e2el")
      ->capture_default_str();
  app.add_option("--metric-percentiles", args.metric_percentiles, "Comma-separated percentiles, e.g. 25,50,99")
      ->capture_default_str();
  app.add_option("--goodput", args.goodput, "Service-level objectives as KEY:VALUE (ms), KEY one of ttft, tpot, e2el");
  app.add_flag("--disable-tqdm", args.disable_tqdm, "No progress bar");
  app.add_flag("--save-result", args.save_result, "Write the results as JSON");
  app.add_flag("--save-detailed", args.save_detailed, "Keep the per-request lists (ttfts, itls, texts, ...) in the JSON");
  app.add_option("--result-dir", args.result_dir, "Folder of the JSON result");
  app.add_option("--result-filename", args.result_filename, "Name of the JSON result");
  CLI11_PARSE(app, argc, argv);
  try {
    args.request_rate = request_rate == "inf" ? INFINITY : std::stod(request_rate);
  } catch (const std::exception&) {
    fail(ErrorKind::InvalidArgument, "--request-rate ", request_rate, " is not a number or inf");
  }
  VLLM_CHECK(args.request_rate > 0, InvalidArgument, "--request-rate must be > 0");
  parse_goodput(args.goodput);  // refuse a bad --goodput before any request

  json models;
  Target target = resolve_target(args, models);
  std::string tokenizer_id;
  std::shared_ptr<Tokenizer> tokenizer = load_tokenizer(args, models, tokenizer_id);
  std::vector<SampleRequest> samples =
      args.dataset_name == "sharegpt" ? sharegpt_dataset(args, *tokenizer) : random_dataset(args, *tokenizer);

  std::printf("Starting initial single prompt test run...\n");
  RequestOutcome probe = send_request(args, target, samples[0], Clock::now());
  VLLM_CHECK(probe.success, InvalidArgument,
             "Initial test run failed - Please make sure benchmark arguments are correctly specified. Error: ",
             probe.error);
  std::printf("Initial test run completed. Starting main benchmark run...\n");
  std::printf("Traffic request rate: %s\n", python_float(args.request_rate).c_str());
  std::printf("Burstiness factor: %s (%s)\n", python_float(args.burstiness).c_str(),
              args.burstiness == 1.0 ? "Poisson process" : "Gamma distribution");
  std::printf("Maximum request concurrency: %s\n",
              args.max_concurrency ? std::to_string(*args.max_concurrency).c_str() : "None");
  std::fflush(stdout);

  // Workers take the prompts in order; each waits for its prompt's send time. --max-concurrency
  // workers (else one per prompt) is vLLM's semaphore.
  std::vector<double> arrivals = arrival_times(args, samples.size());
  std::vector<RequestOutcome> outcomes(samples.size());
  std::atomic<size_t> next{0}, done{0};
  std::mutex progress_mutex;
  size_t workers = std::min<size_t>(samples.size(), args.max_concurrency ? static_cast<size_t>(*args.max_concurrency)
                                                                         : samples.size());
  Clock::time_point start = Clock::now();
  std::vector<std::thread> threads;
  for (size_t w = 0; w < workers; ++w)
    threads.emplace_back([&] {
      for (size_t i = next.fetch_add(1); i < samples.size(); i = next.fetch_add(1)) {
        std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(
                                                  std::chrono::duration<double>(arrivals[i])));
        outcomes[i] = send_request(args, target, samples[i], start);
        size_t finished = done.fetch_add(1) + 1;
        if (!args.disable_tqdm) {
          std::lock_guard lock(progress_mutex);
          std::fprintf(stderr, "\r%3zu%%| %zu/%zu", finished * 100 / samples.size(), finished, samples.size());
          if (finished == samples.size()) std::fprintf(stderr, "\n");
        }
      }
    });
  for (std::thread& thread : threads) thread.join();
  double duration = std::chrono::duration<double>(Clock::now() - start).count();

  json result = summarize(args, outcomes, duration);
  if (!args.save_result) return 0;
  std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof(date), "%Y%m%d-%H%M%S", std::localtime(&now));
  json saved = {{"date", date},
                {"endpoint_type", args.backend},
                {"backend", args.backend},
                {"label", args.label.empty() ? json(nullptr) : json(args.label)},
                {"model_id", target.model_id},
                {"tokenizer_id", tokenizer_id},
                {"num_prompts", args.num_prompts},
                {"request_rate", std::isinf(args.request_rate) ? json("inf") : json(args.request_rate)},
                {"burstiness", args.burstiness},
                {"max_concurrency", args.max_concurrency ? json(*args.max_concurrency) : json(nullptr)}};
  saved.update(result);
  if (!args.save_detailed)  // vLLM keeps the per-request lists only with --save-detailed
    for (const char* field : {"input_lens", "output_lens", "ttfts", "itls", "generated_texts", "errors", "latencies",
                              "start_times"})
      saved.erase(field);
  std::string path = result_path(args, target.model_id, date);
  std::ofstream out(path);
  VLLM_CHECK(out.good(), InvalidArgument, path, ": cannot write the result");
  out << saved.dump(2) << "\n";
  std::printf("Results saved to %s\n", path.c_str());
  return 0;
}

}  // namespace vllm::cli
