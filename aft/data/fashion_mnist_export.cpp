// Fashion-MNIST -> image folder: IDX pixels resized with the PIL-exact resampler, saved as
// 8-bit grayscale PNG (the decoder replicates gray to RGB).
#include <filesystem>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/core/log.h"
#include "aft/data/generators.h"
#include "aft/data/idx_dataset.h"
#include "aft/data/folder_tools.h"
#include "aft/data/image_ops.h"
#include "aft/data/png_write.h"

namespace aft::data {
namespace stdfs = std::filesystem;

namespace {

int64_t export_split(const IdxDataset& d, const std::vector<int64_t>& classes, int64_t per_class,
                     int64_t size, const std::string& dir) {
  const auto& names = fashion_mnist_classes();
  std::vector<int64_t> taken(names.size(), 0), wanted(names.size(), 0);
  for (int64_t c : classes) {
    wanted[c] = 1;
    fs::create_directories(dir + "/" + names[c]);
  }
  int64_t written = 0;
  for (size_t i = 0; i < d.size(); ++i) {
    const int64_t c = d.label(i);
    if (!wanted[c] || (per_class > 0 && taken[c] >= per_class)) continue;
    Image gray_rgb = d.image(i);
    if (size != d.rows() || size != d.cols()) gray_rgb = resize_image(gray_rgb, size, size);
    std::vector<uint8_t> gray(static_cast<size_t>(size * size));
    for (int64_t p = 0; p < size * size; ++p) gray[p] = gray_rgb.pixels[p * 3];
    char name[32];
    std::snprintf(name, sizeof(name), "%05zu.png", i);
    write_png(dir + "/" + names[c] + "/" + name, gray.data(), size, size, 1);
    ++taken[c];
    ++written;
  }
  return written;
}

}  // namespace

GeneratedSummary export_fashion_mnist(const FashionMnistExportOptions& o) {
  check(o.size >= 8 && o.size <= 512, "--size must be in [8, 512], got ", o.size);
  check(o.per_class >= 0 && o.test_per_class >= 0, "--per-class must be >= 0");
  std::vector<int64_t> classes = o.classes;
  if (classes.empty()) for (int64_t c = 0; c < 10; ++c) classes.push_back(c);
  for (int64_t c : classes) check(c >= 0 && c < 10, "--classes: ", c, " is not a Fashion-MNIST class (0-9)");
  const std::string src = o.source_dir.empty() ? kFashionMnistDir : o.source_dir;
  auto file = [&](const std::string& stem) {
    const std::string gz = src + "/" + stem + ".gz";
    return fs::exists(gz) ? gz : src + "/" + stem;
  };
  const IdxDataset train(file("train-images-idx3-ubyte"), file("train-labels-idx1-ubyte"), fashion_mnist_classes());
  const IdxDataset test(file("t10k-images-idx3-ubyte"), file("t10k-labels-idx1-ubyte"), fashion_mnist_classes());
  DataBuild build(o.out, o.overwrite);
  const std::string& tmp = build.dir();
  GeneratedSummary summary;
  for (int64_t c : classes) summary.classes.push_back(fashion_mnist_classes()[c]);
  summary.train = export_split(train, classes, o.per_class, o.size, tmp + "/train");
  summary.test = export_split(test, classes, o.test_per_class, o.size, tmp + "/test");
  mark_data_dir(tmp, "data fashion-mnist");
  build.install();
  return summary;
}

}  // namespace aft::data
