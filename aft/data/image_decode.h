// Decodes JPEG (libjpeg-turbo) and PNG (libpng) bytes into RGB uint8 images, the way PIL's
// Image.open(...).convert("RGB") does; the format is detected from magic bytes. Errors are
// aft::Error naming the file. No torch here: decoding runs in loader worker threads.
#pragma once
#include <cstdint>
#include <string>

#include "aft/data/dataset.h"

namespace aft::data {

enum class ImageFormat { kUnknown, kJpeg, kPng };

ImageFormat sniff_format(const std::string& bytes);

// `path` is only used in error messages. When min_side_hint > 0 and the JPEG's shorter side
// is at least twice the hint, libjpeg's DCT scaling (N/8) decodes a smaller image whose
// shorter side stays >= the hint: much faster, and a good anti-aliased downscale.
Image decode_image(const std::string& bytes, const std::string& path, int64_t min_side_hint = 0);

// The largest image decode_image accepts, in pixels (height x width): a small file can claim
// a huge image (a 1 MB PNG of 20000 x 20000 decodes to 1.2 GB of RGB). Default: PIL's
// 89,478,485; process-wide, set from --max-image-pixels.
constexpr int64_t kDefaultMaxImagePixels = 89478485;
void set_max_image_pixels(int64_t pixels);
int64_t max_image_pixels();

// Reads only the header: {height, width}.
std::pair<int64_t, int64_t> read_image_size(const std::string& bytes, const std::string& path);

}  // namespace aft::data
