#include "aft/train/mix.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <random>

namespace aft::train {

namespace {

double beta(std::mt19937_64& rng, double alpha) {
  std::gamma_distribution<double> gamma(alpha, 1.0);
  const double a = gamma(rng), b = gamma(rng);
  return a + b > 0 ? a / (a + b) : 0.5;
}

}  // namespace

MixedBatch mix_batch(const torch::Tensor& images, const MixOptions& options, uint64_t seed, int64_t epoch, int64_t step) {
  // One stream per (seed, epoch, step): independent of how many batches came before a resume.
  std::seed_seq sequence{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(epoch),
                         static_cast<uint32_t>(step), 0x9E3779B9u};
  std::mt19937_64 rng(sequence);
  MixedBatch out;
  const int64_t n = images.size(0);
  auto generator = at::detail::createCPUGenerator(rng());
  out.partner = torch::randperm(n, generator, torch::kInt64).to(images.device());
  const bool use_cutmix = options.cutmix_alpha > 0 &&
                          (options.mixup_alpha <= 0 || std::uniform_real_distribution<double>(0, 1)(rng) < 0.5);
  const auto others = images.index_select(0, out.partner);
  if (!use_cutmix) {
    out.lam = beta(rng, options.mixup_alpha);
    out.images = images * out.lam + others * (1 - out.lam);
    return out;
  }
  // CutMix: a box of area (1 - lam) of the image, centred uniformly, clipped to the image.
  const double lam = beta(rng, options.cutmix_alpha);
  const int64_t h = images.size(2), w = images.size(3);
  const double cut = std::sqrt(1 - lam);
  const int64_t ch = static_cast<int64_t>(h * cut), cw = static_cast<int64_t>(w * cut);
  const int64_t cy = std::uniform_int_distribution<int64_t>(0, h - 1)(rng);
  const int64_t cx = std::uniform_int_distribution<int64_t>(0, w - 1)(rng);
  out.cutmix = true;
  out.y0 = std::clamp<int64_t>(cy - ch / 2, 0, h);
  out.y1 = std::clamp<int64_t>(cy + ch / 2, 0, h);
  out.x0 = std::clamp<int64_t>(cx - cw / 2, 0, w);
  out.x1 = std::clamp<int64_t>(cx + cw / 2, 0, w);
  out.images = images.clone();
  using torch::indexing::Slice;
  out.images.index_put_({Slice(), Slice(), Slice(out.y0, out.y1), Slice(out.x0, out.x1)},
                        others.index({Slice(), Slice(), Slice(out.y0, out.y1), Slice(out.x0, out.x1)}));
  // The label weight is the share of the image that is its own, after clipping.
  out.lam = 1.0 - static_cast<double>((out.y1 - out.y0) * (out.x1 - out.x0)) / static_cast<double>(h * w);
  return out;
}

}  // namespace aft::train
