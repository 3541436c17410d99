// Datasets are indexable lists of (image, label) with class names. Images decode to RGB
// uint8 (HWC); implementations must be safe to call from several loader threads at once.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace aft::data {

struct Image {
  int64_t height = 0;
  int64_t width = 0;
  std::vector<uint8_t> pixels;  // RGB, row-major HWC, size height*width*3
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual size_t size() const = 0;
  virtual int64_t label(size_t index) const = 0;
  virtual Image image(size_t index) const = 0;          // throws aft::Error naming the file
  virtual std::string describe(size_t index) const = 0; // e.g. the file path, for errors
  // A possibly smaller decode whose shorter side is still >= min_side (JPEG DCT scaling);
  // transforms that resize down anyway ask for this. Default: the full image.
  virtual Image image_at_least(size_t index, int64_t min_side) const {
    (void)min_side;
    return image(index);
  }
  // {height, width} without decoding pixels where the format allows. Default: decodes.
  virtual std::pair<int64_t, int64_t> image_size(size_t index) const {
    const Image decoded = image(index);
    return {decoded.height, decoded.width};
  }
  const std::vector<std::string>& classes() const { return classes_; }

 protected:
  std::vector<std::string> classes_;
};

using DatasetPtr = std::shared_ptr<Dataset>;

}  // namespace aft::data
