// The served model as the OpenAI protocol code sees it (names, tokenizer, chat template,
// defaults), built once from the engine and the engine flags; shared by `serve` and `run-batch`.
#pragma once

#include <filesystem>

#include "engine/engine_args.h"
#include "engine/engine_client.h"
#include "server/openai_protocol.h"

namespace vllm::server {

// Throws when a --chat-template the user gave cannot load; a model without a chat template is
// served with chat requests answering 400 (chat_template_error says why).
ServingModel make_serving_model(const EngineClient& engine, const EngineArgs& args,
                                const std::filesystem::path& model_dir);

}  // namespace vllm::server
