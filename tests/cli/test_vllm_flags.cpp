// Every flag of `vllm serve` (tests/data/cli/vllm_serve_flags.tsv) through vllm-cpp's real parser
// (cli/args/command_line.h): implemented flags parse silently, no-ops parse with exactly one
// warning, refused ones fail with one line naming the flag. Also vLLM's human-readable sizes, its
// spellings (-tp, --x_y, --x=false, -O3, dotted JSON fields), `--config FILE.yaml` and `--help=...`.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>

#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/args/command_line.h"
#include "cli/args/vllm_flags.h"
#include "core/error.h"

namespace vllm::cli {
namespace {

namespace fs = std::filesystem;

const fs::path kData = fs::path(VLLM_SOURCE_DIR) / "tests" / "data" / "cli";

struct Row {
  std::string flag, scope, category;
  std::vector<std::string> values;
};

std::vector<Row> serve_flags() {
  std::ifstream file(kData / "vllm_serve_flags.tsv");
  std::vector<Row> rows;
  for (std::string line; std::getline(file, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    Row row;
    std::getline(fields, row.flag, '\t');
    std::getline(fields, row.scope, '\t');
    std::getline(fields, row.category, '\t');
    std::string values;
    std::getline(fields, values);
    std::istringstream words(values);
    for (std::string word; words >> word;) {
      if (word.rfind("{data}", 0) == 0) word = (kData / word.substr(7)).string();
      row.values.push_back(word);
    }
    rows.push_back(row);
  }
  return rows;
}

// One parse through a fresh parser, as `serve` or as an engine-args command (generate, bench).
struct Parsed {
  bool ok = false;
  std::string error;
  std::vector<std::string> warnings;
  ServeArgs args;
};

std::unique_ptr<Parsed> parse(const std::vector<std::string>& argv, bool serve = true) {
  auto parsed = std::make_unique<Parsed>();
  CLI::App app("test", serve ? "vllm-cpp serve" : "vllm-cpp generate");
  CommandLine command_line(app, parsed->args.engine, serve ? &parsed->args : nullptr);
  try {
    parsed->ok = command_line.parse(argv);
  } catch (const Error& error) {
    parsed->error = error.what();
  }
  parsed->warnings = command_line.warnings();
  return parsed;
}

void expect_outcome(const Row& row, bool serve) {
  std::vector<std::string> argv{row.flag};
  argv.insert(argv.end(), row.values.begin(), row.values.end());
  auto parsed = parse(argv, serve);
  SCOPED_TRACE(row.flag + (serve ? " (serve)" : " (generate)"));
  auto expect_clear_refusal = [&] {
    EXPECT_FALSE(parsed->ok);
    EXPECT_EQ(parsed->error.find('\n'), std::string::npos) << parsed->error;  // one line, no parser dump
    EXPECT_EQ(parsed->error.rfind("--", 0), 0u) << "names the flag: " << parsed->error;
  };
  if (row.category == "implemented") {
    EXPECT_TRUE(parsed->ok) << parsed->error;
    EXPECT_TRUE(parsed->warnings.empty()) << parsed->warnings.front();
  } else if (row.category == "noop") {
    EXPECT_TRUE(parsed->ok) << parsed->error;
    ASSERT_EQ(parsed->warnings.size(), 1u);
    EXPECT_NE(parsed->warnings[0].find(" is ignored: "), std::string::npos) << parsed->warnings[0];
  } else if (row.category == "refused") {
    expect_clear_refusal();
  } else {
    ADD_FAILURE() << "unknown category " << row.category;
  }
}

TEST(VllmFlags, EveryServeFlagParsesOrIsClearlyRefused) {
  const std::vector<Row> rows = serve_flags();
  ASSERT_GT(rows.size(), 200u);
  for (const Row& row : rows) expect_outcome(row, /*serve=*/true);
}

TEST(VllmFlags, EngineFlagsParseInTheOtherCommands) {
  for (const Row& row : serve_flags())
    if (row.scope == "engine") expect_outcome(row, /*serve=*/false);
  // ... and the frontend's do not.
  EXPECT_FALSE(parse({"--port", "1"}, /*serve=*/false)->ok);
}

TEST(VllmFlags, TheTableIsCoveredByTheList) {
  std::set<std::string> listed;
  for (const Row& row : serve_flags()) listed.insert(row.flag);
  for (const VllmFlag& flag : vllm_flags()) {
    EXPECT_TRUE(listed.count(flag.name)) << flag.name << " is in the flag table but not in vllm_serve_flags.tsv";
    if (*flag.short_alias) {
      EXPECT_TRUE(listed.count(flag.short_alias)) << flag.short_alias;
    }
  }
}

TEST(VllmFlags, AcceptedValuesAreSilent) {
  auto parsed = parse({"-tp", "1", "--pipeline-parallel-size=1", "-dp", "1", "--no-enable-lora", "-q", "None",
                       "--tokenizer-mode", "auto", "--no-trust-remote-code", "--uvicorn-log-level", "info",
                       "--revision", "main", "--api-server-count", "1", "--speculative-config", "None",
                       "--scheduler-cls", "vllm.v1.core.sched.scheduler.Scheduler"});
  EXPECT_TRUE(parsed->ok) << parsed->error;
  EXPECT_TRUE(parsed->warnings.empty()) << parsed->warnings.front();
}

TEST(VllmFlags, RefusalSaysWhy) {
  auto parsed = parse({"-tp", "2"});
  EXPECT_EQ(parsed->error,
            "--tensor-parallel-size 2: vllm-cpp runs a model on one device; parallelism across GPUs is not "
            "implemented yet");
  EXPECT_EQ(parse({"--enable-lora", "--lora-modules", "sql=/adapters/sql"})->error,
            "--lora-modules sql=/adapters/sql: LoRA adapters are not supported yet");
}

TEST(VllmFlags, EachIgnoredFlagWarnsOnce) {
  auto parsed = parse({"--trust-remote-code", "--swap-space", "4", "--trust-remote-code", "--swap-space", "8"});
  ASSERT_TRUE(parsed->ok) << parsed->error;
  ASSERT_EQ(parsed->warnings.size(), 2u);
  EXPECT_EQ(parsed->warnings[0],
            "--trust-remote-code is ignored: vllm-cpp runs no model code from the Hub; every architecture it serves "
            "is built in");
  EXPECT_EQ(parsed->warnings[1].rfind("--swap-space 8 is ignored: ", 0), 0u) << parsed->warnings[1];
}

TEST(VllmFlags, UnknownFlagIsOneLine) {
  auto parsed = parse({"--no-such-flag", "1"});
  EXPECT_FALSE(parsed->ok);
  EXPECT_NE(parsed->error.find("--no-such-flag"), std::string::npos) << parsed->error;
  EXPECT_EQ(parsed->error.find('\n'), std::string::npos) << parsed->error;
}

TEST(VllmFlags, HumanReadableSizesAsVllm) {
  // vllm/utils/argparse_utils.py human_readable_int: lowercase decimal, uppercase binary.
  EXPECT_EQ(parse_human_readable_int("32k"), 32000);
  EXPECT_EQ(parse_human_readable_int("32K"), 32768);
  EXPECT_EQ(parse_human_readable_int("1m"), 1000000);
  EXPECT_EQ(parse_human_readable_int("1M"), 1048576);
  EXPECT_EQ(parse_human_readable_int("25.6k"), 25600);
  EXPECT_EQ(parse_human_readable_int("8g"), 8000000000);
  EXPECT_EQ(parse_human_readable_int("8G"), 8LL << 30);
  EXPECT_EQ(parse_human_readable_int("2t"), 2000000000000);
  EXPECT_EQ(parse_human_readable_int("1T"), 1LL << 40);
  EXPECT_EQ(parse_human_readable_int("4096"), 4096);
  EXPECT_EQ(parse_human_readable_int(" 7 "), 7);
  EXPECT_EQ(parse_human_readable_int("-1"), -1);
  EXPECT_THROW(parse_human_readable_int("1.5K"), Error);  // no decimals with binary suffixes
  EXPECT_THROW(parse_human_readable_int("12x"), Error);
  EXPECT_THROW(parse_human_readable_int(""), Error);

  auto parsed = parse({"--max-model-len", "32k", "--max-num-batched-tokens", "8K", "--kv-cache-memory-bytes", "2G"});
  ASSERT_TRUE(parsed->ok) << parsed->error;
  EXPECT_EQ(parsed->args.engine.max_model_len, 32000);
  EXPECT_EQ(parsed->args.engine.max_num_batched_tokens, 8192);
  EXPECT_EQ(parsed->args.engine.kv_cache_memory, 2LL << 30);
  // The older spelling stays an alias.
  EXPECT_EQ(parse({"--kv-cache-memory", "1g"})->args.engine.kv_cache_memory, 1000000000);
  auto bad = parse({"--max-model-len", "1.5K"});
  EXPECT_FALSE(bad->ok);
  EXPECT_NE(bad->error.find("decimals are not allowed with binary suffixes like K; did you mean 1.5k?"),
            std::string::npos)
      << bad->error;
  EXPECT_EQ(parse({"--max-num-batched-tokens", "lots"})->error.rfind("--max-num-batched-tokens: invalid integer 'lots'", 0),
            0u);
}

TEST(VllmFlags, VllmSpellings) {
  auto parsed = parse({"--max_model_len=1k", "--enable-prefix-caching=false", "--model-impl", "vllm",
                       "--cudagraph-capture-sizes", "1", "2", "--no-enable-chunked-prefill", "--port", "1",
                       "--port", "2", "--load-format", "fastsafetensors"});
  ASSERT_TRUE(parsed->ok) << parsed->error;
  const EngineArgs& engine = parsed->args.engine;
  EXPECT_EQ(engine.max_model_len, 1000);
  EXPECT_FALSE(engine.enable_prefix_caching);
  EXPECT_FALSE(engine.enable_chunked_prefill);
  EXPECT_EQ(engine.model_impl, "auto");
  EXPECT_EQ(engine.load_format, "safetensors");
  EXPECT_EQ(engine.cuda_graph_sizes, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(parsed->args.server.port, 2);  // argparse's rule: the last one wins

  auto level = parse({"-O3"});
  ASSERT_EQ(level->warnings.size(), 1u);
  EXPECT_EQ(level->warnings[0].rfind("--optimization-level 3 is ignored: ", 0), 0u) << level->warnings[0];
  auto compilation = parse({"-O", "{\"level\":3}"});
  ASSERT_EQ(compilation->warnings.size(), 1u);
  EXPECT_EQ(compilation->warnings[0].rfind("--compilation-config {\"level\":3} is ignored", 0), 0u);
  auto dotted = parse({"-cc.cudagraph_mode=NONE", "-cc.level", "3"});
  ASSERT_EQ(dotted->warnings.size(), 1u);
  EXPECT_NE(dotted->warnings[0].find("{\"cudagraph_mode\":\"NONE\",\"level\":3}"), std::string::npos)
      << dotted->warnings[0];
}

TEST(VllmFlags, DottedJsonFieldsAndMappedFlags) {
  auto parsed = parse({"--structured-outputs-config.backend", "guidance", "--guided-decoding-disable-any-whitespace",
                       "--hf-overrides.architectures+", "A,B", "--hf-overrides.max_position_embeddings=4k",
                       "--rope-theta", "500000", "--rope-scaling", "{\"rope_type\":\"linear\",\"factor\":2.0}"});
  ASSERT_TRUE(parsed->ok) << parsed->error;
  const EngineArgs& engine = parsed->args.engine;
  EXPECT_EQ(nlohmann::json::parse(engine.structured_outputs_config),
            (nlohmann::json{{"backend", "guidance"}, {"disable_any_whitespace", true}}));
  EXPECT_EQ(nlohmann::json::parse(engine.hf_overrides),
            (nlohmann::json{{"architectures", {"A", "B"}},
                            {"max_position_embeddings", 4000},
                            {"rope_theta", 500000.0},
                            {"rope_scaling", {{"rope_type", "linear"}, {"factor", 2.0}}}}));
  EXPECT_FALSE(parse({"--rope-theta", "big"})->ok);
}

TEST(VllmFlags, ConfigFileAndCommandLineWins) {
  const std::string config = (kData / "serve_config.yaml").string();
  auto parsed = parse({"my-model", "--config", config});
  ASSERT_TRUE(parsed->ok) << parsed->error;
  const EngineArgs& engine = parsed->args.engine;
  EXPECT_EQ(engine.model, "my-model");
  EXPECT_EQ(parsed->args.server.port, 9000);
  EXPECT_EQ(engine.max_model_len, 32000);  // max_model_len: 32k (underscores as dashes)
  EXPECT_EQ(engine.max_num_seqs, 7);
  EXPECT_FALSE(engine.enable_prefix_caching);
  EXPECT_EQ(engine.served_model_name, (std::vector<std::string>{"alpha", "beta"}));
  EXPECT_EQ(nlohmann::json::parse(engine.hf_overrides)["rope_scaling"]["factor"], 2.0);

  auto over = parse({"--config=" + config, "--port", "9001", "--served-model-name", "gamma", "--max-num-seqs=9"});
  ASSERT_TRUE(over->ok) << over->error;
  EXPECT_EQ(over->args.server.port, 9001);
  EXPECT_EQ(over->args.engine.served_model_name, (std::vector<std::string>{"gamma"}));
  EXPECT_EQ(over->args.engine.max_num_seqs, 9);
  EXPECT_EQ(over->args.engine.max_model_len, 32000);

  const fs::path dir = fs::temp_directory_path() / ("vllm_flags_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "switches.yml") << "trust_remote_code: true\nenable-chunked-prefill: no\n"
                                          "tensor-parallel-size: 1\n";
  auto switches = parse({"--config", (dir / "switches.yml").string()});
  ASSERT_TRUE(switches->ok) << switches->error;
  EXPECT_EQ(switches->warnings.size(), 1u);
  EXPECT_FALSE(switches->args.engine.enable_chunked_prefill);
  std::ofstream(dir / "refused.yaml") << "tensor-parallel-size: 2\n";
  EXPECT_EQ(parse({"--config", (dir / "refused.yaml").string()})->error.rfind("--tensor-parallel-size 2: ", 0), 0u);
  std::ofstream(dir / "bad.yaml") << "port: [1\n";
  EXPECT_NE(parse({"--config", (dir / "bad.yaml").string()})->error.find("bad.yaml"), std::string::npos);
  std::ofstream(dir / "config.json") << "{}";
  EXPECT_NE(parse({"--config", (dir / "config.json").string()})->error.find("must be YAML"), std::string::npos);
  EXPECT_NE(parse({"--config", (dir / "missing.yaml").string()})->error.find("no such file"), std::string::npos);
  fs::remove_all(dir);
}

TEST(VllmFlags, HelpGroupsAndSearch) {
  CLI::App app("Serve a model", "vllm-cpp serve");
  ServeArgs args;
  CommandLine command_line(app, args.engine, &args);
  testing::internal::CaptureStdout();
  EXPECT_FALSE(command_line.parse(std::vector<std::string>{"--help=CacheConfig"}));  // help: do not run
  const std::string printed = testing::internal::GetCapturedStdout();
  EXPECT_NE(printed.find("--kv-cache-memory-bytes"), std::string::npos) << printed;
  EXPECT_EQ(printed.find("--port"), std::string::npos);

  const std::string brief = command_line.help("");
  EXPECT_NE(brief.find("Config Groups:"), std::string::npos);
  EXPECT_NE(brief.find("ParallelConfig"), std::string::npos);
  EXPECT_EQ(brief.find("--block-size"), std::string::npos) << "plain --help stays short";
  EXPECT_EQ(command_line.help("frontend"), command_line.help("Frontend"));
  EXPECT_NE(command_line.help("Frontend").find("--host"), std::string::npos);
  const std::string all = command_line.help("all");
  EXPECT_NE(all.find("--tensor-parallel-size, -tp"), std::string::npos);
  EXPECT_NE(all.find("--port"), std::string::npos);
  EXPECT_NE(all.find("--max-num-seqs"), std::string::npos);
  const std::string search = command_line.help("max_num");
  EXPECT_NE(search.find("Arguments matching 'max-num'"), std::string::npos) << search;
  EXPECT_NE(search.find("--max-num-batched-tokens"), std::string::npos);
  EXPECT_EQ(search.find("--port"), std::string::npos);
  EXPECT_EQ(command_line.help("zzz").rfind("No group or arguments matching 'zzz'.", 0), 0u);
}

}  // namespace
}  // namespace vllm::cli
