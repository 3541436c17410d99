// A dataset backed by a list of image files with labels: the common core of the image-folder
// and Visual Decathlon readers. Files are read and decoded on each access (thread-safe: no
// shared mutable state); wrap it in CachedDataset to keep decoded images in memory.
#pragma once
#include <string>
#include <vector>

#include "aft/data/dataset.h"

namespace aft::data {

class FileDataset : public Dataset {
 public:
  FileDataset(std::vector<std::string> classes, std::vector<std::string> files,
              std::vector<int64_t> labels);
  size_t size() const override { return files_.size(); }
  int64_t label(size_t index) const override { return labels_.at(index); }
  Image image(size_t index) const override { return image_at_least(index, 0); }
  Image image_at_least(size_t index, int64_t min_side) const override;
  std::pair<int64_t, int64_t> image_size(size_t index) const override;
  std::string describe(size_t index) const override { return files_.at(index); }

 private:
  std::vector<std::string> files_;
  std::vector<int64_t> labels_;
};

}  // namespace aft::data
