// The CLIP image processor's steps, against values worked out by hand from PIL's and
// transformers' definitions (tests/multimodal/test_hf_parity.cpp checks real processor outputs).
#include <gtest/gtest.h>

#include "multimodal/clip_image_processor.h"
#include "multimodal/image_processing.h"
#include "multimodal/processor.h"

using namespace vllm;
using mm::Image;

namespace {

Image row_image(const std::vector<uint8_t>& values) {
  Image image{static_cast<int64_t>(values.size()), 1, {}};
  for (uint8_t v : values) image.rgb.insert(image.rgb.end(), {v, v, v});
  return image;
}

}  // namespace

TEST(ImageProcessing, BilinearHalvingIsPilsAntialiasedTriangle) {
  // PIL: scale 2, support 2; output 0 centred at 1.0 reads inputs 0..2 with weights
  // 0.75, 0.75, 0.25 (normalised by 1.75): (0*.75 + 100*.75 + 200*.25) / 1.75 = 71.4 -> 71;
  // output 1 centred at 3.0 reads 1..3 with 0.25, 0.75, 0.75: (25 + 150 + 191.25) / 1.75 = 209.3 -> 209.
  Image out = mm::resize(row_image({0, 100, 200, 255}), 2, 1, mm::Resample::Bilinear);
  ASSERT_EQ(out.width, 2);
  EXPECT_EQ(out.at(0, 0, 0), 71);
  EXPECT_EQ(out.at(0, 1, 0), 209);
}

TEST(ImageProcessing, ResizeKeepsAConstantImageAndTheSameSizeIsACopy) {
  Image flat{9, 7, std::vector<uint8_t>(9 * 7 * 3, 77)};
  for (auto [w, h] : {std::pair<int64_t, int64_t>{4, 3}, {20, 11}, {9, 3}}) {
    Image out = mm::resize(flat, w, h, mm::Resample::Bicubic);
    ASSERT_EQ(out.width, w);
    ASSERT_EQ(out.height, h);
    for (uint8_t v : out.rgb) ASSERT_EQ(v, 77);
  }
  Image same = mm::resize(row_image({1, 2, 3}), 3, 1, mm::Resample::Bicubic);
  EXPECT_EQ(same.rgb, row_image({1, 2, 3}).rgb);
}

TEST(ImageProcessing, ShortestEdgeAndCentreCropFollowTransformers) {
  EXPECT_EQ(mm::shortest_edge_size(480, 640, 336), (std::array<int64_t, 2>{336, 448}));
  EXPECT_EQ(mm::shortest_edge_size(640, 480, 336), (std::array<int64_t, 2>{448, 336}));
  EXPECT_EQ(mm::shortest_edge_size(30, 45, 28), (std::array<int64_t, 2>{28, 42}));  // int(28 * 45 / 30)
  // 5 wide, 3 high, value = x + 10 y; a 3x3 crop starts at left (5 - 3) // 2 = 1.
  Image image{5, 3, {}};
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 5; ++x) image.rgb.insert(image.rgb.end(), 3, static_cast<uint8_t>(x + 10 * y));
  Image crop = mm::center_crop(image, 3, 3);
  EXPECT_EQ(crop.at(0, 0, 0), 1);
  EXPECT_EQ(crop.at(2, 2, 0), 23);
  // Larger than the image: zero padding, the image centred (top pad ceil((4 - 3) / 2) = 1).
  Image padded = mm::center_crop(image, 4, 5);
  EXPECT_EQ(padded.at(0, 0, 0), 0);
  EXPECT_EQ(padded.at(1, 0, 0), 0);
  EXPECT_EQ(padded.at(2, 1, 0), 11);
}

TEST(ImageProcessing, RescaleAndNormalisePerChannel) {
  Image image{1, 1, {255, 0, 51}};
  Tensor pixels = mm::to_pixel_values(image, true, 1.0 / 255.0, true, {0.5f, 0.5f, 0.5f}, {0.5f, 0.25f, 2.0f});
  ASSERT_EQ(pixels.shape(), (Shape{3, 1, 1}));
  EXPECT_FLOAT_EQ(pixels.data<float>()[0], 1.0f);    // (1 - 0.5) / 0.5
  EXPECT_FLOAT_EQ(pixels.data<float>()[1], -2.0f);   // (0 - 0.5) / 0.25
  EXPECT_FLOAT_EQ(pixels.data<float>()[2], -0.15f);  // (0.2 - 0.5) / 2
}

TEST(ImageProcessing, ProcessorKwargsOverridePreprocessorConfig) {
  auto processor = mm::ClipImageProcessor::from_json(
      {{"size", {{"shortest_edge", 336}}}, {"crop_size", {{"height", 336}, {"width", 336}}}},
      {{"crop_size", {{"height", 28}, {"width", 28}}}, {"size", {{"shortest_edge", 28}}}});
  Tensor pixels = processor.preprocess(Image{45, 30, std::vector<uint8_t>(45 * 30 * 3, 128)});
  EXPECT_EQ(pixels.shape(), (Shape{3, 28, 28}));
}

TEST(Placeholders, ExpandEachImageTokenAndCheckTheCount) {
  std::vector<int32_t> prompt = {5, 9, 6, 9, 7};
  std::vector<int64_t> offsets = mm::expand_placeholders(prompt, 9, {3, 2}, "image");
  EXPECT_EQ(prompt, (std::vector<int32_t>{5, 9, 9, 9, 6, 9, 9, 7}));
  EXPECT_EQ(offsets, (std::vector<int64_t>{1, 5}));
  std::vector<int32_t> one = {5, 9, 6};
  EXPECT_THROW(mm::expand_placeholders(one, 9, {3, 2}, "image"), Error);
}

TEST(Placeholders, ItemLimitsUseVllmsMessages) {
  try {
    mm::check_item_limits({{"image", 1}}, nullptr, {});
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(std::string(error.what()), "At most 0 image(s) may be provided in one prompt.");
  }
  auto processor = mm::make_processor({{"architectures", {"LlavaForConditionalGeneration"}}}, "/nonexistent");
  ASSERT_NE(processor, nullptr);
  EXPECT_NO_THROW(mm::check_item_limits({{"image", 3}}, processor.get(), {}));
  try {
    mm::check_item_limits({{"image", 3}}, processor.get(), {{"image", 2}});
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(std::string(error.what()),
              "At most 2 image(s) may be provided in one prompt. Set `--limit-mm-per-prompt` to increase this limit.");
  }
  EXPECT_THROW(mm::check_item_limits({{"video", 1}}, processor.get(), {}), Error);
}
