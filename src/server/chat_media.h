// The media parts of a chat request (vLLM's MultiModalItemTracker): counted against the model's
// support and --limit-mm-per-prompt, loaded (data URLs, http(s), file://) and decoded in prompt order.
#pragma once

#include <vector>

#include "multimodal/processor.h"
#include "server/openai_protocol.h"

namespace vllm::server {

// The messages' image_url and image_embeds parts as processor inputs, in order. Throws
// vllm::Error (InvalidArgument: 400) for too many items, a modality the model does not take, an
// unreadable image or a URL it may not load.
std::vector<mm::MultiModalInput> load_chat_media(const Json& messages, const ServingModel& model);

// An image_embeds value: base64 of a safetensors file holding one tensor [N, hidden] (f32, f16 or
// bf16), e.g. safetensors.torch.save({"embeds": t}); -> [N, hidden] f32.
Tensor decode_image_embeds(const std::string& base64);

}  // namespace vllm::server
