// The image transforms of the HF image processors, computed as they compute them: PIL's
// resampling (ImagingResample: separable filters, antialiased when shrinking, 8-bit fixed-point
// coefficients and a clip to 0..255 after each pass), transformers' centre crop, rescale and
// normalise (image_transforms.py).
#pragma once

#include <array>
#include <cstdint>

#include "core/tensor.h"
#include "multimodal/image.h"

namespace vllm::mm {

// PIL's resample filters by their PIL.Image.Resampling numbers (transformers' `resample`).
enum class Resample { Nearest = 0, Lanczos = 1, Bilinear = 2, Bicubic = 3, Box = 4, Hamming = 5 };

// Image.resize((width, height), resample) on an RGB image. Bilinear and Bicubic are supported
// (the CLIP, SigLIP and Qwen2-VL processors use them); others are Unsupported.
Image resize(const Image& image, int64_t width, int64_t height, Resample resample);

// transformers' get_resize_output_image_size(size=shortest_edge, default_to_square=False):
// {height, width} with the short side `shortest_edge` and the long side int(edge * long / short).
std::array<int64_t, 2> shortest_edge_size(int64_t height, int64_t width, int64_t shortest_edge);

// transformers' center_crop: the centred crop_height x crop_width window (zero-padded where the
// image is smaller, as it pads).
Image center_crop(const Image& image, int64_t crop_height, int64_t crop_width);

// rescale then normalize: (float32(v * rescale_factor) - mean[c]) / std[c] per channel, as
// transformers computes them (the product in float64, then float32 arithmetic); a step left out
// when its flag is off. -> [3, H, W] f32 on the host.
Tensor to_pixel_values(const Image& image, bool do_rescale, double rescale_factor, bool do_normalize,
                       const std::array<float, 3>& mean, const std::array<float, 3>& std);

}  // namespace vllm::mm
