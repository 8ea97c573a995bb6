#include "server/chat_media.h"

#include <cstring>

#include "core/dtype.h"
#include "core/error.h"
#include "multimodal/media.h"

namespace vllm::server {

namespace {

// The modality of a content part's type, or "" for text-like parts.
std::string part_modality(const std::string& type) {
  if (type == "image_url" || type == "image_embeds" || type == "input_image" || type == "image_pil") return "image";
  if (type == "audio_url" || type == "input_audio") return "audio";
  if (type == "video_url") return "video";
  return "";
}

std::string image_url_of(const Json& part) {
  const Json* value = part.contains("image_url") ? &part["image_url"] : nullptr;
  if (value && value->is_object() && value->contains("url") && (*value)["url"].is_string())
    return (*value)["url"].get<std::string>();
  if (value && value->is_string()) return value->get<std::string>();
  fail(ErrorKind::InvalidArgument, "an image_url content part needs \"image_url\": {\"url\": \"...\"}");
}

}  // namespace

Tensor decode_image_embeds(const std::string& base64) {
  const std::vector<uint8_t> bytes = mm::base64_decode(base64);
  auto bad = [](const std::string& why) {
    fail(ErrorKind::InvalidArgument, "image_embeds must be base64 of a safetensors file with one tensor [tokens, hidden]: ",
         why);
  };
  if (bytes.size() < 8) bad("too short");
  uint64_t header_size = 0;
  std::memcpy(&header_size, bytes.data(), 8);
  if (header_size > bytes.size() - 8) bad("the header runs past the data");
  auto header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<int64_t>(header_size), nullptr,
                                      /*allow_exceptions=*/false);
  if (!header.is_object()) bad("the header is not JSON");
  header.erase("__metadata__");
  if (header.size() != 1) bad("it holds " + std::to_string(header.size()) + " tensors");
  const auto& entry = header.begin().value();
  const std::string dtype = entry.value("dtype", "");
  const auto shape = entry.value("shape", std::vector<int64_t>{});
  const auto offsets = entry.value("data_offsets", std::vector<uint64_t>{});
  if (shape.size() != 2 || offsets.size() != 2) bad("the tensor must be 2-D");
  const size_t width = dtype == "F32" ? 4 : (dtype == "F16" || dtype == "BF16") ? 2 : 0;
  if (width == 0) bad("dtype " + dtype + " (F32, F16, BF16)");
  const uint64_t begin = 8 + header_size + offsets[0], end = 8 + header_size + offsets[1];
  const uint64_t count = static_cast<uint64_t>(shape[0]) * static_cast<uint64_t>(shape[1]);
  if (end > bytes.size() || end < begin || end - begin != count * width) bad("the data size disagrees with the shape");
  Tensor out = Tensor::empty({shape[0], shape[1]}, DType::F32, Device::cpu());
  float* data = out.data<float>();
  const uint8_t* in = bytes.data() + begin;
  for (uint64_t i = 0; i < count; ++i) {
    if (dtype == "F32") {
      std::memcpy(&data[i], in + i * 4, 4);
    } else {
      uint16_t half;
      std::memcpy(&half, in + i * 2, 2);
      data[i] = dtype == "BF16" ? bf16_to_float(half) : f16_to_float(half);
    }
  }
  return out;
}

std::vector<mm::MultiModalInput> load_chat_media(const Json& messages, const ServingModel& model) {
  std::vector<const Json*> parts;
  std::map<std::string, int64_t> counts;
  if (messages.is_array())
    for (const Json& message : messages) {
      if (!message.is_object() || !message.contains("content") || !message["content"].is_array()) continue;
      for (const Json& part : message["content"]) {
        if (!part.is_object() || !part.contains("type") || !part["type"].is_string()) continue;
        const std::string modality = part_modality(part["type"].get<std::string>());
        if (modality.empty()) continue;
        ++counts[modality];
        parts.push_back(&part);
      }
    }
  if (parts.empty()) return {};
  mm::check_item_limits(counts, model.mm_processor.get(), model.mm_limits);
  std::vector<mm::MultiModalInput> inputs;
  for (const Json* part : parts) {
    const std::string type = (*part)["type"].get<std::string>();
    mm::MultiModalInput input;
    if (type == "image_embeds") {
      const Json& value = part->contains("image_embeds") ? (*part)["image_embeds"] : Json();
      VLLM_CHECK(value.is_string(), InvalidArgument, "an image_embeds content part needs \"image_embeds\": a base64 string");
      input.embeddings = decode_image_embeds(value.get<std::string>());
    } else {
      VLLM_CHECK(type == "image_url", Unsupported, "content part type '", type, "' is not supported yet (image_url, image_embeds)");
      input.image = mm::decode_image(mm::load_media_bytes(image_url_of(*part), model.media));
    }
    inputs.push_back(std::move(input));
  }
  return inputs;
}

}  // namespace vllm::server
