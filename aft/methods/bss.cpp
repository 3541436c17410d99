// Decisions beyond the paper: the features are the model's pooled penultimate ones
// (VisionModel::features, the reference's bottleneck-free backbone output), and the run's
// weight decay stays on, as in the reference recipe.
#include "aft/methods/bss.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "aft/core/error.h"

namespace aft::methods {

void BssOptions::visit(OptionVisitor& v) {
  v.field("bss-weight", "weight of the sum of the k smallest squared singular values of the batch's features", weight);
  v.field("bss-k", "how many of the smallest singular values are penalised", k);
}

void BssOptions::validate() const {
  check(std::isfinite(weight) && weight >= 0, "--bss-weight ", weight, ": must be >= 0");
  check(k >= 1, "--bss-k ", k, ": must be >= 1");
}

torch::Tensor bss_penalty(const torch::Tensor& features, int64_t k) {
  check(features.dim() == 2, "bss: features must be [N, D], got ", features.sizes());
  // SVD in float32 at least: half precision (mixed-precision runs) has no SVD kernel.
  const auto f = features.scalar_type() == torch::kDouble ? features : features.to(torch::kFloat32);
  const auto sigma = torch::linalg_svdvals(f);  // descending
  const int64_t count = sigma.size(0), taken = std::min(k, count);
  return sigma.slice(0, count - taken, count).pow(2).sum();
}

namespace {

class BssMethod : public Method {
 public:
  explicit BssMethod(BssOptions options) : options_(options) {}
  std::string name() const override { return "bss"; }
  std::vector<ParamGroup> param_groups() override { return {{"all", model_->parameters(), 1.0, -1.0}}; }
  StepOutput train_step(const torch::Tensor& images, const torch::Tensor& labels, const LossFn& task_loss) override {
    const auto features = model_->features(images);
    auto logits = model_->head(features);
    auto loss = task_loss(logits, labels);
    if (options_.weight > 0) loss = loss + options_.weight * bss_penalty(features, options_.k);
    return {loss, logits};
  }

 private:
  BssOptions options_;
};

}  // namespace

MethodInfo bss_method() {
  return {"bss", "full fine-tuning that shrinks the smallest singular values of the batch's features (BSS)",
          [] { return std::make_unique<BssOptions>(); },
          [](const Options& o) { return std::make_shared<BssMethod>(dynamic_cast<const BssOptions&>(o)); }};
}

}  // namespace aft::methods
