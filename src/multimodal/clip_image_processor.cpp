#include "multimodal/clip_image_processor.h"

#include <fstream>

#include "core/error.h"

namespace vllm::mm {

namespace {

void read_fields(ClipImageProcessor& p, const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) return;
  try {
    if (j.contains("do_resize")) p.do_resize = j["do_resize"].get<bool>();
    if (j.contains("size") && j["size"].is_object()) {
      const auto& size = j["size"];
      if (size.contains("shortest_edge")) p.shortest_edge = size["shortest_edge"].get<int64_t>(), p.resize_height = 0;
      if (size.contains("height") && size.contains("width"))
        p.resize_height = size["height"].get<int64_t>(), p.resize_width = size["width"].get<int64_t>();
    } else if (j.contains("size") && j["size"].is_number_integer()) {
      p.shortest_edge = j["size"].get<int64_t>();
    }
    if (j.contains("resample")) p.resample = static_cast<Resample>(j["resample"].get<int>());
    if (j.contains("do_center_crop")) p.do_center_crop = j["do_center_crop"].get<bool>();
    if (j.contains("crop_size")) {
      const auto& crop = j["crop_size"];
      if (crop.is_object()) p.crop_height = crop.at("height").get<int64_t>(), p.crop_width = crop.at("width").get<int64_t>();
      else p.crop_height = p.crop_width = crop.get<int64_t>();
    }
    if (j.contains("do_rescale")) p.do_rescale = j["do_rescale"].get<bool>();
    if (j.contains("rescale_factor")) p.rescale_factor = j["rescale_factor"].get<double>();
    if (j.contains("do_normalize")) p.do_normalize = j["do_normalize"].get<bool>();
    if (j.contains("image_mean")) p.image_mean = j["image_mean"].get<std::array<float, 3>>();
    if (j.contains("image_std")) p.image_std = j["image_std"].get<std::array<float, 3>>();
  } catch (const nlohmann::json::exception& error) {
    fail(ErrorKind::InvalidArgument, source, ": a CLIP image processor field has the wrong type (", error.what(), ")");
  }
}

}  // namespace

ClipImageProcessor ClipImageProcessor::from_json(const nlohmann::json& preprocessor, const nlohmann::json& kwargs) {
  ClipImageProcessor p;
  read_fields(p, preprocessor, "preprocessor_config.json");
  read_fields(p, kwargs, "--mm-processor-kwargs");
  VLLM_CHECK(p.shortest_edge > 0 && p.crop_height > 0 && p.crop_width > 0, InvalidArgument,
             "CLIP image processor: size and crop_size must be positive");
  return p;
}

ClipImageProcessor ClipImageProcessor::from_directory(const std::filesystem::path& model_dir, const nlohmann::json& kwargs) {
  nlohmann::json preprocessor = nlohmann::json::object();
  std::ifstream file(model_dir / "preprocessor_config.json");
  if (file) {
    try {
      preprocessor = nlohmann::json::parse(file);
    } catch (const nlohmann::json::exception& error) {
      fail(ErrorKind::InvalidArgument, (model_dir / "preprocessor_config.json").string(), ": ", error.what());
    }
  }
  return from_json(preprocessor, kwargs);
}

Tensor ClipImageProcessor::preprocess(const Image& input) const {
  Image image = input;
  if (do_resize) {
    if (resize_height > 0) {
      image = resize(image, resize_width, resize_height, resample);
    } else {
      auto [height, width] = shortest_edge_size(image.height, image.width, shortest_edge);
      image = resize(image, width, height, resample);
    }
  }
  if (do_center_crop) image = center_crop(image, crop_height, crop_width);
  return to_pixel_values(image, do_rescale, rescale_factor, do_normalize, image_mean, image_std);
}

std::string ClipImageProcessor::fingerprint() const {
  nlohmann::json j = {{"do_resize", do_resize}, {"shortest_edge", shortest_edge}, {"resize", {resize_height, resize_width}},
                      {"resample", static_cast<int>(resample)}, {"do_center_crop", do_center_crop},
                      {"crop", {crop_height, crop_width}}, {"do_rescale", do_rescale}, {"rescale_factor", rescale_factor},
                      {"do_normalize", do_normalize}, {"mean", image_mean}, {"std", image_std}};
  return j.dump();
}

}  // namespace vllm::mm
