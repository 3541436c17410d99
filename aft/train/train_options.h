// Options shared by every subcommand that trains (pretrain, finetune, search proxies), and the
// runtime options every subcommand shares. Declared once: visit() drives the CLI flags, help,
// defaults and config.json.
#pragma once
#include <string>
#include <vector>

#include "aft/core/options.h"

namespace aft::train {

// Where and how fast a command runs: the same flags, help and defaults for train, eval,
// predict, soup, demo and data bench. They do not change results, so a resumed run may
// change them.
struct RuntimeOptions : Options {
  std::string device = "auto";
  int64_t threads = 0;                   // compute threads; 0 = OMP_NUM_THREADS if set, else all cores
  int64_t workers = 2;                   // data loader threads
  int64_t max_image_pixels = 89478485;   // decode limit (data/image_decode.h); PIL's default

  void visit(OptionVisitor& v) override;
  void validate() const override;
  // Sets the process-wide ones: compute threads and the image-size limit.
  void apply() const;
};

struct TrainOptions : RuntimeOptions {
  int64_t epochs = 10;
  int64_t batch_size = 64;          // global batch (split across processes)
  std::string optimizer = "sgd";    // sgd|adamw
  double lr = 0.01;
  double momentum = 0.9;
  bool nesterov = false;
  double weight_decay = 5e-4;
  bool wd_skip_norm_bias = false;   // no weight decay on norms and biases
  std::string schedule = "cosine";  // constant|step|multistep|cosine
  int64_t step_size = 30;           // step: epochs between drops
  std::string milestones = "";      // multistep: "40,60,80"
  double gamma = 0.1;               // step/multistep factor
  double warmup_epochs = 0;         // linear warm-up (any schedule)
  double label_smoothing = 0;
  double grad_clip = 0;             // max global gradient norm; 0 = off
  std::string amp = "off";          // off|bf16|fp16 (CUDA only)
  bool channels_last = false;
  std::string transform = "auto";   // data preset; auto: small for <=64 px data, imagenet224 otherwise
  int64_t image_size = 0;           // transform output size; 0 = the preset's / model's default
  std::string augment = "none";     // none|randaugment|trivialaugment, after the crop/flip (train only)
  int64_t ra_ops = 2;               // RandAugment: ops per image
  int64_t ra_magnitude = 9;         // RandAugment: magnitude bin, 0-30
  double val_fraction = 0.1;
  int64_t shots = 0;
  bool keep_best = false;           // restore the best-validation weights before the test
  int64_t patience = 0;             // early stopping: epochs without a better val accuracy; 0 = off
  int64_t min_epochs = 0;           // early stopping never ends a run before this many epochs
  int64_t accumulate = 1;           // optimizer step every N batches (gradients summed, loss / N)
  double ema = 0;                   // EMA decay of the weights evaluated and kept (0 = off), e.g. 0.999
  double mixup = 0;                 // mixup's Beta(alpha, alpha); 0 = off
  double cutmix = 0;                // cutmix's Beta(alpha, alpha); 0 = off
  std::string balance = "off";      // off|loss|sampler: class weights in the loss, or drawn evenly
  double drop_path = 0;             // ViT stochastic depth rate of the last block (0 = off)
  bool sync_bn = false;             // batch norm over all processes' samples (data-parallel runs)
  // Batch-norm running statistics recomputed on the training images (eval transform) before
  // each validation and before the model is kept (bn_reestimate.h): auto|on|off, at most
  // bn_reestimate_batches batches a time.
  std::string bn_reestimate = "auto";
  int64_t bn_reestimate_batches = 50;
  double layer_decay = 1;           // rate of layer l: D^(L - l) x the rate, over trainable layers; 1 = off
  int64_t seed = 0;
  bool skip_bad = false;

  void visit(OptionVisitor& v) override;
  void validate() const override;
  std::vector<int64_t> milestone_list() const;
};

// Named recipes; explicit flags override them. Throws listing the names on an unknown one.
void apply_preset(TrainOptions& options, const std::string& preset);
std::vector<std::string> preset_names();

}  // namespace aft::train
