// MNIST-format IDX files (images: magic 0x803 [N,H,W] uint8; labels: magic 0x801 [N]), gzipped
// or plain (zlib reads both). Grayscale pixels are replicated to RGB, as PIL's convert("RGB").
#pragma once
#include <string>
#include <vector>

#include "aft/data/dataset.h"

namespace aft::data {

// Debian's dataset-fashion-mnist location and the dataset's class names.
extern const char* const kFashionMnistDir;
const std::vector<std::string>& fashion_mnist_classes();

class IdxDataset : public Dataset {
 public:
  IdxDataset(const std::string& images_path, const std::string& labels_path,
             std::vector<std::string> classes);
  size_t size() const override { return labels_.size(); }
  int64_t label(size_t index) const override { return labels_.at(index); }
  Image image(size_t index) const override;
  std::pair<int64_t, int64_t> image_size(size_t) const override { return {rows_, cols_}; }
  std::string describe(size_t index) const override;
  // The raw grayscale pixels of one image (rows*cols bytes), for exporters.
  const uint8_t* gray(size_t index) const { return pixels_.data() + index * rows_ * cols_; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }

 private:
  std::string images_path_;
  int64_t rows_ = 0, cols_ = 0;
  std::vector<uint8_t> pixels_;
  std::vector<int64_t> labels_;
};

}  // namespace aft::data
