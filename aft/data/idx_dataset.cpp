// IDX reading through zlib's gz* API, which passes uncompressed files through unchanged.
#include "aft/data/idx_dataset.h"

#include <zlib.h>

#include "aft/core/error.h"

namespace aft::data {

const char* const kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

const std::vector<std::string>& fashion_mnist_classes() {
  static const std::vector<std::string> names = {"t-shirt", "trouser", "pullover", "dress", "coat",
                                                 "sandal",  "shirt",   "sneaker",  "bag",   "ankle-boot"};
  return names;
}

namespace {

std::vector<uint8_t> read_gz(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  check(f != nullptr, "cannot open ", path);
  std::vector<uint8_t> data;
  uint8_t buffer[1 << 16];
  while (true) {
    const int n = gzread(f, buffer, sizeof(buffer));
    if (n < 0) {
      int code = 0;
      const std::string message = gzerror(f, &code);
      gzclose(f);
      fail(path, ": read error (", message, ")");
    }
    if (n == 0) break;
    data.insert(data.end(), buffer, buffer + n);
  }
  gzclose(f);
  return data;
}

uint32_t be32(const std::vector<uint8_t>& d, size_t at) {
  return (uint32_t(d[at]) << 24) | (uint32_t(d[at + 1]) << 16) | (uint32_t(d[at + 2]) << 8) |
         uint32_t(d[at + 3]);
}

}  // namespace

IdxDataset::IdxDataset(const std::string& images_path, const std::string& labels_path,
                       std::vector<std::string> classes)
    : images_path_(images_path) {
  classes_ = std::move(classes);
  std::vector<uint8_t> images = read_gz(images_path);
  check(images.size() >= 16 && be32(images, 0) == 0x803, images_path,
        ": not an IDX image file (expected magic 0x00000803)");
  const size_t n = be32(images, 4);
  rows_ = be32(images, 8);
  cols_ = be32(images, 12);
  check(images.size() == 16 + n * rows_ * cols_, images_path, ": expected ", 16 + n * rows_ * cols_,
        " bytes for ", n, " images of ", rows_, "x", cols_, ", found ", images.size());
  pixels_.assign(images.begin() + 16, images.end());
  const std::vector<uint8_t> labels = read_gz(labels_path);
  check(labels.size() >= 8 && be32(labels, 0) == 0x801, labels_path,
        ": not an IDX label file (expected magic 0x00000801)");
  check(be32(labels, 4) == n && labels.size() == 8 + n, labels_path, ": expected ", n,
        " labels to match ", images_path);
  labels_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t label = labels[8 + i];
    check(label < static_cast<int64_t>(classes_.size()), labels_path, ": label ", label,
          " out of range for ", classes_.size(), " classes");
    labels_.push_back(label);
  }
}

Image IdxDataset::image(size_t index) const {
  check(index < labels_.size(), images_path_, ": index ", index, " out of range");
  Image out;
  out.height = rows_;
  out.width = cols_;
  out.pixels.resize(static_cast<size_t>(rows_ * cols_ * 3));
  const uint8_t* g = gray(index);
  for (int64_t i = 0; i < rows_ * cols_; ++i) {
    out.pixels[i * 3] = out.pixels[i * 3 + 1] = out.pixels[i * 3 + 2] = g[i];
  }
  return out;
}

std::string IdxDataset::describe(size_t index) const {
  return images_path_ + "[" + std::to_string(index) + "]";
}

}  // namespace aft::data
