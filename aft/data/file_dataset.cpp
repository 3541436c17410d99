// File-list dataset: whole-file read, then decode by magic bytes.
#include "aft/data/file_dataset.h"

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/data/image_decode.h"

namespace aft::data {

FileDataset::FileDataset(std::vector<std::string> classes, std::vector<std::string> files,
                         std::vector<int64_t> labels)
    : files_(std::move(files)), labels_(std::move(labels)) {
  classes_ = std::move(classes);
  check(files_.size() == labels_.size(), "FileDataset: ", files_.size(), " files but ",
        labels_.size(), " labels");
}

Image FileDataset::image_at_least(size_t index, int64_t min_side) const {
  const std::string& path = files_.at(index);
  return decode_image(fs::read_file(path), path, min_side);
}

std::pair<int64_t, int64_t> FileDataset::image_size(size_t index) const {
  const std::string& path = files_.at(index);
  return read_image_size(fs::read_file(path), path);
}

}  // namespace aft::data
