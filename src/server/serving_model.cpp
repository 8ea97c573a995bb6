#include "server/serving_model.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "core/env.h"
#include "core/error.h"
#include "core/logging.h"
#include "loader/model_path.h"

namespace vllm::server {

namespace fs = std::filesystem;

namespace {

// generation_config.json's max_new_tokens (vLLM caps max_tokens by it with --generation-config auto).
std::optional<int> generation_max_new_tokens(const EngineArgs& args, const fs::path& model_dir) {
  if (args.generation_config == "vllm") return std::nullopt;
  fs::path folder = args.generation_config == "auto" ? model_dir : fs::path(args.generation_config);
  std::ifstream in(folder / "generation_config.json");
  if (!in) return std::nullopt;
  auto config = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!config.is_object() || !config.contains("max_new_tokens") || !config["max_new_tokens"].is_number_integer())
    return std::nullopt;
  return config["max_new_tokens"].get<int>();
}

// The JSON object of a flag (empty text: an empty object); InvalidArgument naming the flag.
nlohmann::json flag_json(const std::string& text, const char* flag) {
  if (text.empty()) return nlohmann::json::object();
  auto value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  VLLM_CHECK(value.is_object(), InvalidArgument, flag, " must be a JSON object, got '", text, "'");
  return value;
}

// The multimodal processor of the model's architecture (none for a text-only model), the
// per-prompt limits and the media options.
void set_multimodal(ServingModel& model, const EngineArgs& args, const fs::path& model_dir) {
  const nlohmann::json limits = flag_json(args.limit_mm_per_prompt, "--limit-mm-per-prompt");
  for (auto it = limits.begin(); it != limits.end(); ++it) {
    VLLM_CHECK(it.value().is_number_integer() && it.value().get<int64_t>() >= 0, InvalidArgument,
               "--limit-mm-per-prompt: the limit of '", it.key(), "' must be a non-negative integer");
    model.mm_limits[it.key()] = it.value().get<int64_t>();
  }
  model.media.allowed_local_media_path = args.allowed_local_media_path;
  model.media.fetch_timeout_seconds = env::image_fetch_timeout();
  std::ifstream in(model_dir / "config.json");
  if (!in) return;
  auto config = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!config.is_object()) return;
  model.mm_processor = mm::make_processor(config, model_dir, flag_json(args.mm_processor_kwargs, "--mm-processor-kwargs"));
}

}  // namespace

ServingModel make_serving_model(const EngineClient& engine, const EngineArgs& args, const fs::path& model_dir) {
  ServingModel model;
  model.info = engine.model_info();
  set_multimodal(model, args, model_dir);
  model.tokenizer = engine.tokenizer();
  model.default_max_tokens = generation_max_new_tokens(args, model_dir);
  if (!model.tokenizer) {
    model.chat_template_error = "chat requests need the tokenizer, and the server runs with --skip-tokenizer-init";
    return model;
  }
  fs::path tokenizer_dir = resolve_tokenizer_dir(args, model_dir);
  try {
    auto chat_template = std::make_shared<ChatTemplate>(ChatTemplate::from_directory(tokenizer_dir, args.chat_template));
    chat_template->set_content_format(args.chat_template_content_format);
    model.chat_template = chat_template;
  } catch (const Error& error) {
    if (!args.chat_template.empty()) throw;  // a --chat-template the user gave must work
    model.chat_template_error = str(
        "As of transformers v4.44, default chat template is no longer allowed, so you must provide a chat template "
        "if the tokenizer does not define one (",
        error.what(), ")");
    log_warning("serve: no chat template, /v1/chat/completions will answer 400: ", error.what());
  }
  return model;
}

}  // namespace vllm::server
