// Mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019) on a training batch: each image is
// blended with (mixup) or has a box pasted from (cutmix) another image of the batch, and the
// loss mixes both labels with the same weight. Deterministic in (seed, epoch, step), so a
// resumed run mixes exactly as an uninterrupted one.
#pragma once
#include <torch/types.h>

#include <cstdint>

namespace aft::train {

struct MixOptions {
  double mixup_alpha = 0;   // Beta(alpha, alpha) for the blend weight; 0 = off
  double cutmix_alpha = 0;  // Beta(alpha, alpha) for the box's area; 0 = off
  bool enabled() const { return mixup_alpha > 0 || cutmix_alpha > 0; }
};

struct MixedBatch {
  torch::Tensor images;    // the mixed batch
  torch::Tensor partner;   // [N] index of the image each one was mixed with
  double lam = 1;          // weight of an image's own label (cutmix: 1 - the box's area fraction)
  bool cutmix = false;
  int64_t y0 = 0, y1 = 0, x0 = 0, x1 = 0;  // cutmix: the box [y0, y1) x [x0, x1)
};

// With both on, each batch takes one of the two with equal chance (as timm does).
MixedBatch mix_batch(const torch::Tensor& images, const MixOptions& options, uint64_t seed, int64_t epoch, int64_t step);

}  // namespace aft::train
