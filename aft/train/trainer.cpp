#include "aft/train/trainer.h"
#include "aft/train/work.h"

#include <torch/torch.h>

#include <cmath>
#include <iomanip>
#include <sstream>

#include "aft/core/device.h"
#include "aft/core/error.h"
#include "aft/core/fs.h"
#include "aft/core/log.h"
#include "aft/dist/grad_sync.h"
#include "aft/models/weights.h"
#include "aft/report/tb_writer.h"
#include "aft/train/amp.h"
#include "aft/train/bn_reestimate.h"
#include "aft/train/checkpoint.h"
#include "aft/train/evaluate.h"
#include "aft/train/layer_decay.h"
#include "aft/train/schedule.h"
#include "aft/train/sync_batch_norm.h"

namespace aft::train {
namespace {

std::unique_ptr<torch::optim::OptimizerOptions> group_options(const TrainOptions& o, double lr, double wd) {
  if (o.optimizer == "adamw") {
    return std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(lr).weight_decay(wd));
  }
  return std::make_unique<torch::optim::SGDOptions>(
      torch::optim::SGDOptions(lr).momentum(o.momentum).nesterov(o.nesterov && o.momentum > 0).weight_decay(wd));
}

void set_group_lr(torch::optim::OptimizerParamGroup& group, double lr) {
  if (auto* sgd = dynamic_cast<torch::optim::SGDOptions*>(&group.options())) {
    sgd->lr(lr);
  } else if (auto* adamw = dynamic_cast<torch::optim::AdamWOptions*>(&group.options())) {
    adamw->lr(lr);
  }
}

// --bn-reestimate auto: re-estimate while the run has taken fewer optimizer steps than this.
// Past it, the running averages (momentum 0.1: 0.9^k of step k's ago) have long forgotten the
// source's statistics and follow the weights (docs/benchmarks.md, "Batch-norm re-estimation").
constexpr int64_t kBnReestimateAutoSteps = 150;

std::string fixed(double v, int digits) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << v;
  return out.str();
}

}  // namespace

Trainer::Trainer(Learner& method, const TrainOptions& options, const TrainData& data, TrainerHooks hooks)
    : method_(method), options_(options), data_(data), hooks_(std::move(hooks)), device_(parse_device(options.device)) {
  options_.validate();
  setup();
}

Trainer::~Trainer() = default;

void Trainer::setup() {
  auto module = method_.module();
  module->to(device_);
  if (options_.channels_last) {
    torch::NoGradGuard no_grad;
    for (auto& p : module->parameters()) {
      if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
    }
  }
  // Only what the method lists trains; everything else is frozen (and costs no backward).
  groups_ = method_.param_groups();
  for (auto& p : module->parameters()) p.set_requires_grad(false);
  for (auto& g : groups_) {
    for (auto& p : g.params) p.set_requires_grad(true);
  }
  const auto layer_scale = layer_decay_scales(method_, options_.layer_decay);
  std::vector<torch::optim::OptimizerParamGroup> opt_groups;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    auto& g = groups_[gi];
    const double wd = g.weight_decay >= 0 ? g.weight_decay : options_.weight_decay;
    // Without --layer-decay every method group maps to exactly two optimizer groups (decayed,
    // plain), so indices stay predictable; with it, two per layer multiplier present.
    std::map<double, std::pair<std::vector<torch::Tensor>, std::vector<torch::Tensor>>> by_scale;
    for (auto& p : g.params) {
      trainable_.push_back(p);
      const auto it = layer_scale.find(p.unsafeGetTensorImpl());
      auto& bucket = by_scale[it == layer_scale.end() ? 1.0 : it->second];
      (options_.wd_skip_norm_bias && p.dim() <= 1 ? bucket.second : bucket.first).push_back(p);
    }
    for (auto it = by_scale.rbegin(); it != by_scale.rend(); ++it) {
      const double lr = g.base_lr(options_.lr) * it->first;
      opt_groups.emplace_back(it->second.first, group_options(options_, lr, wd));
      opt_groups.emplace_back(it->second.second, group_options(options_, lr, 0.0));
      opt_group_of_.push_back({gi, it->first});
      opt_group_of_.push_back({gi, it->first});
    }
  }
  check(!trainable_.empty(), "method ", method_.name(), " left no parameter trainable");
  step_cost_ = step_cost(method_);
  if (options_.optimizer == "adamw") {
    optimizer_ = std::make_unique<torch::optim::AdamW>(opt_groups, torch::optim::AdamWOptions(options_.lr));
  } else {
    optimizer_ = std::make_unique<torch::optim::SGD>(opt_groups, torch::optim::SGDOptions(options_.lr));
  }

  scaler_ = LossScaler(options_.amp == "fp16" && device_.is_cuda());
  if (options_.balance == "loss") {
    // n / (C n_c): every class weighs as much in the loss as if the classes were balanced.
    const auto& s = data_.splits;
    std::vector<double> counts(s.classes.size(), 0.0);
    for (size_t i : s.train_indices) counts.at(static_cast<size_t>(s.train->label(i))) += 1;
    std::vector<float> weights;
    for (double c : counts) {
      weights.push_back(c > 0 ? static_cast<float>(s.train_indices.size() / (counts.size() * c)) : 0.0f);
    }
    class_weights_ = torch::tensor(weights).to(device_);
  }
  loss_fn_ = task_loss();
  mix_.mixup_alpha = options_.mixup;
  mix_.cutmix_alpha = options_.cutmix;
  if (options_.ema > 0) {
    torch::NoGradGuard no_grad;
    for (auto& [name, t] : models::state_dict(*module)) ema_[name] = t.detach().clone();
  }
  const int world = hooks_.dist ? hooks_.dist->world() : 1;
  check(world == 1 || options_.accumulate == 1, "--accumulate ", options_.accumulate,
        " is not supported with several processes yet (their gradients are averaged at every backward); "
        "raise --batch-size instead");
  if (world > 1) {
    check(options_.batch_size % world == 0, "--batch-size ", options_.batch_size, " is the global batch and must split "
          "evenly over ", world, " processes");
    dist::broadcast_module(*hooks_.dist, *module);  // every rank starts from rank 0's weights
    grad_sync_ = std::make_unique<dist::GradientSync>(hooks_.dist, trainable_);
    if (options_.sync_bn) sync_bn_ = std::make_unique<SyncBatchNormScope>(*module, hooks_.dist);
    if (!hooks_.dist->is_main()) {
      hooks_.quiet = true;
      hooks_.metrics_path.clear();
      hooks_.tb.reset();
    }
  }
  if (options_.sync_bn && world == 1 && !hooks_.quiet) {
    log::info("--sync-bn: one process, whose batch norms already see the whole batch; nothing to synchronise");
  }
  data::LoaderOptions lo;
  lo.batch_size = options_.batch_size / world;
  lo.threads = static_cast<int>(options_.workers);
  lo.seed = static_cast<uint64_t>(options_.seed);
  lo.pin_memory = device_.is_cuda();  // host-to-device copies then overlap the step
  data::LoaderOptions eval_lo = lo;
  eval_lo.batch_size = options_.batch_size;
  // Rank r takes global positions r, r+world, ...: rank batches k together are global batch k.
  lo.rank = eval_lo.rank = hooks_.dist ? hooks_.dist->rank() : 0;
  lo.world = eval_lo.world = world;
  eval_lo.pad = false;  // each validation image is counted once
  lo.shuffle = true;
  const auto& s = data_.splits;
  if (options_.balance == "sampler") {
    // Each image weighs 1 / (its class's images): every class is drawn equally often.
    std::map<int64_t, double> per_class;
    for (size_t i : s.train_indices) per_class[s.train->label(i)] += 1;
    for (size_t i : s.train_indices) lo.sample_weights.push_back(1.0 / per_class[s.train->label(i)]);
  }
  check(!s.train_indices.empty(), "no training images");
  train_loader_ = std::make_unique<data::Loader>(s.train, s.train_indices, data_.train_transform, lo);
  if (!s.val_indices.empty()) {
    val_loader_ = std::make_unique<data::Loader>(s.train, s.val_indices, data_.eval_transform, eval_lo);
  }
  if (hooks_.run_test && !s.test_indices.empty()) {
    // The one test pass runs whole on every rank, so methods' evaluation statistics are complete.
    data::LoaderOptions test_lo = eval_lo;
    test_lo.rank = 0;
    test_lo.world = 1;
    test_loader_ = std::make_unique<data::Loader>(s.test, s.test_indices, data_.eval_transform, test_lo);
  }
  if (options_.bn_reestimate != "off") {
    // The training images as evaluation sees them, each rank its shard of every batch (padded:
    // as many batches on every rank), in one fixed shuffled order, so that a bounded pass still
    // covers the classes and the same weights always get the same statistics.
    data::LoaderOptions stats_lo = lo;
    stats_lo.sample_weights.clear();
    stats_lo.seed = static_cast<uint64_t>(options_.seed) ^ 0xB57A75ull;
    stats_loader_ = std::make_unique<data::Loader>(s.train, s.train_indices, data_.eval_transform, stats_lo);
  }
}

bool Trainer::bn_reestimate_at(int64_t optimizer_steps) const {
  if (!stats_loader_) return false;
  return options_.bn_reestimate == "on" || optimizer_steps < kBnReestimateAutoSteps;
}

int64_t Trainer::optimizer_steps(int64_t epochs) const {
  const int64_t per_epoch = (train_loader_->batches_per_epoch() + options_.accumulate - 1) / options_.accumulate;
  return epochs * per_epoch;
}

double Trainer::reestimate_bn() {
  BnReestimateOptions o;
  o.max_batches = options_.bn_reestimate_batches;
  o.amp = options_.amp;
  o.channels_last = options_.channels_last;
  o.group = grad_sync_ ? hooks_.dist.get() : nullptr;
  o.synchronised = sync_bn_ != nullptr;
  const auto stats = reestimate_batch_norms(method_, *stats_loader_, device_, o);
  bn_fresh_ = true;
  if (stats.norms == 0) return 0.0;
  result_.bn_reestimates += 1;
  result_.bn_reestimate_seconds += stats.seconds;
  return stats.seconds;
}

LossFn Trainer::task_loss() const {
  auto options = torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(options_.label_smoothing);
  if (class_weights_.defined()) options.weight(class_weights_);
  return [options](const torch::Tensor& logits, const torch::Tensor& labels) {
    return torch::nn::functional::cross_entropy(logits.to(torch::kFloat32), labels, options);
  };
}

void Trainer::set_lr_scale(size_t group, double scale) {
  check(group < groups_.size(), "set_lr_scale: no parameter group ", group);
  groups_[group].lr_scale = scale;
}

void Trainer::apply_lr(int64_t epoch, int64_t step) {
  const double factor = lr_factor(options_, epoch, step, train_loader_->batches_per_epoch());
  auto& pg = optimizer_->param_groups();
  for (size_t k = 0; k < pg.size(); ++k) {
    const auto& [g, layer] = opt_group_of_[k];
    set_group_lr(pg[k], groups_[g].base_lr(options_.lr) * layer * factor);
  }
}

void Trainer::probe_gradients() {
  method_.set_training(true);
  optimizer_->zero_grad();
  // A dedicated epoch number keeps the probe's batch independent of the training order.
  train_loader_->start_epoch(-1);
  data::Batch batch;
  check(train_loader_->next(batch), "gradient probe: no training batch");
  auto images = batch.images.to(device_, /*non_blocking=*/true);
  auto labels = batch.labels.to(device_, /*non_blocking=*/true);
  AutocastScope autocast(options_.amp, device_);
  method_.train_step(images, labels, task_loss()).loss.backward();
  if (grad_sync_) grad_sync_->average();
}

EvalResult Trainer::evaluate_split(data::Loader& loader, const std::string& split) {
  if (grad_sync_) {
    // Batch-norm statistics drift apart per rank (each sees its own shard); rank 0's win, as
    // with DDP's broadcast_buffers, so every rank evaluates and saves the same model.
    std::vector<torch::Tensor> buffers = method_.module()->buffers();
    dist::broadcast_tensors(*hooks_.dist, buffers);
  }
  auto r = evaluate(method_, loader, device_, options_.amp, options_.channels_last, split);
  if (grad_sync_) {
    const auto n = static_cast<double>(r.samples);
    const auto total = hooks_.dist->sum({r.loss * n, std::round(r.accuracy * n), n});
    r.samples = static_cast<int64_t>(total[2]);
    r.loss = total[2] > 0 ? total[0] / total[2] : 0.0;
    r.accuracy = total[2] > 0 ? total[1] / total[2] : 0.0;
  }
  return r;
}

double Trainer::run_epoch(int64_t epoch, double& train_accuracy) {
  method_.on_epoch_start(*this, epoch);
  method_.set_training(true);
  train_loader_->start_epoch(epoch);
  log::Progress progress(hooks_.label + " epoch " + std::to_string(epoch + 1) + "/" + std::to_string(options_.epochs),
                         train_loader_->batches_per_epoch());
  double loss_sum = 0;
  int64_t correct = 0, seen = 0, step_index = 0;
  data::Batch batch;
  while (train_loader_->next(batch)) {
    apply_lr(epoch, step_index);
    auto images = batch.images.to(device_, /*non_blocking=*/true);
    if (options_.channels_last) images = images.contiguous(at::MemoryFormat::ChannelsLast);
    auto labels = batch.labels.to(device_, /*non_blocking=*/true);
    // --accumulate N: batches form groups of N (the epoch's last group may be shorter).
    const int64_t n_acc = options_.accumulate, batches = train_loader_->batches_per_epoch();
    const int64_t group_start = step_index / n_acc * n_acc;
    StepPlan plan;
    plan.group = std::min(n_acc, batches - group_start);
    plan.first = step_index == group_start;
    plan.last = step_index + 1 == group_start + plan.group;
    const auto stats = step(images, labels, epoch, step_index, {}, plan);
    const int64_t n = labels.size(0);
    loss_sum += stats.loss * n;
    correct += stats.correct;
    seen += n;
    ++step_index;
    if (!hooks_.quiet) {
      progress.update(step_index, seen, "loss " + fixed(loss_sum / seen, 4) + " acc " + fixed(double(correct) / seen, 3));
    }
  }
  check(seen > 0, "epoch ", epoch + 1, ": the training loader produced no batch");
  if (grad_sync_) {
    const auto total = hooks_.dist->sum({loss_sum, static_cast<double>(correct), static_cast<double>(seen)});
    loss_sum = total[0];
    correct = static_cast<int64_t>(total[1]);
    seen = static_cast<int64_t>(total[2]);
  }
  train_accuracy = static_cast<double>(correct) / seen;
  // Measured here rather than by the progress line, which quiet runs (searches) never draw.
  result_.images_per_second = progress.seconds() > 0 ? seen / progress.seconds() : 0.0;
  return loss_sum / seen;
}

nlohmann::json Trainer::progress_json() const {
  return {{"best_val_accuracy", result_.best_val_accuracy}, {"best_epoch", result_.best_epoch},
          {"history", result_.history}, {"seconds", result_.seconds},
          {"loss_scale", scaler_.value()}, {"loss_scale_good_steps", scaler_.good_steps()},
          {"stopped_early", result_.stopped_early}, {"bn_reestimates", result_.bn_reestimates},
          {"bn_reestimate_seconds", result_.bn_reestimate_seconds}, {"work", result_.work}};
}

TrainResult Trainer::fit() {
  const auto start = std::chrono::steady_clock::now();
  auto module = method_.module();
  int64_t first_epoch = 0;
  double seconds_before = 0;
  if (hooks_.resume) {
    auto state = load_checkpoint(hooks_.checkpoint_dir, *module, *optimizer_);
    first_epoch = state.epochs_done;
    check(first_epoch <= options_.epochs, hooks_.checkpoint_dir, "/state.json: ", first_epoch,
          " epochs done, but the run has --epochs ", options_.epochs);
    try {
      result_.best_val_accuracy = state.progress.value("best_val_accuracy", -1.0);
      result_.best_epoch = state.progress.value("best_epoch", int64_t{-1});
      result_.history = state.progress.value("history", nlohmann::json::array());
      // A run resumed after its last epoch trains no more; its speed is the last epoch's.
      if (!result_.history.empty()) result_.images_per_second = result_.history.back().value("images_per_second", 0.0);
      seconds_before = state.progress.value("seconds", 0.0);
      result_.stopped_early = state.progress.value("stopped_early", false);
      result_.bn_reestimates = state.progress.value("bn_reestimates", int64_t{0});
      result_.bn_reestimate_seconds = state.progress.value("bn_reestimate_seconds", 0.0);
      result_.work = state.progress.value("work", 0.0);
      result_.epochs_run = first_epoch;  // a run resumed after its last (or stopping) epoch trains no more
      scaler_.restore(state.progress.value("loss_scale", scaler_.value()),
                      state.progress.value("loss_scale_good_steps", int64_t{0}));
    } catch (const nlohmann::json::exception& e) {
      fail(hooks_.checkpoint_dir, "/state.json: unexpected content (", e.what(), ")");
    }
    best_state_ = std::move(state.best);
    if (!ema_.empty()) {
      check(!state.ema.empty(), hooks_.checkpoint_dir, ": --ema is on but the checkpoint holds no average (ema.safetensors)");
      torch::NoGradGuard no_grad;
      for (auto& [name, avg] : ema_) {
        const auto it = state.ema.find(name);
        check(it != state.ema.end(), hooks_.checkpoint_dir, "/ema.safetensors lacks '", name, "'");
        avg.copy_(it->second);
      }
    }
    // Every rank read the same files (a shared file system); this makes sure, and covers a
    // resume with another number of processes, whose optimizer state is not per-rank anyway.
    if (grad_sync_) dist::broadcast_module(*hooks_.dist, *module);
    log::info(hooks_.label + ": resuming after epoch " + std::to_string(first_epoch));
  }
  method_.on_train_start(*this);
  for (int64_t epoch = first_epoch; epoch < options_.epochs && !result_.stopped_early; ++epoch) {
    const auto epoch_start = std::chrono::steady_clock::now();
    double train_acc = 0;
    bn_fresh_ = false;  // the weights move
    const double train_loss = run_epoch(epoch, train_acc);
    nlohmann::json row = {{"epoch", epoch + 1}, {"train_loss", train_loss}, {"train_accuracy", train_acc},
                          {"lr", options_.lr * lr_factor(options_, epoch, 0, 1)},
                          {"images_per_second", result_.images_per_second}};
    double val_acc = -1;
    if (val_loader_) {
      if (!ema_.empty()) swap_ema();  // validation (and the best snapshot) see the average
      // The validated model is the one kept: its statistics re-estimated for its weights (they
      // stay in the module, and training goes on from them; a resumed run does the same).
      if (bn_reestimate_at(optimizer_steps(epoch + 1))) {
        const double seconds = reestimate_bn();
        if (seconds > 0) row["bn_reestimate_seconds"] = seconds;
      }
      auto val = evaluate_split(*val_loader_, "val");
      val_acc = val.accuracy;
      row["val_accuracy"] = val.accuracy;
      row["val_loss"] = val.loss;
      if (val_acc > result_.best_val_accuracy) {
        result_.best_val_accuracy = val_acc;
        result_.best_epoch = epoch + 1;
        if (keep_best()) {
          best_state_.clear();
          for (auto& [name, t] : models::state_dict(*module)) best_state_[name] = t.detach().clone().cpu();
        }
      }
      if (!ema_.empty()) {
        swap_ema();
        bn_fresh_ = false;
      }
    }
    row["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
    result_.history.push_back(row);
    result_.epochs_run = epoch + 1;
    result_.final_val_accuracy = val_acc;
    result_.seconds = seconds_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!hooks_.metrics_path.empty()) fs::append_line(hooks_.metrics_path, row.dump());
    if (hooks_.tb) {
      report::write_metrics_row(*hooks_.tb, row, epoch + 1);
      hooks_.tb->flush();
    }
    if (!hooks_.quiet) {
      log::info(hooks_.label + " epoch " + std::to_string(epoch + 1) + ": train loss " + fixed(train_loss, 4) +
                " acc " + fixed(train_acc, 4) + (val_loader_ ? " | val acc " + fixed(val_acc, 4) : ""));
    }
    // Early stopping: the best epoch lies `patience` epochs back and nothing has beaten it since.
    // Decided before the checkpoint, which records it: a resumed run does not train on.
    if (options_.patience > 0 && val_loader_ && epoch + 1 >= options_.min_epochs &&
        epoch + 1 - result_.best_epoch >= options_.patience && epoch + 1 < options_.epochs) {
      result_.stopped_early = true;
      if (!hooks_.quiet) {
        log::info(hooks_.label + ": no better validation accuracy for " + std::to_string(options_.patience) +
                  " epoch(s); stopping after epoch " + std::to_string(epoch + 1));
      }
    }
    if (!hooks_.checkpoint_dir.empty() && (!hooks_.dist || hooks_.dist->is_main())) {
      CheckpointState state{epoch + 1, progress_json(), best_state_, {}};
      for (const auto& [name, t] : ema_) state.ema[name] = t.cpu();
      save_checkpoint(hooks_.checkpoint_dir, *module, *optimizer_, state);
    }
    if (result_.stopped_early) break;
    if (hooks_.after_epoch && !hooks_.after_epoch(epoch, val_acc)) {
      result_.stopped_early = true;
      break;
    }
  }
  if (keep_best() && !best_state_.empty()) {
    // The snapshot holds the statistics its validation read (re-estimated there, or not).
    torch::NoGradGuard no_grad;
    for (auto& [name, t] : models::state_dict(*module)) t.copy_(best_state_.at(name));
    log::info(hooks_.label + ": restored the weights of epoch " + std::to_string(result_.best_epoch));
  } else {
    if (!ema_.empty()) {
      swap_ema();  // the test and the saved model use the average
      bn_fresh_ = false;
    }
    // The saved model's statistics, for its weights (without validation, the first re-estimation).
    if (!bn_fresh_ && bn_reestimate_at(optimizer_steps(result_.epochs_run))) reestimate_bn();
  }
  if (result_.bn_reestimates > 0 && !hooks_.quiet) {
    log::info(hooks_.label + ": batch-norm statistics re-estimated " + std::to_string(result_.bn_reestimates) +
              " time(s), " + fixed(result_.bn_reestimate_seconds, 1) + " s");
  }
  if (test_loader_) {
    if (grad_sync_) dist::broadcast_tensors(*hooks_.dist, method_.module()->buffers());
    auto test = evaluate(method_, *test_loader_, device_, options_.amp, options_.channels_last, "test");
    result_.test_accuracy = test.accuracy;
    result_.test_loss = test.loss;
    result_.test_metrics = test.metrics.to_json();
    if (hooks_.tb) {
      report::write_metrics_row(*hooks_.tb, {{"test_accuracy", test.accuracy}, {"test_loss", test.loss}}, result_.epochs_run);
      hooks_.tb->flush();
    }
  }
  result_.seconds = seconds_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result_;
}

}  // namespace aft::train
