// PIL's two-pass separable resampling (Pillow's Resample.c, 8 bits per channel): horizontal
// pass into a uint8 row buffer, then vertical pass, with weights in 22-bit fixed point, so the
// results match torchvision's PIL pipeline bit for bit.
#include "aft/data/image_ops.h"

#include <cmath>
#include <vector>

#include "aft/core/error.h"

namespace aft::data {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

struct Coeffs {
  int ksize = 0;
  std::vector<int> first, count;  // per output index (of the window)
  std::vector<int32_t> weights;   // ksize per output index
};

double bilinear(double x) {
  if (x < 0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

// Keys' cubic convolution kernel with a = -0.5, as PIL's BICUBIC.
double bicubic(double x) {
  constexpr double a = -0.5;
  if (x < 0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

// Pillow's precompute_coeffs + normalize_coeffs_8bpc for outputs [o0, o0 + n) of out_size.
Coeffs precompute(int64_t in_size, int64_t out_size, int64_t o0, int64_t n, Filter filter) {
  Coeffs c;
  const double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const bool cubic = filter == Filter::bicubic;
  const double support = (cubic ? 2.0 : 1.0) * filterscale;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(n);
  c.count.resize(n);
  c.weights.assign(static_cast<size_t>(n * c.ksize), 0);
  std::vector<double> k(c.ksize);
  for (int64_t i = 0; i < n; ++i) {
    const double center = (static_cast<double>(o0 + i) + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = static_cast<int>(in_size);
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double t = (x + xmin - center + 0.5) * ss;
      k[x] = cubic ? bicubic(t) : bilinear(t);
      ww += k[x];
    }
    for (int x = 0; x < xmax; ++x) {
      const double w = ww != 0.0 ? k[x] / ww : k[x];
      c.weights[i * c.ksize + x] =
          static_cast<int32_t>(w < 0 ? -0.5 + w * (1 << kPrecisionBits) : 0.5 + w * (1 << kPrecisionBits));
    }
    c.first[i] = xmin;
    c.count[i] = xmax;
  }
  return c;
}

inline uint8_t clip8(int32_t v) {
  if (v >= (1 << kPrecisionBits << 8)) return 255;
  if (v <= 0) return 0;
  return static_cast<uint8_t>(v >> kPrecisionBits);
}

}  // namespace

void resize_region(const Image& src, const Rect& crop, int64_t out_h, int64_t out_w,
                   const Rect& window, uint8_t* dst, Filter filter) {
  check(crop.y >= 0 && crop.x >= 0 && crop.h > 0 && crop.w > 0 && crop.y + crop.h <= src.height &&
            crop.x + crop.w <= src.width,
        "resize_region: crop outside the image");
  check(window.y >= 0 && window.x >= 0 && window.y + window.h <= out_h && window.x + window.w <= out_w,
        "resize_region: window outside the output");
  if (window.h <= 0 || window.w <= 0) return;
  const int64_t stride = src.width * 3;
  const uint8_t* base = src.pixels.data() + crop.y * stride + crop.x * 3;
  const bool need_h = out_w != crop.w;
  const bool need_v = out_h != crop.h;

  // Source rows the vertical pass reads (all window rows when there is no vertical pass).
  Coeffs vert;
  int64_t row_first = window.y, row_last = window.y + window.h;
  if (need_v) {
    vert = precompute(crop.h, out_h, window.y, window.h, filter);
    row_first = vert.first[0];
    row_last = vert.first[window.h - 1] + vert.count[window.h - 1];
  }

  // Horizontal pass: rows [row_first, row_last) of the crop, window columns only.
  std::vector<uint8_t> temp;
  const uint8_t* hsrc = base;  // rows of width `hstride`
  int64_t hstride = stride;
  int64_t hrow0 = 0;
  if (need_h) {
    const Coeffs horiz = precompute(crop.w, out_w, window.x, window.w, filter);
    const int64_t rows = row_last - row_first;
    temp.resize(static_cast<size_t>(rows * window.w * 3));
    for (int64_t r = 0; r < rows; ++r) {
      const uint8_t* in = base + (row_first + r) * stride;
      uint8_t* out = temp.data() + r * window.w * 3;
      for (int64_t i = 0; i < window.w; ++i) {
        const int32_t* k = horiz.weights.data() + i * horiz.ksize;
        const uint8_t* p = in + horiz.first[i] * 3;
        int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
        for (int t = 0; t < horiz.count[i]; ++t) {
          s0 += p[t * 3] * k[t];
          s1 += p[t * 3 + 1] * k[t];
          s2 += p[t * 3 + 2] * k[t];
        }
        out[i * 3] = clip8(s0);
        out[i * 3 + 1] = clip8(s1);
        out[i * 3 + 2] = clip8(s2);
      }
    }
    hsrc = temp.data();
    hstride = window.w * 3;
    hrow0 = row_first;
  } else {
    hsrc = base + window.x * 3;  // columns map one to one
  }

  // Vertical pass (or a copy of the window rows).
  const int64_t row_bytes = window.w * 3;
  std::vector<int32_t> acc;
  for (int64_t j = 0; j < window.h; ++j) {
    uint8_t* out = dst + j * row_bytes;
    if (!need_v) {
      const uint8_t* in = hsrc + (window.y + j - hrow0) * hstride;
      std::copy(in, in + row_bytes, out);
      continue;
    }
    // Row-wise accumulation: the inner loop runs over contiguous bytes and vectorises.
    const int32_t* k = vert.weights.data() + j * vert.ksize;
    const uint8_t* in = hsrc + (vert.first[j] - hrow0) * hstride;
    acc.assign(static_cast<size_t>(row_bytes), 1 << (kPrecisionBits - 1));
    for (int t = 0; t < vert.count[j]; ++t) {
      const uint8_t* row = in + t * hstride;
      const int32_t w = k[t];
      for (int64_t b = 0; b < row_bytes; ++b) acc[b] += row[b] * w;
    }
    for (int64_t b = 0; b < row_bytes; ++b) out[b] = clip8(acc[b]);
  }
}

std::pair<int64_t, int64_t> resized_shorter_side(int64_t height, int64_t width, int64_t size) {
  const bool w_short = width <= height;
  const int64_t shorter = w_short ? width : height, longer = w_short ? height : width;
  const auto new_long = static_cast<int64_t>(static_cast<double>(size) * longer / shorter);
  return w_short ? std::make_pair(new_long, size) : std::make_pair(size, new_long);
}

Image resize_image(const Image& src, int64_t out_h, int64_t out_w) {
  Image out;
  out.height = out_h;
  out.width = out_w;
  out.pixels.resize(static_cast<size_t>(out_h * out_w * 3));
  resize_region(src, Rect{0, 0, src.height, src.width}, out_h, out_w, Rect{0, 0, out_h, out_w},
                out.pixels.data());
  return out;
}

}  // namespace aft::data
