#include "aft/methods/auto_rgn.h"

#include <torch/torch.h>

#include <algorithm>

#include "aft/methods/baselines.h"
#include "aft/train/trainer.h"

namespace aft::methods {

void AutoRgnMethod::attach(models::ModelPtr model) {
  Method::attach(std::move(model));
  for (auto& p : model_->named_parameters()) {
    names_.push_back(p.key());
    params_.push_back(p.value());
    const auto& key = p.key();
    is_bias_.push_back(key.size() >= 4 && key.compare(key.size() - 4, 4, "bias") == 0);
  }
}

std::vector<ParamGroup> AutoRgnMethod::param_groups() {
  // One group per tensor: each gets its own learning rate.
  std::vector<ParamGroup> groups;
  for (size_t i = 0; i < params_.size(); ++i) groups.push_back({names_[i], {params_[i]}, 1.0, -1.0});
  return groups;
}

std::vector<double> AutoRgnMethod::normalised_rgn() const {
  std::vector<double> rgn(params_.size(), 0.0);
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& g = params_[i].grad();
    if (!g.defined()) continue;
    const double w = params_[i].detach().norm().item<double>();
    rgn[i] = w > 0 ? g.norm().item<double>() / w : 0.0;
  }
  // Min-max normalisation separately over weights and over biases (the reference script).
  for (bool bias : {false, true}) {
    double lo = 1e300, hi = -1e300;
    for (size_t i = 0; i < rgn.size(); ++i) {
      if (is_bias_[i] != bias) continue;
      lo = std::min(lo, rgn[i]);
      hi = std::max(hi, rgn[i]);
    }
    for (size_t i = 0; i < rgn.size(); ++i) {
      if (is_bias_[i] != bias) continue;
      rgn[i] = hi > lo ? (rgn[i] - lo) / (hi - lo) : 1.0;
    }
  }
  return rgn;
}

void AutoRgnMethod::on_epoch_start(train::Trainer& trainer, int64_t epoch) {
  // Before epoch 1 (or after a resume, when the last minibatch's gradients are gone) probe.
  const bool have_grads = std::any_of(params_.begin(), params_.end(), [](const torch::Tensor& p) { return p.grad().defined(); });
  if (epoch == 0 || !have_grads) trainer.probe_gradients();
  const auto scales = normalised_rgn();
  for (size_t i = 0; i < scales.size(); ++i) trainer.set_lr_scale(i, scales[i]);
  nlohmann::json row = nlohmann::json::object();
  for (size_t i = 0; i < scales.size(); ++i) row[names_[i]] = scales[i];
  history_.push_back({{"epoch", epoch + 1}, {"lr_scale", row}});
}

nlohmann::json AutoRgnMethod::report() { return {{"lr_scale_per_epoch", history_}}; }

MethodInfo auto_rgn_method() {
  return {"auto-rgn", "per-tensor learning rates from the relative gradient norm (surgical fine-tuning)",
          [] { return std::make_unique<NoOptions>(); }, [](const Options&) { return std::make_shared<AutoRgnMethod>(); }};
}

}  // namespace aft::methods
