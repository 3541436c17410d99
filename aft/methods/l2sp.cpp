#include "aft/methods/l2sp.h"

#include <torch/torch.h>

#include "aft/methods/baselines.h"

namespace aft::methods {

void L2spMethod::attach(models::ModelPtr model) {
  Method::attach(std::move(model));
  anchored_.clear();
  head_.clear();
  for (auto& p : model_->named_parameters()) {
    if (models::is_head_param(*model_, p.key())) {
      head_.push_back(p.value());
    } else {
      anchored_.emplace_back(p.value(), p.value().detach().clone());
    }
  }
}

std::vector<ParamGroup> L2spMethod::param_groups() {
  // The penalty replaces weight decay, as in the paper.
  return {{"all", model_->parameters(), 1.0, 0.0}};
}

torch::Tensor L2spMethod::penalty() {
  auto total = torch::zeros({}, model_->parameters().front().options());
  for (auto& [w, w0] : anchored_) {
    if (w0.device() != w.device()) w0 = w0.to(w.device());
    total = total + 0.5 * options_.alpha * (w - w0).pow(2).sum();
  }
  for (auto& w : head_) total = total + 0.5 * options_.beta * w.pow(2).sum();
  return total;
}

StepOutput L2spMethod::train_step(const torch::Tensor& images, const torch::Tensor& labels, const LossFn& task_loss) {
  auto logits = model_->forward(images);
  return {task_loss(logits, labels) + penalty(), logits};
}

MethodInfo l2sp_method() {
  return {"l2sp", "full fine-tuning with an L2 pull towards the pretrained weights (L2-SP)",
          [] { return std::make_unique<L2spOptions>(); },
          [](const Options& o) { return std::make_shared<L2spMethod>(dynamic_cast<const L2spOptions&>(o)); }};
}

}  // namespace aft::methods
