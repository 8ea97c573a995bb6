#include "multimodal/image.h"

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <gif_lib.h>
#include <jpeglib.h>
#include <png.h>
#include <webp/decode.h>

#include "core/error.h"

namespace vllm::mm {

namespace {

[[noreturn]] void unreadable(const std::string& format, const std::string& why) {
  fail(ErrorKind::InvalidArgument, "cannot identify image file: the ", format, " data could not be decoded (", why,
       ")");
}

// RGBA -> RGB over a white background, with PIL's 8-bit blend (Image.paste with the alpha as
// the mask, which vLLM's rgba_to_rgb calls): out = bg + ((t >> 8) + t) >> 8, t = (fg - bg) a + 128.
Image from_rgba(int64_t width, int64_t height, const uint8_t* rgba) {
  Image image{width, height, std::vector<uint8_t>(static_cast<size_t>(width * height * 3))};
  constexpr int kBackground = 255;
  for (int64_t i = 0; i < width * height; ++i) {
    const uint8_t* in = rgba + i * 4;
    const int alpha = in[3];
    for (int c = 0; c < 3; ++c) {
      const int tmp = (in[c] - kBackground) * alpha + 128;
      image.rgb[static_cast<size_t>(i * 3 + c)] = static_cast<uint8_t>(kBackground + (((tmp >> 8) + tmp) >> 8));
    }
  }
  return image;
}

Image decode_png(std::span<const uint8_t> bytes) {
  png_image png;
  std::memset(&png, 0, sizeof(png));
  png.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&png, bytes.data(), bytes.size())) unreadable("PNG", png.message);
  png.format = PNG_FORMAT_RGBA;
  std::vector<uint8_t> rgba(PNG_IMAGE_SIZE(png));
  if (!png_image_finish_read(&png, nullptr, rgba.data(), 0, nullptr)) {
    std::string why = png.message;
    png_image_free(&png);
    unreadable("PNG", why);
  }
  return from_rgba(png.width, png.height, rgba.data());
}

struct JpegError {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_error_exit(j_common_ptr info) {
  auto* error = reinterpret_cast<JpegError*>(info->err);
  (*info->err->format_message)(info, error->message);
  std::longjmp(error->jump, 1);
}

Image decode_jpeg(std::span<const uint8_t> bytes) {
  jpeg_decompress_struct info;
  JpegError error;
  info.err = jpeg_std_error(&error.manager);
  error.manager.error_exit = jpeg_error_exit;
  error.manager.output_message = [](j_common_ptr) {};  // warnings (a truncated file decodes as far as it goes, as PIL)
  Image image;
  if (setjmp(error.jump)) {
    jpeg_destroy_decompress(&info);
    unreadable("JPEG", error.message);
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&info, TRUE);
  info.out_color_space = JCS_RGB;  // greyscale and YCbCr both come out as RGB (PIL's convert("RGB"))
  jpeg_start_decompress(&info);
  image.width = info.output_width;
  image.height = info.output_height;
  image.rgb.resize(static_cast<size_t>(image.width * image.height * 3));
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = image.rgb.data() + static_cast<size_t>(info.output_scanline) * image.width * 3;
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return image;
}

Image decode_webp(std::span<const uint8_t> bytes) {
  int width = 0, height = 0;
  uint8_t* rgba = WebPDecodeRGBA(bytes.data(), bytes.size(), &width, &height);
  if (!rgba) unreadable("WebP", "WebPDecodeRGBA failed");
  Image image = from_rgba(width, height, rgba);
  WebPFree(rgba);
  return image;
}

struct GifSource {
  std::span<const uint8_t> bytes;
  size_t offset = 0;
};

int read_gif(GifFileType* file, GifByteType* out, int size) {
  auto* source = static_cast<GifSource*>(file->UserData);
  const size_t n = std::min<size_t>(static_cast<size_t>(size), source->bytes.size() - source->offset);
  std::memcpy(out, source->bytes.data() + source->offset, n);
  source->offset += n;
  return static_cast<int>(n);
}

// The first frame on the logical screen, as PIL's convert("RGB") of GIF's "P" image: palette
// colours, transparent pixels keep their palette colour, the screen's background index outside
// the frame.
Image decode_gif(std::span<const uint8_t> bytes) {
  GifSource source{bytes};
  int error = 0;
  GifFileType* file = DGifOpen(&source, read_gif, &error);
  if (!file) unreadable("GIF", GifErrorString(error));
  if (DGifSlurp(file) != GIF_OK || file->ImageCount < 1) {
    std::string why = GifErrorString(file->Error);
    DGifCloseFile(file, &error);
    unreadable("GIF", why);
  }
  const SavedImage& frame = file->SavedImages[0];
  const ColorMapObject* colors = frame.ImageDesc.ColorMap ? frame.ImageDesc.ColorMap : file->SColorMap;
  if (!colors) {
    DGifCloseFile(file, &error);
    unreadable("GIF", "no colour map");
  }
  Image image{file->SWidth, file->SHeight, {}};
  image.rgb.resize(static_cast<size_t>(image.width * image.height * 3));
  auto put = [&](int64_t y, int64_t x, int index) {
    const GifColorType color = colors->Colors[index < colors->ColorCount ? index : 0];
    uint8_t* out = image.rgb.data() + (y * image.width + x) * 3;
    out[0] = color.Red, out[1] = color.Green, out[2] = color.Blue;
  };
  for (int64_t y = 0; y < image.height; ++y)
    for (int64_t x = 0; x < image.width; ++x) put(y, x, file->SBackGroundColor);
  const GifImageDesc& desc = frame.ImageDesc;
  for (int64_t y = 0; y < desc.Height; ++y)
    for (int64_t x = 0; x < desc.Width; ++x) {
      const int64_t sy = desc.Top + y, sx = desc.Left + x;
      if (sy < image.height && sx < image.width) put(sy, sx, frame.RasterBits[y * desc.Width + x]);
    }
  DGifCloseFile(file, &error);
  return image;
}

bool starts_with(std::span<const uint8_t> bytes, std::string_view magic, size_t at = 0) {
  return bytes.size() >= at + magic.size() && std::memcmp(bytes.data() + at, magic.data(), magic.size()) == 0;
}

}  // namespace

std::string image_format(std::span<const uint8_t> bytes) {
  if (starts_with(bytes, "\x89PNG\r\n\x1a\n")) return "png";
  if (starts_with(bytes, "\xff\xd8\xff")) return "jpeg";
  if (starts_with(bytes, "RIFF") && starts_with(bytes, "WEBP", 8)) return "webp";
  if (starts_with(bytes, "GIF87a") || starts_with(bytes, "GIF89a")) return "gif";
  return "";
}

Image decode_image(std::span<const uint8_t> bytes) {
  const std::string format = image_format(bytes);
  Image image;
  if (format == "png") image = decode_png(bytes);
  else if (format == "jpeg") image = decode_jpeg(bytes);
  else if (format == "webp") image = decode_webp(bytes);
  else if (format == "gif") image = decode_gif(bytes);
  else fail(ErrorKind::InvalidArgument, "cannot identify image file: the data is not a PNG, JPEG, WebP or GIF image");
  VLLM_CHECK(image.width > 0 && image.height > 0, InvalidArgument, "cannot identify image file: the ", format,
             " image is empty");
  return image;
}

std::vector<uint8_t> encode_png(const Image& image) {
  png_image png;
  std::memset(&png, 0, sizeof(png));
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(image.width);
  png.height = static_cast<png_uint_32>(image.height);
  png.format = PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  VLLM_CHECK(png_image_write_to_memory(&png, nullptr, &size, 0, image.rgb.data(), 0, nullptr), Internal,
             "PNG encoder: ", png.message);
  std::vector<uint8_t> out(size);
  VLLM_CHECK(png_image_write_to_memory(&png, out.data(), &size, 0, image.rgb.data(), 0, nullptr), Internal,
             "PNG encoder: ", png.message);
  out.resize(size);
  return out;
}

std::vector<uint8_t> encode_jpeg(const Image& image, int quality) {
  jpeg_compress_struct info;
  jpeg_error_mgr error;
  info.err = jpeg_std_error(&error);
  jpeg_create_compress(&info);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&info, &buffer, &size);
  info.image_width = static_cast<JDIMENSION>(image.width);
  info.image_height = static_cast<JDIMENSION>(image.height);
  info.input_components = 3;
  info.in_color_space = JCS_RGB;
  jpeg_set_defaults(&info);
  jpeg_set_quality(&info, quality, TRUE);
  jpeg_start_compress(&info, TRUE);
  while (info.next_scanline < info.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(image.rgb.data()) + static_cast<size_t>(info.next_scanline) * image.width * 3;
    jpeg_write_scanlines(&info, &row, 1);
  }
  jpeg_finish_compress(&info);
  std::vector<uint8_t> out(buffer, buffer + size);
  jpeg_destroy_compress(&info);
  std::free(buffer);
  return out;
}

}  // namespace vllm::mm
