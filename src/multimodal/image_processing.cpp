#include "multimodal/image_processing.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace vllm::mm {

namespace {

// PIL's Resample.c: filter functions with their supports.
double bicubic_filter(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double bilinear_filter(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

constexpr int kPrecisionBits = 32 - 8 - 2;

// One axis' taps: output i reads `count[i]` inputs from `first[i]` with fixed-point weights
// kk[i * ksize + j] (PIL's precompute_coeffs + normalize_coeffs_8bpc).
struct Coefficients {
  int64_t ksize = 0;
  std::vector<int64_t> first, count;
  std::vector<int32_t> kk;
};

Coefficients precompute(int64_t in_size, int64_t out_size, double (*filter)(double), double filter_support) {
  const double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
  const double filterscale = std::max(scale, 1.0);
  const double support = filter_support * filterscale;
  Coefficients c;
  c.ksize = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  c.first.resize(static_cast<size_t>(out_size));
  c.count.resize(static_cast<size_t>(out_size));
  c.kk.assign(static_cast<size_t>(out_size * c.ksize), 0);
  std::vector<double> weights(static_cast<size_t>(c.ksize));
  for (int64_t xx = 0; xx < out_size; ++xx) {
    const double center = (static_cast<double>(xx) + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    // (int) truncates toward zero, as PIL's C casts do.
    int64_t xmin = static_cast<int64_t>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int64_t xmax = static_cast<int64_t>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int64_t x = 0; x < xmax; ++x) {
      const double w = filter((static_cast<double>(x + xmin) - center + 0.5) * ss);
      weights[static_cast<size_t>(x)] = w;
      ww += w;
    }
    for (int64_t x = 0; x < xmax; ++x) {
      double k = ww != 0.0 ? weights[static_cast<size_t>(x)] / ww : weights[static_cast<size_t>(x)];
      c.kk[static_cast<size_t>(xx * c.ksize + x)] =
          static_cast<int32_t>(k < 0 ? -0.5 + k * (1 << kPrecisionBits) : 0.5 + k * (1 << kPrecisionBits));
    }
    c.first[static_cast<size_t>(xx)] = xmin;
    c.count[static_cast<size_t>(xx)] = xmax;
  }
  return c;
}

uint8_t clip8(int32_t value) {
  if (value >= (1 << kPrecisionBits << 8)) return 255;
  if (value <= 0) return 0;
  return static_cast<uint8_t>(value >> kPrecisionBits);
}

// One pass along x (horizontal) or y over rows [row0, row0 + rows) of `in`.
Image resample_horizontal(const Image& in, int64_t row0, int64_t rows, int64_t out_width, const Coefficients& c) {
  Image out{out_width, rows, std::vector<uint8_t>(static_cast<size_t>(out_width * rows * 3))};
  for (int64_t y = 0; y < rows; ++y)
    for (int64_t xx = 0; xx < out_width; ++xx) {
      const int32_t* k = c.kk.data() + xx * c.ksize;
      const int64_t xmin = c.first[static_cast<size_t>(xx)], count = c.count[static_cast<size_t>(xx)];
      for (int ch = 0; ch < 3; ++ch) {
        int32_t ss = 1 << (kPrecisionBits - 1);
        for (int64_t x = 0; x < count; ++x) ss += in.at(row0 + y, xmin + x, ch) * k[x];
        out.rgb[static_cast<size_t>((y * out_width + xx) * 3 + ch)] = clip8(ss);
      }
    }
  return out;
}

Image resample_vertical(const Image& in, int64_t out_height, const Coefficients& c, int64_t shift) {
  Image out{in.width, out_height, std::vector<uint8_t>(static_cast<size_t>(in.width * out_height * 3))};
  for (int64_t yy = 0; yy < out_height; ++yy) {
    const int32_t* k = c.kk.data() + yy * c.ksize;
    const int64_t ymin = c.first[static_cast<size_t>(yy)] - shift, count = c.count[static_cast<size_t>(yy)];
    for (int64_t x = 0; x < in.width; ++x)
      for (int ch = 0; ch < 3; ++ch) {
        int32_t ss = 1 << (kPrecisionBits - 1);
        for (int64_t y = 0; y < count; ++y) ss += in.at(ymin + y, x, ch) * k[y];
        out.rgb[static_cast<size_t>((yy * in.width + x) * 3 + ch)] = clip8(ss);
      }
  }
  return out;
}

}  // namespace

Image resize(const Image& image, int64_t width, int64_t height, Resample resample) {
  VLLM_CHECK(width > 0 && height > 0, InvalidArgument, "resize to ", width, "x", height, ": sizes must be positive");
  if (width == image.width && height == image.height) return image;
  double (*filter)(double) = nullptr;
  double support = 0;
  switch (resample) {
    case Resample::Bicubic: filter = bicubic_filter, support = 2.0; break;
    case Resample::Bilinear: filter = bilinear_filter, support = 1.0; break;
    default:
      fail(ErrorKind::Unsupported, "image resize: resample ", static_cast<int>(resample),
           " is not supported (2 bilinear, 3 bicubic)");
  }
  // PIL's ImagingResampleInner: the horizontal pass over the rows the vertical pass reads, then
  // the vertical pass; a pass whose size does not change is skipped.
  Coefficients vertical = precompute(image.height, height, filter, support);
  const int64_t first_row = vertical.first.front();
  const int64_t last_row = vertical.first.back() + vertical.count.back();
  Image current = image;
  int64_t shift = 0;
  if (width != image.width) {
    Coefficients horizontal = precompute(image.width, width, filter, support);
    current = resample_horizontal(image, first_row, last_row - first_row, width, horizontal);
    shift = first_row;
  }
  if (height != image.height) current = resample_vertical(current, height, vertical, shift);
  return current;
}

std::array<int64_t, 2> shortest_edge_size(int64_t height, int64_t width, int64_t shortest_edge) {
  const int64_t shorter = std::min(height, width), longer = std::max(height, width);
  const auto long_side =
      static_cast<int64_t>(static_cast<double>(shortest_edge) * static_cast<double>(longer) / static_cast<double>(shorter));
  return width <= height ? std::array<int64_t, 2>{long_side, shortest_edge}
                         : std::array<int64_t, 2>{shortest_edge, long_side};
}

Image center_crop(const Image& image, int64_t crop_height, int64_t crop_width) {
  auto floor_div = [](int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); };
  // transformers pads to at least the crop size (centred, ceil of half the difference first).
  const int64_t new_height = std::max(crop_height, image.height), new_width = std::max(crop_width, image.width);
  const int64_t top_pad = (new_height - image.height + 1) / 2, left_pad = (new_width - image.width + 1) / 2;
  const int64_t top = std::max<int64_t>(0, floor_div(image.height - crop_height, 2) + top_pad);
  const int64_t left = std::max<int64_t>(0, floor_div(image.width - crop_width, 2) + left_pad);
  Image out{crop_width, crop_height, std::vector<uint8_t>(static_cast<size_t>(crop_width * crop_height * 3), 0)};
  for (int64_t y = 0; y < crop_height; ++y)
    for (int64_t x = 0; x < crop_width; ++x) {
      const int64_t sy = top + y - top_pad, sx = left + x - left_pad;
      if (sy < 0 || sy >= image.height || sx < 0 || sx >= image.width) continue;
      for (int c = 0; c < 3; ++c) out.rgb[static_cast<size_t>((y * crop_width + x) * 3 + c)] = image.at(sy, sx, c);
    }
  return out;
}

Tensor to_pixel_values(const Image& image, bool do_rescale, double rescale_factor, bool do_normalize,
                       const std::array<float, 3>& mean, const std::array<float, 3>& std) {
  const int64_t plane = image.height * image.width;
  Tensor out = Tensor::empty({3, image.height, image.width}, DType::F32, Device::cpu());
  float* data = out.data<float>();
  for (int c = 0; c < 3; ++c)
    for (int64_t i = 0; i < plane; ++i) {
      const uint8_t v = image.rgb[static_cast<size_t>(i * 3 + c)];
      float x = do_rescale ? static_cast<float>(static_cast<double>(v) * rescale_factor) : static_cast<float>(v);
      if (do_normalize) x = (x - mean[static_cast<size_t>(c)]) / std[static_cast<size_t>(c)];
      data[c * plane + i] = x;
    }
  return out;
}

}  // namespace vllm::mm
