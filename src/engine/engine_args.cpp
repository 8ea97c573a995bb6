#include "engine/engine_args.h"

#include <CLI/CLI.hpp>
#include <cctype>
#include <cmath>
#include <regex>
#include <filesystem>
#include <optional>
#include <string>

#include "core/env.h"
#include "core/error.h"
#include "loader/model_path.h"

namespace vllm {

namespace {
// CLI11 transform: a human-readable integer ("32k", "1M") becomes its decimal digits before the
// option converts it.
CLI::Validator human_readable_int_transform() {
  return CLI::Validator(
      [](std::string& value) {
        try {
          value = std::to_string(parse_human_readable_int(value));
        } catch (const Error& error) {
          return std::string(error.what());  // CLI11 puts the flag's name in front
        }
        return std::string();
      },
      "");
}
}  // namespace

int64_t parse_human_readable_int(const std::string& text) {
  // vLLM's human_readable_int (vllm/utils/argparse_utils.py): lowercase suffixes are decimal
  // (1k = 1000, 25.6k = 25600), uppercase ones binary (1K = 1024) and take no decimals.
  static const std::regex pattern(R"(\s*(\d+(?:\.\d+)?)([kKmMgGtT])\s*)");
  std::smatch match;
  if (std::regex_match(text, match, pattern)) {
    const std::string number = match[1], suffix = match[2];
    const int exponent = static_cast<int>(std::string("kmgt").find(static_cast<char>(std::tolower(suffix[0])))) + 1;
    if (std::islower(static_cast<unsigned char>(suffix[0])))
      return static_cast<int64_t>(std::stod(number) * std::pow(1000.0, exponent));
    VLLM_CHECK(number.find('.') == std::string::npos, InvalidArgument, "invalid integer '", text,
               "': decimals are not allowed with binary suffixes like ", suffix, "; did you mean ", number,
               static_cast<char>(std::tolower(suffix[0])), "?");
    return std::stoll(number) << (10 * exponent);
  }
  size_t used = 0;
  int64_t value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  while (used < text.size() && std::isspace(static_cast<unsigned char>(text[used]))) ++used;
  VLLM_CHECK(used > 0 && used == text.size(), InvalidArgument, "invalid integer '", text,
             "' (a number with an optional suffix: k, m, g, t multiply by 1000, K, M, G, T by 1024: 32k, 1M, 8G)");
  return value;
}

void add_engine_args(CLI::App& app, EngineArgs& args, bool model_positional) {
  // Groups are vLLM's config classes, as `--help=<group>` shows them.
  app.option_defaults()->group("ModelConfig");
  if (model_positional) app.add_option("model_tag", args.model, "Model folder or Hugging Face id (cached)");
  app.add_option("--model", args.model, "Model folder or Hugging Face id (cached)");
  app.add_option("--tokenizer", args.tokenizer, "Tokenizer folder (default: the model's)");
  app.add_option("--served-model-name", args.served_model_name, "Name(s) the API reports and accepts");
  app.add_option("--dtype", args.dtype, "Weight and activation dtype")
      ->check(CLI::IsMember({"auto", "float32", "float", "bfloat16", "float16", "half"}));
  app.add_option("--max-model-len", args.max_model_len, "Context length (default: from config.json)")
      ->transform(human_readable_int_transform())
      ->type_name("INT (32k = 32000, 32K = 32768)");
  app.add_option("--hf-overrides", args.hf_overrides, "JSON merged over config.json");
  app.add_flag("--skip-tokenizer-init,!--no-skip-tokenizer-init", args.skip_tokenizer_init,
               "Token-id prompts and outputs only");
  app.add_option("--seed", args.seed, "Random seed of the engine's sampler");
  app.add_option("--model-impl", args.model_impl,
                 "auto (or vllm): the registered architecture; generic: an unknown decoder-only architecture with "
                 "Llama-layout weights runs through the generic decoder (with a warning)")
      ->transform(CLI::Validator(
          [](std::string& value) {
            if (value == "vllm") value = "auto";  // vLLM's own implementation is what auto means here
            return std::string();
          },
          ""))
      ->check(CLI::IsMember({"auto", "generic"}));
  app.add_flag("--enforce-eager,!--no-enforce-eager", args.enforce_eager, "Run every step eagerly (no CUDA graphs)");
  app.add_option("--generation-config", args.generation_config,
                 "auto: defaults from the model's generation_config.json; vllm: vLLM's own; or a folder");
  app.add_option("--max-logprobs", args.max_logprobs, "Most logprobs a request may ask for (-1: no limit)");
  app.add_option("--runner", args.runner, "auto, generate or pooling (embedding, classification, reward models)")
      ->check(CLI::IsMember({"auto", "generate", "pooling"}));
  app.add_option("--convert", args.convert,
                 "Serve a generative model as a pooling model: auto, none, embed, classify or reward")
      ->check(CLI::IsMember({"auto", "none", "embed", "classify", "reward"}));
  app.add_option("--task", args.task,
                 "Deprecated (use --runner/--convert): auto, generate, embed, embedding, classify, score, reward")
      ->check(CLI::IsMember({"auto", "generate", "embed", "embedding", "classify", "score", "reward"}));
  app.add_option("--pooler-config,--override-pooler-config", args.pooler_config,
                 "JSON pooler settings: pooling_type (LAST, CLS, MEAN, ALL, STEP), normalize, dimensions, "
                 "activation, step_tag_id, returned_token_ids");
  app.add_option("--chat-template", args.chat_template, "Chat template file or inline template")->group("Frontend");
  app.add_option("--chat-template-content-format", args.chat_template_content_format, "auto, string or openai")
      ->check(CLI::IsMember({"auto", "string", "openai"}))
      ->group("Frontend");

  app.option_defaults()->group("LoadConfig");
  app.add_option("--load-format", args.load_format,
                 "auto (safetensors, else PyTorch .bin/.pt), safetensors (also fastsafetensors), pt, or dummy "
                 "(random weights)")
      ->transform(CLI::Validator(
          [](std::string& value) {
            if (value == "fastsafetensors") value = "safetensors";  // the same files, read another way
            return std::string();
          },
          ""))
      ->check(CLI::IsMember({"auto", "safetensors", "pt", "dummy"}));
  app.add_option("--download-dir", args.download_dir, "Cache folder for downloads (default: the Hugging Face cache)");
  app.add_option("--ignore-patterns", args.ignore_patterns, "Repository files not to download (fnmatch globs)");

  app.option_defaults()->group("ModelConfig");
  app.add_option("--revision", args.revision, "Hub branch, tag or commit of the model (default: main)");
  app.add_option("--code-revision", args.code_revision, "Accepted for vLLM compatibility (no remote code runs)");
  app.add_option("--tokenizer-revision", args.tokenizer_revision, "Hub revision of the tokenizer (default: main)");
  app.add_option("--hf-token", args.hf_token, "Hub access token (default: HF_TOKEN, then the token file)");

  app.option_defaults()->group("MultiModalConfig");
  app.add_option("--limit-mm-per-prompt", args.limit_mm_per_prompt,
                 "JSON: most multimodal items of each modality one prompt may hold, e.g. '{\"image\": 4}'");
  app.add_option("--mm-processor-kwargs", args.mm_processor_kwargs,
                 "JSON overriding the multimodal processor's settings (preprocessor_config.json fields)");
  app.add_option("--mm-processor-cache-gb", args.mm_processor_cache_gb,
                 "Accepted for vLLM compatibility (processed items are not cached across requests)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--allowed-local-media-path", args.allowed_local_media_path,
                 "Folder file:// image URLs may be read from (off when empty)");

  app.option_defaults()->group("DeviceConfig");
  app.add_option("--device", args.device, "auto (cuda when a GPU is present), cpu or cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  app.add_option("--cpu-threads", args.cpu_threads, "CPU threads (default: all cores)");

  app.option_defaults()->group("CacheConfig");
  app.add_option("--block-size", args.block_size, "Tokens per KV-cache block")->check(CLI::PositiveNumber);
  app.add_option("--kv-cache-memory-bytes,--kv-cache-memory", args.kv_cache_memory,
                 "KV-cache size in bytes (8G, 8g; overrides --gpu-memory-utilization)")
      ->transform(human_readable_int_transform())
      ->check(CLI::PositiveNumber)
      ->type_name("BYTES (8G = 8 GiB, 8g = 8e9)");
  app.add_option("--gpu-memory-utilization", args.gpu_memory_utilization, "Fraction of GPU memory to use")
      ->check(CLI::Range(0.0, 1.0));
  app.add_flag("--enable-prefix-caching,!--no-enable-prefix-caching", args.enable_prefix_caching,
               "Reuse KV blocks of shared prompt prefixes");
  app.add_option("--kv-cache-dtype", args.kv_cache_dtype,
                 "auto (the compute dtype: bfloat16 on CUDA unless --dtype says otherwise, float32 on the CPU), "
                 "bfloat16, float16 or float32")
      ->check(CLI::IsMember({"auto", "bfloat16", "float16", "float32"}));

  app.option_defaults()->group("SchedulerConfig");
  app.add_option("--max-num-seqs", args.max_num_seqs, "Most sequences in one step")->check(CLI::PositiveNumber);
  app.add_option("--max-num-batched-tokens", args.max_num_batched_tokens, "Most tokens in one step")
      ->transform(human_readable_int_transform())
      ->check(CLI::PositiveNumber)
      ->type_name("INT (8k = 8000, 8K = 8192)");
  app.add_flag("--enable-chunked-prefill,!--no-enable-chunked-prefill", args.enable_chunked_prefill,
               "Split long prompts across steps");
  // Two callbacks, not one flag bound to the optional: CLI11 writes false into an unset optional.
  app.add_flag_callback("--async-scheduling", [&args] { args.async_scheduling = true; },
                        "Schedule and queue the next step while the device runs this one (default: on for CUDA)");
  app.add_flag_callback("--no-async-scheduling", [&args] { args.async_scheduling = false; },
                        "Finish each step before scheduling the next");
  app.add_option("--scheduling-policy", args.scheduling_policy, "fcfs or priority")
      ->check(CLI::IsMember({"fcfs", "priority"}));
  app.add_option("--admission-reserve-tokens", args.admission_reserve_tokens,
                 "Admit a waiting request only while the KV cache keeps room for each running request to grow by "
                 "min(its remaining max_tokens, this many) tokens; 0: whenever its prompt fits (vLLM's rule, which "
                 "preempts and recomputes the newest requests when long outputs outgrow the cache)")
      ->check(CLI::NonNegativeNumber);

  app.option_defaults()->group("CompilationConfig");
  app.add_option("--cudagraph-capture-sizes,--cuda-graph-sizes", args.cuda_graph_sizes,
                 "Decode batch sizes to capture as CUDA graphs (default: 1 2 4 8 16 24 ... up to --max-num-seqs)");
  app.add_option("--max-seq-len-to-capture", args.max_seq_len_to_capture,
                 "Longest sequence a CUDA graph serves; longer ones decode eagerly")
      ->check(CLI::PositiveNumber);

  app.option_defaults()->group("StructuredOutputsConfig");
  app.add_option("--structured-outputs-config", args.structured_outputs_config,
                 "JSON: backend (auto, xgrammar, guidance, outlines, lm-format-enforcer: all run the built-in grammar "
                 "engine), disable_any_whitespace, disable_fallback, disable_additional_properties, reasoning_parser");
  app.add_option("--guided-decoding-backend", args.guided_decoding_backend,
                 "Deprecated spelling of --structured-outputs-config '{\"backend\": ...}'");
  app.option_defaults()->group("Options");
}

namespace {
bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

RunnerChoice resolve_runner(const EngineArgs& args, const std::string& architecture, bool generative,
                            bool convertible) {
  std::string runner = args.runner, convert = args.convert;
  // vLLM's deprecated --task: generate -> --runner generate; embed/embedding -> --convert embed;
  // classify/score -> --convert classify; reward -> --convert reward (each with --runner pooling).
  if (args.task != "auto") {
    VLLM_CHECK(runner == "auto" && convert == "auto", InvalidArgument,
               "--task is deprecated and cannot be combined with --runner or --convert");
    if (args.task == "generate") {
      runner = "generate";
    } else {
      runner = "pooling";
      convert = args.task == "embedding" ? "embed" : args.task == "score" ? "classify" : args.task;
    }
  }
  VLLM_CHECK(runner == "auto" || runner == "generate" || runner == "pooling", InvalidArgument, "--runner ", runner,
             " is not supported (auto, generate, pooling)");
  VLLM_CHECK(convert == "auto" || convert == "none" || convert == "embed" || convert == "classify" ||
                 convert == "reward",
             InvalidArgument, "--convert ", convert, " is not supported (auto, none, embed, classify, reward)");
  if (runner == "auto") runner = (!generative || (convert != "auto" && convert != "none")) ? "pooling" : "generate";
  RunnerChoice choice;
  choice.pooling = runner == "pooling";
  if (!choice.pooling) {
    VLLM_CHECK(convert == "auto" || convert == "none", InvalidArgument, "--convert ", convert,
               " serves a pooling model and needs --runner pooling (not --runner generate)");
    VLLM_CHECK(generative, InvalidArgument, architecture,
               " is a pooling model and does not support --runner generate (use --runner pooling)");
    return choice;
  }
  if (convert == "auto") {
    // vLLM's _get_default_convert_type: a generative architecture becomes what its name says.
    if (!generative) convert = "none";
    else if (ends_with(architecture, "ForSequenceClassification")) convert = "classify";
    else if (ends_with(architecture, "ForRewardModel")) convert = "reward";
    else convert = "embed";
  }
  if (convert != "none") {
    VLLM_CHECK(generative, InvalidArgument, architecture, " is already a pooling model: --convert ", convert,
               " applies to generative models only (use --convert none or auto)");
    VLLM_CHECK(convertible, Unsupported, architecture, " cannot be served as a pooling model (--convert ", convert,
               "): only decoders built by the generic decoder can be converted");
  }
  choice.convert = convert;
  return choice;
}

std::string default_model_path() {
  namespace fs = std::filesystem;
  if (std::optional<std::string> model = env::default_model()) return *model;
  // The source tree's models/default, where `make serve` runs from.
  for (fs::path candidate : {fs::path(VLLM_SOURCE_DIR) / "models" / "default", fs::path("models") / "default"})
    if (fs::exists(candidate / "config.json")) return candidate.string();
  return (fs::path(VLLM_SOURCE_DIR) / "models" / "default").string();
}

namespace {
hub::HubOptions hub_options(const EngineArgs& args, const std::string& revision) {
  hub::HubOptions options;
  options.revision = revision;
  options.cache_dir = args.download_dir;
  options.token = args.hf_token;
  options.ignore_patterns = args.ignore_patterns;
  options.load_format = args.load_format == "dummy" ? "auto" : args.load_format;
  return options;
}
}  // namespace

std::filesystem::path resolve_model_dir(const EngineArgs& args) {
  return resolve_model_path(args.model.empty() ? default_model_path() : args.model, hub_options(args, args.revision));
}

std::filesystem::path resolve_tokenizer_dir(const EngineArgs& args, const std::filesystem::path& model_dir) {
  if (args.tokenizer.empty()) return model_dir;
  hub::HubOptions options = hub_options(args, args.tokenizer_revision);
  options.need_weights = false;
  return resolve_model_path(args.tokenizer, options);
}

}  // namespace vllm
