// Engine arguments with vLLM's flag names, shared by `serve`, `generate`, `run-batch` and
// `bench`. add_engine_args registers them on a CLI11 app.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace vllm {

struct EngineArgs {
  std::string model;                          // folder or hub id (cached, else downloaded)
  std::string tokenizer;                      // --tokenizer, default: the model folder
  // Hub downloads (loader/hub_download.h): --revision, --code-revision (accepted; no remote code
  // runs), --tokenizer-revision, --download-dir (the cache folder), --hf-token, --ignore-patterns.
  std::string revision;
  std::string code_revision;
  std::string tokenizer_revision;
  std::string download_dir;
  std::string hf_token;
  std::vector<std::string> ignore_patterns;
  std::vector<std::string> served_model_name; // --served-model-name
  std::string dtype = "auto";                 // auto, float32, bfloat16, float16
  std::optional<int64_t> max_model_len;       // --max-model-len, default: from config.json
  std::string hf_overrides;                   // --hf-overrides JSON
  bool skip_tokenizer_init = false;           // --skip-tokenizer-init
  std::optional<uint64_t> seed;               // --seed
  // --max-num-seqs and --max-num-batched-tokens; unset: vLLM's defaults for the device (see
  // docs/engine.md): 1024 sequences and 16384 tokens (8192 for `serve`) on GPUs of 70 GiB or
  // more, 256 and 8192 (2048 for `serve`) on smaller GPUs, 256 and 2048 on the CPU.
  std::optional<int64_t> max_num_seqs;
  std::optional<int64_t> max_num_batched_tokens;
  bool api_server = false;                    // set by `serve` (vLLM's usage context): smaller token budget
  bool enable_chunked_prefill = true;
  bool enable_prefix_caching = true;          // --enable-prefix-caching / --no-enable-prefix-caching
  int64_t block_size = 16;                    // --block-size
  std::optional<int64_t> kv_cache_memory;     // --kv-cache-memory-bytes (--kv-cache-memory)
  double gpu_memory_utilization = 0.9;        // --gpu-memory-utilization
  std::string load_format = "auto";           // auto, safetensors, pt, dummy
  std::string model_impl = "auto";            // --model-impl auto|generic (ModelLoadOptions::model_impl)
  std::string device = "auto";                // auto, cpu, cuda (auto: cuda when a GPU is present)
  bool enforce_eager = false;                 // --enforce-eager: no CUDA graphs
  // --async-scheduling / --no-async-scheduling: queue step N + 1 while step N runs (unset: on
  // for CUDA, off for the CPU, where it gains nothing)
  std::optional<bool> async_scheduling;
  std::string kv_cache_dtype = "auto";        // --kv-cache-dtype auto (the compute dtype), bfloat16, float16, float32
  // --cuda-graph-sizes: decode batch sizes captured as CUDA graphs (default 1, 2, 4, 8, 16, 24, ...
  // up to --max-num-seqs)
  std::vector<int64_t> cuda_graph_sizes;
  int64_t max_seq_len_to_capture = 8192;      // --max-seq-len-to-capture: longer sequences decode eagerly
  std::string generation_config = "auto";     // auto (the model's generation_config.json), vllm, or a folder
  // --structured-outputs-config (JSON: backend, disable_any_whitespace, ...) and the older
  // --guided-decoding-backend: every backend vLLM names runs this engine's own grammar engine.
  std::string structured_outputs_config;
  std::string guided_decoding_backend;
  std::string scheduling_policy = "fcfs";     // fcfs, priority
  // --admission-reserve-tokens: a waiting request is admitted only while the KV pool keeps room for
  // every running request to grow by min(its remaining max_tokens, this many) tokens (0: whenever
  // its prompt fits, vLLM's rule; see docs/engine.md)
  int64_t admission_reserve_tokens = 1024;
  std::string chat_template;                  // --chat-template file or inline
  std::string chat_template_content_format = "auto";  // auto, string, openai
  int max_logprobs = 20;                      // --max-logprobs: most logprobs a request may ask for (-1: no limit)
  int cpu_threads = 0;                        // 0: all cores (OMP_NUM_THREADS wins when set)
  // Pooling models (issue 25, vLLM's names): --runner auto|generate|pooling, --convert
  // auto|none|embed|classify|reward, the older --task (mapped onto both as vLLM maps it), and
  // --pooler-config JSON (--override-pooler-config is its older spelling).
  std::string runner = "auto";
  std::string convert = "auto";
  std::string task = "auto";
  std::string pooler_config;
  // Multimodal inputs (issue 18, vLLM's names): --limit-mm-per-prompt JSON ({"image": 4}),
  // --mm-processor-kwargs JSON (image processor fields), --mm-processor-cache-gb (accepted;
  // the engine's encoder cache is per request), --allowed-local-media-path (file:// URLs).
  std::string limit_mm_per_prompt;
  std::string mm_processor_kwargs;
  double mm_processor_cache_gb = 4;
  std::string allowed_local_media_path;
};

// What --runner/--convert/--task resolve to for an architecture (vLLM's ModelConfig._resolve_runner
// and _resolve_convert).
struct RunnerChoice {
  bool pooling = false;           // the pooling runner
  std::string convert = "none";   // none, embed, classify, reward (ModelLoadOptions::convert)
};

// `architecture`: config.json's architectures[0]; `generative`: it is registered for generation;
// `convertible`: the generic decoder serves it (so --convert can wrap it). InvalidArgument for an
// unknown value or a combination vLLM refuses, Unsupported for a conversion of a model that
// cannot be converted.
RunnerChoice resolve_runner(const EngineArgs& args, const std::string& architecture, bool generative,
                            bool convertible);

// vLLM's human_readable_int: "25.6k" = 25600 and "32k" = 32000 (k, m, g, t decimal), "1K" = 1024
// and "8G" = 8 << 30 (K, M, G, T binary, integers only), or a plain integer. InvalidArgument
// otherwise.
int64_t parse_human_readable_int(const std::string& text);

// Registers every engine flag on `app`, bound to `args`. `model_positional`: MODEL may be given
// as the first positional argument (serve) as well as --model.
void add_engine_args(CLI::App& app, EngineArgs& args, bool model_positional = false);

// The folder of --model (the default model when empty) and of --tokenizer (the model's when
// empty), downloading a Hub id with the download flags (--revision or --tokenizer-revision).
std::filesystem::path resolve_model_dir(const EngineArgs& args);
std::filesystem::path resolve_tokenizer_dir(const EngineArgs& args, const std::filesystem::path& model_dir);

// The built-in default model's folder (models/default beside the executable's source tree or
// installed data), used when no model is given.
std::string default_model_path();

}  // namespace vllm
