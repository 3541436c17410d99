// digits.png -> SourceClass lists.
#include "aft/data/opencv_digits.h"

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/data/image_decode.h"

namespace aft::data {

std::vector<SourceClass> read_opencv_digits(const std::string& path) {
  check(fs::exists(path), path, " not found: install Debian's opencv-doc (apt-get install opencv-doc) or pass --source");
  const Image sheet = decode_image(fs::read_file(path), path);
  constexpr int64_t s = kOpencvDigitSide;
  check(sheet.height % s == 0 && sheet.width % s == 0, path, ": ", sheet.width, "x", sheet.height,
        " is not a sheet of 20x20 cells");
  const int64_t rows = sheet.height / s, cols = sheet.width / s;
  check(rows * cols % 10 == 0 && rows * cols >= 20, path, ": ", rows * cols, " cells do not split into 10 classes");
  const int64_t per_class = rows * cols / 10;
  std::vector<SourceClass> classes(10);
  for (int64_t c = 0; c < 10; ++c) classes[c].name = std::to_string(c);
  for (int64_t cell = 0; cell < rows * cols; ++cell) {
    const int64_t y0 = (cell / cols) * s, x0 = (cell % cols) * s;
    GrayImage digit{s, s, std::vector<uint8_t>(static_cast<size_t>(s * s))};
    // The sheet is grayscale; the decoder replicated it to RGB, so channel 0 is the value.
    for (int64_t y = 0; y < s; ++y) {
      for (int64_t x = 0; x < s; ++x) digit.pixels[y * s + x] = sheet.pixels[((y0 + y) * sheet.width + x0 + x) * 3];
    }
    classes[cell / per_class].images.push_back(std::move(digit));
  }
  return classes;
}

}  // namespace aft::data
