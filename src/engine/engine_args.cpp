#include "engine/engine_args.h"

#include <CLI/CLI.hpp>
#include <filesystem>
#include <optional>
#include <string>

#include "core/env.h"
#include "core/error.h"

namespace vllm {

void add_engine_args(CLI::App& app, EngineArgs& args, bool model_positional) {
  if (model_positional) app.add_option("model_tag", args.model, "Model folder or Hugging Face id (cached)");
  app.add_option("--model", args.model, "Model folder or Hugging Face id (cached)");
  app.add_option("--tokenizer", args.tokenizer, "Tokenizer folder (default: the model's)");
  app.add_option("--served-model-name", args.served_model_name, "Name(s) the API reports and accepts");
  app.add_option("--dtype", args.dtype, "Weight and activation dtype")
      ->check(CLI::IsMember({"auto", "float32", "float", "bfloat16", "float16", "half"}));
  app.add_option("--max-model-len", args.max_model_len, "Context length (default: from config.json)");
  app.add_option("--hf-overrides", args.hf_overrides, "JSON merged over config.json");
  app.add_flag("--skip-tokenizer-init", args.skip_tokenizer_init, "Token-id prompts and outputs only");
  app.add_option("--seed", args.seed, "Random seed of the engine's sampler");
  app.add_option("--max-num-seqs", args.max_num_seqs, "Most sequences in one step")->check(CLI::PositiveNumber);
  app.add_option("--max-num-batched-tokens", args.max_num_batched_tokens, "Most tokens in one step")
      ->check(CLI::PositiveNumber);
  app.add_flag("--enable-chunked-prefill,!--no-enable-chunked-prefill", args.enable_chunked_prefill,
               "Split long prompts across steps");
  app.add_flag("--enable-prefix-caching,!--no-enable-prefix-caching", args.enable_prefix_caching,
               "Reuse KV blocks of shared prompt prefixes");
  app.add_option("--block-size", args.block_size, "Tokens per KV-cache block")->check(CLI::PositiveNumber);
  app.add_option("--kv-cache-memory", args.kv_cache_memory, "KV-cache size in bytes")->check(CLI::PositiveNumber);
  app.add_option("--gpu-memory-utilization", args.gpu_memory_utilization, "Fraction of GPU memory to use")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--load-format", args.load_format, "auto, safetensors, or dummy (random weights)")
      ->check(CLI::IsMember({"auto", "safetensors", "dummy"}));
  app.add_option("--model-impl", args.model_impl,
                 "auto: the registered architecture; generic: an unknown decoder-only architecture with "
                 "Llama-layout weights runs through the generic decoder (with a warning)")
      ->check(CLI::IsMember({"auto", "generic"}));
  app.add_option("--device", args.device, "auto (cuda when a GPU is present), cpu or cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  app.add_flag("--enforce-eager", args.enforce_eager, "Run every step eagerly (no CUDA graphs)");
  // Two callbacks, not one flag bound to the optional: CLI11 writes false into an unset optional.
  app.add_flag_callback("--async-scheduling", [&args] { args.async_scheduling = true; },
                        "Schedule and queue the next step while the device runs this one (default: on for CUDA)");
  app.add_flag_callback("--no-async-scheduling", [&args] { args.async_scheduling = false; },
                        "Finish each step before scheduling the next");
  app.add_option("--kv-cache-dtype", args.kv_cache_dtype,
                 "auto (the compute dtype: bfloat16 on CUDA unless --dtype says otherwise, float32 on the CPU), "
                 "bfloat16, float16 or float32")
      ->check(CLI::IsMember({"auto", "bfloat16", "float16", "float32"}));
  app.add_option("--cuda-graph-sizes", args.cuda_graph_sizes,
                 "Decode batch sizes to capture as CUDA graphs (default: 1 2 4 8 16 24 ... up to --max-num-seqs)");
  app.add_option("--max-seq-len-to-capture", args.max_seq_len_to_capture,
                 "Longest sequence a CUDA graph serves; longer ones decode eagerly")
      ->check(CLI::PositiveNumber);
  app.add_option("--structured-outputs-config", args.structured_outputs_config,
                 "JSON: backend (auto, xgrammar, guidance, outlines, lm-format-enforcer: all run the built-in grammar "
                 "engine), disable_any_whitespace, disable_fallback, disable_additional_properties, reasoning_parser");
  app.add_option("--guided-decoding-backend", args.guided_decoding_backend,
                 "Deprecated spelling of --structured-outputs-config '{\"backend\": ...}'");
  app.add_option("--generation-config", args.generation_config,
                 "auto: defaults from the model's generation_config.json; vllm: vLLM's own; or a folder");
  app.add_option("--scheduling-policy", args.scheduling_policy, "fcfs or priority")
      ->check(CLI::IsMember({"fcfs", "priority"}));
  app.add_option("--admission-reserve-tokens", args.admission_reserve_tokens,
                 "Admit a waiting request only while the KV cache keeps room for each running request to grow by "
                 "min(its remaining max_tokens, this many) tokens; 0: whenever its prompt fits (vLLM's rule, which "
                 "preempts and recomputes the newest requests when long outputs outgrow the cache)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--chat-template", args.chat_template, "Chat template file or inline template");
  app.add_option("--chat-template-content-format", args.chat_template_content_format, "auto, string or openai")
      ->check(CLI::IsMember({"auto", "string", "openai"}));
  app.add_option("--max-logprobs", args.max_logprobs, "Most logprobs a request may ask for (-1: no limit)");
  app.add_option("--cpu-threads", args.cpu_threads, "CPU threads (default: all cores)");
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
  app.add_option("--limit-mm-per-prompt", args.limit_mm_per_prompt,
                 "JSON: most multimodal items of each modality one prompt may hold, e.g. '{\"image\": 4}'");
  app.add_option("--mm-processor-kwargs", args.mm_processor_kwargs,
                 "JSON overriding the multimodal processor's settings (preprocessor_config.json fields)");
  app.add_option("--mm-processor-cache-gb", args.mm_processor_cache_gb,
                 "Accepted for vLLM compatibility (processed items are not cached across requests)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--allowed-local-media-path", args.allowed_local_media_path,
                 "Folder file:// image URLs may be read from (off when empty)");
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

}  // namespace vllm
