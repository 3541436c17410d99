// Trainer's per-batch step (trainer.h): mixing, accumulation, loss scaling, gradient averaging,
// the method's hooks, the optimizer and the weights' moving average. fit() (trainer.cpp) adds
// only the schedule and progress around it; the step benchmark times it alone.
#include <torch/torch.h>

#include <cmath>

#include "aft/core/error.h"
#include "aft/dist/grad_sync.h"
#include "aft/models/weights.h"
#include "aft/train/amp.h"
#include "aft/train/checkpoint.h"
#include "aft/train/mix.h"
#include "aft/train/trainer.h"
#include "aft/train/work.h"

namespace aft::train {

void Trainer::update_ema() {
  torch::NoGradGuard no_grad;
  const double d = options_.ema;
  for (auto& [name, t] : models::state_dict(*method_.module())) {
    auto& avg = ema_.at(name);
    if (t.is_floating_point()) {
      avg.mul_(d).add_(t.detach(), 1.0 - d);
    } else {
      avg.copy_(t);  // counters (num_batches_tracked) follow the model
    }
  }
}

void Trainer::swap_ema() {
  torch::NoGradGuard no_grad;
  for (auto& [name, t] : models::state_dict(*method_.module())) {
    auto& avg = ema_.at(name);
    const auto current = t.detach().clone();
    t.copy_(avg);
    avg.copy_(current);
  }
}

StepStats Trainer::step(const torch::Tensor& images, const torch::Tensor& labels, int64_t epoch, int64_t index,
                        const std::function<void(const char*)>& phase, const StepPlan& plan) {
  if (plan.first) optimizer_->zero_grad();
  StepOutput out;
  {
    AutocastScope autocast(options_.amp, device_);
    if (mix_.enabled()) {
      // The learner sees mixed images; its task loss mixes each image's label with its partner's.
      const auto mixed = mix_batch(images, mix_, static_cast<uint64_t>(options_.seed), epoch, index);
      const auto partner_labels = labels.index_select(0, mixed.partner);
      const double lam = mixed.lam;
      const LossFn mixed_loss = [base = loss_fn_, partner_labels, lam](const torch::Tensor& logits,
                                                                      const torch::Tensor& own) {
        return base(logits, own) * lam + base(logits, partner_labels) * (1 - lam);
      };
      out = method_.train_step(mixed.images, labels, mixed_loss);
    } else {
      out = method_.train_step(images, labels, loss_fn_);
    }
  }
  add_training_work(static_cast<double>(images.size(0)) * step_cost_);
  result_.work += static_cast<double>(images.size(0)) * step_cost_;
  if (phase) phase("forward");
  // Gradients of a group sum to the gradient of its mean loss: the larger batch's.
  scaler_.scale(plan.group > 1 ? out.loss / static_cast<double>(plan.group) : out.loss).backward();
  if (phase) phase("backward");
  if (plan.last) {
    if (grad_sync_) grad_sync_->average();  // masks and clipping see the averaged gradient
    method_.after_backward();
    if (scaler_.unscale(trainable_)) {
      if (options_.grad_clip > 0) torch::nn::utils::clip_grad_norm_(trainable_, options_.grad_clip);
      optimizer_->step();
      method_.after_step();
      if (!ema_.empty()) update_ema();
    }
  }
  // One read from the device per step, once the update is queued (a read before backward
  // would idle the GPU while the host waits): the loss, checked for divergence, and the count
  // of correct predictions together. A diverged step's update is applied, but the run stops.
  const auto read = torch::stack({out.loss.detach().to(torch::kDouble).reshape({}),
                                  out.logits.detach().argmax(1).eq(labels).sum().to(torch::kDouble)})
                        .to(torch::kCPU);
  const double loss_value = read[0].item<double>();
  const auto correct = static_cast<int64_t>(read[1].item<double>());
  if (!std::isfinite(loss_value)) {
    const bool saved = !hooks_.checkpoint_dir.empty() && has_checkpoint(hooks_.checkpoint_dir);
    fail("training diverged: the loss is ", loss_value, " at epoch ", epoch + 1, " step ", index + 1, " with --lr ",
         options_.lr, "; try a lower --lr", saved ? " and --resume (the last epoch's checkpoint is kept)" : "");
  }
  return {loss_value, correct};
}

}  // namespace aft::train
