// Image transforms with torchvision's semantics, composed into named presets. A transform
// maps a decoded RGB image to a normalised float CHW tensor; randomness comes only from the
// generator passed in, so results depend on the seed, never on thread scheduling.
#pragma once
#include <torch/types.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "aft/data/dataset.h"

namespace aft::data {

using Rng = std::mt19937_64;

class Transform {
 public:
  virtual ~Transform() = default;
  virtual torch::Tensor apply(const Image& image, Rng& rng) const = 0;  // float [3,H,W]
  virtual int64_t output_size() const = 0;                              // H == W of the output
};

using TransformPtr = std::shared_ptr<const Transform>;

// Presets: "imagenet224", "decathlon72", "small" (random crop with padding + flip),
// "small-noflip" (for characters, where a mirror changes the class), "none" (resize only).
// `size` overrides the preset's output size where the preset allows (small*: default 32).
TransformPtr make_preset(const std::string& name, bool train, int64_t size = 0);
std::vector<std::string> preset_names();

}  // namespace aft::data
