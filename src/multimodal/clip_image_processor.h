// transformers' CLIPImageProcessor (LLaVA-1.5's): convert to RGB, resize the shortest edge with
// PIL's filter, centre crop, rescale, normalise, read from preprocessor_config.json with
// --mm-processor-kwargs on top.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/tensor.h"
#include "multimodal/image.h"
#include "multimodal/image_processing.h"

namespace vllm::mm {

struct ClipImageProcessor {
  bool do_resize = true;
  int64_t shortest_edge = 224;
  // size {"height", "width"} instead of shortest_edge: a plain resize to it.
  int64_t resize_height = 0, resize_width = 0;
  Resample resample = Resample::Bicubic;
  bool do_center_crop = true;
  int64_t crop_height = 224, crop_width = 224;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::array<float, 3> image_mean = {0.48145466f, 0.4578275f, 0.40821073f};  // OPENAI_CLIP_MEAN
  std::array<float, 3> image_std = {0.26862954f, 0.26130258f, 0.27577711f};   // OPENAI_CLIP_STD

  // The fields of `preprocessor` (a preprocessor_config.json), then of `kwargs`.
  static ClipImageProcessor from_json(const nlohmann::json& preprocessor, const nlohmann::json& kwargs);
  // model_dir/preprocessor_config.json (defaults when absent) with kwargs on top.
  static ClipImageProcessor from_directory(const std::filesystem::path& model_dir, const nlohmann::json& kwargs);

  // -> pixel_values [3, H, W] f32 (host).
  Tensor preprocess(const Image& image) const;
  // The settings as text, mixed into item hashes.
  std::string fingerprint() const;
};

}  // namespace vllm::mm
