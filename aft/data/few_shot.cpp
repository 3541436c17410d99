// Shared writer of the few-shot targets: pool split, seeded training choice, PNG output.
#include "aft/data/few_shot.h"

#include <algorithm>
#include <cstdio>

#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/data/folder_tools.h"
#include "aft/data/image_ops.h"
#include "aft/data/png_write.h"
#include "aft/data/random.h"

namespace aft::data {

std::vector<uint8_t> resize_gray(const GrayImage& image, int64_t size) {
  if (image.height == size && image.width == size) return image.pixels;
  // The resampler works on RGB; gray in, gray out (all three channels stay equal).
  Image rgb;
  rgb.height = image.height;
  rgb.width = image.width;
  rgb.pixels.resize(image.pixels.size() * 3);
  for (size_t i = 0; i < image.pixels.size(); ++i) {
    rgb.pixels[3 * i] = rgb.pixels[3 * i + 1] = rgb.pixels[3 * i + 2] = image.pixels[i];
  }
  const Image out = resize_image(rgb, size, size);
  std::vector<uint8_t> gray(static_cast<size_t>(size * size));
  for (size_t i = 0; i < gray.size(); ++i) gray[i] = out.pixels[3 * i];
  return gray;
}

GeneratedSummary write_few_shot(const std::vector<SourceClass>& classes, double train_pool_fraction,
                                const FewShotOptions& o, const std::string& command) {
  check(o.size >= 8 && o.size <= 512, "--size must be in [8, 512], got ", o.size);
  check(o.per_class >= 0, "--per-class must be >= 0, got ", o.per_class);
  check(o.test_per_class >= 0, "--test-per-class must be >= 0, got ", o.test_per_class);
  check(classes.size() >= 2, command, ": the source has ", classes.size(), " classes, need at least 2");
  // Check every class before writing anything, so a too-large --per-class fails with no output.
  std::vector<size_t> pools;
  for (const auto& c : classes) {
    const auto pool = static_cast<size_t>(static_cast<double>(c.images.size()) * train_pool_fraction);
    check(pool >= 1 && pool < c.images.size(), command, ": class ", c.name, " has too few images (",
          c.images.size(), ") for a train/test split");
    check(o.per_class <= static_cast<int64_t>(pool), "--per-class ", o.per_class, " is more than the ", pool,
          " images of class ", c.name, "'s train pool (the first ", train_pool_fraction * 100,
          "% of each class)");
    pools.push_back(pool);
  }
  DataBuild build(o.out, o.overwrite);
  const std::string& tmp = build.dir();
  GeneratedSummary summary;
  auto write = [&](const std::string& split, const SourceClass& c, size_t index) {
    char name[32];
    std::snprintf(name, sizeof(name), "%05zu.png", index);
    const auto pixels = resize_gray(c.images[index], o.size);
    write_png(tmp + "/" + split + "/" + c.name + "/" + name, pixels.data(), o.size, o.size, 1);
    ++(split == "train" ? summary.train : summary.test);
  };
  for (size_t ci = 0; ci < classes.size(); ++ci) {
    const SourceClass& c = classes[ci];
    summary.classes.push_back(c.name);
    fs::create_directories(tmp + "/train/" + c.name);
    fs::create_directories(tmp + "/test/" + c.name);
    std::vector<size_t> pool(pools[ci]);
    for (size_t i = 0; i < pool.size(); ++i) pool[i] = i;
    // One stream per class: a class's choice does not change when other classes are added.
    std::mt19937_64 rng(mix_seed(o.seed, 0x5E7ull, ci));
    shuffle(pool, rng);
    if (o.per_class > 0) pool.resize(static_cast<size_t>(o.per_class));
    std::sort(pool.begin(), pool.end());
    for (size_t i : pool) write("train", c, i);
    size_t end = c.images.size();
    if (o.test_per_class > 0) end = std::min(end, pools[ci] + static_cast<size_t>(o.test_per_class));
    for (size_t i = pools[ci]; i < end; ++i) write("test", c, i);
  }
  mark_data_dir(tmp, command);
  build.install();
  return summary;
}

}  // namespace aft::data
