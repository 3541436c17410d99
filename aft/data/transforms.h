// Image transforms with torchvision's semantics, composed into named presets. A transform
// maps a decoded RGB image to a normalised float CHW tensor; randomness comes only from the
// generator passed in, so results depend on the seed, never on thread scheduling.
#pragma once
#include <torch/types.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "aft/data/auto_augment.h"
#include "aft/data/dataset.h"
#include "aft/data/image_ops.h"

namespace aft::data {

using Rng = std::mt19937_64;

class Transform {
 public:
  virtual ~Transform() = default;
  virtual torch::Tensor apply(const Image& image, Rng& rng) const;  // float [3,H,W]
  // The same, written into out[3*S*S] (S = output_size()): the loader fills batches in place.
  virtual void apply_to(const Image& image, Rng& rng, float* out) const = 0;
  virtual int64_t output_size() const = 0;                          // H == W of the output
  // Shorter side the transform needs from the decoder (0: full size); see decode_image().
  virtual int64_t min_side_hint() const { return 0; }
  virtual std::string describe() const = 0;  // e.g. "RandomResizedCrop(224)+Flip+Normalize"
  // True when the output depends on the generator (augmentation): the same image can give a
  // different tensor each epoch.
  virtual bool random() const = 0;
};

using TransformPtr = std::shared_ptr<const Transform>;

// Presets (all end with ToTensor + Normalize; PIL semantics: BILINEAR (or BICUBIC) with
// PIL's anti-aliasing, bit-exact with torchvision's PIL pipeline up to float rounding):
//   imagenet224   train RandomResizedCrop(S) + flip;   test Resize(S*256/224) + CenterCrop(S). S=224
//   lite          as imagenet224 with BICUBIC and test Resize(floor(S/0.875)), mean/std 0.5: the
//                 inputs of EfficientNet-Lite's weights (timm's tf_efficientnet_lite recipe). S=224
//   decathlon72   train Resize(S*72/64) + RandomCrop(S) + flip; test Resize(S*72/64) + CenterCrop(S). S=64
//   small         train Resize(S) if needed + RandomCrop(S, padding 4) + flip; test Resize(S) + CenterCrop(S). S=32
//   small-noflip  as small without the flip (characters: a mirror changes the class)
//   none          Resize(S) + CenterCrop(S) for train and test, no augmentation. S=224
// A preset may name its normalisation: "small-noflip:inception" (imagenet | inception = mean
// and std 0.5); by default lite's is inception and every other preset's imagenet.
// `size` (> 0) overrides S. `augment` (train only) inserts RandAugment or TrivialAugmentWide
// on the S x S uint8 image after the crop/flip, before ToTensor + Normalize.
TransformPtr make_preset(const std::string& name, bool train, int64_t size = 0, const AugmentSpec& augment = {});
std::vector<std::string> preset_names();

// torchvision's RandomResizedCrop.get_params (scale 0.08-1, ratio 3/4-4/3 log-uniform, ten
// attempts, then the centre crop clamped to the ratio range), drawn from `rng`.
Rect sample_random_resized_crop(int64_t height, int64_t width, Rng& rng);

}  // namespace aft::data
