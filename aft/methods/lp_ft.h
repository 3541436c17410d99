// `lp-ft` (Kumar et al. 2022, docs/baselines.md): first a linear probe, then full
// fine-tuning from the probe's head, so that a good head guards the pretrained features
// against the distortion a random head causes on small data. The probe trains on features
// computed once (frozen backbone in eval mode, no augmentation), not on the backbone every
// epoch.
#pragma once
#include <torch/types.h>

#include <nlohmann/json.hpp>

#include "aft/methods/registry.h"

namespace aft::methods {

struct LpFtOptions : Options {
  int64_t probe_epochs = 20;   // linear-probe epochs on the cached features
  // SGD rate of the probe (momentum and weight decay: the run's). Gentle on purpose: at 0.1 a
  // probe on strong features (the many-character source) fits its 80 images to 100% with a
  // confident head, whose loss explodes once the backbone's batch norms see target batches in
  // the fine-tuning stage (docs/benchmarks.md, "lp-ft's probe rate": 0.61 -> 0.79 mean over
  // four targets from that source, level on the FMNIST source).
  double probe_lr = 0.001;
  void visit(OptionVisitor& v) override;
  void validate() const override;
};

// The probe stage alone, for tests and the speed-up bench: SGD on fixed features [N, D] with
// labels [N], the head starting from (weight, bias); each epoch visits the rows in the order
// torch::randperm gives under manual_seed(seed + epoch), in batches of `batch_size`.
struct ProbeResult {
  torch::Tensor weight, bias;
  double seconds = 0;
};
ProbeResult train_probe(const torch::Tensor& features, const torch::Tensor& labels, torch::Tensor weight,
                        torch::Tensor bias, int64_t epochs, int64_t batch_size, double lr, double momentum,
                        double weight_decay, double label_smoothing, uint64_t seed);

MethodInfo lp_ft_method();

}  // namespace aft::methods
