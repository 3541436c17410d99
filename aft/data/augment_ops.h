// The pixel operations of RandAugment and TrivialAugment on RGB uint8 images, each equal to
// what torchvision.transforms.functional does to a PIL image (the backend torchvision's
// training recipes use): nearest interpolation, fill 0, and Pillow's own integer/float
// rounding, so the results match bit for bit. Plain loops, no torch.
#pragma once
#include <string>
#include <vector>

#include "aft/data/dataset.h"

namespace aft::data {

// In the order of torchvision's _augmentation_space (the order the policies draw from).
enum class AugmentOp {
  kIdentity,
  kShearX,
  kShearY,
  kTranslateX,
  kTranslateY,
  kRotate,
  kBrightness,
  kColor,
  kContrast,
  kSharpness,
  kPosterize,
  kSolarize,
  kAutoContrast,
  kEqualize,
};

const std::vector<AugmentOp>& all_augment_ops();
std::string augment_op_name(AugmentOp op);  // torchvision's name: "ShearX", "Color", ...

// torchvision's _apply_op(img, op, magnitude, NEAREST, fill=None) on a PIL RGB image; the
// magnitude is already signed (shear: tan of the angle; translate: pixels, truncated like
// int(); rotate: degrees counter-clockwise; colour ops: factor - 1; posterize: bits;
// solarize: threshold).
Image apply_augment_op(const Image& image, AugmentOp op, double magnitude);

}  // namespace aft::data
