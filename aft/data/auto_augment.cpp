// The magnitude bins are made with torch's own linspace/arange/round in float32, as
// torchvision makes them, so every bin is the same float (a bin value that sits on an
// integer boundary, e.g. a translation, truncates the same way).
#include "aft/data/auto_augment.h"

#include <torch/torch.h>

#include "aft/core/error.h"
#include "aft/data/random.h"

namespace aft::data {
namespace {

std::vector<double> to_doubles(const torch::Tensor& t) {
  const torch::Tensor d = t.to(torch::kFloat64).contiguous();
  return std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
}

std::vector<double> linspace(double start, double end, int64_t bins) {
  return to_doubles(torch::linspace(start, end, bins, torch::kFloat32));
}

// 8 - round(arange(bins) / ((bins - 1) / levels)): bits kept, from 8 down to 8 - levels.
std::vector<double> posterize_bits(int64_t bins, double levels) {
  const torch::Tensor steps = torch::arange(bins, torch::kInt64).to(torch::kFloat32) /
                              (static_cast<double>(bins - 1) / levels);
  return to_doubles(8 - steps.round().to(torch::kInt32));
}

}  // namespace

std::vector<std::string> augment_policy_names() { return {"none", "randaugment", "trivialaugment"}; }

std::vector<OpMagnitudes> augmentation_space(const std::string& policy, int64_t bins, int64_t height, int64_t width) {
  check(bins >= 2, "augmentation: magnitude bins must be >= 2, got ", bins);
  const bool ra = policy == "randaugment";
  check(ra || policy == "trivialaugment", "augmentation policy '", policy, "' has no op space");
  // RandAugment: the ranges of the paper's ImageNet setting; TrivialAugmentWide: its wider ones.
  const double shear = ra ? 0.3 : 0.99, rotate = ra ? 30.0 : 135.0, enhance = ra ? 0.9 : 0.99;
  const auto tx = ra ? linspace(0.0, 150.0 / 331.0 * static_cast<double>(width), bins) : linspace(0.0, 32.0, bins);
  const auto ty = ra ? linspace(0.0, 150.0 / 331.0 * static_cast<double>(height), bins) : linspace(0.0, 32.0, bins);
  return {
      {AugmentOp::kIdentity, {}, false},
      {AugmentOp::kShearX, linspace(0.0, shear, bins), true},
      {AugmentOp::kShearY, linspace(0.0, shear, bins), true},
      {AugmentOp::kTranslateX, tx, true},
      {AugmentOp::kTranslateY, ty, true},
      {AugmentOp::kRotate, linspace(0.0, rotate, bins), true},
      {AugmentOp::kBrightness, linspace(0.0, enhance, bins), true},
      {AugmentOp::kColor, linspace(0.0, enhance, bins), true},
      {AugmentOp::kContrast, linspace(0.0, enhance, bins), true},
      {AugmentOp::kSharpness, linspace(0.0, enhance, bins), true},
      {AugmentOp::kPosterize, posterize_bits(bins, ra ? 4.0 : 6.0), false},
      {AugmentOp::kSolarize, linspace(255.0, 0.0, bins), false},
      {AugmentOp::kAutoContrast, {}, false},
      {AugmentOp::kEqualize, {}, false},
  };
}

AutoAugment::AutoAugment(AugmentSpec spec, int64_t height, int64_t width) : spec_(std::move(spec)) {
  std::string valid;
  for (const auto& n : augment_policy_names()) valid += (valid.empty() ? "" : "|") + n;
  check(spec_.policy == "randaugment" || spec_.policy == "trivialaugment", "--augment ", spec_.policy,
        ": expected one of ", valid);
  check(spec_.bins >= 2, "augmentation: magnitude bins must be >= 2, got ", spec_.bins);
  if (spec_.policy == "randaugment") {
    check(spec_.num_ops >= 1, "--ra-ops ", spec_.num_ops, ": must be >= 1");
    check(spec_.magnitude >= 0 && spec_.magnitude < spec_.bins, "--ra-magnitude ", spec_.magnitude,
          ": must be in [0, ", spec_.bins - 1, "]");
  }
  space_ = augmentation_space(spec_.policy, spec_.bins, height, width);
}

std::vector<std::pair<AugmentOp, double>> AutoAugment::sample(std::mt19937_64& rng) const {
  // torchvision's draw order: op, then (TrivialAugment) the bin, then the sign if signed.
  std::vector<std::pair<AugmentOp, double>> out;
  const bool ra = spec_.policy == "randaugment";
  const int64_t n = ra ? spec_.num_ops : 1;
  for (int64_t i = 0; i < n; ++i) {
    const auto& row = space_[uniform_below(rng, space_.size())];
    double m = 0.0;
    if (!row.magnitudes.empty()) {
      m = ra ? row.magnitudes[static_cast<size_t>(spec_.magnitude)]
             : row.magnitudes[uniform_below(rng, row.magnitudes.size())];
    }
    if (row.is_signed && uniform01(rng) < 0.5) m = -m;
    out.emplace_back(row.op, m);
  }
  return out;
}

Image AutoAugment::apply(const Image& image, std::mt19937_64& rng) const {
  Image out = image;
  for (const auto& [op, m] : sample(rng)) out = apply_augment_op(out, op, m);
  return out;
}

std::string AutoAugment::describe() const {
  if (spec_.policy == "randaugment") {
    return "RandAugment(num_ops=" + std::to_string(spec_.num_ops) + ",magnitude=" + std::to_string(spec_.magnitude) +
           ",bins=" + std::to_string(spec_.bins) + ")";
  }
  return "TrivialAugmentWide(bins=" + std::to_string(spec_.bins) + ")";
}

}  // namespace aft::data
