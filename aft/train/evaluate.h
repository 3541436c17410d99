// Evaluation of a method's predictions over a loader: accuracy, mean loss, and optionally
// the per-sample predictions (for routing statistics, soups, per-class reports).
#pragma once
#include <torch/types.h>

#include "aft/data/loader.h"
#include "aft/train/metrics.h"
#include "aft/train/learner.h"

namespace aft::train {

struct EvalResult {
  double accuracy = 0;
  double loss = 0;
  int64_t samples = 0;
  double seconds = 0;
  ClassificationMetrics metrics;  // top-5, per class, confusion, calibration
};

// Runs the method in eval mode without gradients; restores nothing (callers switch modes).
EvalResult evaluate(Learner& method, data::Loader& loader, const torch::Device& device,
                    const std::string& amp = "off", bool channels_last = false, const std::string& split = "");

}  // namespace aft::train
