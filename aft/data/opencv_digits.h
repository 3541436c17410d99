// Reader of opencv-doc's digits.png: a sheet of 20x20 handwritten digits (5,000 in a
// 2000x1000 sheet), read row by row; the first tenth of the cells are 0s, the next 1s, ...
// (OpenCV's own samples/python/digits.py labels them the same way).
#pragma once
#include <string>
#include <vector>

#include "aft/data/few_shot.h"

namespace aft::data {

constexpr const char* kOpencvDigitsPath = "/usr/share/doc/opencv-doc/examples/data/digits.png";
constexpr int64_t kOpencvDigitSide = 20;

// Classes "0".."9", each with its cells in reading order. Any sheet whose sides are multiples
// of 20 and whose cell count divides by 10 is accepted (tests use a small one).
std::vector<SourceClass> read_opencv_digits(const std::string& png_path);

}  // namespace aft::data
