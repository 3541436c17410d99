// lfw_subset.npy -> SourceClass lists.
#include "aft/data/lfw_subset.h"

#include <algorithm>
#include <cmath>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/data/npy.h"

namespace aft::data {

std::vector<SourceClass> read_lfw_subset(const std::string& path) {
  check(fs::exists(path), path, " not found: install Debian's python3-skimage (apt-get install python3-skimage) or pass --source");
  const NpyArray a = read_npy(path);
  check(a.shape.size() == 3 && a.shape[0] % 2 == 0 && a.shape[0] >= 4, path, ": expected an array of N x H x W images",
        " with N even (faces, then as many non-faces)");
  const int64_t n = a.shape[0], h = a.shape[1], w = a.shape[2];
  std::vector<SourceClass> classes(2);
  classes[0].name = "face";
  classes[1].name = "nonface";
  for (int64_t i = 0; i < n; ++i) {
    GrayImage image{h, w, std::vector<uint8_t>(static_cast<size_t>(h * w))};
    for (int64_t p = 0; p < h * w; ++p) {
      const double v = a.values[static_cast<size_t>(i * h * w + p)];
      check(v >= 0 && v <= 1, path, ": pixel value ", v, " outside [0, 1] in image ", i);
      image.pixels[p] = static_cast<uint8_t>(std::lround(v * 255));
    }
    classes[i < n / 2 ? 0 : 1].images.push_back(std::move(image));
  }
  return classes;
}

}  // namespace aft::data
