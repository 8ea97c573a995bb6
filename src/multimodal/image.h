// Images as the multimodal processors read them: 8-bit RGB, decoded from the bytes a request
// carries (PNG, JPEG, WebP, GIF) with the Debian libraries of each format, never a hand-written
// codec.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace vllm::mm {

// Interleaved 8-bit RGB, row-major: pixel (y, x) channel c at rgb[(y * width + x) * 3 + c].
struct Image {
  int64_t width = 0;
  int64_t height = 0;
  std::vector<uint8_t> rgb;

  uint8_t at(int64_t y, int64_t x, int c) const { return rgb[static_cast<size_t>((y * width + x) * 3 + c)]; }
};

// The format the bytes' signature names ("png", "jpeg", "webp", "gif"), or "" when none.
std::string image_format(std::span<const uint8_t> bytes);

// Decodes the bytes into RGB as vLLM's ImageMediaIO does with PIL: convert("RGB"), an alpha
// channel composited over white (vLLM's rgba_to_rgb default background), grey and palette
// images expanded; a GIF gives its first frame. InvalidArgument (vLLM's "cannot identify image
// file" wording) for bytes in none of the formats or a file the library cannot read.
Image decode_image(std::span<const uint8_t> bytes);

// Encoders for tests and tools (PNG lossless; JPEG at `quality`): bytes of the file.
std::vector<uint8_t> encode_png(const Image& image);
std::vector<uint8_t> encode_jpeg(const Image& image, int quality = 95);

}  // namespace vllm::mm
