#include "aft/train/train_options.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <thread>

#include "aft/core/device.h"
#include "aft/core/error.h"
#include "aft/core/parse.h"
#include "aft/data/image_decode.h"

namespace aft::train {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
}  // namespace

void RuntimeOptions::visit(OptionVisitor& v) {
  v.field("threads", "compute threads (0 = OMP_NUM_THREADS if set, else all cores; more than the cores are capped)",
          threads, {0, 4096});
  v.field("workers", "data loader threads (at most 8 per core)", workers, {1, 1024});
  v.field("device", "auto|cpu|cuda|cuda:N", device);
  v.field("max-image-pixels", "refuse images with more pixels than this (decompression bombs)", max_image_pixels,
          {1, 9e18});
}

void RuntimeOptions::validate() const {
  // The ranges are declared in visit(); visiting reads the fields and changes nothing.
  check_ranges(const_cast<RuntimeOptions&>(*this));
  // More loader threads than this only cost memory and start-up (10,000 took a minute and 3.7 GB).
  const int64_t cores = std::max(1u, std::thread::hardware_concurrency());
  check(workers <= 8 * cores, "--workers ", workers, ": at most 8 per core (", 8 * cores, " on these ", cores,
        " cores)");
}

void RuntimeOptions::apply() const {
  validate();
  set_threads(static_cast<int>(threads));
  data::set_max_image_pixels(max_image_pixels);
}

void TrainOptions::visit(OptionVisitor& v) {
  v.field("epochs", "training epochs", epochs);
  v.field("batch-size", "global batch size (split across processes)", batch_size);
  v.field("optimizer", "sgd|adamw", optimizer);
  v.field("lr", "base learning rate", lr);
  v.field("momentum", "SGD momentum", momentum);
  v.field("nesterov", "Nesterov momentum (SGD)", nesterov);
  v.field("weight-decay", "weight decay", weight_decay);
  v.field("wd-skip-norm-bias", "exclude norm parameters and biases from weight decay", wd_skip_norm_bias);
  v.field("schedule", "constant|step|multistep|cosine", schedule);
  v.field("step-size", "step schedule: epochs between drops", step_size, {1, kInf});
  v.field("milestones", "multistep schedule: comma-separated epochs (40,60,80) or fractions of --epochs (40/110)",
          milestones);
  v.field("gamma", "step/multistep factor", gamma);
  v.field("warmup-epochs", "linear learning-rate warm-up, in epochs (fractions allowed)", warmup_epochs);
  v.field("label-smoothing", "label smoothing of the cross-entropy", label_smoothing);
  v.field("grad-clip", "clip the global gradient norm to this value (0 = off)", grad_clip);
  v.field("amp", "mixed precision on CUDA: off|bf16|fp16", amp);
  v.field("channels-last", "channels-last memory format", channels_last);
  v.field("transform", "data preset: auto|small|small-noflip|imagenet224|decathlon72|none", transform);
  v.field("image-size", "transform output size (0 = preset default, else 16 or more)", image_size, {0, 4096});
  v.field("augment",
          "none|randaugment|trivialaugment: torchvision's RandAugment or TrivialAugmentWide (31 magnitude bins, "
          "nearest, fill 0) on training images, after the preset's crop/flip, before normalising",
          augment);
  v.field("ra-ops", "RandAugment: ops applied to each image (torchvision's num_ops)", ra_ops, {1, 16});
  v.field("ra-magnitude", "RandAugment: magnitude bin of every op (torchvision's magnitude; 31 bins)", ra_magnitude,
          {0, 30});
  v.field("val-fraction", "fraction of each training class held out for validation", val_fraction);
  v.field("shots", "training images per class (0 = all)", shots, {0, kInf});
  v.field("keep-best", "restore the best-validation epoch's weights before testing", keep_best);
  v.field("patience",
          "early stopping: end the run after this many epochs without a better validation accuracy, and test the "
          "best epoch's weights (0 = off; needs --val-fraction > 0)",
          patience, {0, kInf});
  v.field("min-epochs", "early stopping never ends a run before this many epochs", min_epochs, {0, kInf});
  v.field("accumulate",
          "gradient accumulation: one optimizer step every N batches of --batch-size (an N times larger batch; "
          "batch-norm statistics still see --batch-size)",
          accumulate, {1, kInf});
  v.field("ema",
          "keep an exponential moving average of the weights with this decay (e.g. 0.999; 0 = off): validation, "
          "the test and the saved model use the average",
          ema);
  v.field("mixup", "mixup: blend each training image with another of the batch, weight ~ Beta(alpha, alpha) "
          "(alpha, e.g. 0.2; 0 = off)", mixup);
  v.field("cutmix", "cutmix: paste a box from another image of the batch, area ~ Beta(alpha, alpha) (alpha, e.g. "
          "1.0; 0 = off); with --mixup, each batch takes one of the two", cutmix);
  v.field("balance",
          "off|loss|sampler, for imbalanced data: loss weights each class by n / (classes x its images); sampler "
          "draws each epoch's images with replacement so that every class is drawn equally often",
          balance);
  v.field("drop-path", "stochastic depth (ViT, EfficientNet): the last block's drop rate, rising linearly from 0 at the first (0 = off)",
          drop_path);
  v.field("sync-bn",
          "synchronised batch norm: with several processes, batch norms normalise with the statistics of the "
          "whole global batch (torch.nn.SyncBatchNorm); with one process they already do, and it changes nothing",
          sync_bn);
  v.field("bn-reestimate",
          "auto|on|off: recompute batch-norm running statistics on the training images (eval transform, no "
          "gradient) for the current weights before each validation and before the model is kept, for every "
          "batch norm the method lets train; auto: on while the run has taken fewer than 150 optimizer steps "
          "(docs/benchmarks.md, Batch-norm re-estimation)",
          bn_reestimate);
  v.field("bn-reestimate-batches",
          "batch-norm re-estimation reads at most this many training batches (of --batch-size) each time",
          bn_reestimate_batches);
  v.field("layer-decay",
          "layer-wise rate decay D: a layer l below the head trains at D^l x the rate, l counted over the "
          "layers (block-level units) that have trainable tensors; 1 = off",
          layer_decay);
  v.field("seed", "random seed (data order, augmentation, initialisation)", seed);
  RuntimeOptions::visit(v);
  v.field("skip-bad", "skip unreadable images (counted) instead of failing", skip_bad);
}

std::vector<int64_t> TrainOptions::milestone_list() const {
  if (milestones.empty()) return {};
  // An item A/B is the fraction A/B of --epochs, rounded (a recipe's drops, scaled to the run).
  std::vector<int64_t> out;
  std::string item;
  std::istringstream items(milestones);
  bool ok = milestones.back() != ',';
  while (ok && std::getline(items, item, ',')) {
    const auto slash = item.find('/');
    if (slash == std::string::npos) {
      const auto e = parse_integer(item);
      ok = e.has_value();
      if (ok) out.push_back(*e);
    } else {
      const auto a = parse_integer(item.substr(0, slash)), b = parse_integer(item.substr(slash + 1));
      ok = a && b && *a >= 0 && *b > 0;
      if (ok) out.push_back(std::max<int64_t>(1, std::llround(static_cast<double>(epochs) * *a / *b)));
    }
  }
  check(ok && !out.empty(), "--milestones ", milestones,
        ": expected comma-separated epochs (40,60,80) or fractions of --epochs (40/110,60/110)");
  for (int64_t e : out) check(e >= 1, "--milestones ", milestones, ": epochs count from 1");
  return out;
}

void TrainOptions::validate() const {
  check(epochs >= 1, "--epochs ", epochs, ": must be >= 1 (to evaluate weights without training, use aft eval)");
  check(batch_size >= 2, "--batch-size ", batch_size, ": must be >= 2 (batch norm needs 2 samples)");
  check_choice("--optimizer", optimizer, {"sgd", "adamw"});
  // inf and nan parse as numbers; every real-valued flag must be finite before its range is checked.
  auto finite = [](const char* flag, double v) { check(std::isfinite(v), flag, " ", v, ": must be a finite number"); };
  finite("--lr", lr);
  finite("--momentum", momentum);
  finite("--weight-decay", weight_decay);
  finite("--gamma", gamma);
  finite("--warmup-epochs", warmup_epochs);
  finite("--grad-clip", grad_clip);
  check(lr > 0, "--lr ", lr, ": must be > 0");
  check(momentum >= 0 && momentum < 1, "--momentum ", momentum, ": must be in [0, 1)");
  check(weight_decay >= 0, "--weight-decay ", weight_decay, ": must be >= 0");
  check(gamma > 0, "--gamma ", gamma, ": must be > 0");
  check(warmup_epochs >= 0, "--warmup-epochs ", warmup_epochs, ": must be >= 0");
  check(grad_clip >= 0, "--grad-clip ", grad_clip, ": must be >= 0 (0 = off)");
  check(image_size == 0 || (image_size >= 16 && image_size <= 4096), "--image-size ", image_size,
        ": must be 0 (the preset's) or between 16 and 4096 pixels");

  check_choice("--augment", augment, {"none", "randaugment", "trivialaugment"});
  check_choice("--schedule", schedule, {"constant", "step", "multistep", "cosine"});
  check_choice("--amp", amp, {"off", "bf16", "fp16"});
  check(val_fraction >= 0 && val_fraction < 1, "--val-fraction ", val_fraction, ": must be in [0, 1)");
  check(label_smoothing >= 0 && label_smoothing < 1, "--label-smoothing ", label_smoothing, ": must be in [0, 1)");
  if (schedule == "multistep") check(!milestone_list().empty(), "--schedule multistep needs --milestones");
  RuntimeOptions::validate();
  check(std::isfinite(ema) && ema >= 0 && ema < 1, "--ema ", ema, ": must be in [0, 1) (0 = off)");
  check(std::isfinite(mixup) && mixup >= 0, "--mixup ", mixup, ": must be >= 0 (0 = off)");
  check(std::isfinite(cutmix) && cutmix >= 0, "--cutmix ", cutmix, ": must be >= 0 (0 = off)");
  check_choice("--balance", balance, {"off", "loss", "sampler"});
  check(std::isfinite(drop_path) && drop_path >= 0 && drop_path < 1, "--drop-path ", drop_path, ": must be in [0, 1)");
  check(std::isfinite(layer_decay) && layer_decay > 0 && layer_decay <= 1, "--layer-decay ", layer_decay,
        ": must be in (0, 1] (1 = off)");
  check_choice("--bn-reestimate", bn_reestimate, {"auto", "on", "off"});
  check(bn_reestimate_batches >= 1, "--bn-reestimate-batches ", bn_reestimate_batches, ": must be >= 1");
  check(patience == 0 || val_fraction > 0, "--patience ", patience,
        " stops on validation accuracy; give --val-fraction > 0");
}

void apply_preset(TrainOptions& o, const std::string& preset) {
  if (preset.empty()) return;
  if (preset == "reference") {
    // The seeds' recipe (docs/baselines.md): SGD 0.01, momentum 0.9, wd 5e-4, x0.1 every 30 epochs.
    o.optimizer = "sgd";
    o.lr = 0.01;
    o.momentum = 0.9;
    o.weight_decay = 5e-4;
    o.schedule = "step";
    o.step_size = 30;
    o.gamma = 0.1;
    o.epochs = 110;
    o.batch_size = 64;
    o.transform = "imagenet224";
  } else if (preset == "cpu-small") {
    // A CPU-scale recipe for 32 px data: short cosine schedule.
    o.optimizer = "sgd";
    o.lr = 0.05;
    o.momentum = 0.9;
    o.weight_decay = 5e-4;
    o.schedule = "cosine";
    o.epochs = 8;
    o.batch_size = 64;
    o.transform = "auto";
  } else if (preset == "spottune") {
    // SpotTune's reference recipe (docs/spottune.md): SGD 0.1 (the policy's 0.01 is
    // --policy-lr), x0.1 at the intended 40/60/80 of 110 epochs, scaled to the run's --epochs.
    o.optimizer = "sgd";
    o.lr = 0.1;
    o.momentum = 0.9;
    o.weight_decay = 5e-4;
    o.schedule = "multistep";
    o.milestones = "40/110,60/110,80/110";
    o.gamma = 0.1;
    o.epochs = 110;
    o.batch_size = 128;
  } else if (preset == "vit-adamw") {
    o.optimizer = "adamw";
    o.lr = 1e-3;
    o.weight_decay = 0.05;
    o.wd_skip_norm_bias = true;
    o.schedule = "cosine";
    o.warmup_epochs = 1;
  } else {
    std::string names;
    for (const auto& name : preset_names()) names += (names.empty() ? "" : "|") + name;
    fail("--preset ", preset, ": expected one of ", names);
  }
}

std::vector<std::string> preset_names() { return {"reference", "cpu-small", "spottune", "vit-adamw"}; }

}  // namespace aft::train
