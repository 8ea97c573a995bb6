#include "cli/args/vllm_flags.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "engine/engine_args.h"

namespace vllm::cli {
namespace {

using Values = std::vector<std::string>;
constexpr FlagScope E = FlagScope::Engine;
constexpr FlagScope F = FlagScope::Frontend;
constexpr FlagArity Switch = FlagArity::Switch;
constexpr FlagArity Value = FlagArity::Value;
constexpr FlagArity Optional = FlagArity::OptionalValue;
constexpr FlagArity List = FlagArity::Values;
constexpr FlagHandling Map = FlagHandling::Map;
constexpr FlagHandling Ignore = FlagHandling::Ignore;
constexpr FlagHandling Refuse = FlagHandling::Refuse;

// Sets `key` in the JSON object held as text in `field` (empty: a new object).
void merge_json_key(std::string& field, const std::string& flag, const std::string& key, nlohmann::json value) {
  nlohmann::json object = nlohmann::json::object();
  if (!field.empty()) {
    object = nlohmann::json::parse(field, nullptr, /*allow_exceptions=*/false);
    VLLM_CHECK(object.is_object(), InvalidArgument, flag, " needs the JSON it extends to be an object: ", field);
  }
  object[key] = std::move(value);
  field = object.dump();
}

nlohmann::json parse_json_value(const std::string& flag, const std::string& text) {
  nlohmann::json value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  VLLM_CHECK(!value.is_discarded(), InvalidArgument, flag, ": not valid JSON: ", text);
  return value;
}

// vLLM folds --rope-scaling and --rope-theta into hf_overrides.
void apply_rope_scaling(FlagTarget& target, const Values& values) {
  merge_json_key(target.engine.hf_overrides, "--rope-scaling", "rope_scaling",
                 parse_json_value("--rope-scaling", values.back()));
}
void apply_rope_theta(FlagTarget& target, const Values& values) {
  double theta = 0;
  try {
    theta = std::stod(values.back());
  } catch (const std::exception&) {
    fail(ErrorKind::InvalidArgument, "--rope-theta: not a number: ", values.back());
  }
  merge_json_key(target.engine.hf_overrides, "--rope-theta", "rope_theta", theta);
}

// The deprecated --guided-decoding-disable-* switches are fields of --structured-outputs-config.
template <const char* key>
void apply_structured_outputs_switch(FlagTarget& target, const Values& values) {
  merge_json_key(target.engine.structured_outputs_config, "--structured-outputs-config", key,
                 values.back() == "true");
}
constexpr char kDisableFallback[] = "disable_fallback";
constexpr char kDisableAnyWhitespace[] = "disable_any_whitespace";
constexpr char kDisableAdditionalProperties[] = "disable_additional_properties";

constexpr const char* kOneGpu = "vllm-cpp runs a model on one device; parallelism across GPUs is not implemented yet";
constexpr const char* kNoMultimodal = "not implemented yet for multimodal inputs (docs/multimodal.md)";
constexpr const char* kNoCompile = "vllm-cpp compiles no graphs with torch.compile (CUDA graphs: --cudagraph-capture-sizes, "
                                   "--enforce-eager)";
constexpr const char* kNoLora = "LoRA adapters are not supported yet";
constexpr const char* kNoDataParallel = "data parallelism is not implemented; one engine serves every request";
constexpr const char* kNoExperts = "expert parallelism and load balancing need several GPUs, which vllm-cpp does not use yet";
constexpr const char* kNoPython = "vllm-cpp loads no Python code or plugins";
constexpr const char* kNoMamba = "vllm-cpp keeps no Mamba state cache";
constexpr const char* kNotYet = "not implemented yet (issue 23)";

const VllmFlag kFlags[] = {
    // ModelConfig
    {"--tokenizer-mode", "", E, "ModelConfig", Value, Refuse, "auto,hf,slow",
     "only Hugging Face tokenizers (tokenizer.json, tokenizer.model) are supported"},
    {"--trust-remote-code", "", E, "ModelConfig", Switch, Ignore, "false",
     "vllm-cpp runs no model code from the Hub; every architecture it serves is built in"},
    {"--hf-config-path", "", E, "ModelConfig", Value, Refuse, "None", "config.json is read from the model folder"},
    {"--allowed-media-domains", "", E, "ModelConfig", List, Ignore, "", kNoMultimodal},
    {"--rope-scaling", "", E, "ModelConfig", Value, Map, "", "JSON rope_scaling written over config.json's",
     apply_rope_scaling},
    {"--rope-theta", "", E, "ModelConfig", Value, Map, "", "rope_theta written over config.json's", apply_rope_theta},
    {"--quantization", "-q", E, "ModelConfig", Value, Refuse, "None",
     "quantized checkpoints and online quantization are not supported yet"},
    {"--logprobs-mode", "", E, "ModelConfig", Value, Refuse, "raw_logprobs",
     "only raw_logprobs (the model's log-probabilities before sampling parameters) is implemented"},
    {"--disable-sliding-window", "", E, "ModelConfig", Switch, Refuse, "false",
     "sliding-window attention always runs as the model defines it"},
    {"--disable-cascade-attn", "", E, "ModelConfig", Switch, Ignore, "true",
     "vllm-cpp has no cascade attention to disable"},
    {"--enable-prompt-embeds", "", E, "ModelConfig", Switch, Refuse, "false", "prompt embeddings as input are not supported"},
    {"--config-format", "", E, "ModelConfig", Value, Refuse, "auto,hf", "only Hugging Face config.json is read"},
    {"--logits-processor-pattern", "", E, "ModelConfig", Value, Ignore, "",
     "requests cannot name logits processors (Python code)"},
    {"--override-generation-config", "", E, "ModelConfig", Value, Refuse, "{}",
     "not implemented yet; put the defaults in a generation_config.json folder and pass --generation-config"},
    {"--enable-sleep-mode", "", E, "ModelConfig", Switch, Refuse, "false", "sleep mode is not implemented yet"},
    {"--override-attention-dtype", "", E, "ModelConfig", Value, Refuse, "None", "attention runs in the model's dtype"},
    {"--logits-processors", "", E, "ModelConfig", List, Refuse, "", kNoPython},
    {"--io-processor-plugin", "", E, "ModelConfig", Value, Refuse, "None", kNoPython},
    {"--language-model-only", "", E, "ModelConfig", Switch, Ignore, "true", kNoMultimodal},
    // LoadConfig
    {"--safetensors-load-strategy", "", E, "LoadConfig", Value, Ignore, "lazy",
     "safetensors files are memory-mapped and read once"},
    {"--model-loader-extra-config", "", E, "LoadConfig", Value, Ignore, "{}", "the loader takes no extra settings"},
    {"--use-tqdm-on-load", "", E, "LoadConfig", Switch, Ignore, "true,false", "loading shows no progress bar"},
    {"--pt-load-map-location", "", E, "LoadConfig", Value, Ignore, "cpu", "PyTorch checkpoints are memory-mapped on the host whatever the map location"},
    // StructuredOutputsConfig: the deprecated guided-decoding spellings
    {"--guided-decoding-disable-fallback", "", E, "StructuredOutputsConfig", Switch, Map, "",
     "deprecated: --structured-outputs-config.disable_fallback", apply_structured_outputs_switch<kDisableFallback>},
    {"--guided-decoding-disable-any-whitespace", "", E, "StructuredOutputsConfig", Switch, Map, "",
     "deprecated: --structured-outputs-config.disable_any_whitespace",
     apply_structured_outputs_switch<kDisableAnyWhitespace>},
    {"--guided-decoding-disable-additional-properties", "", E, "StructuredOutputsConfig", Switch, Map, "",
     "deprecated: --structured-outputs-config.disable_additional_properties",
     apply_structured_outputs_switch<kDisableAdditionalProperties>},
    // ParallelConfig
    {"--distributed-executor-backend", "", E, "ParallelConfig", Value, Ignore, "uni",
     "one process runs the model; there are no workers to distribute"},
    {"--pipeline-parallel-size", "-pp", E, "ParallelConfig", Value, Refuse, "1", kOneGpu},
    {"--tensor-parallel-size", "-tp", E, "ParallelConfig", Value, Refuse, "1", kOneGpu},
    {"--decode-context-parallel-size", "-dcp", E, "ParallelConfig", Value, Refuse, "1", kOneGpu},
    {"--data-parallel-size", "-dp", E, "ParallelConfig", Value, Refuse, "1", kNoDataParallel},
    {"--data-parallel-rank", "-dpn", E, "ParallelConfig", Value, Refuse, "0", kNoDataParallel},
    {"--data-parallel-start-rank", "-dpr", E, "ParallelConfig", Value, Refuse, "0", kNoDataParallel},
    {"--data-parallel-size-local", "-dpl", E, "ParallelConfig", Value, Refuse, "1", kNoDataParallel},
    {"--data-parallel-address", "-dpa", E, "ParallelConfig", Value, Ignore, "", kNoDataParallel},
    {"--data-parallel-rpc-port", "-dpp", E, "ParallelConfig", Value, Ignore, "", kNoDataParallel},
    {"--data-parallel-backend", "-dpb", E, "ParallelConfig", Value, Ignore, "mp", kNoDataParallel},
    {"--data-parallel-hybrid-lb", "", E, "ParallelConfig", Switch, Ignore, "false", kNoDataParallel},
    {"--data-parallel-external-lb", "", E, "ParallelConfig", Switch, Ignore, "false", kNoDataParallel},
    {"--enable-expert-parallel", "", E, "ParallelConfig", Switch, Ignore, "false", kNoExperts},
    {"--all2all-backend", "", E, "ParallelConfig", Value, Ignore, "", kNoExperts},
    {"--enable-dbo", "", E, "ParallelConfig", Switch, Ignore, "false",
     "dual-batch overlap is a multi-GPU optimisation vllm-cpp does not have"},
    {"--dbo-decode-token-threshold", "", E, "ParallelConfig", Value, Ignore, "", "dual-batch overlap is not implemented"},
    {"--dbo-prefill-token-threshold", "", E, "ParallelConfig", Value, Ignore, "", "dual-batch overlap is not implemented"},
    {"--disable-nccl-for-dp-synchronization", "", E, "ParallelConfig", Switch, Ignore, "false", kNoDataParallel},
    {"--enable-eplb", "", E, "ParallelConfig", Switch, Ignore, "false", kNoExperts},
    {"--eplb-config", "", E, "ParallelConfig", Value, Ignore, "", kNoExperts},
    {"--expert-placement-strategy", "", E, "ParallelConfig", Value, Ignore, "linear", kNoExperts},
    {"--num-redundant-experts", "", E, "ParallelConfig", Value, Ignore, "0", kNoExperts},
    {"--eplb-window-size", "", E, "ParallelConfig", Value, Ignore, "", kNoExperts},
    {"--eplb-step-interval", "", E, "ParallelConfig", Value, Ignore, "", kNoExperts},
    {"--eplb-log-balancedness", "", E, "ParallelConfig", Switch, Ignore, "false", kNoExperts},
    {"--max-parallel-loading-workers", "", E, "ParallelConfig", Value, Ignore, "",
     "one process loads the weights"},
    {"--ray-workers-use-nsight", "", E, "ParallelConfig", Switch, Ignore, "false", "vllm-cpp uses no Ray workers"},
    {"--disable-custom-all-reduce", "", E, "ParallelConfig", Switch, Ignore, "true,false",
     "one GPU needs no all-reduce"},
    {"--worker-cls", "", E, "ParallelConfig", Value, Refuse, "auto", kNoPython},
    {"--worker-extension-cls", "", E, "ParallelConfig", Value, Refuse, "None", kNoPython},
    {"--enable-multimodal-encoder-data-parallel", "", E, "ParallelConfig", Switch, Ignore, "false", kNoMultimodal},
    // CacheConfig
    {"--swap-space", "", E, "CacheConfig", Value, Ignore, "",
     "preempted requests are recomputed, never swapped to CPU memory"},
    {"--num-gpu-blocks-override", "", E, "CacheConfig", Value, Refuse, "None",
     "size the KV cache with --kv-cache-memory-bytes or --gpu-memory-utilization instead"},
    {"--prefix-caching-hash-algo", "", E, "CacheConfig", Value, Ignore, "",
     "prefix-cache blocks are keyed by XXH3-128 hashes of their tokens"},
    {"--cpu-offload-gb", "", E, "CacheConfig", Value, Refuse, "0", "offloading weights to CPU memory is not implemented"},
    {"--calculate-kv-scales", "", E, "CacheConfig", Switch, Ignore, "false", "KV-cache scales only apply to fp8 caches"},
    {"--kv-sharing-fast-prefill", "", E, "CacheConfig", Switch, Ignore, "false", "KV sharing across layers is not implemented"},
    {"--mamba-cache-dtype", "", E, "CacheConfig", Value, Ignore, "auto", kNoMamba},
    {"--mamba-ssm-cache-dtype", "", E, "CacheConfig", Value, Ignore, "auto", kNoMamba},
    {"--mamba-block-size", "", E, "CacheConfig", Value, Ignore, "", kNoMamba},
    {"--mamba-cache-mode", "", E, "CacheConfig", Value, Ignore, "", kNoMamba},
    // MultiModalConfig
    {"--enable-mm-embeds", "", E, "MultiModalConfig", Switch, Ignore, "false", kNoMultimodal},
    {"--media-io-kwargs", "", E, "MultiModalConfig", Value, Ignore, "", kNoMultimodal},
    {"--disable-mm-preprocessor-cache", "", E, "MultiModalConfig", Switch, Ignore, "false", kNoMultimodal},
    {"--mm-processor-cache-type", "", E, "MultiModalConfig", Value, Ignore, "", kNoMultimodal},
    {"--mm-shm-cache-max-object-size-mb", "", E, "MultiModalConfig", Value, Ignore, "", kNoMultimodal},
    {"--mm-encoder-tp-mode", "", E, "MultiModalConfig", Value, Ignore, "", kNoMultimodal},
    {"--mm-encoder-attn-backend", "", E, "MultiModalConfig", Value, Ignore, "", kNoMultimodal},
    {"--interleave-mm-strings", "", E, "MultiModalConfig", Switch, Ignore, "false", kNoMultimodal},
    {"--skip-mm-profiling", "", E, "MultiModalConfig", Switch, Ignore, "false", kNoMultimodal},
    {"--video-pruning-rate", "", E, "MultiModalConfig", Value, Ignore, "", kNoMultimodal},
    // LoRAConfig: the sizes mean nothing without --enable-lora, as in vLLM
    {"--enable-lora", "", E, "LoRAConfig", Switch, Ignore, "false",
     "LoRA adapters are not supported yet: the base model serves every request (--lora-modules is refused)"},
    {"--max-loras", "", E, "LoRAConfig", Value, Ignore, "", kNoLora},
    {"--max-lora-rank", "", E, "LoRAConfig", Value, Ignore, "", kNoLora},
    {"--lora-extra-vocab-size", "", E, "LoRAConfig", Value, Ignore, "", kNoLora},
    {"--lora-dtype", "", E, "LoRAConfig", Value, Ignore, "auto", kNoLora},
    {"--max-cpu-loras", "", E, "LoRAConfig", Value, Ignore, "", kNoLora},
    {"--fully-sharded-loras", "", E, "LoRAConfig", Switch, Ignore, "false", kNoLora},
    {"--default-mm-loras", "", E, "LoRAConfig", Value, Ignore, "", kNoLora},
    // ObservabilityConfig
    {"--show-hidden-metrics-for-version", "", E, "ObservabilityConfig", Value, Ignore, "",
     "vllm-cpp has no hidden (deprecated) metrics to show"},
    {"--otlp-traces-endpoint", "", E, "ObservabilityConfig", Value, Refuse, "None", "OpenTelemetry tracing is not implemented"},
    {"--collect-detailed-traces", "", E, "ObservabilityConfig", List, Ignore, "",
     "OpenTelemetry tracing is not implemented"},
    {"--kv-cache-metrics", "", E, "ObservabilityConfig", Switch, Ignore, "false", "KV-cache residency metrics are not collected"},
    {"--kv-cache-metrics-sample", "", E, "ObservabilityConfig", Value, Ignore, "", "KV-cache residency metrics are not collected"},
    {"--cudagraph-metrics", "", E, "ObservabilityConfig", Switch, Ignore, "false", "CUDA graph metrics are not collected"},
    // SchedulerConfig
    {"--max-num-partial-prefills", "", E, "SchedulerConfig", Value, Ignore, "1",
     "the scheduler fills each step's token budget in arrival order, with no partial-prefill limits"},
    {"--max-long-partial-prefills", "", E, "SchedulerConfig", Value, Ignore, "1",
     "the scheduler fills each step's token budget in arrival order, with no partial-prefill limits"},
    {"--long-prefill-token-threshold", "", E, "SchedulerConfig", Value, Ignore, "0",
     "the scheduler fills each step's token budget in arrival order, with no partial-prefill limits"},
    {"--num-lookahead-slots", "", E, "SchedulerConfig", Value, Ignore, "0", "speculative decoding is not implemented"},
    {"--disable-chunked-mm-input", "", E, "SchedulerConfig", Switch, Ignore, "false", kNoMultimodal},
    {"--scheduler-cls", "", E, "SchedulerConfig", Value, Refuse, "vllm.v1.core.sched.scheduler.Scheduler", kNoPython},
    {"--disable-hybrid-kv-cache-manager", "", E, "SchedulerConfig", Switch, Ignore, "false",
     "one KV-cache manager serves every layer"},
    // CompilationConfig and the VllmConfig JSON groups
    {"--max-cudagraph-capture-size", "", E, "CompilationConfig", Value, Ignore, "",
     "give the sizes themselves with --cudagraph-capture-sizes"},
    {"--optimization-level", "-O", E, "VllmConfig", Value, Ignore, "", kNoCompile},
    {"--compilation-config", "-cc", E, "VllmConfig", Value, Ignore, "", kNoCompile},
    {"--performance-mode", "", E, "VllmConfig", Value, Ignore, "", "vllm-cpp has one set of kernels and defaults"},
    {"--attention-backend", "", E, "VllmConfig", Value, Ignore, "auto", "vllm-cpp has one attention implementation per device"},
    {"--kernel-config", "", E, "VllmConfig", Value, Ignore, "", "vllm-cpp has no kernel autotuning"},
    {"--enable-flashinfer-autotune", "", E, "VllmConfig", Switch, Ignore, "false", "vllm-cpp does not use FlashInfer"},
    {"--speculative-config", "", E, "VllmConfig", Value, Refuse, "None", "speculative decoding is not implemented yet"},
    {"--kv-transfer-config", "", E, "VllmConfig", Value, Refuse, "None", "disaggregated prefill (KV transfer) is not implemented"},
    {"--kv-events-config", "", E, "VllmConfig", Value, Refuse, "None", "KV-cache events are not published"},
    {"--additional-config", "", E, "VllmConfig", Value, Ignore, "{}", "no platform plugin reads it"},
    // Logging (vLLM's top-level engine options)
    {"--disable-log-stats", "", E, "Options", Switch, Ignore, "false",
     "vllm-cpp logs no periodic statistics (the server's are at /metrics)"},
    {"--aggregate-engine-logging", "", E, "Options", Switch, Ignore, "false", kNoDataParallel},
    {"--enable-log-requests", "", E, "Options", Switch, Ignore, "false", "request logging is  not implemented yet"},
    {"--disable-log-requests", "", E, "Options", Switch, Ignore, "",
     "deprecated in vLLM; requests are not logged (vLLM's default too)"},
    // Frontend
    {"--uds", "", F, "Frontend", Value, Refuse, "None", "serving on a Unix domain socket is  not implemented yet"},
    {"--uvicorn-log-level", "", F, "Frontend", Value, Ignore, "info",
     "there is no uvicorn; set VLLM_LOGGING_LEVEL for vllm-cpp's own log"},
    {"--disable-uvicorn-access-log", "", F, "Frontend", Switch, Ignore, "false", "there is no uvicorn access log"},
    {"--lora-modules", "", F, "Frontend", List, Refuse, "", kNoLora},
    {"--enable-ssl-refresh", "", F, "Frontend", Switch, Refuse, "false", "reloading the certificate files while serving is not implemented yet"},
    {"--root-path", "", F, "Frontend", Value, Ignore, "",
     "routes are served at their own paths; a proxy that strips the prefix needs nothing else"},
    {"--middleware", "", F, "Frontend", List, Refuse, "", kNoPython},
    {"--disable-frontend-multiprocessing", "", F, "Frontend", Switch, Ignore, "false",
     "the HTTP server and the engine always share one process"},
    {"--enable-request-id-headers", "", F, "Frontend", Switch, Ignore, "false", kNotYet},
    {"--exclude-tools-when-tool-choice-none", "", F, "Frontend", Switch, Ignore, "false", kNotYet},
    {"--tool-parser-plugin", "", F, "Frontend", Value, Refuse, "None", kNoPython},
    {"--tool-server", "", F, "Frontend", Value, Refuse, "None", "built-in tool servers are not implemented"},
    {"--log-config-file", "", F, "Frontend", Value, Ignore, "", "set VLLM_LOGGING_LEVEL instead"},
    {"--max-log-len", "", F, "Frontend", Value, Ignore, "", "request logging is  not implemented yet"},
    {"--disable-fastapi-docs", "", F, "Frontend", Switch, Ignore, "true,false", "there are no /docs pages to disable"},
    {"--enable-prompt-tokens-details", "", F, "Frontend", Switch, Ignore, "false", kNotYet},
    {"--enable-server-load-tracking", "", F, "Frontend", Switch, Ignore, "false", kNotYet},
    {"--enable-force-include-usage", "", F, "Frontend", Switch, Ignore, "false", kNotYet},
    {"--enable-tokenizer-info-endpoint", "", F, "Frontend", Switch, Ignore, "false", kNotYet},
    {"--enable-log-outputs", "", F, "Frontend", Switch, Ignore, "false", "request logging is  not implemented yet"},
    {"--h11-max-incomplete-event-size", "", F, "Frontend", Value, Ignore, "",
     "there is no h11; --max-request-body-bytes limits request bodies"},
    {"--h11-max-header-count", "", F, "Frontend", Value, Ignore, "", "there is no h11"},
    {"--log-error-stack", "", F, "Frontend", Switch, Ignore, "false", "errors carry no Python stack"},
    {"--tokens-only", "", F, "Frontend", Switch, Refuse, "false", kNotYet},
    {"--default-chat-template-kwargs", "", F, "Frontend", Value, Ignore, "{}", kNotYet},
    {"--headless", "", F, "Options", Switch, Refuse, "false", kNoDataParallel},
    {"--api-server-count", "-asc", F, "Options", Value, Ignore, "1",
     "one HTTP server (--http-threads threads) serves every connection"},
};

}  // namespace

std::span<const VllmFlag> vllm_flags() { return kFlags; }

}  // namespace vllm::cli
