// The small interface the one training loop drives. The Trainer knows nothing of methods:
// anything that can name its module and trainable parameter groups, take a training step and
// predict is a Learner. Fine-tuning methods (aft/methods) are Learners with more on top
// (prepare, attach, report), so aft/train never includes aft/methods.
#pragma once
#include <torch/nn/module.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace aft::train {

class Trainer;

struct ParamGroup {
  std::string name;
  std::vector<torch::Tensor> params;
  double lr_scale = 1.0;         // multiplies the run's --lr
  double weight_decay = -1.0;    // < 0: the run's --weight-decay
  double lr = -1.0;              // > 0: this group's own base rate instead of lr_scale x --lr
  // Either way the run's schedule (warm-up, drops, cosine) applies on top.
  double base_lr(double run_lr) const { return lr > 0 ? lr : run_lr * lr_scale; }
};

struct StepOutput {
  torch::Tensor loss;    // scalar to backpropagate
  torch::Tensor logits;  // for accuracy
};

using LossFn = std::function<torch::Tensor(const torch::Tensor& logits, const torch::Tensor& labels)>;

class Learner {
 public:
  virtual ~Learner() = default;
  virtual std::string name() const = 0;
  // The module the Trainer moves, checkpoints and switches between train and eval.
  virtual std::shared_ptr<torch::nn::Module> module() = 0;
  // What the optimizer trains; everything not listed gets requires_grad(false).
  virtual std::vector<ParamGroup> param_groups() = 0;
  // Logits for evaluation and prediction.
  virtual torch::Tensor predict(const torch::Tensor& images) = 0;
  // Loss of one training step (task loss plus any terms of the learner's own).
  virtual StepOutput train_step(const torch::Tensor& images, const torch::Tensor& labels, const LossFn& task_loss) = 0;
  // The parameters layer by layer, from the input to the head (the last entry), for
  // --layer-decay. Empty: the learner has no layer order, and --layer-decay is refused.
  virtual std::vector<std::vector<torch::Tensor>> layers() { return {}; }
  // Modules that stay in eval mode while the rest trains (batch norms of frozen parts, whose
  // running statistics must not drift; a whole frozen backbone). Default: none.
  virtual std::vector<std::shared_ptr<torch::nn::Module>> eval_modules() { return {}; }
  // The forward whose batch-norm inputs re-estimation (bn_reestimate.h) averages: the data flow
  // of evaluation, run with the statistics' batch norms in training mode. Default: predict();
  // a learner whose prediction skips paths that training runs (SpotTune's unchosen copies)
  // runs them here, so that every batch norm that trains sees every image.
  virtual torch::Tensor statistics_forward(const torch::Tensor& images) { return predict(images); }
  // The one place that switches modes, for every learner: everything, then eval_modules() back.
  void set_training(bool training) {
    module()->train(training);
    if (!training) return;
    for (auto& m : eval_modules()) m->eval();
  }
  virtual void on_train_start(Trainer&) {}
  virtual void on_epoch_start(Trainer&, int64_t /*epoch*/) {}
  // Before each evaluation pass; split is "val", "test" or "" (other callers).
  virtual void on_evaluate_start(const std::string& /*split*/) {}
  // One evaluation batch: the logits, with the labels at hand for the learner's own statistics
  // (routing per class, each ensemble member's accuracy), in one call, so no statistic depends
  // on the order of two calls. Default: predict().
  virtual torch::Tensor evaluate_batch(const torch::Tensor& images, const torch::Tensor& /*labels*/) {
    return predict(images);
  }
  virtual void after_backward() {}
  virtual void after_step() {}
};

}  // namespace aft::train
