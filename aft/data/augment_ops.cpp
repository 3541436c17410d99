// Each op reproduces the chain torchvision -> Pillow takes for it (functional_pil, ImageOps,
// ImageEnhance, libImaging's Geometry/Filter/Blend), including the order of floating-point
// operations, since a pixel that lands exactly on a rounding boundary is decided by it.
#include "aft/data/augment_ops.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "aft/core/error.h"

namespace aft::data {
namespace {

constexpr double kPi = 3.14159265358979323846;
// CPython's math.radians / math.degrees multiply by these constants.
constexpr double kDegToRad = kPi / 180.0;
constexpr double kRadToDeg = 180.0 / kPi;

Image blank_like(const Image& in) {
  Image out;
  out.height = in.height;
  out.width = in.width;
  out.pixels.assign(in.pixels.size(), 0);
  return out;
}

// Python's float `%`: the result takes the sign of the divisor.
double python_mod(double x, double m) {
  double r = std::fmod(x, m);
  if (r != 0.0) {
    if ((m < 0) != (r < 0)) r += m;
  } else {
    r = std::copysign(0.0, m);
  }
  return r;
}

// Python's round(x, 15): correctly rounded to 15 decimals (printf rounds the exact binary
// value, as CPython's dtoa does).
double python_round15(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15f", x);
  return std::strtod(buf, nullptr);
}

// Pillow's ImagingTransformAffine with NEAREST: `a` maps output pixel centres to input
// coordinates; outside pixels keep the fill (0). Pillow picks one of three loops (scale-only,
// 16.16 fixed point, double) and they round differently, so the same choice is made here.
Image affine_nearest(const Image& in, const std::array<double, 6>& a) {
  Image out = blank_like(in);
  const int w = static_cast<int>(in.width), h = static_cast<int>(in.height);
  auto copy_pixel = [&](int oy, int ox, int iy, int ix) {
    const uint8_t* s = in.pixels.data() + (static_cast<int64_t>(iy) * w + ix) * 3;
    uint8_t* d = out.pixels.data() + (static_cast<int64_t>(oy) * w + ox) * 3;
    d[0] = s[0];
    d[1] = s[1];
    d[2] = s[2];
  };
  auto coord = [](double v) { return v < 0.0 ? -1 : static_cast<int>(v); };
  if (a[1] == 0 && a[3] == 0) {  // ImagingScaleAffine (translations land here)
    std::vector<int> xintab(static_cast<size_t>(w), 0);
    double xo = a[2] + a[0] * 0.5, yo = a[5] + a[4] * 0.5;
    int xmin = w, xmax = 0;
    for (int x = 0; x < w; ++x) {
      const int xin = coord(xo);
      if (xin >= 0 && xin < w) {
        xmax = x + 1;
        if (x < xmin) xmin = x;
        xintab[x] = xin;
      }
      xo += a[0];
    }
    for (int y = 0; y < h; ++y) {
      const int yi = coord(yo);
      if (yi >= 0 && yi < h) {
        for (int x = xmin; x < xmax; ++x) copy_pixel(y, x, yi, xintab[x]);
      }
      yo += a[4];
    }
    return out;
  }
  auto fits_fixed = [&](int x, int y) {
    return std::fabs(x * a[0] + y * a[1] + a[2]) < 32768.0 && std::fabs(x * a[3] + y * a[4] + a[5]) < 32768.0;
  };
  if (fits_fixed(0, 0) && fits_fixed(w, h) && fits_fixed(0, h) && fits_fixed(w, 0)) {
    auto fix = [](double v) {
      const double s = v * 65536.0 + 0.5;
      return s < 0.0 ? static_cast<int32_t>(std::floor(s)) : static_cast<int32_t>(s);
    };
    const int32_t a0 = fix(a[0]), a1 = fix(a[1]), a3 = fix(a[3]), a4 = fix(a[4]);
    int32_t a2 = fix(a[2] + a[0] * 0.5 + a[1] * 0.5), a5 = fix(a[5] + a[3] * 0.5 + a[4] * 0.5);
    for (int y = 0; y < h; ++y) {
      int32_t xx = a2, yy = a5;
      for (int x = 0; x < w; ++x) {
        const int xin = xx >> 16;  // arithmetic shift: floor, as in Pillow
        if (xin >= 0 && xin < w) {
          const int yin = yy >> 16;
          if (yin >= 0 && yin < h) copy_pixel(y, x, yin, xin);
        }
        xx += a0;
        yy += a3;
      }
      a2 += a1;
      a5 += a4;
    }
    return out;
  }
  double xo = a[2] + a[1] * 0.5 + a[0] * 0.5, yo = a[5] + a[4] * 0.5 + a[3] * 0.5;
  for (int y = 0; y < h; ++y) {
    double xx = xo, yy = yo;
    for (int x = 0; x < w; ++x) {
      const int xin = coord(xx);
      if (xin >= 0 && xin < w) {
        const int yin = coord(yy);
        if (yin >= 0 && yin < h) copy_pixel(y, x, yin, xin);
      }
      xx += a[0];
      yy += a[3];
    }
    xo += a[1];
    yo += a[4];
  }
  return out;
}

// torchvision's _get_inverse_affine_matrix (inverted=True, scale 1), same operation order.
std::array<double, 6> inverse_affine(double cx, double cy, double angle, double tx, double ty, double shear_x,
                                     double shear_y) {
  const double rot = angle * kDegToRad, sx = shear_x * kDegToRad, sy = shear_y * kDegToRad;
  const double a = std::cos(rot - sy) / std::cos(sy);
  const double b = -std::cos(rot - sy) * std::tan(sx) / std::cos(sy) - std::sin(rot);
  const double c = std::sin(rot - sy) / std::cos(sy);
  const double d = -std::sin(rot - sy) * std::tan(sx) / std::cos(sy) + std::cos(rot);
  std::array<double, 6> m{d / 1.0, -b / 1.0, 0.0, -c / 1.0, a / 1.0, 0.0};
  m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty);
  m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty);
  m[2] += cx;
  m[5] += cy;
  return m;
}

// Pillow's Image.rotate(angle, NEAREST, expand=False, fillcolor=0): exact quarter turns are
// transposes, anything else an affine map with the matrix entries rounded to 15 decimals.
Image rotate(const Image& in, double degrees) {
  const double angle = python_mod(degrees, 360.0);
  const int64_t w = in.width, h = in.height;
  const bool quarter = (angle == 90.0 || angle == 270.0) && w == h;
  if (angle == 0.0) return in;
  if (angle == 180.0 || quarter) {
    Image out = blank_like(in);
    for (int64_t y = 0; y < h; ++y) {
      for (int64_t x = 0; x < w; ++x) {
        int64_t sy = h - 1 - y, sx = w - 1 - x;        // 180
        if (angle == 90.0) sy = x, sx = w - 1 - y;      // counter-clockwise (square only)
        if (angle == 270.0) sy = h - 1 - x, sx = y;
        for (int c = 0; c < 3; ++c) out.pixels[(y * w + x) * 3 + c] = in.pixels[(sy * w + sx) * 3 + c];
      }
    }
    return out;
  }
  const double r = -(angle * kDegToRad);
  std::array<double, 6> m{python_round15(std::cos(r)), python_round15(std::sin(r)), 0.0,
                          python_round15(-std::sin(r)), python_round15(std::cos(r)), 0.0};
  const double cx = static_cast<double>(w) / 2.0, cy = static_cast<double>(h) / 2.0;
  const double x = -cx - 0, y = -cy - 0;
  const double t2 = m[0] * x + m[1] * y + m[2], t5 = m[3] * x + m[4] * y + m[5];
  m[2] = t2 + cx;
  m[5] = t5 + cy;
  return affine_nearest(in, m);
}

// Pillow's Image.blend(degenerate, image, factor) (ImagingBlend: float alpha, truncation,
// clipping only when extrapolating).
Image blend(const Image& degenerate, const Image& image, double factor) {
  const float alpha = static_cast<float>(factor);
  Image out = blank_like(image);
  if (alpha == 0.0f) return degenerate;
  if (alpha == 1.0f) return image;
  const bool inside = alpha >= 0 && alpha <= 1.0;
  for (size_t i = 0; i < out.pixels.size(); ++i) {
    const int a = degenerate.pixels[i], b = image.pixels[i];
    const float v = static_cast<float>(a) + alpha * static_cast<float>(b - a);
    if (inside) {
      out.pixels[i] = static_cast<uint8_t>(v);
    } else {
      out.pixels[i] = v <= 0.0f ? 0 : v >= 255.0f ? 255 : static_cast<uint8_t>(v);
    }
  }
  return out;
}

// Pillow's RGB -> L (ITU-R 601-2 luma, 16-bit fixed point, rounded).
std::vector<uint8_t> luma(const Image& in) {
  std::vector<uint8_t> l(static_cast<size_t>(in.height * in.width));
  for (size_t i = 0; i < l.size(); ++i) {
    const uint8_t* p = in.pixels.data() + i * 3;
    l[i] = static_cast<uint8_t>((p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16);
  }
  return l;
}

// Pillow's ImageFilter.SMOOTH (3x3 kernel 1 1 1 / 1 5 1 / 1 1 1, divided by 13 in float;
// the border rows and columns are copied unchanged).
Image smooth(const Image& in) {
  Image out = in;
  const int64_t w = in.width, h = in.height;
  if (w < 3 || h < 3) return out;
  const float k1 = 1.0f / 13.0f, k5 = 5.0f / 13.0f;
  const float kernel[9] = {k1, k1, k1, k1, k5, k1, k1, k1, k1};
  auto px = [&](int64_t y, int64_t x, int c) { return static_cast<float>(in.pixels[(y * w + x) * 3 + c]); };
  for (int64_t y = 1; y < h - 1; ++y) {
    for (int64_t x = 1; x < w - 1; ++x) {
      for (int c = 0; c < 3; ++c) {
        float ss = 0.0f + 0.5f;
        // Rows y+1, y, y-1 against kernel rows 0, 1, 2, as Pillow sums them.
        for (int r = 0; r < 3; ++r) {
          const int64_t yy = y + 1 - r;
          const float* k = kernel + 3 * r;
          ss += px(yy, x - 1, c) * k[0] + px(yy, x, c) * k[1] + px(yy, x + 1, c) * k[2];
        }
        out.pixels[(y * w + x) * 3 + c] = ss <= 0.0f ? 0 : ss >= 255.0f ? 255 : static_cast<uint8_t>(ss);
      }
    }
  }
  return out;
}

Image apply_lut(const Image& in, const std::array<std::array<uint8_t, 256>, 3>& lut) {
  Image out = blank_like(in);
  for (size_t i = 0; i < out.pixels.size(); ++i) out.pixels[i] = lut[i % 3][in.pixels[i]];
  return out;
}

std::array<std::array<int64_t, 256>, 3> histograms(const Image& in) {
  std::array<std::array<int64_t, 256>, 3> h{};
  for (size_t i = 0; i < in.pixels.size(); ++i) ++h[i % 3][in.pixels[i]];
  return h;
}

// ImageOps.autocontrast(cutoff=0): each band stretched so its darkest value maps to 0 and its
// lightest to 255.
Image autocontrast(const Image& in) {
  const auto hist = histograms(in);
  std::array<std::array<uint8_t, 256>, 3> lut{};
  for (int c = 0; c < 3; ++c) {
    int lo = 0, hi = 255;
    while (lo < 255 && hist[c][lo] == 0) ++lo;
    while (hi > 0 && hist[c][hi] == 0) --hi;
    for (int i = 0; i < 256; ++i) {
      if (hi <= lo) {
        lut[c][i] = static_cast<uint8_t>(i);
        continue;
      }
      const double scale = 255.0 / (hi - lo), offset = -lo * scale;
      const auto v = static_cast<int64_t>(i * scale + offset);
      lut[c][i] = static_cast<uint8_t>(std::clamp<int64_t>(v, 0, 255));
    }
  }
  return apply_lut(in, lut);
}

// ImageOps.equalize: per band, a lookup table from the cumulative histogram.
Image equalize(const Image& in) {
  const auto hist = histograms(in);
  std::array<std::array<uint8_t, 256>, 3> lut{};
  for (int c = 0; c < 3; ++c) {
    int64_t total = 0, last = 0, nonzero = 0;
    for (int i = 0; i < 256; ++i) {
      if (hist[c][i] == 0) continue;
      total += hist[c][i];
      last = hist[c][i];
      ++nonzero;
    }
    const int64_t step = nonzero <= 1 ? 0 : (total - last) / 255;
    int64_t n = step / 2;
    for (int i = 0; i < 256; ++i) {
      if (step == 0) {
        lut[c][i] = static_cast<uint8_t>(i);
        continue;
      }
      lut[c][i] = static_cast<uint8_t>(std::min<int64_t>(n / step, 255));
      n += hist[c][i];
    }
  }
  return apply_lut(in, lut);
}

Image per_value(const Image& in, uint8_t (*fn)(int, double), double arg) {
  std::array<std::array<uint8_t, 256>, 3> lut{};
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 256; ++i) lut[c][i] = fn(i, arg);
  return apply_lut(in, lut);
}

}  // namespace

const std::vector<AugmentOp>& all_augment_ops() {
  static const std::vector<AugmentOp> ops = {
      AugmentOp::kIdentity,   AugmentOp::kShearX,     AugmentOp::kShearY,   AugmentOp::kTranslateX,
      AugmentOp::kTranslateY, AugmentOp::kRotate,     AugmentOp::kBrightness, AugmentOp::kColor,
      AugmentOp::kContrast,   AugmentOp::kSharpness,  AugmentOp::kPosterize, AugmentOp::kSolarize,
      AugmentOp::kAutoContrast, AugmentOp::kEqualize};
  return ops;
}

std::string augment_op_name(AugmentOp op) {
  switch (op) {
    case AugmentOp::kIdentity: return "Identity";
    case AugmentOp::kShearX: return "ShearX";
    case AugmentOp::kShearY: return "ShearY";
    case AugmentOp::kTranslateX: return "TranslateX";
    case AugmentOp::kTranslateY: return "TranslateY";
    case AugmentOp::kRotate: return "Rotate";
    case AugmentOp::kBrightness: return "Brightness";
    case AugmentOp::kColor: return "Color";
    case AugmentOp::kContrast: return "Contrast";
    case AugmentOp::kSharpness: return "Sharpness";
    case AugmentOp::kPosterize: return "Posterize";
    case AugmentOp::kSolarize: return "Solarize";
    case AugmentOp::kAutoContrast: return "AutoContrast";
    case AugmentOp::kEqualize: return "Equalize";
  }
  fail("augment op ", static_cast<int>(op), " has no name");
}

Image apply_augment_op(const Image& image, AugmentOp op, double magnitude) {
  check(image.height > 0 && image.width > 0 &&
            image.pixels.size() == static_cast<size_t>(image.height * image.width * 3),
        "augment ", augment_op_name(op), ": expected an RGB image, got ", image.height, "x", image.width, " with ",
        image.pixels.size(), " bytes");
  const double w = static_cast<double>(image.width), h = static_cast<double>(image.height);
  switch (op) {
    case AugmentOp::kIdentity:
      return image;
    case AugmentOp::kShearX:  // shear angle atan(m) about the top-left corner
      return affine_nearest(image, inverse_affine(0, 0, 0.0, 0, 0, std::atan(magnitude) * kRadToDeg, 0.0));
    case AugmentOp::kShearY:
      return affine_nearest(image, inverse_affine(0, 0, 0.0, 0, 0, 0.0, std::atan(magnitude) * kRadToDeg));
    case AugmentOp::kTranslateX:  // torchvision passes int(magnitude): truncation
      return affine_nearest(image, inverse_affine(w * 0.5, h * 0.5, 0.0, std::trunc(magnitude), 0, 0.0, 0.0));
    case AugmentOp::kTranslateY:
      return affine_nearest(image, inverse_affine(w * 0.5, h * 0.5, 0.0, 0, std::trunc(magnitude), 0.0, 0.0));
    case AugmentOp::kRotate:
      return rotate(image, magnitude);
    case AugmentOp::kBrightness:
      return blend(blank_like(image), image, 1.0 + magnitude);
    case AugmentOp::kColor: {
      const auto l = luma(image);
      Image grey = blank_like(image);
      for (size_t i = 0; i < grey.pixels.size(); ++i) grey.pixels[i] = l[i / 3];
      return blend(grey, image, 1.0 + magnitude);
    }
    case AugmentOp::kContrast: {
      // ImageEnhance.Contrast: a flat image at the rounded mean luma.
      const auto l = luma(image);
      std::array<int64_t, 256> hist{};
      for (uint8_t v : l) ++hist[v];
      double sum = 0.0;
      for (int j = 0; j < 256; ++j) sum += j * static_cast<double>(hist[j]);
      const auto mean = static_cast<int64_t>(sum / static_cast<double>(l.size()) + 0.5);
      Image flat = blank_like(image);
      std::fill(flat.pixels.begin(), flat.pixels.end(), static_cast<uint8_t>(mean));
      return blend(flat, image, 1.0 + magnitude);
    }
    case AugmentOp::kSharpness:
      return blend(smooth(image), image, 1.0 + magnitude);
    case AugmentOp::kPosterize: {
      const auto bits = static_cast<int>(magnitude);
      check(bits >= 0 && bits <= 8, "Posterize: bits must be in [0, 8], got ", magnitude);
      return per_value(image, [](int i, double b) {
        const int mask = ~((1 << (8 - static_cast<int>(b))) - 1);
        return static_cast<uint8_t>(i & mask);
      }, bits);
    }
    case AugmentOp::kSolarize:
      return per_value(image, [](int i, double t) { return static_cast<uint8_t>(i < t ? i : 255 - i); }, magnitude);
    case AugmentOp::kAutoContrast:
      return autocontrast(image);
    case AugmentOp::kEqualize:
      return equalize(image);
  }
  fail("augment op ", static_cast<int>(op), " is not implemented");
}

}  // namespace aft::data
