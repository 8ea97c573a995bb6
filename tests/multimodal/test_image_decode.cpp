// Decoding each format a request may carry, with images made here by the libraries' encoders.
#include <cstring>

#include <gif_lib.h>
#include <gtest/gtest.h>
#include <webp/encode.h>

#include "core/error.h"
#include "multimodal/image.h"

using namespace vllm;
using mm::Image;

namespace {

Image gradient(int64_t width, int64_t height) {
  Image image{width, height, std::vector<uint8_t>(static_cast<size_t>(width * height * 3))};
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < width; ++x) {
      uint8_t* p = image.rgb.data() + (y * width + x) * 3;
      p[0] = static_cast<uint8_t>(x * 255 / (width - 1));
      p[1] = static_cast<uint8_t>(y * 255 / (height - 1));
      p[2] = static_cast<uint8_t>((x * 7 + y * 13) % 256);
    }
  return image;
}

int write_gif(GifFileType* file, const GifByteType* data, int size) {
  auto* out = static_cast<std::vector<uint8_t>*>(file->UserData);
  out->insert(out->end(), data, data + size);
  return size;
}

// A 3x2 GIF with a 4-colour palette: index (x + y) % 4.
std::vector<uint8_t> tiny_gif() {
  std::vector<uint8_t> bytes;
  int error = 0;
  GifFileType* file = EGifOpen(&bytes, write_gif, &error);
  GifColorType colors[4] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {10, 20, 30}};
  ColorMapObject* map = GifMakeMapObject(4, colors);
  EGifPutScreenDesc(file, 3, 2, 2, 0, map);
  EGifPutImageDesc(file, 0, 0, 3, 2, false, nullptr);
  for (int y = 0; y < 2; ++y) {
    GifPixelType row[3];
    for (int x = 0; x < 3; ++x) row[x] = static_cast<GifPixelType>((x + y) % 4);
    EGifPutLine(file, row, 3);
  }
  EGifCloseFile(file, &error);
  GifFreeMapObject(map);
  return bytes;
}

}  // namespace

TEST(ImageDecode, PngRoundTripsExactly) {
  Image image = gradient(7, 5);
  std::vector<uint8_t> png = mm::encode_png(image);
  EXPECT_EQ(mm::image_format(png), "png");
  Image decoded = mm::decode_image(png);
  EXPECT_EQ(decoded.width, 7);
  EXPECT_EQ(decoded.height, 5);
  EXPECT_EQ(decoded.rgb, image.rgb);
}

TEST(ImageDecode, JpegDecodesToItsSizeAndCloseColours) {
  Image image = gradient(16, 8);
  std::vector<uint8_t> jpeg = mm::encode_jpeg(image, 100);
  EXPECT_EQ(mm::image_format(jpeg), "jpeg");
  Image decoded = mm::decode_image(jpeg);
  ASSERT_EQ(decoded.width, 16);
  ASSERT_EQ(decoded.height, 8);
  double total = 0;
  for (size_t i = 0; i < image.rgb.size(); ++i) total += std::abs(int(decoded.rgb[i]) - int(image.rgb[i]));
  EXPECT_LT(total / static_cast<double>(image.rgb.size()), 4.0);  // lossy, but quality 100
}

TEST(ImageDecode, LosslessWebpRoundTripsAndAlphaIsCompositedOverWhite) {
  Image image = gradient(6, 4);
  uint8_t* out = nullptr;
  size_t size = WebPEncodeLosslessRGB(image.rgb.data(), 6, 4, 6 * 3, &out);
  ASSERT_GT(size, 0u);
  std::vector<uint8_t> webp(out, out + size);
  WebPFree(out);
  EXPECT_EQ(mm::image_format(webp), "webp");
  EXPECT_EQ(mm::decode_image(webp).rgb, image.rgb);

  // Two pixels: opaque (10, 20, 30) and fully transparent (vLLM's rgba_to_rgb: white behind).
  const uint8_t rgba[8] = {10, 20, 30, 255, 10, 20, 30, 0};
  size = WebPEncodeLosslessRGBA(rgba, 2, 1, 8, &out);
  ASSERT_GT(size, 0u);
  std::vector<uint8_t> with_alpha(out, out + size);
  WebPFree(out);
  Image decoded = mm::decode_image(with_alpha);
  EXPECT_EQ(decoded.rgb, (std::vector<uint8_t>{10, 20, 30, 255, 255, 255}));
}

TEST(ImageDecode, GifGivesItsFirstFrameInPaletteColours) {
  std::vector<uint8_t> gif = tiny_gif();
  EXPECT_EQ(mm::image_format(gif), "gif");
  Image decoded = mm::decode_image(gif);
  ASSERT_EQ(decoded.width, 3);
  ASSERT_EQ(decoded.height, 2);
  // (x + y) % 4 -> red, green, blue / green, blue, (10, 20, 30)
  EXPECT_EQ(decoded.rgb, (std::vector<uint8_t>{255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 255, 0, 0, 0, 255, 10, 20, 30}));
}

TEST(ImageDecode, UnreadableBytesAreInvalidArgumentNotACrash) {
  const std::string text = "this is not an image";
  std::vector<uint8_t> garbage(text.begin(), text.end());
  try {
    mm::decode_image(garbage);
    FAIL() << "text decoded as an image";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::InvalidArgument);
    EXPECT_NE(std::string(error.what()).find("cannot identify image file"), std::string::npos) << error.what();
  }
  std::vector<uint8_t> png = mm::encode_png(gradient(8, 8));
  for (size_t keep : {size_t{12}, png.size() / 2}) {
    std::vector<uint8_t> truncated(png.begin(), png.begin() + static_cast<std::ptrdiff_t>(keep));
    EXPECT_THROW(mm::decode_image(truncated), Error) << keep;
  }
  std::vector<uint8_t> jpeg = mm::encode_jpeg(gradient(8, 8));
  jpeg.resize(20);
  EXPECT_THROW(mm::decode_image(jpeg), Error);
}
