// Pixel operations on RGB uint8 images used by the transforms and the generators: PIL's
// bilinear and bicubic resampling (bit-exact, fixed point, anti-aliased when downscaling), computed only
// for the output window that a later crop keeps. Plain loops, no torch.
#pragma once
#include <cstdint>
#include <utility>

#include "aft/data/dataset.h"

namespace aft::data {

struct Rect {
  int64_t y = 0, x = 0, h = 0, w = 0;
};

// PIL's resampling filters: BILINEAR (support 1) and BICUBIC (Keys' cubic with a = -0.5,
// support 2), both anti-aliased when downscaling.
enum class Filter { bilinear, bicubic };

// Resizes the `crop` region of `src` (treated as an image of its own, like PIL's crop()) to
// out_h x out_w with PIL's `filter`, and writes only the output pixels inside
// `window` (a rect within [0,out_h) x [0,out_w)) to dst, row-major HWC, window.h*window.w*3.
// Equal to PIL's img.crop(crop).resize((out_w, out_h), filter).crop(window) exactly.
void resize_region(const Image& src, const Rect& crop, int64_t out_h, int64_t out_w,
                   const Rect& window, uint8_t* dst, Filter filter = Filter::bilinear);

// torchvision's Resize(size) output: shorter side -> size, longer side int(size*long/short).
std::pair<int64_t, int64_t> resized_shorter_side(int64_t height, int64_t width, int64_t size);

// Whole-image convenience wrapper.
Image resize_image(const Image& src, int64_t out_h, int64_t out_w);

}  // namespace aft::data
