// THE training loop. Every method and every search proxy runs through Trainer::fit: epochs
// of shuffled, augmented batches, the method's loss and hooks, the optimizer and schedule,
// validation every epoch with best-epoch tracking, checkpoints, and one final test pass.
#pragma once
#include <torch/optim/optimizer.h>

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "aft/data/loader.h"
#include "aft/data/splits.h"
#include "aft/train/learner.h"
#include "aft/train/amp.h"
#include "aft/train/mix.h"
#include "aft/train/evaluate.h"
#include "aft/train/train_options.h"

namespace aft::dist {
class Group;
class GradientSync;
}

namespace aft::report {
class TbWriter;
}

namespace aft::train {

class SyncBatchNormScope;

struct TrainData {
  data::Splits splits;
  data::TransformPtr train_transform;
  data::TransformPtr eval_transform;
};

struct TrainerHooks {
  std::string label = "train";       // progress line prefix
  std::string checkpoint_dir;        // empty: no checkpoints
  std::string metrics_path;          // empty: no metrics.jsonl
  std::shared_ptr<report::TbWriter> tb;  // null: no TensorBoard events (search proxies)
  bool resume = false;               // continue from checkpoint_dir
  bool run_test = true;              // evaluate the test split once at the end
  bool quiet = false;                // no progress lines (search proxies)
  // Data-parallel training over this group (null: one process). Each rank takes its shard of
  // every global batch (--batch-size / world), gradients are averaged before after_backward(),
  // validation is sharded and summed, and only rank 0 writes metrics, checkpoints and progress.
  std::shared_ptr<dist::Group> dist;
  // Called after each epoch's validation; return false to stop early (search pruning).
  std::function<bool(int64_t epoch, double val_accuracy)> after_epoch;
};

struct TrainResult {
  double best_val_accuracy = -1;
  int64_t best_epoch = -1;           // 1-based
  double final_val_accuracy = -1;
  double test_accuracy = -1;
  double test_loss = -1;
  nlohmann::json test_metrics;       // top-5, per-class accuracy, confusion matrix, ECE (metrics.h)
  int64_t epochs_run = 0;
  bool stopped_early = false;
  double seconds = 0;
  double images_per_second = 0;
  // Training work of this run (work.h's unit: images x step cost), its checkpointed epochs
  // included, so that a resumed run reports what the whole run did.
  double work = 0;
  // Batch-norm re-estimation (bn_reestimate.h): passes run and their seconds (in `seconds`).
  int64_t bn_reestimates = 0;
  double bn_reestimate_seconds = 0;
  nlohmann::json history = nlohmann::json::array();
};

// What one training step measured (the loss as a number, waited for on the device).
struct StepStats {
  double loss = 0;
  int64_t correct = 0;
};

// Where a batch sits in its accumulation group (--accumulate): the first clears the gradients,
// the last updates the weights, and every loss is divided by the group's size.
struct StepPlan {
  bool first = true;
  bool last = true;
  int64_t group = 1;
};

class Trainer {
 public:
  Trainer(Learner& method, const TrainOptions& options, const TrainData& data, TrainerHooks hooks = {});
  ~Trainer();
  TrainResult fit();

  // For methods' hooks.
  const TrainOptions& options() const { return options_; }
  const torch::Device& device() const { return device_; }
  torch::optim::Optimizer& optimizer() { return *optimizer_; }
  const std::vector<ParamGroup>& groups() const { return groups_; }
  void set_lr_scale(size_t group, double scale);
  // The run's cross-entropy: label smoothing, and class weights with --balance loss.
  LossFn task_loss() const;
  // One optimizer step on a batch already on the device, exactly as fit() takes it: zero_grad,
  // the learner's step under autocast, the loss check, scaled backward, gradient averaging,
  // after_backward, unscale/clip, the optimizer step and after_step. fit() adds only the
  // learning-rate schedule and progress; the step benchmark times this. `phase`, if given, is
  // called after the forward ("forward") and the backward ("backward").
  StepStats step(const torch::Tensor& images, const torch::Tensor& labels, int64_t epoch, int64_t index,
                 const std::function<void(const char*)>& phase = {}, const StepPlan& plan = {});
  // One forward/backward on a training batch with no optimizer step (gradient probes).
  void probe_gradients();
  data::Loader& train_loader() { return *train_loader_; }

 private:
  void setup();
  double run_epoch(int64_t epoch, double& train_accuracy);
  EvalResult evaluate_split(data::Loader& loader, const std::string& split);
  void apply_lr(int64_t epoch, int64_t step);
  nlohmann::json progress_json() const;
  // --bn-reestimate (bn_reestimate.h): whether statistics are re-estimated once the run has
  // taken this many optimizer steps; the steps of `epochs` epochs; one re-estimation for the
  // current weights, its seconds (0 when no batch norm moves).
  bool bn_reestimate_at(int64_t optimizer_steps) const;
  int64_t optimizer_steps(int64_t epochs) const;
  double reestimate_bn();
  // The best-validation weights are restored before the test: --keep-best, or early stopping.
  bool keep_best() const { return options_.keep_best || options_.patience > 0; }
  // --ema: fold the current weights into the average; swap the module's weights and the average.
  void update_ema();
  void swap_ema();

  Learner& method_;
  TrainOptions options_;
  const TrainData& data_;
  TrainerHooks hooks_;
  torch::Device device_;
  std::vector<ParamGroup> groups_;
  std::vector<std::pair<size_t, double>> opt_group_of_;  // per optimizer group: method group, layer multiplier
  std::vector<torch::Tensor> trainable_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::unique_ptr<data::Loader> train_loader_, val_loader_, test_loader_;
  TrainResult result_;
  std::map<std::string, torch::Tensor> best_state_;
  LossFn loss_fn_;
  torch::Tensor class_weights_;  // --balance loss
  MixOptions mix_;
  std::map<std::string, torch::Tensor> ema_;  // --ema: the average, by state-dict name
  double step_cost_ = 1.0;  // work.h: this learner's step relative to full fine-tuning
  LossScaler scaler_{false};  // fp16 on CUDA only; lives across epochs and in the checkpoint
  std::unique_ptr<dist::GradientSync> grad_sync_;  // set only with a group of several processes
  std::unique_ptr<SyncBatchNormScope> sync_bn_;    // --sync-bn with several processes
  // --bn-reestimate: the training images under the eval transform (null: off).
  bool bn_fresh_ = false;  // the statistics were re-estimated for the weights the module holds
  std::unique_ptr<data::Loader> stats_loader_;
};

}  // namespace aft::train
