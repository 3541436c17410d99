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

// Reads only the header: {height, width}.
std::pair<int64_t, int64_t> read_image_size(const std::string& bytes, const std::string& path);

}  // namespace aft::data
