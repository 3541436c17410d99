// RandAugment and TrivialAugmentWide as torchvision defines them (op set, magnitude bins,
// how an op, its bin and its sign are drawn), with the draws made from the caller's Rng so
// that an augmentation depends only on the seed.
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "aft/data/augment_ops.h"

namespace aft::data {

struct AugmentSpec {
  std::string policy = "none";  // none|randaugment|trivialaugment
  int64_t num_ops = 2;          // RandAugment: ops applied one after another
  int64_t magnitude = 9;        // RandAugment: bin index in [0, bins)
  int64_t bins = 31;            // num_magnitude_bins
  bool enabled() const { return policy != "none"; }
};
std::vector<std::string> augment_policy_names();

// One op's row of torchvision's _augmentation_space: its magnitudes (empty: the op takes no
// magnitude, torchvision's 0-d tensor) and whether a random sign is applied.
struct OpMagnitudes {
  AugmentOp op;
  std::vector<double> magnitudes;
  bool is_signed = false;
};

class AutoAugment {
 public:
  // `height`/`width`: the size of the images it will see (RandAugment's translations scale
  // with it). Throws on an unknown policy or an out-of-range magnitude.
  AutoAugment(AugmentSpec spec, int64_t height, int64_t width);

  const std::vector<OpMagnitudes>& space() const { return space_; }
  // The ops and signed magnitudes for one image, drawn as torchvision draws them.
  std::vector<std::pair<AugmentOp, double>> sample(std::mt19937_64& rng) const;
  Image apply(const Image& image, std::mt19937_64& rng) const;
  std::string describe() const;  // e.g. "RandAugment(num_ops=2,magnitude=9,bins=31)"

 private:
  AugmentSpec spec_;
  std::vector<OpMagnitudes> space_;
};

// torchvision's RandAugment._augmentation_space / TrivialAugmentWide._augmentation_space.
std::vector<OpMagnitudes> augmentation_space(const std::string& policy, int64_t bins, int64_t height, int64_t width);

}  // namespace aft::data
